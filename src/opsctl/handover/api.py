"""The duty domain's entry points for other domains and the daemon (see docs/DEVNOTES.md).

Imports of the heavier duty modules happen inside the functions: storage, power and
inspection call ``record_event`` on hot paths and should not pay for roster code.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from opsctl.handover.chain import NewEntry, append, key_for_config


def record_event(store, *, category: str, text: str, severity: str | None = None,
                 source: str, pending: bool = False, author: str = "opsctl",
                 details: dict[str, Any] | None = None, key: bytes | None = None,
                 cfg=None) -> int:
    """Append an entry to the duty log; returns its sequence number.

    ``category``: incident|call|patrol|change|note; ``severity``: minor|major|critical.
    The log is keyed (HMAC) when ``duty.log_key_file`` is configured: pass ``cfg`` (or the
    ``key`` bytes); without either, the key file recorded in the store by any earlier
    opsctl command run with that config is used, so the chain never silently loses its key.
    """
    if key is None and cfg is not None:
        key = key_for_config(cfg)
    entry = NewEntry(text=text, category=category, severity=severity, source=source,
                     author=author, pending=pending, details=details)
    entry.validate()
    with store.write() as conn:
        return append(conn, entry, key)


def append_event(conn, *, category: str, text: str, severity: str | None = None,
                 source: str, pending: bool = False, author: str = "opsctl",
                 details: dict[str, Any] | None = None, key: bytes | None = None) -> int:
    """:func:`record_event` inside the caller's write transaction (``store.write()``):
    the daemon writes what it spooled during a database outage together with the mark
    that it was written (opsctl.daemon.spool)."""
    entry = NewEntry(text=text, category=category, severity=severity, source=source,
                     author=author, pending=pending, details=details)
    entry.validate()
    return append(conn, entry, key)


def duty_key(cfg) -> bytes | None:
    """The duty log's HMAC key of this config (None: unkeyed, or the store's own)."""
    return key_for_config(cfg) if cfg is not None else None


def on_duty(cfg, store, at: dt.datetime) -> list[dict]:
    """The roster's shifts running at ``at`` (``people``, ``lead``…); [] without a roster
    for that month."""
    from opsctl.core.errors import NotFoundError
    from opsctl.handover.roster import who

    try:
        return who(cfg, store, at)
    except NotFoundError:
        return []


def item_open(store, seq: int) -> bool:
    """Is the pending item ``seq`` opened (or one amending it) still open?"""
    from opsctl.handover import dutylog

    st = dutylog.item_states(store)
    root = st.root.get(seq, seq)
    return root in st.latest and root not in st.closed


def resolve_item(store, seq: int, result: str, *, author: str = "opsctl-daemon",
                 cfg=None, conn=None, key: bytes | None = None,
                 details: dict[str, Any] | None = None) -> int | None:
    """Close the pending item entry ``seq`` opened (its condition cleared); returns the
    closing entry's sequence number, or None when it is not pending or already closed.
    ``conn``: append inside the caller's write transaction; ``details`` are added to the
    closing entry's."""
    from opsctl.handover import dutylog

    st = dutylog.item_states(store)
    root = st.root.get(seq, seq)
    if root not in st.latest or root in st.closed:
        return None
    latest = st.latest[root]
    if key is None and cfg is not None:
        key = key_for_config(cfg)
    entry = NewEntry(text=result, category=latest.category, severity=latest.severity,
                     kind="close", author=author, ref_seq=root, source="daemon/resolve",
                     details={"closes": root, **(details or {})})
    entry.validate()
    if conn is not None:
        return append(conn, entry, key)
    with store.write() as conn:
        return append(conn, entry, key)


def export(cfg, store, start: dt.date, end: dt.date, formats, outdir) -> Path:
    """Write the duty log, handovers and inspection summaries for [start, end] to
    ``outdir`` in each format, plus a manifest; returns the manifest path. The daemon has
    no one's ssh-agent: its manifests are "login only" (a person exports and signs with
    ``opsctl duty export``)."""
    from opsctl.handover.export import export as _export

    return _export(cfg, store, start, end, list(formats), Path(outdir), sign=False)


def roster_reminder(cfg, store, today: dt.date) -> str | None:
    """A reminder text when next month's roster is not approved by the deadline day."""
    from opsctl.handover.roster import roster_reminder as _reminder

    return _reminder(cfg, store, today)


def purge_expired(cfg, store, today: dt.date) -> int:
    """Purge log entries older than the retention period; returns how many went."""
    from opsctl.handover.dutylog import purge_expired as _purge

    return _purge(cfg, store, today)


def shift_changes(cfg, store, start: dt.datetime, end: dt.datetime, *,
                  approved_only: bool = False):
    """Shift changes in [start, end): list of (datetime, outgoing names, incoming names);
    ``approved_only``: from approved rosters only."""
    from opsctl.handover.roster import shift_changes as _changes

    return _changes(cfg, store, start, end, approved_only=approved_only)


def relieved_by(store, when: dt.datetime) -> int | None:
    """The completed handover that relieved the shift change at ``when``, if any."""
    from opsctl.handover.workflow import relieved

    return relieved(store, when)
