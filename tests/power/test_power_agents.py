"""The power domain against real SNMP agents: snmpsim serving recordings, net-snmp's
snmpget as the reference reader, a UDP socket that never answers, the real CLI.

Recordings (tests/fixtures/snmp): ups-online, ups-onbattery (OB + LB + alarm table),
apc-smartups (PowerNet, high-precision objects), switch1 / switch1-later (ports up/down,
Counter64s, sensors, 60 s apart), env1 (APC probe), broken (wrong types, NULL, missing
objects, missing .0); plus the real Minuteman card (tests/fixtures/snmp-quirks/real).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from snmp_agents import SilentAgent, Snmpsim, snmpget_values, snmpsim_available

from opsctl.core.config import load_config
from opsctl.core.errors import Status
from opsctl.core.store import Store
from opsctl.power import api

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures" / "snmp"
# recorded from a real card (LibreNMS test data, see the README beside it)
REAL = ROOT / "tests" / "fixtures" / "snmp-quirks" / "real" / "minuteman-e1500.snmprec"

pytestmark = pytest.mark.skipif(not snmpsim_available(),
                                reason="snmpsim venv missing (created by .ci/run)")


@pytest.fixture(scope="module")
def sim():
    recs = sorted(FIX.glob("*.snmprec"))
    if REAL.exists():
        recs.append(REAL)
    with Snmpsim(recs) as agent:
        yield agent


def write_config(tmp_path: Path, devices: list[dict], name: str = "opsctl.yaml") -> Path:
    lines = ["site: {name: test}", f"state_dir: {tmp_path / 'state'}", "devices:"]
    for d in devices:
        lines.append("  - " + json.dumps(d))
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return p


def dev(name: str, kind: str, port: int, community: str, **kw) -> dict:
    return {"name": name, "kind": kind, "host": "127.0.0.1", "port": port,
            "snmp": {"version": "2c", "community": community}, "timeout": 1, "retries": 1,
            **kw}


def opsctl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opsctl", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "NO_COLOR": "1"})


def test_values_and_scales_match_snmpget(sim, tmp_path):
    """opsctl's values equal net-snmp's snmpget numbers times the MIB scale."""
    cfg = load_config(write_config(tmp_path, [
        dev("ups1", "ups", sim.port, "ups-online"), dev("apc1", "ups", sim.port, "apc-smartups"),
    ]))
    by = {r.name: r for r in api.poll(cfg)}
    u = "1.3.6.1.2.1.33.1"
    ref = snmpget_values(sim.port, "ups-online", f"{u}.2.3.0", f"{u}.2.4.0", f"{u}.2.5.0",
                         f"{u}.3.3.1.2.1", f"{u}.4.4.1.3.1", f"{u}.4.4.1.5.1", f"{u}.4.1.0")
    v = by["ups1"].values
    assert v["battery.runtime"] == int(ref[f"{u}.2.3.0"]) * 60        # minutes -> s
    assert v["battery.charge"] == int(ref[f"{u}.2.4.0"])
    assert v["battery.voltage"] == int(ref[f"{u}.2.5.0"]) / 10        # 0.1 V
    assert v["input.frequency"] == int(ref[f"{u}.3.3.1.2.1"]) / 10    # 0.1 Hz
    assert v["output.current"] == int(ref[f"{u}.4.4.1.3.1"]) / 10     # 0.1 A
    assert v["ups.load"] == int(ref[f"{u}.4.4.1.5.1"])
    assert ref[f"{u}.4.1.0"] == "3" and v["ups.status"] == "OL"       # normal(3) -> OL
    assert by["ups1"].profile == "ietf" and by["ups1"].status == Status.OK

    a = "1.3.6.1.4.1.318.1.1.1"
    ref = snmpget_values(sim.port, "apc-smartups", f"{a}.4.3.3.0", f"{a}.4.2.3.0",
                         f"{a}.2.2.3.0", f"{a}.2.3.1.0")
    v = by["apc1"].values
    # High-precision object first: 624 tenths, not the integer 62.
    assert v["ups.load"] == int(ref[f"{a}.4.3.3.0"]) / 10 == 62.4
    assert int(ref[f"{a}.4.2.3.0"]) == 62
    assert v["battery.runtime"] == int(ref[f"{a}.2.2.3.0"]) / 100    # TimeTicks -> s
    assert v["battery.charge"] == int(ref[f"{a}.2.3.1.0"]) / 10
    assert by["apc1"].profile == "apc" and "sysObjectID" in by["apc1"].profile_reason
    assert v["ups.status"] == "OL RB"                                  # replace indicator
    assert by["apc1"].status == Status.WARNING


def test_status_cli_all_devices_exit_code_and_json(sim, tmp_path):
    dead = SilentAgent()
    try:
        cfg = write_config(tmp_path, [
            dev("ups1", "ups", sim.port, "ups-online"),
            dev("ups2", "ups", sim.port, "ups-onbattery"),
            dev("mm", "ups", sim.port, "minuteman-e1500"),
            dev("sw1", "switch", sim.port, "switch1", expected_up_ports=["Gi1/0/1", "Gi1/0/2"]),
            dev("env1", "sensor", sim.port, "env1"),
            dev("dead", "ups", dead.port, "s3cr3t-community", timeout=0.5, retries=0),
            dev("nodns", "ups", 161, "public", host="no-such-host.invalid"),
        ])
        res = opsctl("-c", str(cfg), "power", "status", "--json")
    finally:
        dead.close()
    assert res.returncode == 2, res.stderr                     # worst: CRITICAL (on battery)
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["ups1"]["status"] == "OK"
    assert rows["ups2"]["status"] == "CRITICAL"
    assert "on battery" in rows["ups2"]["reason"] and "low battery" in rows["ups2"]["reason"]
    assert rows["ups2"]["values"]["ups.alarm"] == "OnBattery LowBattery"
    # The real Minuteman card breaks both of the room's rules.
    assert rows["mm"]["status"] == "WARNING"
    assert "load 79 % >= 60 %" in rows["mm"]["reason"]
    assert "runtime 22 min < 360 min" in rows["mm"]["reason"]
    assert {n["code"] for n in rows["mm"]["notes"]} >= {"missing-instance"}
    assert rows["sw1"]["status"] == "OK"                       # expected ports both up
    assert rows["env1"]["status"] == "WARNING"                 # 29 °C > 27 °C
    assert rows["dead"]["reachable"] is False and rows["dead"]["error_kind"] == "timeout"
    assert rows["nodns"]["error_kind"] == "dns"
    assert "cannot resolve host" in rows["nodns"]["reason"]
    assert "s3cr3t" not in res.stdout + res.stderr
    assert "Traceback" not in res.stderr


def test_dead_agent_does_not_delay_the_others(sim, tmp_path):
    silent = [SilentAgent() for _ in range(3)]
    try:
        devices = [dev(f"ok{i}", "ups", sim.port, "ups-online") for i in range(6)]
        devices += [dev(f"dead{i}", "ups", s.port, "x", timeout=2, retries=1)
                    for i, s in enumerate(silent)]
        cfg = load_config(write_config(tmp_path, devices))
        api.poll(load_config(write_config(tmp_path, devices[:1], "warm.yaml")))  # imports once
        t0 = time.monotonic()
        readings = api.poll(cfg)
        elapsed = time.monotonic() - t0
    finally:
        for s in silent:
            s.close()
    by = {r.name: r for r in readings}
    assert all(by[f"ok{i}"].reachable for i in range(6))
    # the live agents answer well inside one dead agent's timeout (slack for a loaded CI box)
    assert all(by[f"ok{i}"].duration < 1.5 for i in range(6))
    assert all(by[f"dead{i}"].error_kind == "timeout" for i in range(3))
    # 3 dead agents x (2 s x 2 tries) polled concurrently: one timeout budget (~4 s), not
    # three in a row (>= 12 s); the margin is for a loaded CI machine.
    assert elapsed < 9, elapsed


def test_broken_agent_reports_quirks_as_notes(sim, tmp_path):
    cfg = load_config(write_config(tmp_path, [dev("bad", "ups", sim.port, "broken")]))
    (r,) = api.poll(cfg)
    assert r.reachable
    codes = {(n["code"], n["field"]) for n in r.notes}
    assert ("missing-instance", "device.mfr") in codes
    assert "device.model" in r.missing  # NULL: over v2c it reads as missing (docs/power.md)
    assert ("string-number", "battery.runtime") in codes
    assert ("out-of-range", "battery.charge") in codes
    assert ("bad-type", "ups.load") in codes
    assert ("unknown-enum", "ups.status") in codes
    assert r.values["device.mfr"] == "Quirky Corp"
    assert r.values["battery.runtime"] == 95 * 60
    # Never invented: no charge (255 %), no load ("thirty"), no status (42).
    assert not {"battery.charge", "ups.load", "ups.status"} & set(r.values)
    assert "battery.charge" in r.missing
    assert r.status == Status.WARNING and "unusable values" in r.reason


def test_ups_command_shows_rules_missing_and_notes(sim, tmp_path):
    cfg = write_config(tmp_path, [dev("mm", "ups", sim.port, "minuteman-e1500"),
                                  dev("sw1", "switch", sim.port, "switch1")])
    res = opsctl("-c", str(cfg), "power", "ups", "mm")
    assert res.returncode == 1, res.stderr
    assert "WARNING: ups.load >= 60" in res.stdout
    assert "WARNING: battery.runtime < 360 min" in res.stdout
    assert "not provided by this device:" in res.stdout and "device.model" in res.stdout
    assert "without its .0 instance" in res.stdout
    res = opsctl("-c", str(cfg), "power", "ups", "nosuch")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "opsctl: error: unknown device 'nosuch' (known: mm, sw1)"]
    res = opsctl("-c", str(cfg), "power", "ups", "sw1")
    assert res.returncode == 2 and "is a switch, not a ups" in res.stderr


def test_unknown_profile_is_a_config_error_with_line(tmp_path):
    cfg = write_config(tmp_path, [dev("ok", "ups", 161, "public"),
                                  dev("u", "ups", 161, "public", profile="nosuch")])
    res = opsctl("-c", str(cfg), "power", "status")
    assert res.returncode == 2
    assert f"{cfg}:5: devices[1].profile: unknown profile 'nosuch'" in res.stderr
    assert "Traceback" not in res.stderr


def test_poll_detects_events_and_rates_across_polls(sim, tmp_path):
    """Poll 1: on line, ports as recorded. Poll 2 (same devices, the agent's next state):
    on battery + low battery, port 2 down, port 3 up, PSU failed, rates from the stored
    sample. Poll 3: the UPS goes silent while on battery -> comms lost + low battery."""
    store = Store.open(tmp_path / "state")
    sw = {"expected_up_ports": ["Gi1/0/1", "Gi1/0/2"]}
    cfg1 = load_config(write_config(tmp_path, [
        dev("ups1", "ups", sim.port, "ups-online"), dev("sw1", "switch", sim.port, "switch1", **sw),
    ], "a.yaml"))
    readings, events = api.poll_and_detect(cfg1, store)
    assert events == [] and [r.status for r in readings] == [Status.OK, Status.OK]

    cfg2 = load_config(write_config(tmp_path, [
        dev("ups1", "ups", sim.port, "ups-onbattery"),
        dev("sw1", "switch", sim.port, "switch1-later", **sw),
    ], "b.yaml"))
    readings, events = api.poll_and_detect(cfg2, store)
    kinds = [(e.kind, e.device, e.severity) for e in events]
    assert ("on_battery", "ups1", "critical") in kinds
    assert ("low_battery", "ups1", "critical") in kinds
    assert ("port_down", "sw1", "major") in kinds and ("port_up", "sw1", "minor") in kinds
    sw1 = {r.name: r for r in readings}["sw1"]
    assert sw1.status == Status.CRITICAL                       # PSU 2 failed
    ports = {p["name"]: p for p in sw1.values["ports"]}
    # 60 s of agent time (sysUpTime 360000 -> 366000); Gi1/0/3 moved 600000/1200000 octets.
    assert ports["Gi1/0/3"]["in_bps"] == 600000 * 8 / 60
    assert ports["Gi1/0/3"]["out_bps"] == 1200000 * 8 / 60
    assert "in_bps" not in ports["Gi1/0/1"]                    # discontinuity recorded
    assert any(n["code"] == "discontinuity" and "Gi1/0/1" in n["message"] for n in sw1.notes)

    silent = SilentAgent()
    try:
        cfg3 = load_config(write_config(tmp_path, [
            dev("ups1", "ups", silent.port, "x", timeout=0.3, retries=0),
            dev("sw1", "switch", sim.port, "switch1-later", **sw)], "c.yaml"))
        readings, events = api.poll_and_detect(cfg3, store)
    finally:
        silent.close()
    assert [(e.kind, e.device) for e in events] == [("comms_lost", "ups1"),
                                                   ("low_battery", "ups1")]
    last = {d["name"]: d for d in api.last_readings(store)}
    assert last["ups1"]["reachable"] is False and last["sw1"]["status"] == "CRITICAL"
    stored = api.recent_events(store, 100)
    assert len(stored) == len(kinds) + 2 and stored[0]["kind"] == "low_battery"
    store.close()


def test_switch_command_ports_and_sensors(sim, tmp_path):
    cfg = write_config(tmp_path, [dev("sw1", "switch", sim.port, "switch1")])
    res = opsctl("-c", str(cfg), "power", "switch", "sw1", "--ports", "--json")
    assert res.returncode == 1, res.stderr       # Gi1/0/3 admin up, oper down
    data = json.loads(res.stdout)
    ports = {p["name"]: p for p in data["values"]["ports"]}
    assert ports["Gi1/0/1"]["in_octets"] == 9_000_000_000_000   # Counter64 beyond 2^32
    assert ports["Gi1/0/1"]["alias"] == "uplink core" and ports["Gi1/0/1"]["high_speed"] == 1000
    assert ports["Gi1/0/3"]["admin"] == "up" and ports["Gi1/0/3"]["oper"] == "down"
    assert ports["Gi1/0/2"]["in_errors"] == 3
    sensors = {s["name"]: s for s in data["values"]["sensors"]}
    assert sensors["Inlet temperature"]["value"] == 24.5       # precision 1
    assert sensors["Fan 1"]["kind"] == "fan" and sensors["Fan 1"]["value"] == 5400
    assert sensors["PSU 1"]["kind"] == "psu" and sensors["PSU 1"]["value"] is True
    assert "port Gi1/0/3 admin up, oper down" in data["reason"]
    res = opsctl("-c", str(cfg), "power", "switch", "sw1", "--ports")
    assert "Gi1/0/3" in res.stdout and "Inlet temperature" in res.stdout
