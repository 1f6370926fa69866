"""The example's power-room patrol with its UPS / switch / sensor checks polling real SNMP
agents from the power tests (snmpsim recordings, net-snmp snmpd over SNMPv3 authPriv),
plus a UPS that never answers: UNKNOWN on its own, without holding up the others."""

from __future__ import annotations

import time

import pytest
import yaml
from inspect_helpers import ROOT, opsctl_json
from snmp_agents import (
    SilentAgent,
    example_agents,
    snmpd_available,
    snmpsim_available,
)

FIX = ROOT / "tests" / "fixtures" / "snmp"

pytestmark = pytest.mark.skipif(not (snmpsim_available() and snmpd_available()),
                                reason="snmpsim venv or snmpd missing")


def test_power_room_patrol_against_real_agents(tmp_path):
    silent = SilentAgent()
    try:
        with example_agents(tmp_path) as doc:
            doc["devices"].append({"name": "ups-dead", "kind": "ups", "host": "127.0.0.1",
                                   "port": silent.port, "snmp": {"version": "2c"},
                                   "timeout": 1, "retries": 0})
            patrol = next(p for p in doc["inspection"]["profiles"]
                          if p["name"] == "power-room-patrol")
            # The example's ups item polls every UPS; keep it to the two live ones here.
            next(i for i in patrol["items"] if i["id"] == "ups")["params"] = {
                "devices": ["ups1", "ups2"]}
            patrol["items"].append({"id": "ups-dead", "check": "ups",
                                    "params": {"devices": ["ups-dead"]}})
            cfg = tmp_path / "opsctl.yaml"
            cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
            answers = tmp_path / "answers.yaml"
            answers.write_text("ups-state: yes\nbattery-room: yes\nswitchgear: normal\n")
            t0 = time.monotonic()
            proc, rec = opsctl_json("-c", str(cfg), "inspect", "run", "--profile",
                                    "power-room-patrol", "--answers", str(answers))
            took = time.monotonic() - t0
    finally:
        silent.close()
    assert proc.returncode == 3, proc.stderr    # worst: the dead UPS is UNKNOWN
    by = {it["id"]: it for it in rec["items"]}
    ups = by["ups"]
    assert ups["status"] == "WARNING"             # ups2: load 62.4 % >= 60 %
    assert "ups1: " in ups["message"] and "load 62.4 % >= 60 %" in ups["message"]
    assert ups["value"]["ups1"]["ups.status"] == "OL"
    assert ups["value"]["ups2"]["ups.load"] == 62.4
    assert by["room-sensors"]["status"] == "WARNING"   # 29 °C above warn_high 27
    assert by["core-switch"]["status"] == "OK"
    assert by["ups-dead"]["status"] == "UNKNOWN" and "ups-dead" in by["ups-dead"]["message"]
    assert all(by[k]["status"] == "OK" for k in ("ups-state", "battery-room", "switchgear"))
    # The silent agent costs its own 1 s timeout, not a hang (concurrency itself is
    # measured in tests/power/test_power_agents.py; this bound includes start-up).
    assert took < 30, took
    assert "example-auth-pass" not in str(rec) + proc.stderr
    followed = {f["item_id"] for f in rec["followups"]}
    assert followed == {"ups", "room-sensors"}
