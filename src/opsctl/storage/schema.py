"""Storage tables: the operations in flight, so other domains can tell storage is busy.

A change record in ``changes`` says *what* happened; ``storage_ops`` says which process is
doing it right now, so a crashed opsctl (dead pid) does not block handovers forever.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

COMPONENT = "storage"
metadata = sa.MetaData()

storage_ops = sa.Table(
    "storage_ops",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("change_id", sa.Integer, nullable=True, index=True),
    sa.Column("action", sa.String(128), nullable=False),
    sa.Column("target", sa.String(255), nullable=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40), nullable=True),
)


def _v1(conn: Connection) -> None:
    storage_ops.create(conn)


MIGRATIONS = [_v1]
