"""A missed patrol is an alert the next morning (SPEC §5: at least two power-room patrols
a day); runs where nobody answered a question do not count as patrols."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from daemon_support import base_config, write_config

from opsctl.core.config import load_config
from opsctl.core.errors import Status
from opsctl.core.store import Store
from opsctl.daemon.alerts import AlertPipeline
from opsctl.daemon.jobs import JobContext, build_jobs, job_patrol_check
from opsctl.daemon.schema import events
from opsctl.inspection.model import InspectionRecord, ItemResult
from opsctl.inspection.records import save


def test_missed_patrol_alerts_next_morning(tmp_path, webhook):
    cfg = load_config(write_config(tmp_path / "opsctl.yaml", base_config(
        tmp_path,
        inspection={"profiles": [{"name": "power-room", "runs_per_day": 2,
                                  "items": [{"id": "q", "question": "battery room ok?"}]}]},
        alerts={"targets": [{"name": "hook", "type": "webhook", "url": webhook.url}],
                "routes": [{"severity": "major", "targets": ["hook"]}]})))
    assert "patrol-check" in build_jobs(cfg)
    store = Store.for_config(cfg)
    day = dt.date(2026, 5, 4)
    for hour, answered in ((7, True), (19, False)):   # the evening run: a timer, unanswered
        when = dt.datetime.combine(day, dt.time(hour), dt.UTC)
        item = ItemResult(1, "q", "manual", Status.OK if answered else Status.UNKNOWN,
                          "yes" if answered else "not answered (skipped)",
                          answer=True if answered else None, skipped=not answered)
        save(store, InspectionRecord("power-room", "bob", "h1", when, when, Status.OK, [item],
                                     source="cli" if answered else "timer"))
    pipe = AlertPipeline(cfg, store)
    morning = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 10), dt.UTC)
    try:
        text = job_patrol_check(JobContext(cfg, store, pipe, None, now=lambda: morning))
        assert text == "2026-05-04: power-room 1/2 missed"
        assert pipe.drain(10)
    finally:
        pipe.close()
    with store.read() as conn:
        got = conn.execute(sa.select(events.c.kind, events.c.severity, events.c.message)).all()
    assert [(k, s) for k, s, _ in got] == [("patrol-missed", "major")]
    assert "walked 1 of 2 times (1 unattended runs do not count)" in got[0][2]
    assert webhook.received and webhook.received[0]["kind"] == "patrol-missed"
