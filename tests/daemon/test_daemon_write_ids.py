"""Every daemon write is applied once, even when the reply to its COMMIT is lost (issue 15).

Between the daemon's code and a real PostgreSQL sits a TCP proxy
(tests/helpers/pg_commit_proxy.py) that forwards a write transaction's COMMIT to the
server, swallows the server's answer and cuts the connection: the server committed, the
daemon sees "connection lost" and spools the record. Each write carries a write id stored
in its own transaction, so the replay finds it and does not apply the record again —
for a duty-log entry, an alert event (whose duty-log entry and delivery the replay adds),
an auto-resolve, a job run, a power poll and an inspection run with its follow-up.
Afterwards each record exists once and `duty log verify` passes.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from daemon_support import wait_for
from pg_cluster import PASSWORD, store_yaml
from pg_commit_proxy import CommitDropProxy

from opsctl.core.config import load_config
from opsctl.core.runner import Runner
from opsctl.core.store import Store
from opsctl.daemon.alerts import AlertPipeline, Event
from opsctl.daemon.jobs import JobContext, JobSpec, execute, job_inspection, job_poll
from opsctl.daemon.schema import deliveries, events, outbox, runs, spool_applied
from opsctl.daemon.spool import Spool, drain
from opsctl.handover.dutylog import list_entries
from opsctl.inspection.schema import followups
from opsctl.inspection.schema import runs as inspection_runs
from opsctl.power.schema import polls

pytestmark = pytest.mark.postgresql


def _count(store, table, *where) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where))\
            .scalar()


def test_a_commit_whose_reply_is_lost_is_applied_once(tmp_path, pg_cluster, webhook):
    db = pg_cluster.new_database()
    proxy = CommitDropProxy(pg_cluster.port).start()
    pw = tmp_path / "db.password"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    path = tmp_path / "opsctl.yaml"
    path.write_text(
        "site: {name: t, timezone: UTC}\nstate_dir: state\n"
        "people:\n  - {name: olga, roles: [operator]}\n"
        "alerts:\n"
        f"  targets: [{{name: hook, type: webhook, url: '{webhook.url}'}}]\n"
        "  routes: [{severity: critical, targets: [hook]}]\n"
        "  retries: 0\n"
        "inspection:\n  profiles:\n"
        "    - name: room\n"
        "      items: [{id: load, check: load, params: {warn: 0, crit: 0}}]\n"
        + store_yaml(f"postgresql://opsctl@127.0.0.1:{proxy.port}/{db}",
                     password_file=str(pw)))
    cfg = load_config(path)
    store = Store.for_config(cfg)
    spool = Spool.open(tmp_path)
    alerts = AlertPipeline(cfg, store)
    alerts.spool = spool
    ctx = JobContext(cfg, store, alerts, Runner(), spool=spool)

    def commit_lost(action, records: int = 1):
        """``action``'s write commits, its reply is lost: spooled; the replay skips it."""
        before = proxy.dropped
        proxy.arm(1)
        action()
        assert proxy.dropped == before + 1, ("no COMMIT was cut", spool.counts(), proxy.connections)
        assert spool.active and spool.counts()["records"] == records
        assert alerts.drain(30)
        assert drain(spool, store, cfg) == records
        assert not spool.active

    try:
        commit_lost(lambda: alerts.record_duty(category="note", text="a note",
                                               source="daemon/test", author="opsctl-daemon"))
        commit_lost(lambda: alerts.emit(Event("power", "on_battery", "critical",
                                              "ups1: on battery", subject="ups1")))
        wait_for(lambda: len(webhook.received) == 1, 10, what="the alert")
        commit_lost(lambda: alerts.resolve("power", "on_battery", "ups1", "mains back"))
        commit_lost(lambda: execute(ctx, JobSpec("t", "test", "manual",
                                                 lambda _ctx: "done"), "manual"), records=1)
        commit_lost(lambda: job_poll(ctx))
        # The inspection's CRITICAL emits an alert: spooled behind the run (2 records).
        commit_lost(lambda: job_inspection(ctx, "room"), records=2)
        assert alerts.drain(30)

        entries = list_entries(cfg, store)
        texts = [e.text for e in entries]
        assert texts.count("a note") == 1, texts
        incident = [e for e in entries if e.text.startswith("ups1: on battery")]
        assert len(incident) == 1, texts
        closing = [e for e in entries if e.kind == "close" and e.ref_seq == incident[0].seq]
        assert len(closing) == 1, texts
        followup = [e for e in entries if e.text.startswith("Inspection #")]
        assert len(followup) == 1, texts
        with store.read() as conn:
            ev = conn.execute(sa.select(events).where(events.c.kind == "on_battery")).all()
            assert len(ev) == 1 and ev[0].status == "closed"
            assert ev[0].duty_seq == incident[0].seq  # added by the replay
            ob = conn.execute(sa.select(outbox).where(outbox.c.event_id == ev[0].id)).all()
            assert [(o.target, o.state) for o in ob] == [("hook", "ok")]
            dl = conn.execute(sa.select(deliveries).where(
                deliveries.c.event_id == ev[0].id)).all()
            assert [(d.target, d.ok) for d in dl] == [("hook", True)]
            run = conn.execute(sa.select(runs).where(runs.c.job_id == "t")).all()
            assert [(r.status, r.summary) for r in run] == [("ok", "done")]
            assert conn.execute(sa.select(sa.func.count()).select_from(spool_applied)
                                .where(spool_applied.c.key.like("w:%"))).scalar() >= 6
        assert len(webhook.received) == 2  # on battery, the inspection: each once
        assert _count(store, polls) == 1
        assert _count(store, inspection_runs) == 1 and _count(store, followups) == 1
        assert proxy.dropped == 6
        p = subprocess.run([sys.executable, "-m", "opsctl", "-c", str(path), "duty", "log",
                            "verify"], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "NO_COLOR": "1"})
        assert p.returncode == 0, p.stdout + p.stderr
    finally:
        alerts.close()
        spool.close()
        store.close()
        proxy.close()
