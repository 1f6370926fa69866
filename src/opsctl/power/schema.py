"""The power domain's tables in the store: polls, per-device readings, events."""

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


def _v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=[polls, readings, events])


MIGRATIONS = [_v1]
