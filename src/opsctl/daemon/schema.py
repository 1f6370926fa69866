"""The daemon's tables: job state and run history, alert events and their deliveries.

The daemon keeps nothing important in memory only: what ran when (so a restart neither
repeats nor silently drops a scheduled run), open events (so acknowledgement and
escalation survive a restart) and every delivery attempt (so a failing target shows up
in ``opsctl daemon status``).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

COMPONENT = "daemon"
metadata = sa.MetaData()

# One row per job id the daemon has ever scheduled; updated as it runs.
jobs = sa.Table(
    "daemon_jobs",
    metadata,
    sa.Column("job_id", sa.String(128), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("schedule", sa.String(128), nullable=False),
    sa.Column("registered_at", sa.String(40), nullable=False),
    sa.Column("next_run", sa.String(40), nullable=True),
    sa.Column("last_run", sa.String(40), nullable=True),
    sa.Column("last_status", sa.String(16), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
)

# Every run (and every run that could not happen: missed, abandoned by a crash).
runs = sa.Table(
    "daemon_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(128), nullable=False),
    # The cron slot this run serves (UTC ISO); NULL for interval jobs and manual runs.
    sa.Column("scheduled_for", sa.String(40), nullable=True),
    sa.Column("trigger", sa.String(16), nullable=False),  # schedule / catch-up / manual
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40), nullable=True),
    # running / ok / failed / missed / abandoned
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("summary", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("pid", sa.Integer, nullable=True),
    # The host whose daemon ran it: on a shared store, pids are per host (v5).
    sa.Column("host", sa.String(255), nullable=True),
    sa.Index("ix_daemon_runs_job", "job_id", "id"),
    sa.Index("ux_daemon_runs_slot", "job_id", "scheduled_for", unique=True,
             sqlite_where=sa.text("scheduled_for IS NOT NULL")),
)

events = sa.Table(
    "daemon_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dedup_key", sa.String(255), nullable=False),
    sa.Column("source", sa.String(32), nullable=False),   # power / inspection / raid / udev …
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(255), nullable=True),  # device, array, profile
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("details", sa.JSON, nullable=True),
    sa.Column("first_seen", sa.String(40), nullable=False),
    sa.Column("last_seen", sa.String(40), nullable=False),
    sa.Column("count", sa.Integer, nullable=False, default=1),
    sa.Column("duty_seq", sa.Integer, nullable=True),
    # open / acked / suppressed (rate limit) / silenced / closed
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("acked_at", sa.String(40), nullable=True),
    sa.Column("acked_by", sa.String(128), nullable=True),
    sa.Column("escalated_at", sa.String(40), nullable=True),
    # v2: auto-resolve (the condition cleared) and silences
    sa.Column("closed_at", sa.String(40), nullable=True),
    sa.Column("close_reason", sa.Text, nullable=True),
    sa.Column("silence_id", sa.Integer, nullable=True),
    # v3: roster escalation steps already sent
    sa.Column("escalation_step", sa.Integer, nullable=True),
    sa.Index("ix_daemon_events_key", "dedup_key", "id"),
    sa.Index("ix_daemon_events_status", "status"),
)

deliveries = sa.Table(
    "daemon_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Integer, nullable=True),
    sa.Column("target", sa.String(128), nullable=False),
    sa.Column("purpose", sa.String(16), nullable=False),  # alert / escalation / reminder
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Index("ix_daemon_deliveries_at", "at"),
)


# Silences / maintenance windows: matching events are recorded, not sent.
silences = sa.Table(
    "daemon_silences",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("target", sa.String(255), nullable=False),  # device, check, subject or kind
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("until", sa.String(40), nullable=False),
    sa.Column("removed_at", sa.String(40), nullable=True),
    sa.Column("removed_by", sa.String(128), nullable=True),
)


# The alert outbox: one row per (message, target), written before anything is sent — in the
# same transaction as the event — and replayed when the daemon starts, as a mail queue is.
# An alert the daemon was retrying when it died is therefore sent later, never lost.
outbox = sa.Table(
    "daemon_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Integer, nullable=True),
    sa.Column("target", sa.String(128), nullable=False),
    sa.Column("purpose", sa.String(16), nullable=False),  # alert / escalation / reminder
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("recipients", sa.JSON, nullable=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    # pending (queued or being retried) / ok / failed (retries exhausted)
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("error", sa.Text, nullable=True),
    sa.Index("ix_daemon_outbox_state", "state", "id"),
)


# Records a daemon spooled while the store was unreachable (opsctl.daemon.spool), by
# their spool key, written in the transaction that applies them: a replay cut short by a
# crash never applies one twice.
spool_applied = sa.Table(
    "daemon_spool_applied",
    metadata,
    sa.Column("key", sa.String(80), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("spooled_at", sa.String(40), nullable=False),
    sa.Column("applied_at", sa.String(40), nullable=False),
    # A direct write's mark (write id, not a spool key): what it created (an event id, an
    # outbox row, a run), for the replay of its spooled copy to finish what it left out.
    sa.Column("ref", sa.String(40), nullable=True),
)


def _v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=[jobs, runs, events, deliveries])


def _v2(conn: Connection) -> None:
    # v1 stores made daemon_events without these columns; fresh ones get them from v1.
    have = {c["name"] for c in sa.inspect(conn).get_columns("daemon_events")}
    for name, kind in (("closed_at", "VARCHAR(40)"), ("close_reason", "TEXT"),
                       ("silence_id", "INTEGER")):
        if name not in have:
            conn.execute(sa.text(f"ALTER TABLE daemon_events ADD COLUMN {name} {kind}"))
    metadata.create_all(conn, tables=[silences])


def _v3(conn: Connection) -> None:
    have = {c["name"] for c in sa.inspect(conn).get_columns("daemon_events")}
    if "escalation_step" not in have:
        conn.execute(sa.text("ALTER TABLE daemon_events ADD COLUMN escalation_step INTEGER"))


def _v4(conn: Connection) -> None:
    outbox.create(conn, checkfirst=True)


def _v5(conn: Connection) -> None:
    have = {c["name"] for c in sa.inspect(conn).get_columns("daemon_runs")}
    if "host" not in have:
        conn.execute(sa.text("ALTER TABLE daemon_runs ADD COLUMN host VARCHAR(255)"))


def _v6(conn: Connection) -> None:
    spool_applied.create(conn, checkfirst=True)


def _v7(conn: Connection) -> None:
    have = {c["name"] for c in sa.inspect(conn).get_columns("daemon_spool_applied")}
    if "ref" not in have:
        conn.execute(sa.text("ALTER TABLE daemon_spool_applied ADD COLUMN ref VARCHAR(40)"))


MIGRATIONS = [_v1, _v2, _v3, _v4, _v5, _v6, _v7]
