"""`opsctl power status` on configs/opsctl.example.yaml, pointed at agents the test starts.

The example's devices are used as written (names, communities, v3 credentials from
configs/secrets, profiles, expected ports); only host ports are moved to the free ports
of the agents: snmpsim serves ups1 / switch1 / env1 recordings (community = file name),
net-snmp snmpd serves ups2 over SNMPv3 authPriv with APC PowerNet values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from snmp_agents import (
    example_agents,
    snmpd_available,
    snmpsim_available,
)

pytestmark = pytest.mark.skipif(not (snmpsim_available() and snmpd_available()),
                                reason="snmpsim venv or snmpd missing")


def test_example_config_status(tmp_path):
    with example_agents(tmp_path) as doc:
        cfg = tmp_path / "opsctl.yaml"
        cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
        res = subprocess.run([sys.executable, "-m", "opsctl", "-c", str(cfg), "power", "status",
                              "--json"], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "NO_COLOR": "1"})
    assert res.returncode == 1, res.stderr            # worst: WARNING
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert set(rows) == {"ups1", "ups2", "core-sw1", "env1"}
    assert rows["ups1"]["status"] == "OK" and rows["ups1"]["values"]["ups.status"] == "OL"
    ups2 = rows["ups2"]
    assert ups2["reachable"] and ups2["profile"] == "apc", ups2["error"]
    assert ups2["values"]["ups.load"] == 62.4 and ups2["values"]["battery.runtime"] == 27000
    assert ups2["status"] == "WARNING" and "load 62.4 % >= 60 %" in ups2["reason"]
    assert rows["core-sw1"]["status"] == "OK"          # Gi1/0/1 and Gi1/0/2 are up
    assert rows["env1"]["status"] == "WARNING"         # 29 °C above warn_high 27
    assert "example-auth-pass" not in res.stdout + res.stderr


def test_poll_exits_0_once_stored_so_events_runs(tmp_path):
    """`power poll && power events` (README): the poll's exit code says whether the
    readings were stored, not the devices' health (ups2 and env1 are WARNING here)."""
    with example_agents(tmp_path) as doc:
        cfg = tmp_path / "opsctl.yaml"
        cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
        env = {**os.environ, "NO_COLOR": "1", "OPSCTL_CONFIG": str(cfg)}
        poll = subprocess.run([sys.executable, "-m", "opsctl", "--json", "power", "poll"],
                              capture_output=True, text=True, timeout=60, env=env)
        assert poll.returncode == 0, poll.stderr
        statuses = {r["name"]: r["status"] for r in json.loads(poll.stdout)["readings"]}
        assert statuses["env1"] == "WARNING"
        events = subprocess.run([sys.executable, "-m", "opsctl", "--json", "power", "events"],
                                capture_output=True, text=True, timeout=60, env=env)
    assert events.returncode == 0, events.stderr
    assert any(e["device"] == "ups2" for e in json.loads(events.stdout))  # replace_battery
