"""The storage domain's entry points for other domains (inspection, handover, daemon).

Stable signatures (see docs/DEVNOTES.md): ``raid_health(runner)``, ``vg_usage(runner)``,
``storage_busy(store)``. They never raise for "nothing there": a machine without md or
LVM has no arrays and no VGs.
"""

from __future__ import annotations

import socket
from typing import Any

import sqlalchemy as sa

from opsctl.core.errors import Status
from opsctl.core.identity import pid_alive
from opsctl.core.runner import Runner
from opsctl.core.store import Store


def raid_health(runner: Runner, *, mdstat_text: str | None = None) -> list[dict[str, Any]]:
    """One dict per md array: ``name, level, state, health (Status), percent, degraded,
    members`` plus ``device, eta_minutes, size_bytes``.

    ``state`` is clean / degraded / resyncing / recovering / reshaping / checking / failed;
    ``health`` is OK when clean, WARNING while a resync/rebuild runs, CRITICAL when
    degraded with nothing rebuilding or failed.
    """
    from opsctl.storage.probe import probe_arrays

    out = []
    for a in probe_arrays(runner, mdstat_text):
        out.append({
            "name": a.name, "device": a.device, "level": a.level, "state": a.state,
            "health": a.health, "percent": a.percent, "degraded": a.degraded,
            "eta_minutes": a.eta_minutes, "size_bytes": a.size_bytes,
            "members": a.members,
        })
    return out


def worst_raid_health(arrays: list[dict[str, Any]]) -> Status:
    from opsctl.core.errors import worst

    return worst(a["health"] for a in arrays)


def vg_usage(runner: Runner) -> list[dict[str, Any]]:
    """One dict per volume group: ``vg, size_bytes, free_bytes`` (plus pv_count, lv_count)."""
    from opsctl.storage.probe import probe_lvm

    _pvs, vgs, _lvs = probe_lvm(runner)
    return [{"vg": v["vg_name"], "size_bytes": int(v.get("vg_size") or 0),
             "free_bytes": int(v.get("vg_free") or 0), "pv_count": v.get("pv_count"),
             "lv_count": v.get("lv_count")} for v in vgs]


def storage_busy(store: Store) -> str | None:
    """A one-line description of a storage operation in progress, or None.

    An operation whose process died (same host, pid gone) is not "in progress": it is
    reported by ``storage history`` as still running, but it no longer blocks anything.
    """
    from opsctl.core.store_schema import changes
    from opsctl.storage.schema import storage_ops

    host = socket.gethostname()
    q = (sa.select(changes.c.id, changes.c.action, changes.c.target, changes.c.actor,
                   changes.c.started_at, storage_ops.c.pid, storage_ops.c.host)
         .select_from(changes.outerjoin(storage_ops, storage_ops.c.change_id == changes.c.id))
         .where(changes.c.domain == "storage", changes.c.status == "running")
         .order_by(changes.c.id))
    with store.read() as conn:
        rows = list(conn.execute(q))
    for r in rows:
        if r.pid is not None and r.host == host and not pid_alive(r.pid):
            continue
        what = f"{r.action} {r.target}" if r.target else r.action
        return f"storage operation in progress: {what} by {r.actor} since {r.started_at}"
    return None
