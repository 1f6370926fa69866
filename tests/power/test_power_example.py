"""`opsctl power status` on configs/opsctl.example.yaml, pointed at agents the test starts.

The example's devices are used as written (names, communities, v3 credentials from
configs/secrets, profiles, expected ports); only host ports are moved to the free ports
of the agents: snmpsim serves ups1 / switch1 / env1 recordings (community = file name),
net-snmp snmpd serves ups2 over SNMPv3 authPriv with APC PowerNet values.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snmp_agents import (
    Snmpd,
    Snmpsim,
    V3User,
    snmpd_available,
    snmprec_overrides,
    snmpsim_available,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "opsctl.example.yaml"
FIX = ROOT / "tests" / "fixtures" / "snmp"

pytestmark = pytest.mark.skipif(not (snmpsim_available() and snmpd_available()),
                                reason="snmpsim venv or snmpd missing")


def test_example_config_status(tmp_path):
    recs = tmp_path / "recs"
    recs.mkdir()
    shutil.copy(FIX / "ups-online.snmprec", recs / "ups1.snmprec")
    shutil.copy(FIX / "switch1.snmprec", recs / "switch1.snmprec")
    shutil.copy(FIX / "env1.snmprec", recs / "env1.snmprec")
    secrets = ROOT / "configs" / "secrets"
    user = V3User("opsmon", (secrets / "ups2-auth.key").read_text().strip(),
                  (secrets / "ups2-priv.key").read_text().strip())
    apc = snmprec_overrides(FIX / "apc-smartups.snmprec")
    with Snmpsim(sorted(recs.iterdir())) as sim, Snmpd(apc, v3_users=[user]) as snmpd:
        doc = yaml.safe_load(EXAMPLE.read_text())
        for d in doc["devices"]:
            d["port"] = snmpd.port if d["name"] == "ups2" else sim.port
            for key in ("auth_key_file", "priv_key_file"):
                if key in d["snmp"]:
                    d["snmp"][key] = str(ROOT / "configs" / d["snmp"][key])
        doc["state_dir"] = str(tmp_path / "state")
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
