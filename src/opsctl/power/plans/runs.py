"""Plan runs in the store: the run and each step's state, written before the step starts.

This is what makes a shutdown survive a crash of the process running it: a restarted
daemon finds the run still ``running`` with a dead pid and resumes it. A step whose row
says ``running`` was under way when the process died; its outcome is unknown, so it is
marked ``interrupted`` and never started again (a second ``poweroff`` is harmless, a
second "stop the database, then delete its lock file" is not).
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import sqlalchemy as sa

from opsctl.core.identity import pid_alive
from opsctl.power.schema import plan_runs, plan_steps

FINAL = ("ok", "failed", "skipped", "cancelled", "interrupted")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def create_run(store: Any, plan: Any, *, actor: str, policy: str | None,
               reason: str | None) -> int:
    with store.write() as conn:
        run_id = conn.execute(plan_runs.insert().values(
            plan=plan.name, kind=plan.kind, policy=policy, actor=actor, reason=reason,
            status="running", started_at=_now(), pid=os.getpid(), resumed=0,
            definition=plan.to_dict())).inserted_primary_key[0]
        for s in plan.steps:
            conn.execute(plan_steps.insert().values(
                run_id=run_id, idx=s.index, name=s.name, grp=s.group, where_=s.where,
                status="pending"))
    return run_id


def claim_for_resume(store: Any, run_id: int) -> dict[int, dict]:
    """Take over an unfinished run: steps caught mid-way become ``interrupted``. Returns
    ``{index: step row}`` of every step that is no longer pending."""
    with store.write() as conn:
        conn.execute(plan_steps.update().where(
            plan_steps.c.run_id == run_id, plan_steps.c.status == "running").values(
                status="interrupted", finished_at=_now(),
                message="the process running the plan stopped during this step; its "
                        "outcome is unknown and it is not run again"))
        conn.execute(plan_runs.update().where(plan_runs.c.id == run_id).values(
            pid=os.getpid(), resumed=plan_runs.c.resumed + 1))
        rows = conn.execute(sa.select(plan_steps).where(
            plan_steps.c.run_id == run_id, plan_steps.c.status != "pending")).fetchall()
    return {r.idx: dict(r._mapping) for r in rows}


def mark_step(store: Any, run_id: int, index: int, status: str, *,
              message: str | None = None, result: dict | None = None) -> None:
    values: dict[str, Any] = {"status": status}
    if status == "running":
        values["started_at"] = _now()
    else:
        values.update(finished_at=_now(), message=message, result=result)
    with store.write() as conn:
        conn.execute(plan_steps.update().where(plan_steps.c.run_id == run_id,
                                               plan_steps.c.idx == index).values(**values))


def finish_run(store: Any, run_id: int, status: str, change_id: int | None) -> None:
    with store.write() as conn:
        conn.execute(plan_runs.update().where(plan_runs.c.id == run_id).values(
            status=status, finished_at=_now(), change_id=change_id))


def get_run(store: Any, run_id: int) -> dict | None:
    runs = history(store, run_id=run_id)
    return runs[0] if runs else None


def orphaned_runs(store: Any) -> list[dict]:
    """Runs still marked running whose process is gone (killed, crashed, power lost)."""
    with store.read() as conn:
        rows = conn.execute(sa.select(plan_runs).where(plan_runs.c.status == "running")
                            .order_by(plan_runs.c.id)).fetchall()
    return [dict(r._mapping) for r in rows
            if r.pid != os.getpid() and not pid_alive(r.pid)]


def history(store: Any, limit: int = 20, run_id: int | None = None) -> list[dict]:
    """Newest first, each run with its steps in order."""
    q = sa.select(plan_runs).order_by(plan_runs.c.id.desc()).limit(limit)
    if run_id is not None:
        q = q.where(plan_runs.c.id == run_id)
    with store.read() as conn:
        out = [dict(r._mapping) for r in conn.execute(q)]
        for run in out:
            run.pop("definition", None)
            run["steps"] = [
                {"index": s.idx, "name": s.name, "group": s.grp, "where": s.where_,
                 "status": s.status, "started_at": s.started_at,
                 "finished_at": s.finished_at, "message": s.message}
                for s in conn.execute(sa.select(plan_steps).where(
                    plan_steps.c.run_id == run["id"]).order_by(plan_steps.c.idx))]
    return out


def step_status_counts(steps: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in steps:
        counts[s["status"]] = counts.get(s["status"], 0) + 1
    return counts
