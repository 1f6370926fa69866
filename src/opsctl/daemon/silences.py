"""Silences (maintenance windows): events about a device or check are recorded, not sent.

A silence names a *target* — a device, a check, an inspection profile, an array, or an
event kind (``on_battery``) or ``source:kind`` (``power:comms_lost``) — and lasts a given
time. A matching event is still stored and written to the duty log (records are
evidence); it is marked ``silenced`` and no alert goes out, and it is not escalated.
Adding and removing a silence are duty-log entries too.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa

from opsctl.core.errors import NotFoundError, UsageError
from opsctl.core.store import Store
from opsctl.daemon import timeutil
from opsctl.daemon.schema import silences

log = logging.getLogger("opsctl.daemon.silences")

# Event detail keys a silence target is compared with (besides subject and kind).
_DETAIL_KEYS = ("device", "check", "item", "port", "profile", "host", "array")


def _note(store: Store, text: str, author: str, cfg: Any) -> None:
    try:
        from opsctl.handover.api import record_event

        record_event(store, category="note", text=text, source="daemon/silence",
                     author=author, cfg=cfg)
    except Exception as exc:  # noqa: BLE001 - the silence itself is what was asked for
        log.warning("duty-log note for a silence failed: %s", exc)


def add(store: Store, target: str, seconds: float, reason: str, by: str, *, cfg: Any = None,
        now: dt.datetime | None = None) -> dict:
    if not target.strip():
        raise UsageError("a silence needs a target (a device, check, profile or event kind)")
    if not reason or not reason.strip():
        raise UsageError("a silence needs --reason TEXT (why alerts may stay quiet)")
    if seconds <= 0:
        raise UsageError("--for must be longer than 0")
    now = now or timeutil.utcnow()
    until = now + dt.timedelta(seconds=seconds)
    with store.write() as conn:
        sid = conn.execute(silences.insert().values(
            target=target.strip(), reason=reason.strip(), created_by=by,
            created_at=timeutil.iso(now), until=timeutil.iso(until))).inserted_primary_key[0]
    _note(store, f"alerts for {target} silenced until {timeutil.iso(until)} by {by} "
          f"(silence #{sid}): {reason}", by, cfg)
    return get(store, sid)


def get(store: Store, sid: int) -> dict:
    with store.read() as conn:
        row = conn.execute(sa.select(silences).where(silences.c.id == sid)).first()
    if row is None:
        raise NotFoundError(f"no silence #{sid}", hint="see `opsctl daemon silence list`")
    return dict(row._mapping)


def remove(store: Store, sid: int, by: str, *, cfg: Any = None) -> dict:
    row = get(store, sid)
    if row["removed_at"] is not None:
        return row
    with store.write() as conn:
        conn.execute(silences.update().where(silences.c.id == sid).values(
            removed_at=timeutil.iso(timeutil.utcnow()), removed_by=by))
    _note(store, f"silence #{sid} for {row['target']} removed by {by}", by, cfg)
    return get(store, sid)


def active(store: Store, now: dt.datetime | None = None) -> list[dict]:
    now_s = timeutil.iso(now or timeutil.utcnow())
    with store.read() as conn:
        rows = conn.execute(sa.select(silences).where(
            silences.c.removed_at.is_(None), silences.c.until > now_s)
            .order_by(silences.c.id))
        return [dict(r._mapping) for r in rows]


def all_silences(store: Store, limit: int = 100) -> list[dict]:
    with store.read() as conn:
        rows = conn.execute(sa.select(silences).order_by(silences.c.id.desc()).limit(limit))
        return [dict(r._mapping) for r in rows]


def matches(target: str, source: str, kind: str, subject: str | None,
            details: dict | None) -> bool:
    names = {kind, f"{source}:{kind}", source + ":*"}
    if subject:
        names.add(subject)
    for k in _DETAIL_KEYS:
        v = (details or {}).get(k)
        if isinstance(v, str):
            names.add(v)
    return target in names


def silence_for(store: Store, source: str, kind: str, subject: str | None,
                details: dict | None, now: dt.datetime) -> dict | None:
    for s in active(store, now):
        if matches(s["target"], source, kind, subject, details):
            return s
    return None
