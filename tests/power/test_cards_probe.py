"""``opsctl power probe HOST``: the real CLI (subprocess) against real agents.

- snmpsim serving the three real card recordings: the probe names the matching profile
  and why, lists the values it reads (the same the poll reads), what is missing, the
  data-quality notes, and a ``devices:`` entry that polls the card;
- agents that are no UPS: only the system group (no-ups), a switch (switch1), the switch
  with ``--kind ups``: "no profile matches", exit 1;
- nothing answering (a socket that never replies, a closed port, an unknown host): one
  line on stderr, exit 1, no traceback, nothing on stdout;
- SNMPv1 (GETNEXT walks) and SNMPv3 authPriv (net-snmp snmpd with the CyberPower values).
Exit codes (``opsctl power probe --help``, docs/power.md): 0 a profile matches, 1 nothing
matches or the agent does not answer, 2 bad usage (e.g. v3 without keys).
"""

from __future__ import annotations

import copy
import functools
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from snmp_agents import SilentAgent, Snmpd, V3User, free_udp_port, snmpd_available
from snmp_agents import snmprec_overrides as overrides
from test_cards_common import REAL, ROOT, cli_json, read, run_cli, sim_available, start_sim

SWITCH = ROOT / "tests" / "fixtures" / "snmp" / "switch1.snmprec"

pytestmark = [pytest.mark.snmp,
              pytest.mark.skipif(not sim_available(), reason="snmpsim venv not installed")]

# card -> (profile, words in the "why", values that must be missing, note codes)
CARDS: dict[str, tuple[str, str, set[str], set[tuple[str, str]]]] = {
    # sysObjectID 1.3.6.1.4.1.2254.2.4 belongs to no profile: found by probing.
    "minuteman-e1500": ("ietf", "5 of 5 probe objects answered",
                        {"device.model", "battery.current", "ups.test.result"},
                        # upsBatteryCurrent is NULL: over v2c it reads as missing
                        {("missing-instance", "device.mfr")}),
    "eaton-connectups": ("xups", "sysObjectID under 1.3.6.1.4.1.534.1",
                         {"ups.status", "ups.load", "battery.runtime", "device.model"}, set()),
    "cyberpower-ol2200": ("cyberpower", "sysObjectID under 1.3.6.1.4.1.3808",
                          {"ups.load", "battery.voltage", "ups.test.result"}, set()),
}


@pytest.fixture(scope="module")
def sim():
    s = start_sim(extra=[SWITCH])
    yield s
    s.stop()


def probe(port: int, *args: str, json_out: bool = False):
    """The CLI probe of the agent on ``port``; with ``json_out`` (rc, parsed JSON), cached
    per arguments (a CLI start costs ~0.6 s; the copy lets a test change its result)."""
    if json_out:
        return copy.deepcopy(_probe_json(port, args))
    return run_cli("power", "probe", "127.0.0.1", "--port", str(port), "--timeout", "2",
                   "--retries", "1", *args)


@functools.cache
def _probe_json(port: int, args: tuple[str, ...]) -> tuple[int, Any]:
    return cli_json("power", "probe", "127.0.0.1", "--port", str(port), "--timeout", "2",
                    "--retries", "1", *args)


def plain(v: Any) -> Any:
    """A poll value as it comes out of --json (lists of rows -> JSON round trip)."""
    return json.loads(json.dumps(v))


# -- the three real cards -------------------------------------------------------------------------
@pytest.mark.parametrize("card", list(CARDS))
def test_probe_real_card_json(sim, card):
    profile, why, missing, notes = CARDS[card]
    rc, d = probe(sim.port, "--community", card, json_out=True)
    assert rc == 0
    assert (d["profile"], d["kind"]) == (profile, "ups")
    assert why in d["reason"]
    assert d["candidates"][0]["profile"] == profile and d["candidates"][0]["matches"]
    # The probe chooses what a poll with ``profile: auto`` chooses and reads the same.
    r = read(sim.port, card)
    assert r.profile.name == profile
    assert d["values"] == plain(r.values)
    assert set(d["missing"]) == set(r.missing) and missing <= set(d["missing"])
    assert {(n["code"], n["field"]) for n in d["notes"]} == notes
    assert d["system"]["object_id"] == r.sys_object_id
    assert d["requests"] > 0
    # A devices: entry without secrets: sysName "<private>" is no valid name -> CHANGE-ME.
    cfg = d["config"]
    assert cfg["profile"] == profile and cfg["port"] == sim.port and cfg["name"] == "CHANGE-ME"
    assert cfg["snmp"] == {"version": "2c", "community_env": "CHANGE-ME"}
    assert card not in json.dumps(d)        # the community (= card name) is never echoed


def test_probe_values_for_each_card(sim):
    # What a careful reading of the MIBs gives (details in test_cards_real.py).
    got = {card: probe(sim.port, "--community", card, json_out=True)[1]["values"]
           for card in CARDS}
    assert got["minuteman-e1500"]["ups.load"] == 79
    assert got["minuteman-e1500"]["battery.runtime"] == 22 * 60
    assert got["eaton-connectups"]["output.voltage"] == 230
    assert got["eaton-connectups"]["input.bypass.frequency"] == 50
    assert got["cyberpower-ol2200"]["ups.status"] == "OL"
    assert got["cyberpower-ol2200"]["input.voltage"] == 119.5
    assert got["cyberpower-ol2200"]["battery.runtime"] == 1740


@pytest.mark.parametrize("card", list(CARDS))
def test_probe_real_card_human(sim, card):
    profile, why, missing, notes = CARDS[card]
    res = probe(sim.port, "--community", card)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert f"{profile} (ups)" in out
    assert why in out
    assert f"values read with {profile}" in out
    line = next(x for x in out.splitlines() if x.startswith("not provided by this device: "))
    assert missing <= set(line.split(": ", 1)[1].split(", "))
    if notes:
        assert "data quality:" in out
        assert "object served without its .0 instance (1.3.6.1.2.1.33.1.1.1)" in out
    else:
        assert "data quality:" not in out
    snippet = yaml.safe_load(out.split("config:\n", 1)[1])
    assert snippet["devices"][0]["profile"] == profile
    assert card not in out and "Traceback" not in res.stderr


def test_probe_snippet_polls_the_card(sim, tmp_path):
    """The printed devices: entry, with the community filled in, reads the same values."""
    from opsctl.core.config import load_config
    from opsctl.power import api

    rc, d = probe(sim.port, "--community", "cyberpower-ol2200", json_out=True)
    entry = {**d["config"], "name": "cp1"}
    entry["snmp"] = {"version": "2c", "community": "cyberpower-ol2200"}
    p = tmp_path / "opsctl.yaml"
    p.write_text(yaml.safe_dump({"site": {"name": "t"}, "state_dir": str(tmp_path / "s"),
                                 "devices": [entry]}))
    (reading,) = api.poll(load_config(p))
    assert reading.reachable and reading.profile == "cyberpower"
    assert plain(reading.values) == d["values"]


# -- agents that are not a UPS -------------------------------------------------------------------
def test_probe_no_ups_json_and_human(sim):
    rc, d = probe(sim.port, "--community", "no-ups", json_out=True)
    assert rc == 1
    assert d["profile"] is None and d["kind"] is None and d["config"] is None
    assert d["values"] == {} and d["missing"] == []
    assert d["system"]["descr"] == "Linux printer 5.10"
    assert d["reason"] == ("no profile matches: sysObjectID 1.3.6.1.4.1.8072.3.2.10 is not a "
                           "known vendor prefix and none of the profiles' objects or tables "
                           "answered")
    assert not any(c["matches"] for c in d["candidates"])
    res = probe(sim.port, "--community", "no-ups")
    assert res.returncode == 1 and res.stderr == ""
    assert "none" in res.stdout and "no profile matches" in res.stdout
    assert "values read with" not in res.stdout and "config:" not in res.stdout


def test_probe_switch_is_a_switch_not_a_ups(sim):
    rc, d = probe(sim.port, "--community", "switch1", json_out=True)
    assert rc == 0
    assert (d["profile"], d["kind"]) == ("switch", "switch")
    assert d["reason"] == "tables present: ports, sensors"
    assert len(d["values"]["ports"]) == 4 and len(d["values"]["sensors"]) == 5
    assert d["config"]["name"] == "core-sw1" and d["config"]["kind"] == "switch"
    assert all(not c["matches"] for c in d["candidates"] if c["kind"] == "ups")
    # Asked for a UPS only: nothing matches, and it says so.
    rc, d = probe(sim.port, "--community", "switch1", "--kind", "ups", json_out=True)
    assert rc == 1 and d["profile"] is None
    assert {c["kind"] for c in d["candidates"]} == {"ups"}
    assert d["reason"].startswith("no profile matches")
    res = probe(sim.port, "--community", "switch1", "--kind", "ups")
    assert res.returncode == 1 and "no profile matches" in res.stdout


# -- SNMPv1: GETNEXT walks --------------------------------------------------------------------------
@pytest.mark.parametrize("community", ["switch1", "cyberpower-ol2200"])
def test_probe_v1_reads_what_v2c_reads(sim, community):
    # switch1's MIB ends inside entPhySensorTable: a v1 agent answers the GETNEXT that
    # walks off its end with noSuchName for the whole PDU. Only that column is finished;
    # the ports and sensors walked with it must still be read (they were lost before).
    _, v2 = probe(sim.port, "--community", community, json_out=True)
    rc, v1 = probe(sim.port, "--community", community, "--snmp-version", "1",
                   json_out=True)
    assert rc == 0
    if community == "switch1":
        # The one v1 difference: Counter64 cannot travel in SNMPv1 (RFC 2576 4.2.1), the
        # agent skips ifHCIn/OutOctets, so the ports have no 64-bit octet counters.
        for row in v2["values"]["ports"]:
            del row["in_octets"], row["out_octets"]
        assert all("in_octets" not in row for row in v1["values"]["ports"])
    assert (v1["profile"], v1["values"], v1["missing"]) == \
        (v2["profile"], v2["values"], v2["missing"])
    assert v1["config"]["snmp"]["version"] == "1"


# -- nothing answers -------------------------------------------------------------------------------
def _assert_one_line_error(res, port: int | None, *words: str) -> None:
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert lines[0].startswith("opsctl: error: probe ")
    if port is not None:
        assert f"127.0.0.1:{port}" in lines[0]
    for w in words:
        assert w in lines[0]


@pytest.mark.parametrize("json_out", [False, True])
def test_probe_silent_agent_unreachable(json_out):
    with SilentAgent() as dead:
        argv = ["power", "probe", "127.0.0.1", "--port", str(dead.port), "--timeout", "0.5",
                "--retries", "0"]
        res = run_cli(*(["--json", *argv] if json_out else argv))
    _assert_one_line_error(res, dead.port, "no response", "timeout 0.5s")


def test_probe_closed_port_and_unknown_host():
    port = free_udp_port()   # nobody listens: the ICMP port unreachable is seen at once
    t0 = time.monotonic()
    res = run_cli("power", "probe", "127.0.0.1", "--port", str(port), "--timeout", "30",
                  "--retries", "1", "--community", "s3cret-community")
    _assert_one_line_error(res, port, "connection refused")
    assert time.monotonic() - t0 < 30  # not after timeout x tries (60 s); CLI start-up aside
    assert "s3cret-community" not in res.stderr
    res = run_cli("--json", "power", "probe", "no-such-host.invalid", "--timeout", "0.5")
    _assert_one_line_error(res, None, "cannot resolve host 'no-such-host.invalid'")


def test_probe_v3_without_keys_is_a_usage_error():
    res = run_cli("power", "probe", "127.0.0.1", "--v3", "opsmon")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.strip() == ("opsctl: error: SNMPv3 authPriv needs an auth key "
                                  "(--auth-key-file or --auth-key-env)")


# -- SNMPv3 authPriv ---------------------------------------------------------------------------------
AUTH, PRIV = "probe-auth-key-1", "probe-priv-key-1"


@pytest.mark.skipif(not snmpd_available(), reason="net-snmp snmpd not installed")
def test_probe_v3_authpriv_cyberpower_values(tmp_path: Path):
    (tmp_path / "auth").write_text(AUTH + "\n")
    (tmp_path / "priv").write_text(PRIV + "\n")
    (tmp_path / "bad").write_text("wrong-auth-key\n")
    values = overrides(REAL / "cyberpower-ol2200.snmprec")
    with Snmpd(values, community="unused-community",
               v3_users=[V3User("opsmon", AUTH, PRIV)]) as agent:
        base = ["power", "probe", "127.0.0.1", "--port", str(agent.port), "--v3", "opsmon",
                "--priv-key-file", str(tmp_path / "priv"), "--timeout", "2", "--retries", "0"]
        rc, d = cli_json(*base, "--auth-key-file", str(tmp_path / "auth"))
        bad = run_cli(*base, "--auth-key-file", str(tmp_path / "bad"))
    assert rc == 0
    assert d["profile"] == "cyberpower"
    assert d["values"]["ups.status"] == "OL" and d["values"]["battery.runtime"] == 1740
    assert d["values"]["input.voltage"] == 119.5
    assert d["config"]["snmp"] == {"version": "3", "user": "opsmon",
                                   "security_level": "authPriv", "auth_protocol": "SHA",
                                   "auth_key_file": "CHANGE-ME", "priv_protocol": "AES",
                                   "priv_key_file": "CHANGE-ME"}
    text = json.dumps(d)
    assert AUTH not in text and PRIV not in text
    _assert_one_line_error(bad, agent.port, "authentication")
    assert "wrong-auth-key" not in bad.stderr and PRIV not in bad.stderr


# -- custom profiles from the config are candidates too ----------------------------------------------
CUSTOM = """\
site: {name: t}
power:
  profiles:
    - name: minuteman
      kind: ups
      extends: ietf
      description: Minuteman cards (RFC 1628 + identity in enterprise 2254)
      sys_object_ids: [1.3.6.1.4.1.2254]
      fields:
        device.model: {oids: [1.3.6.1.4.1.2254.2.4.1.2.0], type: string}
"""


def test_probe_considers_the_configs_custom_profiles(sim, tmp_path):
    cfg = tmp_path / "opsctl.yaml"
    cfg.write_text(CUSTOM)
    rc, d = cli_json("-c", str(cfg), "power", "probe", "127.0.0.1", "--port", str(sim.port),
                     "--community", "minuteman-e1500")
    assert rc == 0
    # The custom profile wins by its sysObjectID prefix and reads the vendor's model
    # object the RFC 1628 card lacks; ietf alone lists device.model as missing.
    assert d["profile"] == "minuteman"
    assert d["reason"] == ("sysObjectID under 1.3.6.1.4.1.2254; "
                           "5 of 5 probe objects answered")
    assert d["values"]["device.model"] == "E1500RTXL2U"
    assert "device.model" not in d["missing"]
    assert [c["profile"] for c in d["candidates"][:2]] == ["minuteman", "ietf"]
