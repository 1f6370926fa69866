"""The daemon's local spool: what it records while a PostgreSQL store is unreachable.

A database that is down must not cost the room its records: the daemon keeps polling and
alerting, and what it would have written — duty-log entries, alert events with their
outbox rows, job runs, power polls, delivery results, auto-resolves — goes into a SQLite
file beside its lock, ``STATE_DIR/spool.db`` (owner-only, ``synchronous=FULL``: every row
is on disk before the daemon goes on). Alerts are delivered from the spool's own outbox
meanwhile, so they go out during the outage.

Order: once anything is spooled, every later record is spooled too until the spool is
empty again, so the store receives them in the order they happened — the duty chain gets
the entries in spool order, after whatever it held before the outage. A duty entry keeps
the chain's own time (``ts``: when the chain received it, as for every entry) and carries
the time it happened in ``details.occurred_at``, and ``details.spooled`` says it came
through the spool.

Replay (:func:`drain`, from the daemon's heartbeat thread) applies one record per store
transaction and writes its key into ``daemon_spool_applied`` in that same transaction;
the row leaves the spool after the commit. A crash between the two only leaves a row
whose key the store already has: it is skipped, never applied twice. A record with
delivery rows still being sent waits for them (it is written with their outcome). A
record the store refuses for another reason than being unreachable (a bug, a constraint)
is moved to the spool's ``rejected`` table with the error, so it neither blocks the rest
nor disappears (``opsctl daemon status`` shows it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

log = logging.getLogger("opsctl.daemon.spool")

SPOOL_NAME = "spool.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    body TEXT NOT NULL,
    wid TEXT
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id INTEGER NOT NULL,
    target TEXT NOT NULL,
    purpose TEXT NOT NULL,
    payload TEXT NOT NULL,
    recipients TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    body TEXT NOT NULL,
    error TEXT NOT NULL,
    rejected_at TEXT NOT NULL
);
"""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


@dataclass
class Record:
    id: int
    key: str     # its mark in daemon_spool_applied: the write id, else the spool key
    kind: str
    at: str
    body: dict
    spooled: str = ""  # "<spool id>:<row>": which spool record it was (details.spooled)


class Spool:
    """One SQLite file; thread-safe (one connection behind a lock: the writes are tiny)."""

    def __init__(self, path: Path):
        from opsctl.core.errors import StoreError

        self.path = Path(path)
        old = os.umask(0o077)  # owner-only, as the store: duty records are confidential
        try:
            self._db = sqlite3.connect(str(self.path), check_same_thread=False,
                                       isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            cols = {r[1] for r in self._db.execute("PRAGMA table_info(records)")}
            if "wid" not in cols:  # a spool file of an earlier opsctl
                self._db.execute("ALTER TABLE records ADD COLUMN wid TEXT")
            row = self._db.execute("SELECT value FROM meta WHERE key='id'").fetchone()
            if row is None:
                # Keys are "<spool id>:<row id>": unique across spool files and hosts.
                self.id = uuid.uuid4().hex
                self._db.execute("INSERT INTO meta (key, value) VALUES ('id', ?)",
                                 (self.id,))
            else:
                self.id = row[0]
            self._count = self._db.execute("SELECT count(*) FROM records").fetchone()[0]
        except sqlite3.Error as exc:
            raise StoreError(f"the daemon's spool {self.path} cannot be used: {exc}",
                             hint="it may hold records not yet in the store: keep a copy "
                                  "before moving it aside (`sqlite3 FILE .dump` shows them)")\
                from None
        finally:
            os.umask(old)
        self._lock = threading.RLock()
        self._held: str | None = None
        # The last readings of each device, for the next poll's comparison while the
        # store cannot say (kept by the daemon after every poll).
        self.last_readings: dict[str, dict] = {}
        # The daemon's small state (RAID/SMART baselines) as last read or written, for
        # its jobs while the store cannot say: (namespace, key) -> value.
        self.state: dict[tuple[str, str], Any] = {}

    @classmethod
    def open(cls, state_dir: str | os.PathLike) -> Spool:
        return cls(Path(state_dir) / SPOOL_NAME)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- state ---------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Records wait for the store, or the store is not set up for this daemon yet
        (it started during an outage): later records must queue behind them (order)."""
        return self._count > 0 or self._held is not None

    def hold(self, reason: str) -> None:
        """Spool everything until :meth:`release` (the store is not ready for us)."""
        self._held = reason

    def release(self) -> None:
        self._held = None

    def key(self, rid: int) -> str:
        return f"{self.id}:{rid}"

    def counts(self) -> dict[str, int]:
        with self._lock:
            out = {"records": self._db.execute("SELECT count(*) FROM records").fetchone()[0],
                   "deliveries_pending": self._db.execute(
                       "SELECT count(*) FROM outbox WHERE state='pending'").fetchone()[0],
                   "rejected": self._db.execute("SELECT count(*) FROM rejected")
                   .fetchone()[0]}
            oldest = self._db.execute("SELECT min(at) FROM records").fetchone()[0]
        return {**out, "oldest": oldest}

    # -- adding ----------------------------------------------------------------------------
    def add(self, kind: str, body: dict, at: str | None = None,
            wid: str | None = None) -> int:
        """``wid``: the write id of the direct write this record stands in for (one that
        may have committed although its COMMIT's reply was lost): the replay skips it
        when the store holds that id (:func:`mark`)."""
        with self._tx() as db:
            rid = self._insert(db, kind, body, at, wid)
        return rid

    def _insert(self, db, kind: str, body: dict, at: str | None,
                wid: str | None = None) -> int:
        if self._count == 0:
            log.warning("the store is unreachable: the daemon's records are spooled in %s "
                        "until it answers again", self.path)
        rid = db.execute("INSERT INTO records (kind, at, body, wid) VALUES (?, ?, ?, ?)",
                         (kind, at or _now(), json.dumps(body, default=str), wid)).lastrowid
        self._count += 1
        return rid

    def add_with_outbox(self, kind: str, body: dict, messages: list[dict],
                        at: str | None = None,
                        wid: str | None = None) -> tuple[int, list[int]]:
        """A record and the deliveries it owes (target, purpose, payload, recipients) in
        one transaction; returns the record id and the outbox ids."""
        with self._tx() as db:
            rid = self._insert(db, kind, body, at, wid)
            oids = [self._outbox(db, rid, m) for m in messages]
        return rid, oids

    @staticmethod
    def _outbox(db, rid: int, m: dict) -> int:
        now = _now()
        return db.execute(
            "INSERT INTO outbox (record_id, target, purpose, payload, recipients, created_at,"
            " updated_at, state, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0)",
            (rid, m["target"], m["purpose"], json.dumps(m["payload"], default=str),
             json.dumps(m.get("recipients")), now, now)).lastrowid

    def add_event(self, body: dict, messages: list[dict], *, window: dt.timedelta,
                  rate_limit: int, now: dt.datetime,
                  wid: str | None = None) -> tuple[int | None, str, list[int]]:
        """An alert event seen while the store is away: dedup and rate limit against the
        events spooled so far (the store's are out of reach), then the event and its
        deliveries. Returns (record id or None for a duplicate, status, outbox ids)."""
        iso = now.isoformat()
        with self._tx() as db:
            if window and body.get("dedup", True):
                rows = db.execute("SELECT id, body FROM records WHERE kind='event' "
                                  "ORDER BY id DESC").fetchall()
                for rid, text in rows:
                    old = json.loads(text)
                    if old["dedup_key"] != body["dedup_key"] or old.get("closed_locally"):
                        continue
                    if dt.datetime.fromisoformat(old["last_seen"]) >= now - window:
                        old["last_seen"] = iso
                        old["count"] = old.get("count", 1) + 1
                        db.execute("UPDATE records SET body=? WHERE id=?",
                                   (json.dumps(old, default=str), rid))
                        return None, "duplicate", []
                    break
            hour_ago = (now - dt.timedelta(hours=1)).isoformat()
            recent = sum(1 for (text,) in db.execute(
                "SELECT body FROM records WHERE kind='event'")
                if (b := json.loads(text))["first_seen"] >= hour_ago
                and b["status"] == "open")
            status = "suppressed" if recent >= rate_limit else "open"
            body = {**body, "status": status, "first_seen": iso, "last_seen": iso,
                    "count": 1}
            rid = self._insert(db, "event", body, iso, wid)
            oids = [self._outbox(db, rid, m) for m in messages] if status == "open" else []
        return rid, status, oids

    def close_events(self, dedup_key: str, reason: str, at: str) -> int:
        """Spooled events of ``dedup_key`` are over (for the spool's own dedup); the store
        closes them — with their duty-log items — when the ``resolve`` record is replayed."""
        n = 0
        with self._tx() as db:
            for rid, text in db.execute("SELECT id, body FROM records WHERE kind='event'")\
                    .fetchall():
                b = json.loads(text)
                if b["dedup_key"] == dedup_key and not b.get("closed_locally"):
                    b["closed_locally"] = {"at": at, "reason": reason}
                    db.execute("UPDATE records SET body=? WHERE id=?",
                               (json.dumps(b, default=str), rid))
                    n += 1
        return n

    def open_subjects(self, source: str) -> set[tuple[str, str | None]]:
        with self._lock:
            rows = self._db.execute("SELECT body FROM records WHERE kind='event'").fetchall()
        out = set()
        for (text,) in rows:
            b = json.loads(text)
            if b["source"] == source and not b.get("closed_locally"):
                out.add((b["kind"], b.get("subject")))
        return out

    # -- the spooled outbox ---------------------------------------------------------------
    def outbox_note(self, oid: int, attempts: int, error: str | None,
                    state: str = "pending") -> None:
        with self._tx() as db:
            db.execute("UPDATE outbox SET attempts=?, error=?, state=?, updated_at=? "
                       "WHERE id=?", (attempts, error, state, _now(), oid))

    def pending_outbox(self) -> list[dict]:
        return self._outbox_rows("state='pending'", ())

    def outbox_of(self, rid: int) -> list[dict]:
        return self._outbox_rows("record_id=?", (rid,))

    def _outbox_rows(self, where: str, args: tuple) -> list[dict]:
        with self._lock:
            cur = self._db.execute(f"SELECT * FROM outbox WHERE {where} ORDER BY id", args)
            names = [c[0] for c in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        for r in rows:
            r["payload"] = json.loads(r["payload"])
            r["recipients"] = json.loads(r["recipients"]) if r["recipients"] else None
        return rows

    # -- replay --------------------------------------------------------------------------
    def first(self) -> Record | None:
        with self._lock:
            row = self._db.execute("SELECT id, kind, at, body, wid FROM records ORDER BY id "
                                   "LIMIT 1").fetchone()
        if row is None:
            return None
        return Record(row[0], row[4] or self.key(row[0]), row[1], row[2],
                      json.loads(row[3]), self.key(row[0]))

    def remove(self, rid: int) -> None:
        with self._tx() as db:
            n = db.execute("DELETE FROM records WHERE id=?", (rid,)).rowcount
            db.execute("DELETE FROM outbox WHERE record_id=?", (rid,))
            self._count -= n

    def reject(self, rec: Record, error: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO rejected (id, kind, at, body, error, "
                       "rejected_at) VALUES (?, ?, ?, ?, ?, ?)",
                       (rec.id, rec.kind, rec.at, json.dumps(rec.body, default=str), error,
                        _now()))
            n = db.execute("DELETE FROM records WHERE id=?", (rec.id,)).rowcount
            self._count -= n


def peek(state_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The spool's counts for ``daemon status`` (read-only; None when there is none)."""
    path = Path(state_dir) / SPOOL_NAME
    if not path.exists():
        return None
    try:
        from urllib.parse import quote

        db = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=5)
        try:
            out = {"records": db.execute("SELECT count(*) FROM records").fetchone()[0],
                   "deliveries_pending": db.execute(
                       "SELECT count(*) FROM outbox WHERE state='pending'").fetchone()[0],
                   "rejected": db.execute("SELECT count(*) FROM rejected").fetchone()[0],
                   "oldest": db.execute("SELECT min(at) FROM records").fetchone()[0]}
        finally:
            db.close()
    except sqlite3.Error as exc:
        return {"error": str(exc)}
    return {"path": str(path), **out}


# -- write ids: every daemon write applied once -------------------------------------------------
def new_wid() -> str:
    """A write id: unique across daemons and hosts (the spool keys' own form is
    ``<spool id>:<row>``; these start with ``w:``)."""
    return "w:" + uuid.uuid4().hex


def mark(conn, wid: str | None, kind: str, ref: Any = None) -> None:
    """Record, in the caller's write transaction, that the write ``wid`` is applied.

    A connection that breaks while COMMIT is under way leaves the daemon not knowing
    whether the server committed; it spools the record with the same ``wid``, and the
    replay finds this mark when the write did commit and skips it (or only finishes what
    the direct write leaves to a later step: :data:`_COMPLETE`). ``ref``: what the write
    created, for that (an event id, an outbox row, a run). No ``wid``: nothing to mark
    (the store is SQLite, nothing is spooled)."""
    if wid is None:
        return
    from opsctl.daemon.schema import spool_applied

    conn.execute(spool_applied.insert().values(
        key=wid, kind=kind, spooled_at=_now(), applied_at=_now(),
        ref=None if ref is None else str(ref)))


# -- applying records to the store ------------------------------------------------------------
def drain(spool: Spool, store, cfg, *, limit: int = 10_000) -> int:
    """Write spooled records into the store, oldest first; returns how many. Stops at the
    first record the store cannot take now (unreachable) or whose deliveries are still
    being sent."""
    from opsctl.core.errors import StoreUnavailable
    from opsctl.daemon.schema import spool_applied

    done = 0
    while done < limit:
        rec = spool.first()
        if rec is None:
            break
        owed = spool.outbox_of(rec.id)
        if any(o["state"] == "pending" for o in owed):
            break  # written with the outcome of its deliveries
        try:
            with store.write() as conn:
                seen = conn.execute(sa.select(spool_applied.c.key, spool_applied.c.ref)
                                    .where(spool_applied.c.key == rec.key)).first()
                if seen is None:
                    _APPLY[rec.kind](conn, store, cfg, rec, owed)
                    conn.execute(spool_applied.insert().values(
                        key=rec.key, kind=rec.kind, spooled_at=rec.at, applied_at=_now()))
                else:
                    log.info("spooled %s record %s is in the store already (its direct "
                             "write committed): not applied again", rec.kind, rec.key)
                    if seen.ref is not None and rec.kind in _COMPLETE:
                        _COMPLETE[rec.kind](conn, store, cfg, rec, owed, seen.ref)
        except StoreUnavailable:
            break
        except Exception as exc:  # noqa: BLE001 - one bad record must not block the rest
            log.error("spooled %s record %s could not be written to the store (%s); kept "
                      "in %s (table rejected)", rec.kind, rec.key, exc, spool.path)
            spool.reject(rec, f"{type(exc).__name__}: {exc}")
            continue
        spool.remove(rec.id)
        done += 1
    if done:
        left = spool.counts()["records"]
        log.warning("spool: %d record(s) written to the store%s", done,
                    f", {left} still waiting" if left else "; spool empty")
    return done


def _duty_details(details: dict | None, rec: Record, occurred_at: str) -> dict:
    return {**(details or {}), "occurred_at": occurred_at, "spooled": rec.spooled}


def _apply_duty(conn, store, cfg, rec: Record, _owed) -> None:
    from opsctl.daemon.schema import events
    from opsctl.handover.api import append_event, duty_key

    b = rec.body
    seq = append_event(conn, category=b["category"], text=b["text"],
                       severity=b.get("severity"), source=b["source"],
                       pending=b.get("pending", False), author=b.get("author", "opsctl"),
                       details=_duty_details(b.get("details"), rec, rec.at),
                       key=duty_key(cfg))
    if b.get("event_id") is not None:
        conn.execute(events.update().where(events.c.id == b["event_id"])
                     .values(duty_seq=seq))


def _apply_event(conn, store, cfg, rec: Record, owed: list[dict]) -> None:
    from opsctl.daemon.schema import deliveries, events, outbox

    b = rec.body
    # Inserted as it was when seen: closing it (and its duty-log item) is the job of the
    # ``resolve`` record that follows it in the spool.
    eid = conn.execute(events.insert().values(
        dedup_key=b["dedup_key"], source=b["source"], kind=b["kind"], subject=b.get("subject"),
        severity=b["severity"], message=b["message"], details=b.get("details") or None,
        first_seen=b["first_seen"], last_seen=b["last_seen"], count=b.get("count", 1),
        status=b["status"])).inserted_primary_key[0]
    if b.get("duty_log", True):
        _event_entry(conn, cfg, rec, eid)
    _apply_outbox(conn, owed, eid, outbox, deliveries)


def _event_entry(conn, cfg, rec: Record, eid: int) -> None:
    """The duty-log entry of a spooled event (in the site language, as the direct write
    makes it), linked from the event."""
    from opsctl.core import i18n
    from opsctl.daemon.schema import events
    from opsctl.handover.api import append_event, duty_key

    b = rec.body
    seq = append_event(
        conn, category="incident",
        text=i18n._("{message} (event #{id})").format(message=b["message"], id=eid),
        severity=b["severity"], source=f"daemon/{b['source']}",
        pending=b["severity"] == "critical", author="opsctl-daemon",
        details=_duty_details({"event_id": eid, "kind": b["kind"],
                               "subject": b.get("subject"), **(b.get("details") or {})},
                              rec, b["first_seen"]),
        key=duty_key(cfg))
    conn.execute(events.update().where(events.c.id == eid).values(duty_seq=seq))


def _apply_outbox(conn, owed: list[dict], eid, outbox, deliveries) -> None:
    for o in owed:
        payload = {**o["payload"], "id": eid} if eid is not None else o["payload"]
        conn.execute(outbox.insert().values(
            event_id=eid, target=o["target"], purpose=o["purpose"], payload=payload,
            recipients=o["recipients"], created_at=o["created_at"],
            updated_at=o["updated_at"], state=o["state"], attempts=o["attempts"],
            error=o["error"]))
        conn.execute(deliveries.insert().values(
            event_id=eid, target=o["target"], purpose=o["purpose"], at=o["updated_at"],
            attempts=o["attempts"], ok=o["state"] == "ok", error=o["error"]))


def _apply_message(conn, store, cfg, rec: Record, owed: list[dict]) -> None:
    """A reminder or escalation sent while the store was away: its delivery record."""
    from opsctl.daemon.schema import deliveries, outbox

    _apply_outbox(conn, owed, rec.body.get("event_id"), outbox, deliveries)


def _apply_settle(conn, store, cfg, rec: Record, _owed) -> None:
    """A delivery of a store outbox row that finished while the store was away."""
    from opsctl.daemon.schema import deliveries, outbox

    b = rec.body
    if b.get("oid") is not None:
        conn.execute(outbox.update().where(outbox.c.id == b["oid"]).values(
            state="ok" if b["ok"] else "failed", attempts=b["attempts"], error=b["error"],
            updated_at=b["at"]))
    conn.execute(deliveries.insert().values(
        event_id=b.get("eid"), target=b["target"], purpose=b["purpose"], at=b["at"],
        attempts=b["attempts"], ok=b["ok"], error=b["error"]))


def _apply_resolve(conn, store, cfg, rec: Record, _owed) -> None:
    from opsctl.daemon.alerts import close_events

    b = rec.body
    close_events(conn, store, cfg, b["dedup_key"], b["at"], b["reason"],
                 details={"occurred_at": b["at"], "spooled": rec.spooled})


def _apply_run(conn, store, cfg, rec: Record, _owed) -> None:
    from opsctl.daemon.schema import jobs, runs, spool_applied

    b = rec.body
    values = {"finished_at": b["finished_at"], "status": b["status"],
              "summary": b.get("summary"), "error": b.get("error")}
    run_id = b.get("run_id")
    if run_id is None and b.get("start_wid"):
        # Its 'running' row was inserted although the reply to that COMMIT was lost.
        ref = conn.execute(sa.select(spool_applied.c.ref).where(
            spool_applied.c.key == b["start_wid"])).scalar()
        run_id = int(ref) if ref is not None else None
    if run_id is not None:
        conn.execute(runs.update().where(runs.c.id == run_id).values(**values))
    else:
        # A cron slot another daemon ran meanwhile keeps that run (the unique slot index).
        exists = b.get("scheduled_for") is not None and conn.execute(
            runs.select().where(runs.c.job_id == b["job_id"],
                                runs.c.scheduled_for == b["scheduled_for"])).first()
        if not exists:
            conn.execute(runs.insert().values(
                job_id=b["job_id"], scheduled_for=b.get("scheduled_for"),
                trigger=b["trigger"], started_at=b["started_at"], pid=b.get("pid"),
                host=b.get("host"), **values))
    conn.execute(jobs.update().where(jobs.c.job_id == b["job_id"]).values(
        last_run=b["finished_at"], last_status=b["status"], last_error=b.get("error")))


def _apply_poll(conn, store, cfg, rec: Record, _owed) -> None:
    from opsctl.power.api import write_poll

    write_poll(conn, rec.body)


def _apply_state(conn, store, cfg, rec: Record, _owed) -> None:
    """A job's small state (RAID/SMART baseline): the value as it was then. Writing it
    twice writes the same value, so it needs no write id."""
    from opsctl.core import kvstate

    b = rec.body
    kvstate.put(store, b["namespace"], b["key"], b["value"], conn=conn)


def _apply_inspection(conn, store, cfg, rec: Record, _owed) -> None:
    """A scheduled inspection run: its record, items and follow-up duty-log items."""
    from opsctl.inspection.api import store_run

    store_run(cfg, store, rec.body["record"], conn=conn,
              details={"occurred_at": rec.body["record"]["finished_at"],
                       "spooled": rec.spooled})


_APPLY = {"duty": _apply_duty, "event": _apply_event, "message": _apply_message,
          "settle": _apply_settle, "resolve": _apply_resolve, "run": _apply_run,
          "poll": _apply_poll, "state": _apply_state, "inspection": _apply_inspection}


# -- finishing a direct write that committed unseen ---------------------------------------------
def _complete_event(conn, store, cfg, rec: Record, owed: list[dict], ref: str) -> None:
    """The event (with its outbox rows) is in the store, its duty-log entry and the
    outcome of its deliveries (sent from the spool) are not: add those."""
    from opsctl.daemon.schema import events

    b = rec.body
    eid = int(ref)
    row = conn.execute(sa.select(events.c.duty_seq).where(events.c.id == eid)).first()
    if row is not None and row.duty_seq is None and b.get("duty_log", True):
        _event_entry(conn, cfg, rec, eid)
    _settle_store_outbox(conn, owed, eid=eid)


def _complete_message(conn, store, cfg, rec: Record, owed: list[dict], ref: str) -> None:
    """The outbox row is in the store (pending); its delivery happened from the spool."""
    _settle_store_outbox(conn, owed, oid=int(ref))


def _settle_store_outbox(conn, owed: list[dict], *, eid: int | None = None,
                         oid: int | None = None) -> None:
    from opsctl.daemon.schema import deliveries, outbox

    for o in owed:
        where = [outbox.c.state == "pending", outbox.c.target == o["target"],
                 outbox.c.purpose == o["purpose"]]
        where.append(outbox.c.id == oid if oid is not None else outbox.c.event_id == eid)
        target = conn.execute(sa.select(outbox.c.id, outbox.c.event_id).where(*where)
                              .order_by(outbox.c.id).limit(1)).first()
        if target is None:
            continue
        conn.execute(outbox.update().where(outbox.c.id == target.id).values(
            state=o["state"], attempts=o["attempts"], error=o["error"],
            updated_at=o["updated_at"]))
        conn.execute(deliveries.insert().values(
            event_id=target.event_id, target=o["target"], purpose=o["purpose"],
            at=o["updated_at"], attempts=o["attempts"], ok=o["state"] == "ok",
            error=o["error"]))


_COMPLETE = {"event": _complete_event, "message": _complete_message}
