"""The change journal: every operation that changes the system leaves a record."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from opsctl.core.identity import current_user
from opsctl.core.store import Store
from opsctl.core.store_schema import changes


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds")


@dataclass
class ChangeRecord:
    domain: str
    action: str
    target: str | None = None
    reason: str | None = None
    actor: str = field(default_factory=current_user)
    commands: list[dict] = field(default_factory=list)
    before: Any = None
    after: Any = None
    detail: dict = field(default_factory=dict)
    id: int | None = None


@contextlib.contextmanager
def recorded_change(store: Store, rec: ChangeRecord) -> Iterator[ChangeRecord]:
    """Write a 'running' row first (so a crash still leaves a trace), then the outcome."""
    with store.write() as conn:
        rec.id = conn.execute(changes.insert().values(
            domain=rec.domain, action=rec.action, target=rec.target, actor=rec.actor,
            started_at=now_iso(), status="running", reason=rec.reason,
            before=rec.before,
        )).inserted_primary_key[0]
    status = "ok"
    try:
        yield rec
    except BaseException as exc:
        status = "failed"
        rec.detail.setdefault("error", str(exc))
        raise
    finally:
        if rec.detail.get("rolled_back"):
            status = "rolled-back"
        with store.write() as conn:
            conn.execute(changes.update().where(changes.c.id == rec.id).values(
                finished_at=now_iso(), status=status, commands=rec.commands,
                before=rec.before, after=rec.after, detail=rec.detail, reason=rec.reason,
            ))


def list_changes(store: Store, domain: str | None = None, limit: int = 100) -> list[dict]:
    q = sa.select(changes).order_by(changes.c.id.desc()).limit(limit)
    if domain:
        q = q.where(changes.c.domain == domain)
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]
