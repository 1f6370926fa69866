"""The duty log's forward-secure seals (see :mod:`opsctl.handover.seal`): one row per
sealed epoch, each MAC'd with that epoch's key and linked to the seal before it."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

COMPONENT = "dutyseal"
metadata = sa.MetaData()

duty_seal = sa.Table(
    "duty_seal",
    metadata,
    sa.Column("epoch", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("sealed_at", sa.String(40), nullable=False),   # UTC ISO-8601
    sa.Column("head_seq", sa.Integer, nullable=False),       # 0: the log was empty
    sa.Column("head_hash", sa.String(64), nullable=False),
    sa.Column("prev_mac", sa.String(64), nullable=False),
    sa.Column("mac", sa.String(64), nullable=False),
)

# Public facts about the sealing key: its fingerprint (so an auditor knows they hold the
# right verification key), the epoch length and the start of epoch 0. Never the key.
duty_seal_meta = sa.Table(
    "duty_seal_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


def _v1(conn: Connection) -> None:
    duty_seal.create(conn)
    duty_seal_meta.create(conn)


MIGRATIONS = [_v1]
