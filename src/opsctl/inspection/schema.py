"""Inspection records: one row per run, one row per item, and the follow-ups opened.

Records are append-only: SQLite triggers refuse UPDATE and DELETE on runs and items, so a
later run (or a stray tool) can never rewrite an earlier record.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

COMPONENT = "inspection"
metadata = sa.MetaData()

runs = sa.Table(
    "inspection_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("profile", sa.String(128), nullable=False),
    sa.Column("inspector", sa.String(128), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),        # where opsctl ran
    sa.Column("source", sa.String(32), nullable=False),       # cli / daemon / handover
    sa.Column("started_at", sa.String(40), nullable=False),   # ISO 8601 with offset
    sa.Column("finished_at", sa.String(40), nullable=False),
    sa.Column("started_ts", sa.Float, nullable=False),        # epoch seconds, for ranges
    sa.Column("status", sa.String(16), nullable=False),       # OK / WARNING / CRITICAL / UNKNOWN
    sa.Column("counts", sa.JSON, nullable=False),             # {"OK": n, "WARNING": n, …}
    sa.Column("problems", sa.JSON, nullable=True),            # input problems (answers file…)
    sa.Index("ix_inspection_runs_started", "started_ts"),
    sa.Index("ix_inspection_runs_profile", "profile", "started_ts"),
)

items = sa.Table(
    "inspection_items",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("inspection_runs.id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("item_id", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),         # check / manual
    sa.Column("check_name", sa.String(64), nullable=True),
    sa.Column("title", sa.Text, nullable=True),
    sa.Column("target", sa.String(255), nullable=True),       # remote host name, if any
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("value", sa.JSON, nullable=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("answer", sa.JSON, nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("skipped", sa.Boolean, nullable=False, default=False),
    sa.Column("duration", sa.Float, nullable=True),
    sa.Column("details", sa.JSON, nullable=True),
)

followups = sa.Table(
    "inspection_followups",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("inspection_runs.id"), primary_key=True),
    sa.Column("item_id", sa.String(128), primary_key=True),
    sa.Column("duty_seq", sa.Integer, nullable=True),         # duty log sequence number
    sa.Column("error", sa.Text, nullable=True),               # why it could not be opened
)


def _append_only(conn: Connection, table: str) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "CREATE OR REPLACE FUNCTION opsctl_inspection_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'inspection records are append-only'; END $$")
        for op in ("UPDATE", "DELETE"):
            conn.exec_driver_sql(
                f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION opsctl_inspection_append_only()")
        return
    if conn.dialect.name != "sqlite":
        return
    for op in ("UPDATE", "DELETE"):
        conn.exec_driver_sql(
            f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'inspection records are append-only'); END")


def _v1(conn: Connection) -> None:
    metadata.create_all(conn)
    _append_only(conn, "inspection_runs")
    _append_only(conn, "inspection_items")


MIGRATIONS = [_v1]
