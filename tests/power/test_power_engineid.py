"""A replaced or reset SNMPv3 card has a new engine ID: opsctl discovers it again without
a restart (real net-snmp snmpd, restarted on the same port with another engine ID)."""

from __future__ import annotations

import logging

import pytest
import yaml
from snmp_agents import Snmpd, V3User, free_udp_port, snmpd_available

from opsctl.core.config import load_config
from opsctl.power.api import poll

pytestmark = pytest.mark.skipif(not snmpd_available(), reason="net-snmp snmpd not installed")

USER = V3User("opsmon", "authkey123", "privkey123")


def agent(port: int, engine_id: str) -> Snmpd:
    return Snmpd(values=[("1.3.6.1.2.1.33.1.2.4.0", "integer", 97),
                         ("1.3.6.1.2.1.33.1.4.1.0", "integer", 3)],
                 v3_users=[USER], port=port,
                 extra=[f"exactEngineID 0x80000000010203{engine_id}"]).start()


def test_engine_id_change_is_rediscovered_without_a_restart(tmp_path, caplog):
    port = free_udp_port()
    cfg = {"site": {"name": "t"}, "state_dir": str(tmp_path / "state"),
           "devices": [{"name": "ups1", "kind": "ups", "host": "127.0.0.1", "port": port,
                        "profile": "ietf", "timeout": 1, "retries": 1,
                        "snmp": {"version": "3", "user": USER.name, "auth_protocol": "SHA",
                                 "auth_key": USER.auth_key, "priv_protocol": "AES",
                                 "priv_key": USER.priv_key}}]}
    path = tmp_path / "opsctl.yaml"
    path.write_text(yaml.safe_dump(cfg))
    cfg = load_config(path)
    first = agent(port, "0405")
    try:
        (r,) = poll(cfg)
        assert r.reachable and r.values["battery.charge"] == 97
    finally:
        first.stop()
    replaced = agent(port, "0a0b")  # the card was swapped: same address, new engine ID
    try:
        with caplog.at_level(logging.WARNING, logger="opsctl.power.snmp"):
            results = [poll(cfg)[0] for _ in range(3)]
        # The first poll after the swap may still time out; the next ones read it again.
        assert results[-1].reachable and results[-1].values["battery.charge"] == 97
        assert sum(r.reachable for r in results) >= 2
        assert "engine ID is discovered again" in caplog.text
    finally:
        replaced.stop()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="opsctl.power.snmp"):
        dead = [poll(cfg)[0] for _ in range(3)]
    assert not any(r.reachable for r in dead)
    # A dead card costs at most one engine rebuild per REDISCOVER_EVERY, not one per poll.
    assert caplog.text.count("engine ID is discovered again") <= 1
