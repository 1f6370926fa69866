"""SNMPv3 authPriv, v1 and a real IF-MIB against net-snmp's snmpd (a private instance).

The UPS values are the ups-online recording served as snmpd ``override`` lines, so the
same data is read over v1, v2c and v3; wrong credentials must give a clean per-device
error naming an authentication failure and never the key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from snmp_agents import Snmpd, V3User, snmpd_available, snmprec_overrides

from opsctl.core.config import load_config
from opsctl.core.errors import Status
from opsctl.power import api

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "snmp"
AUTH, PRIV = "auth-Key-2468", "priv-Key-1357"

pytestmark = pytest.mark.skipif(not snmpd_available(), reason="snmpd not installed")


@pytest.fixture(scope="module")
def agent():
    values = [v for v in snmprec_overrides(FIX / "ups-online.snmprec")
              if not v[0].startswith("1.3.6.1.2.1.1.")]  # keep snmpd's own system group
    with Snmpd(values, community="pub2c", v3_users=[V3User("opsmon", AUTH, PRIV)]) as a:
        yield a


def _cfg(tmp_path: Path, port: int, snmp: dict, name: str = "opsctl.yaml", **kw) -> Path:
    dev = {"name": "u1", "kind": "ups", "host": "127.0.0.1", "port": port, "snmp": snmp,
           "timeout": 1, "retries": 0, **kw}
    p = tmp_path / name
    p.write_text(f"site: {{name: t}}\nstate_dir: {tmp_path / 'state'}\n"
                 f"devices:\n  - {json.dumps(dev)}\n")
    return p


@pytest.mark.parametrize("snmp", [
    {"version": "1", "community": "pub2c"},
    {"version": "2c", "community": "pub2c"},
    {"version": "3", "user": "opsmon", "auth_protocol": "SHA", "auth_key": AUTH,
     "priv_protocol": "AES", "priv_key": PRIV},
], ids=["v1", "v2c", "v3-authPriv"])
def test_same_values_over_every_version(agent, tmp_path, snmp):
    (r,) = api.poll(load_config(_cfg(tmp_path, agent.port, snmp, profile="ietf")))
    assert r.reachable, r.error
    assert r.values["ups.status"] == "OL" and r.values["battery.runtime"] == 420 * 60
    assert r.values["output.current"] == 9.2 and r.values["device.model"] == "ACME 6000 RT"
    assert r.status == Status.OK


def test_v3_secrets_from_files_and_env(agent, tmp_path, monkeypatch):
    (tmp_path / "auth.key").write_text(AUTH + "\n")
    monkeypatch.setenv("OPSCTL_TEST_PRIV", PRIV)
    snmp = {"version": "3", "user": "opsmon", "auth_key_file": "auth.key",
            "priv_key_env": "OPSCTL_TEST_PRIV"}
    (r,) = api.poll(load_config(_cfg(tmp_path, agent.port, snmp)))
    assert r.reachable and r.profile == "ietf", r.error


def _opsctl(cfg: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opsctl", "-c", str(cfg), *args],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"})  # reasons on one line


def test_v3_wrong_keys_are_authentication_failures_without_secrets(agent, tmp_path):
    bad_auth = _cfg(tmp_path, agent.port, {"version": "3", "user": "opsmon",
                                           "auth_key": "WRONG-auth-9999", "priv_key": PRIV})
    res = _opsctl(bad_auth, "power", "status", "--json")
    assert res.returncode == 3, res.stderr          # UNKNOWN
    (row,) = json.loads(res.stdout)
    assert row["error_kind"] == "auth"
    assert "authentication failure" in row["reason"] and "wrong auth key" in row["reason"]
    out = res.stdout + res.stderr
    assert "WRONG-auth-9999" not in out and PRIV not in out and "Traceback" not in out

    unknown_user = _cfg(tmp_path, agent.port, {"version": "3", "user": "intruder",
                                               "auth_key": AUTH, "priv_key": PRIV}, "u.yaml")
    (r,) = api.poll(load_config(unknown_user))
    assert r.error_kind == "auth" and "unknown user 'intruder'" in r.error

    # net-snmp drops a request it cannot decrypt without a report: the only honest
    # message is a timeout that names the likely cause.
    bad_priv = _cfg(tmp_path, agent.port, {"version": "3", "user": "opsmon", "auth_key": AUTH,
                                           "priv_key": "WRONG-priv-0000"}, "p.yaml")
    res = _opsctl(bad_priv, "power", "status")
    assert res.returncode == 3
    assert "wrong SNMPv3 priv key" in res.stdout and "WRONG-priv-0000" not in res.stdout


def test_real_if_mib_from_snmpd(agent, tmp_path):
    """snmpd serves this host's real interfaces: lo must be there, up, with Counter64s
    that agree with the 32-bit ones modulo 2^32."""
    cfg = _cfg(tmp_path, agent.port, {"version": "2c", "community": "pub2c"}, kind="switch",
               expected_up_ports=["lo"])
    (r,) = api.poll(load_config(cfg))
    assert r.reachable and r.profile == "switch", r.error
    ports = {p.get("name") or p.get("descr"): p for p in r.values["ports"]}
    lo = ports["lo"]
    assert lo["admin"] == "up" and lo["oper"] == "up"
    assert isinstance(lo["in_octets"], int)
    assert lo["in_octets"] % (1 << 32) <= lo["in_octets32"] + 10_000_000
    assert r.values["device.uptime"] > 0
    assert r.status == Status.OK, r.reason


def test_same_v3_user_name_with_different_keys_on_two_agents(tmp_path):
    """pysnmp's USM table is keyed by user name until discovery: two agents sharing a
    user name with different keys must both be read when polled together."""
    a_user, b_user = V3User("shared", "keyAAAA1111", "privAAAA1111"), \
        V3User("shared", "keyBBBB2222", "privBBBB2222")
    with Snmpd(v3_users=[a_user]) as a, Snmpd(v3_users=[b_user]) as b:
        devs = [{"name": f"sw{n}", "kind": "switch", "host": "127.0.0.1", "port": ag.port,
                 "timeout": 1, "retries": 0, "profile": "if-mib",
                 "snmp": {"version": "3", "user": "shared", "auth_key": u.auth_key,
                          "priv_key": u.priv_key}}
                for n, ag, u in (("a", a, a_user), ("b", b, b_user))]
        p = tmp_path / "opsctl.yaml"
        p.write_text("site: {name: t}\ndevices:\n" +
                     "".join(f"  - {json.dumps(d)}\n" for d in devs))
        readings = api.poll(load_config(p))
    assert [(r.name, r.reachable, r.error) for r in readings] == [
        ("swa", True, None), ("swb", True, None)]
