"""Escalation along the roster: the people on duty now, then the shift lead, then the
supervisor and the manager, each after its delay while nobody acknowledged — a real
roster in the store, real mail through a real SMTP server."""

from __future__ import annotations

import datetime as dt

from daemon_support import base_config, wait_for, write_config

from opsctl.core.config import load_config
from opsctl.core.store import Store
from opsctl.daemon.alerts import AlertPipeline, Event, ack


class Clock:
    def __init__(self, t: dt.datetime):
        self.t = t

    def __call__(self) -> dt.datetime:
        return self.t


def people() -> list[dict]:
    out = [{"name": f"{t}{i}", "lead": i <= 2, "email": f"{t}{i}@example.org"}
           for t in "ab" for i in range(1, 5)]
    out += [{"name": "sam", "roles": ["supervisor"], "email": "sam@example.org"},
            {"name": "mia", "roles": ["manager"], "email": "mia@example.org"}]
    return out


def test_escalation_follows_the_roster(tmp_path, smtp_server):
    cfg = base_config(
        tmp_path, people=people(),
        duty={"roster": {"pattern": "two-shift", "teams": {"A": ["a1", "a2", "a3", "a4"],
                                                            "B": ["b1", "b2", "b3", "b4"]},
                         "shifts": [{"name": "day", "start": "08:00", "end": "20:00"},
                                    {"name": "night", "start": "20:00", "end": "08:00"}]}},
        alerts={"targets": [{"name": "mail", "type": "email", "smtp_host": "127.0.0.1",
                             "smtp_port": smtp_server.port, "starttls": False,
                             "sender": "opsctl@example.org", "to": ["room@example.org"]}],
                "routes": [], "retries": 0,
                "escalation": {"target": "mail", "steps": [
                    {"to": "on_duty", "after": 0}, {"to": "lead", "after": "10m"},
                    {"to": "supervisor", "after": "20m"}, {"to": "manager", "after": "30m"}]}})
    cfg = load_config(write_config(tmp_path / "opsctl.yaml", cfg))
    store = Store.for_config(cfg)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    from opsctl.handover.api import on_duty
    from opsctl.handover.roster import generate

    generate(cfg, store, f"{now:%Y-%m}", by="sam")
    (shift,) = [s for s in on_duty(cfg, store, now)]
    crew, lead = shift["people"], shift["lead"]
    assert lead in crew and len(crew) >= 2

    clock = Clock(now)
    pipe = AlertPipeline(cfg, store, clock=clock)
    try:
        eid = pipe.emit(Event("power", "on_battery", "critical", "ups1: on battery",
                              subject="ups1"))
        assert pipe.check_escalations() == [eid]
        wait_for(lambda: len(smtp_server.messages) == 1, 20, what="the on-duty mail")
        assert sorted(smtp_server.messages[0]["to"]) == sorted(f"{p}@example.org"
                                                               for p in crew)
        assert pipe.check_escalations() == []           # nothing new is due
        clock.t = now + dt.timedelta(minutes=10)
        assert pipe.check_escalations() == [eid]
        wait_for(lambda: len(smtp_server.messages) == 2, 20, what="the lead's mail")
        assert smtp_server.messages[1]["to"] == [f"{lead}@example.org"]

        ack(store, eid, "a1", cfg=cfg)                  # acknowledged: no further level
        clock.t = now + dt.timedelta(minutes=40)
        assert pipe.check_escalations() == []

        # Unacknowledged for 80 minutes: every level that is due goes out at once (each
        # through its own delivery worker, so they may arrive in any order).
        other = pipe.emit(Event("raid", "degraded", "critical", "md0 degraded",
                                subject="md0"))
        clock.t = now + dt.timedelta(minutes=80)
        assert pipe.check_escalations() == [other]
        wait_for(lambda: len(smtp_server.messages) == 6, 20, what="all four levels")
        got = sorted(tuple(sorted(m["to"])) for m in smtp_server.messages[2:])
        assert got == sorted([tuple(sorted(f"{p}@example.org" for p in crew)),
                              (f"{lead}@example.org",), ("sam@example.org",),
                              ("mia@example.org",)])
        assert pipe.drain(20)
    finally:
        pipe.close()
        store.close()
    from opsctl.handover.dutylog import list_entries

    texts = [e.text for e in list_entries(cfg, Store.for_config(cfg))]
    assert any(f"event #{eid} not acknowledged: level 2 (lead) notified: {lead}" in t
               for t in texts)
