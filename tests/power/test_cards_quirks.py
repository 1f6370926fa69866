"""Real-card quirks (tests/fixtures/snmp-quirks): every one becomes a per-device
data-quality note -- in --json and with -v -- never a crash and never a wrong number."""

from __future__ import annotations

import pytest
from test_cards_common import cli_json, read, run_cli, sim_available, start_sim, write_config

pytestmark = [pytest.mark.snmp,
              pytest.mark.skipif(not sim_available(), reason="snmpsim venv not installed")]


@pytest.fixture(scope="module")
def sim():
    s = start_sim()
    yield s
    s.stop()


def _notes(r) -> dict[str, str]:
    return {n.field: n.code for n in r.notes}


def test_quirky_rfc1628_card(sim):
    r = read(sim.port, "quirky-rfc1628")
    # sysObjectID 1.3.6.1.4.1.99999.7.1 is unknown: chosen by probing.
    assert r.profile.name == "ietf" and r.profile_reason.startswith("probe")
    v, notes = r.values, _notes(r)
    assert v["device.mfr"] == "QuirkCo" and notes["device.mfr"] == "missing-instance"
    # "87" (OctetString) where a number belongs: used, and said so.
    assert v["battery.charge"] == 87 and notes["battery.charge"] == "string-number"
    # "n/a": not a number -> absent (NUT reports battery.voltage 0 here).
    assert "battery.voltage" not in v and notes["battery.voltage"] == "bad-type"
    # upsEstimatedMinutesRemaining -1: negative runtime is impossible -> absent
    # (NUT reports battery.runtime -60).
    assert "battery.runtime" not in v and notes["battery.runtime"] == "out-of-range"
    # upsOutputPercentLoad 999: outside any plausible range -> absent (NUT: ups.load 999).
    assert "ups.load" not in v and notes["ups.load"] == "out-of-range"
    # NULL (type 5) values: absent (over v2c a NULL reads as missing: docs/power.md).
    assert {"battery.current", "output.current"} <= set(r.missing)
    assert "battery.current" not in v and "output.current" not in v
    # A negative number is not a quirk by itself: -3 °C is a valid battery temperature.
    assert v["battery.temperature"] == -3 and "battery.temperature" not in notes
    assert v["ups.status"] == "OL" and v["input.frequency"] == 49.9


def test_null_values_are_notes_over_pysnmp(sim):
    """SNMPv1 (pysnmp) keeps NULL apart from an absent object: a NULL is a note."""
    r = read(sim.port, "quirky-rfc1628", version="1")
    notes = _notes(r)
    assert notes["battery.current"] == "null" and notes["output.current"] == "null"
    assert r.values["battery.charge"] == 87 and r.values["ups.status"] == "OL"


def test_quirks_in_json_and_verbose_and_health(sim, tmp_path):
    cfg = write_config(tmp_path, sim.port, [{"name": "quirky-rfc1628"}])
    rc, data = cli_json("-c", str(cfg), "power", "status")
    (d,) = data
    assert d["reachable"] and d["status"] == "WARNING" and rc == 1
    codes = {(n["field"], n["code"]) for n in d["notes"]}
    assert {("battery.voltage", "bad-type"), ("ups.load", "out-of-range"),
            ("battery.charge", "string-number"),
            ("device.mfr", "missing-instance")} <= codes
    assert all(n["message"] and n["oid"] for n in d["notes"])
    rules = {f["rule"] for f in d["findings"]}
    assert "values well-formed" in rules          # unusable values make it WARNING
    assert "rule values present" in rules         # load and runtime rules unchecked
    res = run_cli("-c", str(cfg), "-v", "power", "status")
    assert "expected a number" in res.stdout and "out of range" in res.stdout
    assert "Traceback" not in res.stderr


def test_32bit_counter_wrap_between_two_polls(sim, tmp_path):
    """The ConnectUPS card only has 32-bit ifInOctets (4192067549, close to 2^32 in the
    real recording); between two polls 300 s apart the counters wrap."""
    before = write_config(tmp_path, sim.port, [{"name": "card-port", "kind": "switch",
                                                "profile": "if-mib",
                                                "community": "counter-wrap-before"}])
    rc, first = cli_json("-c", str(before), "power", "poll")
    assert first["readings"][0]["reachable"], first
    after = write_config(tmp_path, sim.port, [{"name": "card-port", "kind": "switch",
                                               "profile": "if-mib",
                                               "community": "counter-wrap-after"}])
    rc, second = cli_json("-c", str(after), "power", "poll")
    (r,) = second["readings"]
    (port,) = r["values"]["ports"]
    # in: 4294967000 -> 1704 = 296 + 1704 = 2000 octets in 300 s (sysUpTime delta)
    assert port["in_bps"] == pytest.approx(2000 * 8 / 300, abs=0.1)
    # out: 4294960000 -> 29295 = 7296 + 29295 = 36591 octets
    assert port["out_bps"] == pytest.approx(36591 * 8 / 300, abs=0.1)
    wraps = [n for n in r["notes"] if n["code"] == "counter-wrap"]
    assert len(wraps) == 2 and all("wrapped" in n["message"] for n in wraps)
