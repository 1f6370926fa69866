"""The hash chain of the duty log: canonical form, hashing, appending, verifying.

Each entry's hash covers its whole content *and* the previous entry's hash, so any
edit, deletion or insertion made behind opsctl's back breaks the chain at that point.
With ``duty.log_key_file`` configured the hash is an HMAC-SHA256 keyed by a secret kept
outside the store, so someone who can write the database still cannot forge entries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsctl.core.errors import StoreError, UsageError
from opsctl.handover.schema import duty_log, duty_meta

GENESIS = "0" * 64
CATEGORIES = ("incident", "call", "patrol", "change", "note")
SEVERITIES = ("minor", "major", "critical")
KINDS = ("entry", "amend", "close", "review", "handover", "roster", "purge")
ALG_PLAIN = "sha256"
ALG_HMAC = "hmac-sha256"

# Column order of the canonical form; changing it would invalidate every stored chain.
FIELDS = ("seq", "ts", "kind", "category", "severity", "text", "source", "author",
          "pending", "ref_seq", "details", "alg", "prev_hash")

_META_KEYFILE = "log_key_file"
_META_HEAD = "head"


def canonical_details(details: dict | None) -> str | None:
    if details is None:
        return None
    return json.dumps(details, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)


def canonical(values: tuple) -> bytes:
    """The bytes that are hashed: a JSON array in FIELDS order (fast and unambiguous)."""
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()


def entry_hash(values: tuple, alg: str, key: bytes | None) -> str:
    data = canonical(values)
    if alg == ALG_HMAC:
        if key is None:
            raise StoreError("the duty log is keyed (HMAC) but no key is available",
                             hint="set duty.log_key_file to the key file")
        return hmac.digest(key, data, "sha256").hex()
    return hashlib.sha256(data).hexdigest()


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


# -- the key ----------------------------------------------------------------------------
def read_key(path: Path | str) -> bytes:
    p = Path(path)
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        mode = 0
    if mode & 0o077:
        # As OpenSSH refuses an unprotected private key: whoever could read it can forge
        # a keyed chain, so it is not used (and should be replaced, not just chmod-ed).
        raise StoreError(f"duty log key file {p} is accessible by others (mode "
                         f"{mode & 0o777:04o}); refusing to use it",
                         hint=f"chmod 600 {p} — and if others may have read it, create a "
                              "new key (the chain stays verifiable with the old one)")
    try:
        key = p.read_bytes().strip()
    except FileNotFoundError:
        raise StoreError(f"duty log key file {p} does not exist",
                         hint="create it with: head -c 32 /dev/urandom | base64 > FILE; "
                              "chmod 600 FILE") from None
    except PermissionError:
        raise StoreError(f"cannot read duty log key file {p}: permission denied") from None
    if len(key) < 16:
        raise StoreError(f"duty log key file {p} is too short (need at least 16 bytes)")
    return key


def key_for_config(cfg) -> bytes | None:
    path = getattr(getattr(cfg, "duty", None), "log_key_file", None)
    return read_key(path) if path else None


def bind_config(cfg, store) -> bytes | None:
    """Remember where the key lives so callers that only hold the store (other domains'
    ``record_event``) keep the chain keyed; returns the key (or None when unkeyed)."""
    key = key_for_config(cfg)
    path = str(cfg.duty.log_key_file) if key is not None else None
    with store.read() as conn:
        current = _meta_get(conn, _META_KEYFILE)
    if path is not None and current != path:
        with store.write() as conn:
            _meta_put(conn, _META_KEYFILE, path)
    return key


def _meta_get(conn: Connection, name: str) -> str | None:
    row = conn.execute(sa.select(duty_meta.c.value).where(duty_meta.c.key == name)).first()
    return row.value if row else None


def _meta_put(conn: Connection, name: str, value: str) -> None:
    if conn.execute(duty_meta.update().where(duty_meta.c.key == name)
                    .values(value=value)).rowcount == 0:
        conn.execute(duty_meta.insert().values(key=name, value=value))


# Entries are read whole by every list, show, verify and export: a 10 MB entry made
# `duty log list` take 26 s. Limits are checked at append (docs/duty.md).
MAX_TEXT_BYTES = 16 * 1024
MAX_DETAILS_BYTES = 64 * 1024


# -- appending --------------------------------------------------------------------------
@dataclass
class NewEntry:
    text: str
    category: str = "note"
    kind: str = "entry"
    severity: str | None = None
    source: str = "cli"
    author: str = "opsctl"
    pending: bool = False
    ref_seq: int | None = None
    details: dict | None = field(default=None)

    def validate(self) -> None:
        if self.category not in CATEGORIES:
            raise UsageError(f"unknown category {self.category!r}: expected "
                             + ", ".join(CATEGORIES))
        if self.severity is not None and self.severity not in SEVERITIES:
            raise UsageError(f"unknown severity {self.severity!r}: expected "
                             + ", ".join(SEVERITIES))
        if self.kind not in KINDS:
            raise UsageError(f"unknown entry kind {self.kind!r}")
        if not self.text or not self.text.strip():
            raise UsageError("a duty log entry needs a text")
        size = len(self.text.encode("utf-8", "surrogatepass"))
        if size > MAX_TEXT_BYTES:
            raise UsageError(f"duty log entry text is {size} bytes; the limit is "
                             f"{MAX_TEXT_BYTES} (attach long output as a file and refer "
                             "to it)")
        if self.details is not None:
            dsize = len(canonical_details(self.details) or "")
            if dsize > MAX_DETAILS_BYTES:
                raise UsageError(f"duty log entry details are {dsize} bytes of JSON; the "
                                 f"limit is {MAX_DETAILS_BYTES}")


def append(conn: Connection, entry: NewEntry, key: bytes | None = None,
           *, ts: str | None = None) -> int:
    """Append one entry inside the caller's write transaction; returns its seq.

    Must run inside ``store.write()`` (BEGIN IMMEDIATE): reading the head and inserting
    the next entry then happen under SQLite's write lock, so concurrent writers queue up
    and sequence numbers stay gapless and unique.
    """
    entry.validate()
    if conn.dialect.name == "sqlite":
        # The DB-API cursor of the same connection (same transaction): SQLAlchemy's
        # statement machinery costs more than the hashing on a 100 000-entry import.
        cur = conn.connection.dbapi_connection.cursor()
        try:
            return _append_sqlite(cur, entry, key, ts)
        finally:
            cur.close()
    last = conn.execute(sa.select(duty_log.c.seq, duty_log.c.hash, duty_log.c.alg)
                        .order_by(duty_log.c.seq.desc()).limit(1)).first()
    head = _meta_get(conn, _META_HEAD)
    if key is None:
        path = _meta_get(conn, _META_KEYFILE)
        if path:
            key = read_key(path)
    values, digest = _next(entry, key, ts, last, head)
    row = dict(zip(FIELDS, values, strict=True))
    row["hash"] = digest
    conn.execute(duty_log.insert().values(**row))
    _meta_put(conn, _META_HEAD, f"{values[0]}:{digest}")
    return values[0]


_INSERT = (f"INSERT INTO duty_log ({', '.join(FIELDS)}, hash) "
           f"VALUES ({', '.join('?' * (len(FIELDS) + 1))})")


def _append_sqlite(cur, entry: NewEntry, key: bytes | None, ts: str | None) -> int:
    last = cur.execute("SELECT seq, hash, alg FROM duty_log ORDER BY seq DESC LIMIT 1"
                       ).fetchone()
    meta = dict(cur.execute("SELECT key, value FROM duty_meta WHERE key IN (?, ?)",
                            (_META_HEAD, _META_KEYFILE)).fetchall())
    if key is None and meta.get(_META_KEYFILE):
        key = read_key(meta[_META_KEYFILE])
    values, digest = _next(entry, key, ts, last, meta.get(_META_HEAD))
    cur.execute(_INSERT, (*values, digest))
    head = f"{values[0]}:{digest}"
    if cur.execute("UPDATE duty_meta SET value=? WHERE key=?", (head, _META_HEAD)).rowcount == 0:
        cur.execute("INSERT INTO duty_meta (key, value) VALUES (?, ?)", (_META_HEAD, head))
    return values[0]


def _next(entry: NewEntry, key: bytes | None, ts: str | None, last,
          head: str | None) -> tuple[tuple, str]:
    """The next entry's values and hash, given the newest stored entry (seq, hash, alg)."""
    if last is not None and last[2] == ALG_HMAC and key is None:
        raise StoreError("the duty log is keyed (HMAC) but no key is available",
                         hint="set duty.log_key_file to the key file")
    if last is not None:
        seq, prev = last[0] + 1, last[1]
    elif head:  # everything was purged: continue after the purged range
        hseq, _, hhash = head.partition(":")
        seq, prev = int(hseq) + 1, hhash
    else:
        seq, prev = 1, GENESIS
    alg = ALG_HMAC if key is not None else ALG_PLAIN
    values = (seq, ts or now_utc(), entry.kind, entry.category, entry.severity,
              entry.text, entry.source, entry.author, 1 if entry.pending else 0,
              entry.ref_seq, canonical_details(entry.details), alg, prev)
    return values, entry_hash(values, alg, key)


def append_many(conn: Connection, entries: list[tuple[NewEntry, str | None]],
                key: bytes | None = None) -> list[int]:
    """Append several entries in one transaction (bulk import, benchmarks)."""
    return [append(conn, e, key, ts=ts) for e, ts in entries]


# -- verifying --------------------------------------------------------------------------
@dataclass
class VerifyResult:
    ok: bool
    entries: int
    first_seq: int | None
    last_seq: int | None
    head_hash: str | None
    problem: str | None = None  # altered | deleted | inserted | truncated | unkeyed
    bad_seq: int | None = None
    message: str = ""
    keyed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "first_seq": self.first_seq,
                "last_seq": self.last_seq, "head_hash": self.head_hash,
                "problem": self.problem, "bad_seq": self.bad_seq, "message": self.message,
                "keyed": self.keyed}


def verify(store, key: bytes | None = None) -> VerifyResult:
    """Walk the whole chain; report the first entry that was altered, deleted or inserted.

    Streamed: rows come off one cursor in seq order and are checked as they arrive, so
    memory stays flat at any length. On SQLite the canonical form is built by SQLite
    itself (``json_array``, compact, the same text Python's ``json.dumps`` gives, cast to
    bytes) so only five columns cross into Python. A row whose SQLite form does not hash
    right is re-checked with the Python canonical form before it is called altered, so a
    formatting difference can never produce a false alarm.
    """
    cols = ", ".join(FIELDS)
    with store.read() as conn:
        head = _meta_get(conn, _META_HEAD)
        # Purge anchors matter only when the chain does not start at entry 1, and
        # finding them scans the whole log (kind has no index).
        first = conn.execute(sa.select(sa.func.min(duty_log.c.seq))).scalar()
        anchors = [] if first in (None, 1) else [r[0] for r in conn.execute(
            sa.select(duty_log.c.details).where(duty_log.c.kind == "purge"))]
        if conn.dialect.name == "sqlite":
            cur = conn.connection.dbapi_connection.cursor()
            try:
                start = _verify_batched(store, cur, anchors, key)
                cur.execute(f"SELECT seq, CAST(json_array({cols}) AS BLOB), alg, "  # noqa: S608
                            "prev_hash, hash FROM duty_log WHERE seq >= ? ORDER BY seq",
                            (start.expected if start else -1,))

                def recanon(seq: int) -> bytes | None:
                    row = conn.execute(sa.select(*[duty_log.c[f] for f in FIELDS])
                                       .where(duty_log.c.seq == seq)).first()
                    return canonical(tuple(row)) if row else None

                return verify_rows(cur, head, key, anchors, recanon, start)
            finally:
                cur.close()
        # A server-side cursor, a batch at a time: memory stays flat at millions of rows.
        result = conn.execution_options(stream_results=True, yield_per=10000).execute(
            sa.select(*[duty_log.c[f] for f in FIELDS], duty_log.c.hash)
            .order_by(duty_log.c.seq))
        rows = ((r[0], canonical(tuple(r[:13])), r[11], r[12], r[13]) for r in result)
        return verify_rows(rows, head, key, anchors)


@dataclass
class Checked:
    """A verified prefix of the chain: entries first_seq..expected-1 (``n`` of them) are
    intact and linked; the next must be ``expected`` and link to ``prev_hash``."""
    first_seq: int
    n: int
    prev_hash: str
    expected: int
    seen_hmac: bool


def _verify_batched(store, cur, anchors: list[str], key: bytes | None) -> Checked | None:
    """How far the chain checks out in batches (``chainbatch``), from its first entry;
    None when not even the first batch does (the walk then starts at the beginning)."""
    from opsctl.handover import chainbatch

    # Two subqueries: SQLite answers a lone min() or max() from the index's ends, but
    # scans the table for both in one SELECT.
    first, last = cur.execute("SELECT (SELECT min(seq) FROM duty_log), "
                              "(SELECT max(seq) FROM duty_log)").fetchone()
    if first is None:
        return None
    prev_hash, expected = _start_of_chain(first, anchors)
    if expected is None:
        return None
    state = chainbatch.verify_batches(store, last, Checked(first, 0, prev_hash, expected,
                                                           False), key)
    return state if state.n else None


def verify_rows(rows: Iterable[tuple], head: str | None, key: bytes | None,
                anchors: list[str] | None = None, recanon=None,
                start: Checked | None = None) -> VerifyResult:
    """``rows``: (seq, canonical JSON as bytes or text, alg, prev_hash, hash) in seq
    order, consumed once (a cursor or a generator; one row of look-ahead is kept).
    ``start``: the rows continue a prefix already verified (by ``verify``'s batches)."""
    it = iter(rows)
    row = next(it, None)
    first_seq = start.first_seq if start else (row[0] if row else None)
    res = VerifyResult(ok=True, entries=0, first_seq=first_seq,
                       last_seq=None, head_hash=None, keyed=key is not None)

    n, nxt = (start.n if start else 0), None  # rows checked so far; the look-ahead row

    def fail(problem: str, seq: int | None, msg: str) -> VerifyResult:
        res.ok, res.problem, res.bad_seq, res.message = False, problem, seq, msg
        # The counts still describe the whole log: the rest is read, not hashed.
        seen = n + (row is not None) + (nxt is not None)
        last = nxt or row
        for r in it:
            seen, last = seen + 1, r
        res.entries = max(seen, res.entries)
        if last is not None:
            res.last_seq, res.head_hash = last[0], last[4]
        return res

    if start is not None:
        prev_hash, expected, seen_hmac = start.prev_hash, start.expected, start.seen_hmac
        if n:
            res.last_seq, res.head_hash = expected - 1, prev_hash
    elif row is None:
        if head:
            return fail("deleted", int(head.split(":")[0]),
                        f"the log is empty but its head is entry {head.split(':')[0]}: "
                        "entries were deleted")
        res.message = "empty log"
        return res
    else:
        prev_hash, expected = _start_of_chain(row[0], anchors or [])
        if expected is None:
            return fail("deleted", 1, f"entries 1..{row[0] - 1} are missing and no purge "
                                      "anchor accounts for them: entries were deleted")
        seen_hmac = False
    sha256 = hashlib.sha256
    hmac_digest = hmac.digest  # one-shot C path

    def digest_of(data: bytes | str, alg: str) -> str:
        if isinstance(data, str):
            data = data.encode()
        if alg == ALG_HMAC:
            return hmac_digest(key, data, "sha256").hex()
        return sha256(data).hexdigest()

    while row is not None:
        # Fast path: every check of the slow path below, in the order that matters for
        # an intact row (in seq, links to its predecessor, the algorithm the chain is in,
        # hash recomputed from the canonical form), with nothing else per row. The first
        # row it cannot vouch for goes to the slow path, which decides and explains.
        # (seen_hmac is only ever set with a key.)
        plain = not seen_hmac
        fast_alg = ALG_PLAIN if plain else ALG_HMAC
        for row in itertools.chain((row,), it):  # noqa: B020 - the row is needed after it
            seq, canon, alg, row_prev, row_hash = row
            if seq != expected or row_prev != prev_hash or alg != fast_alg:
                break
            if canon.__class__ is not bytes:
                canon = canon.encode()
            if (sha256(canon).hexdigest() if plain
                    else hmac_digest(key, canon, "sha256").hex()) != row_hash:
                break
            prev_hash = row_hash
            expected = seq + 1
            n += 1
        else:
            row = None
        if n:
            res.last_seq, res.head_hash = expected - 1, prev_hash
        if row is None:
            break
        # Slow path: one row, with one row of look-ahead to tell insertion from alteration.
        seq, canon, alg, row_prev, row_hash = row
        nxt = next(it, None)
        if seq != expected:
            if seq > expected:
                missing = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
                return fail("deleted", expected, f"entry {missing} missing: deleted")
            return fail("inserted", seq, f"entry {seq} out of order: inserted")
        if alg == ALG_PLAIN and not seen_hmac:
            digest = sha256(canon if isinstance(canon, bytes) else canon.encode()).hexdigest()
        else:
            if alg == ALG_HMAC:
                if key is None:
                    return fail("unkeyed", seq, f"entry {seq} is keyed (HMAC) but no key is "
                                                "configured: set duty.log_key_file to verify")
                seen_hmac = True
            elif alg == ALG_PLAIN:
                return fail("altered", seq, f"entry {seq} is not keyed although earlier "
                                            "entries are: altered or inserted")
            else:
                return fail("altered", seq, f"entry {seq} has an unknown hash algorithm: "
                                            "altered")
            digest = digest_of(canon, alg)
        if digest != row_hash and recanon is not None:
            data = recanon(seq)
            if data is not None:
                digest = digest_of(data, alg)
        if digest != row_hash:
            if nxt is not None and nxt[3] == prev_hash:
                return fail("inserted", seq, f"entry {seq} does not belong to the chain "
                                             "(its neighbours link to each other): inserted")
            return fail("altered", seq, f"entry {seq} does not match its hash: altered")
        if row_prev != prev_hash:
            if nxt is not None and nxt[3] == prev_hash:
                return fail("inserted", seq, f"entry {seq} does not link to entry {seq - 1}"
                                             ": inserted")
            return fail("altered", seq - 1, f"entry {seq} does not link to entry {seq - 1}"
                                            f": entry {seq - 1} altered")
        prev_hash = row_hash
        expected = seq + 1
        n += 1
        res.last_seq, res.head_hash = seq, row_hash
        row, nxt = nxt, None
    res.entries = n
    first, last = res.first_seq, res.last_seq
    if key is not None and not seen_hmac:
        return fail("unkeyed", first, "a key is configured but no entry is keyed: "
                                      "the chain was rewritten without the key")
    if head:
        hseq, _, hhash = head.partition(":")
        if int(hseq) > last:
            return fail("deleted", last + 1,
                        f"entries {last + 1}..{hseq} missing at the end: deleted")
        if int(hseq) == last and hhash != res.head_hash:
            return fail("altered", last, f"entry {hseq} does not match the recorded "
                                         "head: altered")
    res.message = f"{n} entries intact ({first}..{last})"
    return res


def _start_of_chain(first: int, anchors: list[str]) -> tuple[str, int | None]:
    """The hash the first stored entry must link to, and its expected seq.

    After a purge the chain starts mid-way; the newest purge anchor records the purged
    range and the last purged hash, which the first remaining entry must link to (the
    anchor is itself a chained entry, so it cannot be forged without breaking the chain).
    """
    if first == 1:
        return GENESIS, 1
    best = None
    for text in anchors:
        try:
            d = json.loads(text or "")
        except ValueError:
            continue
        if isinstance(d, dict) and (best is None
                                    or d.get("purged_to", 0) > best.get("purged_to", 0)):
            best = d
    if best is None or best.get("purged_to") != first - 1:
        return GENESIS, None
    return best.get("last_hash", GENESIS), first
