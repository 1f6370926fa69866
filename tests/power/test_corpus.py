"""The 48 real recordings of tests/fixtures/ups-corpus (LibreNMS test data, GPL; see its
README) served by snmpsim, each read with ``profile: auto`` exactly as a poll reads it,
and scored against LibreNMS's readings (tests/power/corpus_score.py says how).

The gate (issue 13): every UPS shows a status, >= 95 % of the comparable values match,
no value is wrong, the DC power system is not read as an on-line UPS.
"""

from __future__ import annotations

import pytest
from corpus_score import (
    CORPUS,
    field_index,
    load_expected,
    load_index,
    score_device,
    summarise,
)
from snmp_agents import Snmpsim
from test_cards_common import cli_json, read, sim_available, write_config

pytestmark = [pytest.mark.snmp,
              pytest.mark.skipif(not sim_available(), reason="snmpsim venv not installed")]

INDEX = load_index()
UPS = [e["file"] for e in INDEX if e["group"] == "ups"]
# The kind a user would configure: a UPS card, a PDU, a sensor; the DC system calls
# itself a UPS card, so it is configured as one.
KIND = {"ups": "ups", "edge": "ups", "pdu": "pdu", "env": "sensor"}


@pytest.fixture(scope="module")
def sim():
    s = Snmpsim(sorted((CORPUS / "recordings").glob("*.snmprec"))).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def readings(sim):
    out = {}
    for e in INDEX:
        r = read(sim.port, e["file"], kind=KIND[e["group"]])
        out[e["file"]] = {"kind": r.profile.kind,
                          "profile": r.profile.name, "reason": r.profile_reason,
                          "values": r.values, "notes": r.notes,
                          "status_source": r.status_source}
    return out


def _ups_score(readings):
    from opsctl.power.profiles import registry

    index = field_index(registry.all_profiles().values())
    outcomes = {f: score_device(f, load_expected(f), readings[f]["values"], index)
                for f in UPS}
    # Inverter systems (kind inverter) have no on-line/on-battery status by design.
    status_files = [f for f in UPS if readings[f]["kind"] == "ups"]
    return outcomes, summarise(outcomes, readings, status_files)


def test_ups_corpus_score(readings):
    outcomes, s = _ups_score(readings)
    lines = [f"UPS: {s.match}/{s.comparable} comparable values match ({s.percent:.1f} %), "
             f"{s.wrong} wrong, {s.missing} missing; {s.with_status}/"
             f"{s.with_status + len(s.no_status)} UPSes with status "
             f"({len(s.health_only)} of them the device's health: {s.health_only})"]
    lines += [f"  wrong: {w}" for w in s.wrong_items]
    lines += [f"  no status: {f} ({readings[f]['profile']}: {readings[f]['reason']})"
              for f in s.no_status]
    for f, outs in outcomes.items():
        for o in outs:
            if o.result == "missing":
                lines.append(f"  missing: {f}: {o.klass} {o.descr} ({o.oid}) -> {o.fields}")
    print("\n".join(lines))
    assert s.wrong == 0, "\n".join(lines)
    # Every UPS shows a status. The Dell Rack 3750W card sends only a health summary (ok)
    # and no power-source object: its status is that health, never a guessed OL.
    assert s.no_status == [], "\n".join(lines)
    assert s.health_only == ["dell-ups_rack3750w"], "\n".join(lines)
    assert s.percent >= 95.0, "\n".join(lines)


def test_every_status_names_its_source(readings):
    """Each UPS says where its status comes from; power-source OIDs are objects the
    recording really has; only the Dell shows its health instead of OL/OB."""
    kinds = {}
    for f in UPS:
        r = readings[f]
        if r["kind"] != "ups":
            continue
        src = r["status_source"]
        assert src is not None, f
        kinds[f] = src["kind"]
        rec = (CORPUS / "recordings" / f"{f}.snmprec").read_text()
        for oid in src.get("oids") or [src.get("oid")]:
            if oid:
                assert f"\n{oid}|" in rec, (f, oid)
    assert [f for f, k in kinds.items() if k == "device-health"] == ["dell-ups_rack3750w"]
    assert [f for f, k in kinds.items() if k == "derived"] == ["compas_usv"]
    print(kinds)


def test_inverter_systems_are_not_ups(readings):
    """The Eaton Matrix (DC-fed inverters + STS, its card says "UPS") and the CE+T TSI are
    inverter systems: never "on battery"; modules and output are read."""
    for f in ("eaton-matrix", "cetpower"):
        r = readings[f]
        assert r["kind"] == "inverter", (f, r["profile"], r["reason"])
        assert "ups.status" not in r["values"]
        assert r["values"]["inverter.modules"] >= 3
        assert r["values"]["inverter.modules.running"] == r["values"]["inverter.modules"]
    m = readings["eaton-matrix"]["values"]
    assert (m["output.voltage"], m["input.voltage"], m["input.dc.voltage"]) == \
        (122.2, 120.5, 54.1)


@pytest.mark.parametrize("group", ["pdu", "env"])
def test_pdu_and_sensor_readings(readings, group):
    """Every PDU/ATS and environment unit shows its readings; compared by OID with
    LibreNMS's, none is wrong."""
    from opsctl.power.profiles import registry

    index = field_index(registry.all_profiles().values())
    files = [e["file"] for e in INDEX if e["group"] == group]
    outcomes = {f: score_device(f, load_expected(f), readings[f]["values"], index)
                for f in files}
    s = summarise(outcomes, readings, [])
    lines = [f"{group}: {s.match}/{s.comparable} comparable values match "
             f"({s.percent:.1f} %), {s.wrong} wrong, {s.missing} missing"]
    lines += [f"  wrong: {w}" for w in s.wrong_items]
    for f in files:
        n = len(readings[f]["values"].get("readings") or [])
        lines.append(f"  {f}: {readings[f]['profile']}, {n} readings")
    for f, outs in outcomes.items():
        lines += [f"  missing: {f}: {o.klass} {o.descr} ({o.oid})" for o in outs
                  if o.result == "missing"]
    print("\n".join(lines))
    assert s.wrong == 0, "\n".join(lines)
    no_readings = [f for f in files if not readings[f]["values"].get("readings")
                   and "ats.source" not in readings[f]["values"]]
    assert not no_readings, "\n".join(lines)


def test_pdu_ats_and_sensors_in_power_status(sim, tmp_path):
    """``power status`` with kind pdu/sensor/ups: the Eaton ePDU's inlet carries 14.1 A
    of its 16 A rating (88 % >= 80 %: WARNING), the ATS runs on source A with both
    sources ok, the AKCP probes are inside the room's limits, the Matrix inverter system
    configured as a UPS is judged as an inverter (OK, not "on battery")."""
    cfg = write_config(tmp_path, sim.port, [
        {"name": "pdu1", "kind": "pdu", "community": "eatonpdu_2"},
        {"name": "ats1", "kind": "pdu", "community": "apc_ats"},
        {"name": "env1", "kind": "sensor", "community": "akcp_serverprobe8"},
        {"name": "inv1", "kind": "ups", "community": "eaton-matrix"},
    ])
    rc, d = cli_json("--config", str(cfg), "power", "status")
    by = {r["name"]: r for r in d["devices"]} if isinstance(d, dict) else \
        {r["name"]: r for r in d}
    pdu = by["pdu1"]
    assert pdu["status"] == "WARNING", pdu
    assert "inlet L1: 14.108 A is 88 % of its 16 A rating" in pdu["reason"]
    ats = by["ats1"]
    assert ats["values"]["ats.source"] == "A" and ats["status"] == "OK", ats
    env = by["env1"]
    temps = [r for r in env["values"]["readings"] if r["quantity"] == "temperature"]
    assert [t["value"] for t in temps] == [19.9, 20, 22.1] and env["status"] == "OK", env
    inv = by["inv1"]
    assert inv["kind"] == "inverter" and inv["status"] == "OK", inv
    assert rc == 1   # the worst device (pdu1) is a WARNING
