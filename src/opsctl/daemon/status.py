"""What ``opsctl daemon status`` / ``jobs`` read: all from the store, so they work from any
shell while the daemon runs (or after it died)."""

from __future__ import annotations

import datetime as dt
import socket

import sqlalchemy as sa

from opsctl.core import kvstate
from opsctl.core.store import Store
from opsctl.daemon import timeutil
from opsctl.daemon.alerts import open_events, pending_deliveries, recent_failures
from opsctl.daemon.jobs import KV_NS, build_jobs
from opsctl.daemon.schema import jobs as jobs_t
from opsctl.daemon.schema import runs


def process_key(cfg, store: Store) -> str:
    """Where a daemon keeps its process record: ``process`` on SQLite (one daemon per
    store); on a shared store one per daemon, named by its room (or host)."""
    if store.is_sqlite:
        return "process"
    return f"process@{cfg.daemon.room or socket.gethostname()}"


def site_daemons(store: Store) -> list[dict]:
    """Every daemon's record on a shared store (leader/follower, room, host, liveness)."""
    if store.is_sqlite:
        return []
    out = []
    for key in sorted(kvstate.items(store, KV_NS)):
        if key.startswith("process@"):
            out.append({"name": key.removeprefix("process@"),
                        **process_state(store, key=key)})
    return out


def process_state(store: Store, cfg=None, key: str | None = None) -> dict:
    from opsctl.core.identity import pid_alive

    if key is None:
        key = process_key(cfg, store) if cfg is not None else "process"
    proc = kvstate.get(store, KV_NS, key) or {}
    running = False
    stale = False
    if proc.get("running"):
        beat = timeutil.parse(proc.get("heartbeat_at"))
        limit = dt.timedelta(seconds=3 * float(proc.get("heartbeat_interval") or 10) + 5)
        fresh = beat is not None and timeutil.utcnow() - beat <= limit
        same_host = proc.get("host") == socket.gethostname()
        alive = pid_alive(proc.get("pid")) if same_host else fresh
        running = alive and fresh
        stale = not running  # it said running but is dead or silent: crashed or hung
    return {**proc, "running": running, "stale": stale}


def job_rows(cfg, store: Store) -> list[dict]:
    """Configured jobs merged with their stored state (next/last run, last result)."""
    specs = build_jobs(cfg)
    with store.read() as conn:
        stored = {r.job_id: dict(r._mapping) for r in conn.execute(sa.select(jobs_t))}
        counts = {(r.job_id, r.status): r.n for r in conn.execute(
            sa.select(runs.c.job_id, runs.c.status, sa.func.count().label("n"))
            .group_by(runs.c.job_id, runs.c.status))}
    zone = timeutil.site_zone(cfg)
    out = []
    for job_id, spec in specs.items():
        row = stored.get(job_id, {})
        nxt = timeutil.parse(row.get("next_run"))
        if nxt is None:
            trig = spec.trigger(zone)
            nxt = trig.get_next_fire_time(None, dt.datetime.now(zone))
        out.append({
            "id": job_id, "kind": spec.kind, "schedule": spec.schedule,
            "next_run": timeutil.iso(nxt), "last_run": row.get("last_run"),
            "last_status": row.get("last_status"), "last_error": row.get("last_error"),
            "runs_ok": counts.get((job_id, "ok"), 0),
            "runs_failed": counts.get((job_id, "failed"), 0),
            "runs_missed": counts.get((job_id, "missed"), 0),
        })
    return out


def last_runs(store: Store, job_id: str | None = None, limit: int = 20) -> list[dict]:
    q = sa.select(runs).order_by(runs.c.id.desc()).limit(limit)
    if job_id:
        q = q.where(runs.c.job_id == job_id)
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def full_status(cfg, store: Store) -> dict:
    return {
        "daemon": process_state(store, cfg),
        "site_daemons": site_daemons(store),
        "jobs": job_rows(cfg, store),
        "open_events": open_events(store),
        "pending_deliveries": pending_deliveries(store),
        "delivery_failures": recent_failures(store, timeutil.utcnow() - dt.timedelta(days=1)),
        "spool": spool_state(cfg),
    }


def spool_state(cfg) -> dict | None:
    """This host's daemon spool (records waiting for the store), or None when empty."""
    from opsctl.daemon.spool import peek

    found = peek(cfg.state_dir)
    if found is None or not (found.get("records") or found.get("deliveries_pending")
                             or found.get("rejected") or found.get("error")):
        return None
    return found
