"""Duty log operations: add, list, show, close, amend, review, purge.

Nothing here UPDATEs or DELETEs an entry except ``purge``: a correction, a closure and a
review are new entries that reference the old one, and the state of an open item is
derived from the chain.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from opsctl.core.errors import NotFoundError, SafetyError, UsageError
from opsctl.handover import chain
from opsctl.handover.chain import NewEntry
from opsctl.handover.people import acting_person, require_role
from opsctl.handover.schema import FTS_TABLE, ITEMS_WHERE, PENDING_WHERE, duty_log
from opsctl.handover.timeutil import day_range_utc, local_midnight, to_utc_iso, years_before


@dataclass
class Entry:
    seq: int
    ts: str
    kind: str
    category: str
    severity: str | None
    text: str
    source: str
    author: str
    pending: bool
    ref_seq: int | None
    details: dict[str, Any] | None
    hash: str
    # Derived from later entries (not stored in the row).
    status: str | None = None
    closed_by: int | None = None
    amended_by: list[int] = field(default_factory=list)

    @classmethod
    def from_row(cls, r) -> Entry:
        """From a row of ``select(duty_log)`` (all columns, table order)."""
        # Unpacked by position: a Row's attribute access costs ~3 us a field, which was
        # most of a day view's time.
        (seq, ts, kind, category, severity, text, source, author, pending, ref_seq, details,
         _alg, _prev, digest) = r
        return cls(seq, ts, kind, category, severity, text, source, author, bool(pending),
                   ref_seq, json.loads(details) if details else None, digest)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "seq", "ts", "kind", "category", "severity", "text", "source", "author",
            "pending", "ref_seq", "details", "hash", "status", "closed_by", "amended_by")}


@dataclass
class OpenItem:
    """A pending item as the chain says it is now (latest amendment, not yet closed)."""

    root: int
    latest: Entry
    status_note: str | None


def _key(cfg, store) -> bytes | None:
    return chain.bind_config(cfg, store)


def _append(cfg, store, entry: NewEntry) -> int:
    key = _key(cfg, store)
    with store.write() as conn:
        return chain.append(conn, entry, key)


def get(store, seq: int) -> Entry:
    with store.read() as conn:
        row = conn.execute(sa.select(duty_log).where(duty_log.c.seq == seq)).first()
    if row is None:
        raise NotFoundError(f"no duty log entry {seq}")
    return Entry.from_row(row)


def add(cfg, store, text: str, *, category: str = "note", severity: str | None = None,
        pending: bool = False, by: str | None = None, status: str | None = None,
        source: str = "cli") -> int:
    author = acting_person(cfg, by)
    details = {"status": status} if status else None
    return _append(cfg, store, NewEntry(text=text, category=category, severity=severity,
                                        pending=pending, author=author, source=source,
                                        details=details))


def list_entries(cfg, store, start: dt.date | None = None, end: dt.date | None = None,
                 *, pending: bool = False, since_seq: int | None = None,
                 last: int | None = None) -> list[Entry]:
    """Entries in seq order; ``last`` keeps the newest N of them (after ``pending``).

    Paged in SQL: only the rows shown are read, and their derived status comes from
    indexed look-ups of the entries that reference them, so a view costs the same at
    100 entries or a million.
    """
    conds = []
    if start or end:
        lo, hi = day_range_utc(cfg, start or dt.date(1970, 1, 1), end or dt.date(9998, 12, 31))
        conds += [duty_log.c.ts >= lo, duty_log.c.ts < hi]
    if since_seq is not None:
        conds.append(duty_log.c.seq > since_seq)
    if pending:
        conds.append(sa.text(PENDING_WHERE))  # literal, so the partial index applies
    with store.read() as conn:
        if not pending:
            q = sa.select(duty_log).where(*conds)
            if last is None:
                entries = [Entry.from_row(r) for r in conn.execute(q.order_by(duty_log.c.seq))]
            else:
                rows = conn.execute(q.order_by(duty_log.c.seq.desc()).limit(last)).all()
                entries = [Entry.from_row(r) for r in reversed(rows)]
            _decorate_page(conn, entries)
            return entries
        # Open items only: pending rows newest first, a page at a time, until enough are
        # still open (closed and superseded versions are skipped).
        found: list[Entry] = []
        upper: int | None = None
        page = max(64, 2 * (last or 0))
        while last is None or len(found) < last:
            q = sa.select(duty_log).where(*conds)
            if upper is not None:
                q = q.where(duty_log.c.seq < upper)
            rows = conn.execute(q.order_by(duty_log.c.seq.desc()).limit(page)).all()
            if not rows:
                break
            batch = [Entry.from_row(r) for r in rows]
            _decorate_page(conn, batch)
            found += [e for e in batch if e.status == "open"]
            upper = batch[-1].seq
        found.reverse()
        return found if last is None else found[-last:]


def show(store, seq: int) -> Entry:
    with store.read() as conn:
        row = conn.execute(sa.select(duty_log).where(duty_log.c.seq == seq)).first()
        if row is None:
            raise NotFoundError(f"no duty log entry {seq}")
        e = Entry.from_row(row)
        _decorate_page(conn, [e])
    return e


def search(cfg, store, text: str, start: dt.date | None = None,
           end: dt.date | None = None, *, last: int = 50) -> list[Entry]:
    """The newest ``last`` entries whose text contains ``text`` (case-insensitive), in
    seq order. Uses the trigram index where the store has one and the text is at least
    three characters long (a trigram's length); otherwise a scan from the newest entry."""
    if not text or not text.strip():
        raise UsageError("search needs a text to look for")
    conds = []
    if start or end:
        lo, hi = day_range_utc(cfg, start or dt.date(1970, 1, 1), end or dt.date(9998, 12, 31))
        conds += [duty_log.c.ts >= lo, duty_log.c.ts < hi]
    with store.read() as conn:
        if len(text) >= 3 and _has_fts(conn):
            # A quoted FTS5 string is one phrase: consecutive trigrams, i.e. a substring.
            phrase = '"' + text.replace('"', '""') + '"'
            upper: int | None = None
            if conds:
                # The date range as a seq range too, so the index walk is bounded.
                lo_seq, upper = conn.execute(sa.select(sa.func.min(duty_log.c.seq),
                                                       sa.func.max(duty_log.c.seq))
                                             .where(*conds)).one()
                if lo_seq is None:
                    return []
                upper += 1
            # The index newest first, a page of hits at a time (FTS5 walks rowids in
            # descending order without sorting), until `last` rows are in the range.
            rows = []
            page = min(500, max(64, 2 * last))
            while len(rows) < last:
                where = f"{FTS_TABLE} MATCH :q"
                params: dict = {"q": phrase, "n": page}
                if upper is not None:
                    where += " AND rowid < :upper"
                    params["upper"] = upper
                if conds:
                    where += " AND rowid >= :lo"
                    params["lo"] = lo_seq
                hits = [r[0] for r in conn.execute(sa.text(
                    f"SELECT rowid FROM {FTS_TABLE} WHERE {where} "  # noqa: S608
                    "ORDER BY rowid DESC LIMIT :n"), params)]
                if not hits:
                    break
                rows += conn.execute(sa.select(duty_log).where(duty_log.c.seq.in_(hits), *conds)
                                     .order_by(duty_log.c.seq.desc())).all()
                upper = hits[-1]
            rows = rows[:last]
        else:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace(
                "_", "\\_") + "%"
            q = sa.select(duty_log).where(duty_log.c.text.ilike(pattern, escape="\\"), *conds)
            rows = conn.execute(q.order_by(duty_log.c.seq.desc()).limit(last)).all()
        entries = [Entry.from_row(r) for r in reversed(rows)]
        _decorate_page(conn, entries)
    return entries


def _has_fts(conn) -> bool:
    if conn.dialect.name != "sqlite":
        return False
    return conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                                (FTS_TABLE,)).first() is not None


def _chunks(seqs: list[int], n: int = 500):
    for i in range(0, len(seqs), n):
        yield seqs[i:i + n]


def _decorate_page(conn, entries: list[Entry]) -> None:
    """Derive status, closed_by and amended_by for these entries only, as ``_decorate``
    does from the whole log's ``item_states`` (same rules, indexed look-ups by ref_seq)."""
    if not entries:
        return
    amends = duty_log.c.kind == "amend"
    by_seq = {e.seq: e for e in entries}
    lo, hi = min(by_seq), max(by_seq)
    if hi - lo < 4 * len(by_seq):
        # A dense page (a list, a day): one range scan of the ref index, not IN lists.
        chunks = [duty_log.c.ref_seq.between(lo, hi)]
    else:
        chunks = [duty_log.c.ref_seq.in_(c) for c in _chunks(list(by_seq))]
    for cond in chunks:
        for ref, seq in conn.execute(sa.select(duty_log.c.ref_seq, duty_log.c.seq).where(
                amends, cond).order_by(duty_log.c.seq)):
            if ref in by_seq:
                by_seq[ref].amended_by.append(seq)
    pend = [e for e in entries if e.pending]
    if not pend:
        return
    # Root of each pending entry: up its amendment chain to the entry it corrects.
    kinds: dict[int, tuple[str, int | None]] = {e.seq: (e.kind, e.ref_seq) for e in entries}
    root_of: dict[int, int] = {}
    for e in pend:
        cur = e.seq
        while True:
            kind, ref = kinds.get(cur, (None, None))
            if kind is None:
                row = conn.execute(sa.select(duty_log.c.kind, duty_log.c.ref_seq)
                                   .where(duty_log.c.seq == cur)).first()
                if row is None:  # purged: the reference itself is the root
                    break
                kind, ref = kinds[cur] = (row.kind, row.ref_seq)
            if kind != "amend" or ref is None:
                break
            cur = ref
        root_of[e.seq] = cur
    # Every version of each item (root and its amendments, transitively): a closure may
    # reference any of them.
    member: dict[int, int] = {r: r for r in set(root_of.values())}
    frontier = list(member)
    while frontier:
        nxt = []
        for chunk in _chunks(frontier):
            for ref, seq in conn.execute(sa.select(duty_log.c.ref_seq, duty_log.c.seq)
                                         .where(amends, duty_log.c.ref_seq.in_(chunk))):
                if seq not in member:
                    member[seq] = member[ref]
                    nxt.append(seq)
        frontier = nxt
    closed: dict[int, int] = {}
    for chunk in _chunks(list(member)):
        for ref, seq in conn.execute(sa.select(duty_log.c.ref_seq, duty_log.c.seq).where(
                duty_log.c.kind == "close", duty_log.c.ref_seq.in_(chunk))):
            root = member[ref]
            if root not in closed or seq < closed[root]:
                closed[root] = seq
    for e in pend:
        closing = closed.get(root_of[e.seq])
        if closing is not None:
            e.status, e.closed_by = "closed", closing
        elif e.amended_by:
            e.status = "superseded"
        else:
            e.status = "open"


# -- open items -------------------------------------------------------------------------
@dataclass
class _States:
    root: dict[int, int]            # seq -> root seq of its amendment chain
    latest: dict[int, Entry]        # root -> newest version
    closed: dict[int, Entry]        # root -> the closing entry
    amended_by: dict[int, list[int]]
    status: dict[int, str]          # root -> newest status note


def item_states(store) -> _States:
    """Amendment chains and closures, derived from the entries that matter for them."""
    # The partial index's own expression, literal, so SQLite reads only those rows.
    q = sa.select(duty_log).where(sa.text(f"({ITEMS_WHERE})")).order_by(duty_log.c.seq)
    st = _States({}, {}, {}, {}, {})
    with store.read() as conn:
        rows = [Entry.from_row(r) for r in conn.execute(q)]
    for e in rows:
        if e.kind == "close" and e.ref_seq is not None:
            root = st.root.get(e.ref_seq, e.ref_seq)
            st.closed.setdefault(root, e)
            continue
        if e.kind == "amend" and e.ref_seq is not None:
            st.amended_by.setdefault(e.ref_seq, []).append(e.seq)
            root = st.root.get(e.ref_seq, e.ref_seq)
        else:
            root = e.seq
        st.root[e.seq] = root
        if e.pending:
            st.latest[root] = e
        if e.details and e.details.get("status"):
            st.status[root] = e.details["status"]
    return st


def _root_of(e: Entry, st: _States) -> int:
    return st.root.get(e.seq, e.seq)


def _decorate(e: Entry, st: _States) -> None:
    e.amended_by = st.amended_by.get(e.seq, [])
    if not e.pending:
        return
    root = _root_of(e, st)
    closing = st.closed.get(root)
    if closing is not None:
        e.status, e.closed_by = "closed", closing.seq
    elif e.amended_by:
        e.status = "superseded"
    else:
        e.status = "open"


def open_items(store, st: _States | None = None) -> list[OpenItem]:
    st = st or item_states(store)
    return [OpenItem(root, latest, st.status.get(root))
            for root, latest in sorted(st.latest.items()) if root not in st.closed]


def close(cfg, store, seq: int, result: str, *, by: str | None = None) -> int:
    if not result or not result.strip():
        raise UsageError("close needs --result TEXT (how the item was resolved)")
    target = get(store, seq)
    st = item_states(store)
    root = _root_of(target, st)
    if not target.pending and root not in st.latest:
        raise UsageError(f"entry {seq} is not a pending item; nothing to close")
    if root in st.closed:
        raise UsageError(f"item {root} was already closed by entry {st.closed[root].seq}")
    latest = st.latest.get(root, target)
    return _append(cfg, store, NewEntry(
        text=result, category=latest.category, severity=latest.severity, kind="close",
        author=acting_person(cfg, by), ref_seq=root, source="cli",
        details={"closes": root}))


def amend(cfg, store, seq: int, reason: str, text: str, *, by: str | None = None,
          status: str | None = None, severity: str | None = None) -> int:
    if not reason or not reason.strip():
        raise UsageError("amend needs --reason TEXT (why the entry is corrected)")
    target = get(store, seq)
    if target.kind not in ("entry", "amend"):
        raise UsageError(f"entry {seq} is a {target.kind} record; only entries can be amended")
    details: dict[str, Any] = {"reason": reason, "amends": seq}
    if status:
        details["status"] = status
    return _append(cfg, store, NewEntry(
        text=text, category=target.category, severity=severity or target.severity,
        kind="amend",
        pending=target.pending, author=acting_person(cfg, by), ref_seq=seq, source="cli",
        details=details))


def review(cfg, store, day: dt.date, *, by: str | None) -> int:
    """A supervisor's daily review: records the range and hash of the day's entries."""
    who = require_role(cfg, by, "supervisor", "review the duty log")
    entries = [e for e in list_entries(cfg, store, day, day) if e.kind != "review"]
    with store.read() as conn:
        done = conn.execute(sa.select(duty_log.c.seq, duty_log.c.author).where(
            duty_log.c.kind == "review", duty_log.c.text == f"review of {day}")).first()
    if done is not None:
        raise UsageError(f"{day} was already reviewed by {done.author} (entry {done.seq})")
    details = {"date": str(day), "entries": len(entries),
               "first_seq": entries[0].seq if entries else None,
               "last_seq": entries[-1].seq if entries else None,
               "last_hash": entries[-1].hash if entries else None,
               "open_items": [i.root for i in open_items(store)]}
    return _append(cfg, store, NewEntry(text=f"review of {day}", category="note",
                                        kind="review", author=who, source="cli",
                                        details=details))


# -- retention --------------------------------------------------------------------------
def retention_cutoff(cfg, today: dt.date) -> dt.date:
    return years_before(today, cfg.duty.retention_years)


@dataclass
class PurgeResult:
    purged: int
    first_seq: int | None = None
    last_seq: int | None = None
    anchor_seq: int | None = None


def purge(cfg, store, before: dt.date, *, today: dt.date | None = None,
          by: str | None = None) -> PurgeResult:
    """Delete the entries older than ``before`` (a prefix of the chain) and append an
    anchor recording the purged range and the last purged hash, so verify still works."""
    today = today or dt.date.today()
    cutoff = retention_cutoff(cfg, today)
    if before > cutoff:
        raise SafetyError(f"refusing to purge entries from {before}: the retention period "
                          f"is {cfg.duty.retention_years} years (oldest allowed --before "
                          f"{cutoff})")
    limit = to_utc_iso(local_midnight(cfg, before))
    author = acting_person(cfg, by) if by else "opsctl"
    key = _key(cfg, store)
    with store.write() as conn:
        young = conn.execute(sa.select(sa.func.min(duty_log.c.seq))
                             .where(duty_log.c.ts >= limit)).scalar()
        first = conn.execute(sa.select(sa.func.min(duty_log.c.seq))).scalar()
        last_all = conn.execute(sa.select(sa.func.max(duty_log.c.seq))).scalar()
        if first is None:
            return PurgeResult(0)
        cut = (young - 1) if young is not None else last_all
        if cut < first:
            return PurgeResult(0)
        last_hash = conn.execute(sa.select(duty_log.c.hash)
                                 .where(duty_log.c.seq == cut)).scalar()
        n = conn.execute(duty_log.delete().where(duty_log.c.seq <= cut)).rowcount
        anchor = chain.append(conn, NewEntry(
            text=f"purged entries {first}..{cut} (older than {before}, retention "
                 f"{cfg.duty.retention_years} years)",
            category="note", kind="purge", author=author, source="retention",
            details={"purged_from": first, "purged_to": cut, "last_hash": last_hash,
                     "count": n, "before": str(before)}), key)
    return PurgeResult(n, first, cut, anchor)


def purge_expired(cfg, store, today: dt.date) -> int:
    return purge(cfg, store, retention_cutoff(cfg, today), today=today).purged


def verify(cfg, store) -> chain.VerifyResult:
    return chain.verify(store, chain.key_for_config(cfg))
