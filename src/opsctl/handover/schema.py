"""Tables of the duty domain: the hash-chained duty log, roster, requests, handovers.

The duty log is append-only by construction: entries are only ever INSERTed (a
correction or a closure is a new entry referencing the old one) and only ``purge``
deletes, always a prefix of the chain, leaving an anchor entry behind.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

COMPONENT = "handover"
metadata = sa.MetaData()

duty_log = sa.Table(
    "duty_log",
    metadata,
    # Assigned as max+1 inside a BEGIN IMMEDIATE transaction: gapless, never reused.
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("ts", sa.String(40), nullable=False),  # UTC ISO-8601, microseconds
    # entry | amend | close | review | handover | roster | purge
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("category", sa.String(16), nullable=False),
    sa.Column("severity", sa.String(16), nullable=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("author", sa.String(128), nullable=False),
    sa.Column("pending", sa.Integer, nullable=False),
    sa.Column("ref_seq", sa.Integer, nullable=True),
    sa.Column("details", sa.Text, nullable=True),  # canonical JSON, hashed verbatim
    sa.Column("alg", sa.String(16), nullable=False),  # sha256 | hmac-sha256
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_duty_log_ts", "ts"),
    sa.Index("ix_duty_log_ref", "ref_seq"),
)

# Small bookkeeping next to the chain: the head (seq and hash of the newest entry, to
# detect a truncated tail) and the path of the HMAC key file (never the key itself).
duty_meta = sa.Table(
    "duty_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


def _v1(conn: Connection) -> None:
    duty_log.create(conn)
    duty_meta.create(conn)


MIGRATIONS = [_v1]
