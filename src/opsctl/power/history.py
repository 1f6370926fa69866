"""Readings and events in the store: write one poll, read the last one back."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from opsctl.core.output import to_jsonable
from opsctl.power import schema
from opsctl.power.model import DeviceReading, Event


def save_poll(store, readings: Sequence[DeviceReading], events: Sequence[Event],
              duration: float) -> int:
    record = poll_record(readings, events, duration)
    with store.write() as conn:
        return write_poll(conn, record)


def poll_record(readings: Sequence[DeviceReading], events: Sequence[Event],
                duration: float, now: str | None = None) -> dict[str, Any]:
    """One poll as plain JSON data: what :func:`write_poll` stores (the daemon spools it
    while the store is unreachable, and writes it later with its own times)."""
    now = now or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return {
        "at": now, "duration": round(duration, 3), "devices": len(readings),
        "readings": [{"at": r.polled_at or now, "device": r.name, "kind": r.kind,
                      "reachable": r.reachable, "status": r.status.name, "reason": r.reason,
                      "data": json.dumps(to_jsonable(r.to_dict()), ensure_ascii=False)}
                     for r in readings],
        "events": [{"at": e.at or now, "device": e.device, "kind": e.kind,
                    "severity": e.severity, "message": e.message,
                    "details": json.dumps(to_jsonable(e.details))} for e in events],
    }


def write_poll(conn, record: dict[str, Any]) -> int:
    """Store a :func:`poll_record` inside the caller's write transaction."""
    poll_id = conn.execute(schema.polls.insert().values(
        at=record["at"], duration=record["duration"], devices=record["devices"]))\
        .inserted_primary_key[0]
    if record["readings"]:
        conn.execute(schema.readings.insert(),
                     [{"poll_id": poll_id, **r} for r in record["readings"]])
    if record["events"]:
        conn.execute(schema.events.insert(),
                     [{"poll_id": poll_id, **e} for e in record["events"]])
    return poll_id


def latest_per_device(store, names: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """The most recent stored reading of each device (what the next poll compares with)."""
    r = schema.readings
    latest = sa.select(sa.func.max(r.c.id).label("id")).group_by(r.c.device)
    if names:
        latest = latest.where(r.c.device.in_(list(names)))
    with store.read() as conn:
        rows = conn.execute(sa.select(r.c.data).where(r.c.id.in_(latest.scalar_subquery())))
        out = {}
        for row in rows:
            d = json.loads(row.data)
            out[d["name"]] = d
    return out


def last_poll(store) -> list[dict[str, Any]]:
    """All readings of the last stored poll."""
    with store.read() as conn:
        pid = conn.execute(sa.select(sa.func.max(schema.polls.c.id))).scalar()
        if pid is None:
            return []
        rows = conn.execute(sa.select(schema.readings.c.data)
                            .where(schema.readings.c.poll_id == pid)
                            .order_by(schema.readings.c.id))
        return [json.loads(row.data) for row in rows]


def recent_events(store, limit: int = 50) -> list[dict[str, Any]]:
    e = schema.events
    with store.read() as conn:
        rows = conn.execute(sa.select(e).order_by(e.c.id.desc()).limit(limit))
        return [{"id": row.id, "at": row.at, "device": row.device, "kind": row.kind,
                 "severity": row.severity, "message": row.message,
                 "details": json.loads(row.details or "{}")} for row in rows]
