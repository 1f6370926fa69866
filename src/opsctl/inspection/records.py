"""Storing and reading inspection records (append-only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from opsctl.core.errors import NotFoundError, Status
from opsctl.inspection.model import InspectionRecord, ItemResult
from opsctl.inspection.schema import followups, items, runs


def save(store, record: InspectionRecord) -> int:
    """Insert the run and its items in one transaction; sets and returns ``record.id``."""
    from opsctl.core.output import to_jsonable

    with store.write() as conn:
        record.id = conn.execute(runs.insert().values(
            profile=record.profile, inspector=record.inspector, host=record.host,
            source=record.source,
            started_at=record.started_at.isoformat(timespec="milliseconds"),
            finished_at=record.finished_at.isoformat(timespec="milliseconds"),
            started_ts=record.started_at.timestamp(), status=record.status.name,
            counts=record.counts, problems=record.problems or None,
        )).inserted_primary_key[0]
        if record.items:
            conn.execute(items.insert(), [{
                "run_id": record.id, "seq": it.seq, "item_id": it.item_id, "kind": it.kind,
                "check_name": it.check, "title": it.title, "target": it.target,
                "status": it.status.name, "value": to_jsonable(it.value),
                "message": it.message, "answer": to_jsonable(it.answer), "note": it.note,
                "skipped": it.skipped, "duration": it.duration,
                "details": to_jsonable(it.details) or None,
            } for it in record.items])
    return record.id


def save_followups(store, record: InspectionRecord) -> None:
    if not record.followups:
        return
    with store.write() as conn:
        conn.execute(followups.insert(), [
            {"run_id": record.id, "item_id": f["item_id"], "duty_seq": f.get("seq"),
             "error": f.get("error")} for f in record.followups])


def last_followup(store, profile: str, item_id: str) -> int | None:
    """The duty-log item the newest earlier follow-up of this check opened, if any."""
    with store.read() as conn:
        return conn.execute(
            sa.select(followups.c.duty_seq).select_from(
                followups.join(runs, runs.c.id == followups.c.run_id))
            .where(runs.c.profile == profile, followups.c.item_id == item_id,
                   followups.c.duty_seq.is_not(None))
            .order_by(followups.c.run_id.desc()).limit(1)).scalar()


def followup_sightings(store, seq: int) -> tuple[int, str | None, int | None]:
    """(runs that reported this open item, first seen, first run id)."""
    with store.read() as conn:
        row = conn.execute(
            sa.select(sa.func.count(), sa.func.min(runs.c.finished_at),
                      sa.func.min(runs.c.id))
            .select_from(followups.join(runs, runs.c.id == followups.c.run_id))
            .where(followups.c.duty_seq == seq)).first()
    return (int(row[0] or 0), row[1], row[2]) if row else (0, None, None)


def _record(row, item_rows, fu_rows) -> InspectionRecord:
    rec = InspectionRecord(
        id=row.id, profile=row.profile, inspector=row.inspector, host=row.host,
        started_at=dt.datetime.fromisoformat(row.started_at),
        finished_at=dt.datetime.fromisoformat(row.finished_at),
        status=Status[row.status], items=[], source=row.source,
        problems=list(row.problems or []),
        followups=[{"item_id": f.item_id, "seq": f.duty_seq,
                    **({"error": f.error} if f.error else {})} for f in fu_rows])
    for r in item_rows:
        rec.items.append(ItemResult(
            seq=r.seq, item_id=r.item_id, kind=r.kind, status=Status[r.status],
            message=r.message, title=r.title, check=r.check_name, target=r.target,
            value=r.value, answer=r.answer, note=r.note, skipped=bool(r.skipped),
            duration=r.duration, details=r.details or {}))
    return rec


def get(store, run_id: int) -> InspectionRecord:
    with store.read() as conn:
        row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            raise NotFoundError(f"no inspection record #{run_id}")
        its = conn.execute(sa.select(items).where(items.c.run_id == run_id)
                           .order_by(items.c.seq)).all()
        fus = conn.execute(sa.select(followups).where(followups.c.run_id == run_id)
                           .order_by(followups.c.duty_seq)).all()
    return _record(row, its, fus)


def find(store, *, start: dt.datetime | None = None, end: dt.datetime | None = None,
         profile: str | None = None, with_items: bool = False,
         limit: int | None = None) -> list[InspectionRecord]:
    """Runs started in [start, end), oldest first (newest ``limit`` when limited)."""
    q = sa.select(runs)
    if start is not None:
        q = q.where(runs.c.started_ts >= start.timestamp())
    if end is not None:
        q = q.where(runs.c.started_ts < end.timestamp())
    if profile is not None:
        q = q.where(runs.c.profile == profile)
    q = q.order_by(runs.c.started_ts.desc(), runs.c.id.desc())
    if limit:
        q = q.limit(limit)
    with store.read() as conn:
        rows = list(reversed(conn.execute(q).all()))
        ids = [r.id for r in rows]
        its: dict[int, list[Any]] = {i: [] for i in ids}
        fus: dict[int, list[Any]] = {i: [] for i in ids}
        if with_items and ids:
            for chunk in _chunks(ids, 500):
                for r in conn.execute(sa.select(items).where(items.c.run_id.in_(chunk))
                                      .order_by(items.c.run_id, items.c.seq)):
                    its[r.run_id].append(r)
                for f in conn.execute(sa.select(followups)
                                      .where(followups.c.run_id.in_(chunk))):
                    fus[f.run_id].append(f)
    out = []
    for r in rows:
        rec = _record(r, its[r.id], fus[r.id])
        if not with_items:
            rec.stored_counts = dict(r.counts or {})
        out.append(rec)
    return out


def _chunks(seq: list[int], n: int):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]
