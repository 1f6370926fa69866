"""The power domain's tables in the store: polls, per-device readings, events, and the
runs of shutdown / restore plans with every step's state (so a run survives a restart)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

COMPONENT = "power"

metadata = sa.MetaData()

polls = sa.Table(
    "power_polls", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("duration", sa.Float, nullable=False),
    sa.Column("devices", sa.Integer, nullable=False),
)

readings = sa.Table(
    "power_readings", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("poll_id", sa.Integer, sa.ForeignKey("power_polls.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("device", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("reachable", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("data", sa.Text, nullable=False),  # DeviceReading.to_dict() as JSON
    sa.Index("ix_power_readings_device", "device", "id"),
)

events = sa.Table(
    "power_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("poll_id", sa.Integer, sa.ForeignKey("power_polls.id", ondelete="CASCADE"),
              nullable=True),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("device", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("details", sa.Text, nullable=False, server_default="{}"),
    sa.Index("ix_power_events_at", "at"),
)


# One row per real (not dry) run of a plan, by hand or by a policy.
plan_runs = sa.Table(
    "power_plan_runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("plan", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),        # shutdown / restore
    sa.Column("policy", sa.String(128), nullable=True),      # NULL: run by hand
    sa.Column("actor", sa.String(128), nullable=False),      # the person, or the daemon
    sa.Column("reason", sa.Text, nullable=True),
    # running / ok / failed / cancelled (mains back: no new steps were started)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40), nullable=True),
    sa.Column("pid", sa.Integer, nullable=True),             # the process running it
    sa.Column("resumed", sa.Integer, nullable=False, default=0),  # restarts it survived
    sa.Column("definition", sa.JSON, nullable=False),        # Plan.to_dict() at the start
    sa.Column("change_id", sa.Integer, nullable=True),
)

# One row per step of a run, written before the step starts: a step found "running"
# after a crash is "interrupted" and never run again.
plan_steps = sa.Table(
    "power_plan_steps", metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("power_plan_runs.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("grp", sa.String(128), nullable=True),
    sa.Column("where_", sa.String(128), nullable=False),
    # pending / running / ok / failed / skipped / cancelled / interrupted
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", sa.String(40), nullable=True),
    sa.Column("finished_at", sa.String(40), nullable=True),
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("result", sa.JSON, nullable=True),
)


def _v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=[polls, readings, events])


def _v2(conn: Connection) -> None:
    metadata.create_all(conn, tables=[plan_runs, plan_steps])


MIGRATIONS = [_v1, _v2]
