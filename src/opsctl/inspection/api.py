"""The inspection domain's entry points for the daemon, the handover and exports
(see docs/DEVNOTES.md)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any

from opsctl.inspection.model import InspectionRecord


def run_profile(cfg, store, profile, inspector: str, answers: dict | None = None,
                interactive: bool = False, **kw: Any) -> InspectionRecord:
    """Run an inspection profile and store its record; returns it (``.id``, ``.status``).

    ``answers``: mapping item id -> answer or {answer, note} for manual items; without
    them (and not interactive) manual items are recorded as skipped (UNKNOWN). Keyword
    extras: ``source`` ("cli", "daemon", "handover"), ``progress``, ``prompter``.
    """
    from opsctl.inspection.engine import run_profile as _run

    return _run(cfg, store, profile, inspector, answers, interactive, **kw)


def record_data(record: InspectionRecord) -> dict[str, Any]:
    """A finished run as plain JSON data (the daemon's spool keeps it during an outage);
    :func:`store_run` takes it back."""
    from opsctl.core.output import to_jsonable

    return {"profile": record.profile, "inspector": record.inspector, "host": record.host,
            "source": record.source, "status": record.status.name,
            "started_at": record.started_at.isoformat(timespec="milliseconds"),
            "finished_at": record.finished_at.isoformat(timespec="milliseconds"),
            "problems": list(record.problems),
            "items": [{"seq": it.seq, "item_id": it.item_id, "kind": it.kind,
                       "status": it.status.name, "message": it.message, "title": it.title,
                       "check": it.check, "target": it.target,
                       "value": to_jsonable(it.value), "answer": to_jsonable(it.answer),
                       "note": it.note, "skipped": it.skipped, "duration": it.duration,
                       "details": to_jsonable(it.details)} for it in record.items]}


def _from_data(data: dict[str, Any]) -> InspectionRecord:
    from opsctl.core.errors import Status
    from opsctl.inspection.model import ItemResult

    return InspectionRecord(
        profile=data["profile"], inspector=data["inspector"], host=data["host"],
        started_at=dt.datetime.fromisoformat(data["started_at"]),
        finished_at=dt.datetime.fromisoformat(data["finished_at"]),
        status=Status[data["status"]], source=data["source"],
        problems=list(data.get("problems") or []),
        items=[ItemResult(**{**it, "status": Status[it["status"]],
                             "details": it.get("details") or {}})
               for it in data["items"]])


class _InTransaction:
    """The store as seen from inside one write transaction: every read and write the
    record's save and follow-ups do goes through ``conn`` (they commit together)."""

    def __init__(self, store, conn):
        self._store, self._conn = store, conn

    @contextlib.contextmanager
    def _same(self) -> Iterator[Any]:
        yield self._conn

    def write(self):
        return self._same()

    def read(self):
        return self._same()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def store_run(cfg, store, record: InspectionRecord | dict[str, Any], *, conn,
              details: dict[str, Any] | None = None) -> InspectionRecord:
    """Store a finished run (a record or :func:`record_data`) with its follow-up duty-log
    items inside the caller's write transaction ``conn``; returns it with its id.
    ``details``: added to each follow-up entry's."""
    from opsctl.inspection import records
    from opsctl.inspection.engine import open_followups

    if isinstance(record, dict):
        record = _from_data(record)
    tx = _InTransaction(store, conn)
    records.save(tx, record)
    open_followups(cfg, tx, record, details=details)
    return record


def runs_between(store, start: dt.datetime, end: dt.datetime,
                 profile: str | None = None) -> list[dict[str, Any]]:
    """Records started in [start, end) as dicts with their items (for exports)."""
    from opsctl.inspection.records import find

    return [r.to_dict() for r in find(store, start=start, end=end, profile=profile,
                                      with_items=True)]


def last_run(store, profile: str | None = None) -> dict[str, Any] | None:
    """The newest record (optionally of one profile), or None."""
    from opsctl.inspection.records import find

    found = find(store, profile=profile, with_items=True, limit=1)
    return found[0].to_dict() if found else None


def missed_patrols(cfg, store, day: dt.date, now: dt.datetime | None = None
                   ) -> list[dict[str, Any]]:
    """Profiles walked fewer times on ``day`` (site time) than their runs_per_day:
    ``{date, profile, runs, walked, required}`` each."""
    from opsctl.inspection.report import build

    return list(build(cfg, store, day, day, now=now)["missed_patrols"])
