"""Read plans: a repeated poll of an unchanged device is one GET, reads exactly what a
full read would, and falls back to a full read whenever the device may have changed
(sysUpTime went back, sysObjectID changed, an object vanished, an error, plan expiry).

The logic is tested against an in-memory agent (the real Session code with the wire
replaced); the end-to-end effect against net-snmp's snmpd (restarted on the same port).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from snmp_agents import Snmpd, snmpd_available, snmprec_overrides

from opsctl.power import reader
from opsctl.power.reader import SYS_OBJECT_ID, SYS_UP_TIME, read_device
from opsctl.power.snmp.client import Session, SnmpError, Target, run
from opsctl.power.snmp.values import MISSING, Raw, is_under, oid_tuple

UPS = "1.3.6.1.2.1.33.1"
FIX = Path(__file__).resolve().parents[1] / "fixtures" / "snmp"


def rfc1628(**over: Raw | None) -> dict[str, Raw]:
    """An RFC 1628 UPS without upsAlarmsPresent (so its alarm table is walked)."""
    objs = {
        SYS_OBJECT_ID: Raw("oid", "1.3.6.1.4.1.99999.1"), SYS_UP_TIME: Raw("timeticks", 1000),
        f"{UPS}.1.1": Raw("string", b"ACME"),               # served without .0 (quirk)
        f"{UPS}.2.1.0": Raw("integer", 2), f"{UPS}.2.4.0": Raw("integer", 97),
        f"{UPS}.4.1.0": Raw("integer", 3), f"{UPS}.4.4.1.5.1": Raw("integer", 35),
        f"{UPS}.3.3.1.3.1": Raw("integer", 231), f"{UPS}.2.5.0": Raw("string", b"n/a"),
    }
    for k, v in over.items():
        oid = {"uptime": SYS_UP_TIME, "soid": SYS_OBJECT_ID}.get(k, k)
        if v is None:
            objs.pop(oid, None)
        else:
            objs[oid] = v
    return objs


class FakeSession(Session):
    """The real Session (answer reuse, assumed-absent objects, piggyback) over a dict."""

    def __init__(self, objects: dict[str, Raw]):
        super().__init__(Target("192.0.2.1", 161, "2c", "x"))
        self.objects = objects
        self.asked: list[list[str]] = []

    async def _get_chunk(self, oids: list[str]) -> dict[str, Raw]:
        self.requests += 1
        self.asked.append(list(oids))
        return {o: self.objects.get(o, MISSING) for o in oids}

    async def walk(self, bases, max_rows=10000, first_reps=None):
        self.requests += 1
        self.asked.append([f"walk:{b}" for b in bases])
        return {b: {o[len(b) + 1:]: v for o, v in sorted(self.objects.items(),
                                                        key=lambda kv: oid_tuple(kv[0]))
                    if is_under(o, b) and o != b} for b in bases}


def read(objects, plan=None, profile="auto"):
    s = FakeSession(objects)
    return run(read_device(s, "ups", profile, plan)), s


def same(a, b) -> bool:
    return (a.profile.name, a.profile_reason, a.values, [str(n) for n in a.notes],
            a.missing) == (b.profile.name, b.profile_reason, b.values,
                           [str(n) for n in b.notes], b.missing)


def test_planned_read_is_one_get_and_reads_the_same():
    full, s1 = read(rfc1628())
    assert full.values["device.mfr"] == "ACME"          # the bare OID answered
    assert s1.requests >= 3 and full.plan is not None
    planned, s2 = read(rfc1628(), full.plan)
    assert same(full, planned)
    # One GET (sysUpTime, sysObjectID, the objects that answered, the bare OID instead
    # of the absent .0) and the alarm walk (upsAlarmsPresent absent: still walked).
    assert s2.requests == 2 and len(s2.asked[0]) == 2 + 7
    assert f"{UPS}.1.1" in s2.asked[0] and f"{UPS}.1.1.0" not in s2.asked[0]
    assert not any(o in full.plan.absent for o in s2.asked[0])
    # Still the same on the third read (the plan carries over).
    again, s3 = read(rfc1628(), planned.plan)
    assert same(full, again) and s3.requests == 2


def test_alarm_table_skipped_when_upsalarmspresent_is_zero():
    objs = rfc1628(**{f"{UPS}.6.1.0": Raw("gauge32", 0)})
    full, _ = read(objs)
    planned, s = read(objs, full.plan)
    assert same(full, planned) and s.requests == 1


def test_changed_values_are_read_with_the_plan():
    full, _ = read(rfc1628())
    planned, s = read(rfc1628(**{f"{UPS}.4.1.0": Raw("integer", 5),
                                 f"{UPS}.2.4.0": Raw("integer", 40), "uptime":
                                 Raw("timeticks", 4000)}), full.plan)
    assert planned.values["ups.status"] == "OB DISCHRG"
    assert planned.values["battery.charge"] == 40 and s.requests == 2


@pytest.mark.parametrize("change", [
    {"uptime": Raw("timeticks", 10)},                           # agent restarted
    {"uptime": None},                                           # sysUpTime gone
    {"soid": Raw("oid", "1.3.6.1.4.1.318.1.3.27")},             # another card (APC)
    {f"{UPS}.4.4.1.5.1": None},                                 # an object vanished
])
def test_device_changed_means_a_full_read(change):
    full, _ = read(rfc1628())
    # A restarted agent that now serves upsOutputFrequency: the full read finds it.
    objs = rfc1628(**change, **{f"{UPS}.4.2.0": Raw("integer", 500)})
    res, s = read(objs, full.plan)
    fresh, _ = read(objs)
    assert same(res, fresh)
    if "soid" not in change:
        assert res.values["output.frequency"] == 50
    assert s.requests > 2


def test_new_object_without_restart_shows_after_plan_expiry(monkeypatch):
    full, _ = read(rfc1628())
    objs = rfc1628(**{f"{UPS}.4.2.0": Raw("integer", 500), "uptime": Raw("timeticks", 2000)})
    planned, _ = read(objs, full.plan)
    assert "output.frequency" not in planned.values       # known absent: not asked
    monkeypatch.setattr(reader.time, "monotonic",
                        lambda: full.plan.created + reader.PLAN_MAX_AGE + 1)
    later, s = read(objs, planned.plan)
    assert later.values["output.frequency"] == 50 and s.requests > 2


def test_plan_only_for_the_same_kind_and_profile_setting():
    full, _ = read(rfc1628())
    res, s = read(rfc1628(), full.plan, profile="ietf")
    assert res.profile_reason == "configured" and s.requests > 2


def test_custom_profiles_changing_invalidate_plans():
    from opsctl.power.profiles import registry

    full, _ = read(rfc1628())
    registry.register(registry.get("ietf"))  # any run-time change bumps the generation
    try:
        _, s = read(rfc1628(), full.plan)
        assert s.requests > 2
    finally:
        registry.set_custom([])


# -- end to end: the poller keeps plans between polls --------------------------------------
pytestmark_snmpd = pytest.mark.skipif(not snmpd_available(), reason="snmpd not installed")


def _values():
    return [v for v in snmprec_overrides(FIX / "ups-online.snmprec")
            if not v[0].startswith("1.3.6.1.2.1.1.")]


def _cfg(tmp_path: Path, port: int, community: str) -> Path:
    dev = {"name": "plan-ups", "kind": "ups", "host": "127.0.0.1", "port": port,
           "snmp": {"version": "2c", "community": community}, "timeout": 1, "retries": 1}
    p = tmp_path / "opsctl.yaml"
    p.write_text(f"site: {{name: t}}\nstate_dir: {tmp_path / 'state'}\n"
                 f"devices:\n  - {json.dumps(dev)}\n")
    return p


@pytestmark_snmpd
def test_poller_keeps_plans_and_rereads_a_restarted_agent(tmp_path):
    from opsctl.core.config import load_config
    from opsctl.power import api

    freq = f"{UPS}.4.2.0"
    values = [v for v in _values() if v[0] != freq]
    agent = Snmpd(values, community="planpub").start()
    try:
        cfg = load_config(_cfg(tmp_path, agent.port, "planpub"))
        (r1,) = api.poll(cfg)
        time.sleep(3)  # so that the restarted agent's sysUpTime is lower
        (r2,) = api.poll(cfg)
        assert r1.reachable and r2.reachable and r1.values == r2.values
        assert r1.notes == r2.notes and r1.missing == r2.missing
        assert "output.frequency" in r1.missing
        assert r1.requests >= 2 and r2.requests == 1
        agent.stop()
        agent = Snmpd([*values, (freq, "integer", "500")], community="planpub",
                      port=agent.port).start()
        (r3,) = api.poll(cfg)
        assert r3.values["output.frequency"] == 50 and r3.requests >= 2
        (r4,) = api.poll(cfg)
        assert r4.values == r3.values and r4.requests == 1
        # Unreachable: the plan is dropped; back again -> a full read first.
        agent.stop()
        (r5,) = api.poll(cfg)
        # (the stopped agent's port refuses at once: unreachable, not a timeout)
        assert not r5.reachable and r5.error_kind in ("timeout", "unreachable")
        agent = Snmpd(values, community="planpub", port=agent.port).start()
        (r6,) = api.poll(cfg)
        assert r6.reachable and r6.requests >= 2 and "output.frequency" in r6.missing
    finally:
        agent.stop()


def test_snmp_error_class_is_unchanged():
    # The planned path raises the same errors as a full read (nothing swallowed).
    class Dead(FakeSession):
        async def _get_chunk(self, oids):
            raise SnmpError("timeout", "no response")

    full, _ = read(rfc1628())
    with pytest.raises(SnmpError):
        run(read_device(Dead(rfc1628()), "ups", "auto", full.plan))
