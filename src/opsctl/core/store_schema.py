"""Core tables: a generic key/value state table and the change journal.

``changes`` is where every system-changing operation (storage, power plans…) leaves
its record: who, when, what, the commands run and before/after snapshots.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

COMPONENT = "core"
metadata = sa.MetaData()

kv = sa.Table(
    "kv",
    metadata,
    sa.Column("namespace", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.JSON, nullable=True),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

changes = sa.Table(
    "changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("domain", sa.String(32), nullable=False),
    sa.Column("action", sa.String(128), nullable=False),
    sa.Column("target", sa.String(255), nullable=True),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # running / ok / failed / rolled-back
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("commands", sa.JSON, nullable=True),
    sa.Column("before", sa.JSON, nullable=True),
    sa.Column("after", sa.JSON, nullable=True),
    sa.Column("detail", sa.JSON, nullable=True),
    sa.Index("ix_changes_domain_started", "domain", "started_at"),
)


def _v1(conn: Connection) -> None:
    kv.create(conn)
    changes.create(conn)


MIGRATIONS = [_v1]
