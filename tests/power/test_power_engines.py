"""A v2c poll goes through gufo-snmp: the process never imports pysnmp, nor with it
``cryptography`` (its privacy ciphers, ~6 MB resident) or pysmi (its MIB compiler,
~100 ms of start-up, installed here for the tests). SNMPv3 authPriv (pysnmp) still works
in the same process afterwards (DES and AES)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from snmp_agents import Snmpd, V3User, snmpd_available, snmprec_overrides

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "snmp"
AUTH, PRIV = "auth-Key-2468", "priv-Key-1357"

pytestmark = pytest.mark.skipif(not snmpd_available(), reason="snmpd not installed")

SCRIPT = r"""
import json, sys
from opsctl.core.config import load_config
from opsctl.power import api

out = {}
for name in sys.argv[1:]:
    (r,) = api.poll(load_config(name))
    out[name] = {"reachable": r.reachable, "error": r.error,
                 "status": r.values.get("ups.status"),
                 "cryptography": "cryptography" in sys.modules,
                 "pysnmp": "pysnmp" in sys.modules,
                 "pysmi": sys.modules.get("pysmi") is not None}
print(json.dumps(out))
"""


def _cfg(tmp_path: Path, port: int, snmp: dict, name: str) -> str:
    dev = {"name": "u1", "kind": "ups", "host": "127.0.0.1", "port": port, "snmp": snmp,
           "timeout": 1, "retries": 0, "profile": "ietf"}
    p = tmp_path / name
    p.write_text(f"site: {{name: t}}\nstate_dir: {tmp_path / 'state'}\n"
                 f"devices:\n  - {json.dumps(dev)}\n")
    return str(p)


def test_v2c_never_loads_pysnmp_and_v3_authpriv_works(tmp_path):
    values = [v for v in snmprec_overrides(FIX / "ups-online.snmprec")
              if not v[0].startswith("1.3.6.1.2.1.1.")]
    users = [V3User("opsaes", AUTH, PRIV), V3User("opsdes", AUTH, PRIV, priv_protocol="DES")]
    with Snmpd(values, community="pub2c", v3_users=users) as agent:
        v2 = _cfg(tmp_path, agent.port, {"version": "2c", "community": "pub2c"}, "v2.yaml")
        aes = _cfg(tmp_path, agent.port, {"version": "3", "user": "opsaes", "auth_key": AUTH,
                                          "priv_protocol": "AES", "priv_key": PRIV}, "aes.yaml")
        des = _cfg(tmp_path, agent.port, {"version": "3", "user": "opsdes", "auth_key": AUTH,
                                          "priv_protocol": "DES", "priv_key": PRIV}, "des.yaml")
        res = subprocess.run([sys.executable, "-c", SCRIPT, v2, aes, des],
                             capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out[v2] == {"reachable": True, "error": None, "status": "OL",
                       "cryptography": False, "pysnmp": False, "pysmi": False}
    for name in (aes, des):
        assert out[name]["reachable"], out[name]["error"]
        assert out[name]["status"] == "OL" and out[name]["cryptography"]
