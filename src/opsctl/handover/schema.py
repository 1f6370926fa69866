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


# One generated roster per month. The generated slots never change afterwards: leave
# and swaps are separate request records applied on top (the effective roster).
duty_roster = sa.Table(
    "duty_roster",
    metadata,
    sa.Column("month", sa.String(7), primary_key=True),  # YYYY-MM
    sa.Column("pattern", sa.String(16), nullable=False),
    sa.Column("generated_at", sa.String(40), nullable=False),
    sa.Column("generated_by", sa.String(128), nullable=False),
    sa.Column("slots", sa.JSON, nullable=False),
    sa.Column("approved_by", sa.String(128), nullable=True),
    sa.Column("approved_at", sa.String(40), nullable=True),
)

duty_request = sa.Table(
    "duty_request",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(8), nullable=False),  # leave | swap
    sa.Column("person", sa.String(64), nullable=False),
    sa.Column("other", sa.String(64), nullable=True),  # swap partner or leave cover
    sa.Column("start_date", sa.String(10), nullable=False),
    sa.Column("end_date", sa.String(10), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),  # pending | approved | rejected
    sa.Column("requested_at", sa.String(40), nullable=False),
    sa.Column("decided_by", sa.String(64), nullable=True),
    sa.Column("decided_at", sa.String(40), nullable=True),
    sa.Column("decision_note", sa.Text, nullable=True),
)

# A handover's working state; every step is also written to the duty log, which is the
# tamper-evident record (this row is the convenient view of it).
duty_handover = sa.Table(
    "duty_handover",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("outgoing", sa.String(64), nullable=False),
    sa.Column("incoming", sa.String(64), nullable=False),
    sa.Column("state", sa.String(12), nullable=False),  # open | suspended | complete | void
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("since_seq", sa.Integer, nullable=False),  # log entries after this are read
    sa.Column("start_seq", sa.Integer, nullable=True),  # the log entry opening it
    sa.Column("items", sa.JSON, nullable=False),  # root seq -> decision
    sa.Column("inventory", sa.JSON, nullable=False),  # item name -> count record
    sa.Column("snapshot", sa.JSON, nullable=True),
    sa.Column("alarms", sa.JSON, nullable=True),
    sa.Column("suspensions", sa.JSON, nullable=False),
    sa.Column("signed_out_at", sa.String(40), nullable=True),
    sa.Column("signed_in_at", sa.String(40), nullable=True),
    sa.Column("completed_at", sa.String(40), nullable=True),
    sa.Column("end_seq", sa.Integer, nullable=True),
    # The roster at start: the shift change, who was rostered, whether the pair matched,
    # the --reason for a pair off the roster, and the incoming's arrival (v4).
    sa.Column("roster", sa.JSON, nullable=True),
)


def _v1(conn: Connection) -> None:
    duty_log.create(conn)
    duty_meta.create(conn)


def _v2(conn: Connection) -> None:
    duty_roster.create(conn)
    duty_request.create(conn)
    duty_handover.create(conn)


# The WHERE clauses of the partial indexes below; queries that want them must spell the
# same expression (SQLite uses a partial index only when the query implies its WHERE).
PENDING_WHERE = "pending = 1"
ITEMS_WHERE = "pending = 1 OR kind IN ('amend', 'close')"
# Full-text search over the entries' text: an FTS5 index kept by triggers (external
# content, so the text is stored once). The trigram tokenizer makes it a
# case-insensitive substring index, the same answers as LIKE '%...%' without a scan.
FTS_TABLE = "duty_log_fts"


def _v3(conn: Connection) -> None:
    """Indexes for paging the log in SQL at millions of entries: open items, amendment
    lookups, and (SQLite with FTS5) a trigram full-text index of the text."""
    # Plain DDL, not sa.Index(duty_log.c.seq, ...): that would attach the index to the
    # Table object, and the next store created in this process would get it from v1.
    conn.exec_driver_sql(f"CREATE INDEX ix_duty_log_pending ON duty_log (seq) "
                         f"WHERE {PENDING_WHERE}")
    conn.exec_driver_sql(f"CREATE INDEX ix_duty_log_items ON duty_log (seq) "
                         f"WHERE {ITEMS_WHERE}")
    if conn.dialect.name == "postgresql":
        _pg_trigram_index(conn)
        return
    try:
        conn.exec_driver_sql(
            f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(text, content='duty_log', "
            "content_rowid='seq', tokenize='trigram')")
    except sa.exc.OperationalError:
        # An SQLite without FTS5 or its trigram tokenizer (before 3.34): search scans.
        return
    conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('rebuild')")
    # Entries are only inserted (and purged); the update trigger keeps the index
    # consistent even when someone edits a row behind opsctl's back (verify reports it).
    conn.exec_driver_sql(
        f"CREATE TRIGGER duty_log_fts_ai AFTER INSERT ON duty_log BEGIN "
        f"INSERT INTO {FTS_TABLE} (rowid, text) VALUES (new.seq, new.text); END")
    conn.exec_driver_sql(
        f"CREATE TRIGGER duty_log_fts_ad AFTER DELETE ON duty_log BEGIN "
        f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, text) "
        f"VALUES ('delete', old.seq, old.text); END")
    conn.exec_driver_sql(
        f"CREATE TRIGGER duty_log_fts_au AFTER UPDATE ON duty_log BEGIN "
        f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, text) "
        f"VALUES ('delete', old.seq, old.text); "
        f"INSERT INTO {FTS_TABLE} (rowid, text) VALUES (new.seq, new.text); END")


def _pg_trigram_index(conn: Connection) -> None:
    """PostgreSQL: a pg_trgm GIN index makes search's ILIKE '%...%' an index look-up (the
    FTS5 trigram index's counterpart). pg_trgm is a trusted extension (any user with
    CREATE on the database may add it); without it search scans, as on an old SQLite."""
    try:
        with conn.begin_nested():
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            conn.exec_driver_sql("CREATE INDEX ix_duty_log_text_trgm ON duty_log "
                                 "USING gin (text gin_trgm_ops)")
    except sa.exc.DBAPIError:
        return


def _v4(conn: Connection) -> None:
    """The handover records the roster it was checked against (older rows: NULL). A fresh
    store got the column from v2's table definition already."""
    have = {c["name"] for c in sa.inspect(conn).get_columns("duty_handover")}
    if "roster" not in have:
        conn.execute(sa.text("ALTER TABLE duty_handover ADD COLUMN roster JSON"))


MIGRATIONS = [_v1, _v2, _v3, _v4]
