"""The one alert pipeline every event goes through (power, inspections, RAID, udev).

emit(event):
  1. dedup — the same event (source, kind, subject) seen again within ``dedup_minutes``
     of its last sighting only bumps a counter: no new duty-log entry, no new alert;
  2. duty log — a new event is written into the duty log (``handover.api.record_event``);
  3. rate limit — more than ``rate_limit_per_hour`` alerts in the last hour: the event is
     kept (status ``suppressed``) but not sent;
  4. delivery — to the targets of the route for its severity (plus the after-hours targets
     outside working hours). Each (message, target) is first written to the outbox, in the
     event's own transaction, then queued to that target's own worker thread with its own
     timeout and retries, so one dead or slow SMTP server never delays the webhook. Rows
     left pending by a crash or a stop are sent when the daemon starts again
     (:meth:`AlertPipeline.replay`); every finished delivery is recorded.
Escalation: an open event whose route sets ``escalate_after_minutes`` and that nobody
acknowledged (``opsctl daemon ack``) in time is sent to ``escalate_to``, once.
Silences (``opsctl daemon silence``): a matching event is recorded and logged, not sent
(status ``silenced``). Auto-resolve (``resolve``): when the producer sees the condition
clear, the event is closed with the time and reason, and the pending duty-log item it
opened is closed too — handover is not blocked by something that is over.

Everything is in the store, so dedup windows, acknowledgements and escalations survive a
daemon restart. While a PostgreSQL store is unreachable (``StoreUnavailable``), the daemon's
pipeline has a :class:`~opsctl.daemon.spool.Spool`: events, their duty-log entries and
outbox rows go there (deduplicated and rate-limited against what was spooled), alerts are
delivered from the spool's outbox, and the spool is written to the store when it is back.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from opsctl.core.errors import NotFoundError, StoreUnavailable
from opsctl.core.i18n import _
from opsctl.core.runner import Runner
from opsctl.core.store import Store
from opsctl.daemon import timeutil
from opsctl.daemon.schema import deliveries, events, outbox
from opsctl.daemon.targets import DeliveryError, send

log = logging.getLogger("opsctl.daemon.alerts")

SEVERITIES = ("minor", "major", "critical")


@dataclass
class Event:
    source: str
    kind: str
    severity: str
    message: str
    subject: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # Edge-triggered events (a policy's transitions, each plan step) are never duplicates.
    dedup: bool = True

    @property
    def dedup_key(self) -> str:
        return f"{self.source}:{self.kind}:{self.subject or ''}"


def normalise_severity(value: Any) -> str:
    """Map whatever a producer calls it (Status, 'crit', 'warning'…) onto the three levels."""
    text = getattr(value, "name", str(value)).lower()
    return {"critical": "critical", "crit": "critical", "major": "major", "error": "major",
            "warning": "minor", "warn": "minor", "minor": "minor", "info": "minor",
            "ok": "minor"}.get(text, "major")


def is_after_hours(cfg, when: dt.datetime) -> bool:
    start_s, end_s = cfg.alerts.after_hours
    local = when.astimezone(timeutil.site_zone(cfg)).time()
    start = dt.time.fromisoformat(start_s)
    end = dt.time.fromisoformat(end_s)
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def route_for(cfg, severity: str):
    for route in cfg.alerts.routes:
        if route.severity == severity:
            return route
    return None


def targets_for(cfg, severity: str, when: dt.datetime) -> list[str]:
    route = route_for(cfg, severity)
    if route is None:
        return []
    names = list(route.targets)
    if is_after_hours(cfg, when):
        names += [n for n in route.after_hours_targets if n not in names]
    return names


class AlertPipeline:
    def __init__(self, cfg, store: Store, *, runner: Runner | None = None,
                 clock=timeutil.utcnow):
        self.cfg = cfg
        self.store = store
        self.runner = runner or Runner()
        self.clock = clock
        self._lock = threading.Lock()
        self._workers: dict[str, _TargetWorker] = {}
        self._inflight = 0
        self._idle = threading.Condition()  # guards _workers and _inflight
        self._stopping = threading.Event()
        self.spool = None  # the daemon's Spool (PostgreSQL store): see emit()
        # What open_subjects last read from the store, per source: while the store is
        # away, resolves are decided against it (and against the spooled events).
        self._open_seen: dict[str, set] = {}

    def configure(self, cfg) -> None:
        """A reloaded config: new targets and routes apply to the next event."""
        self.cfg = cfg

    # -- events ----------------------------------------------------------------------------
    def emit(self, event: Event, *, duty_log: bool = True) -> int | None:
        """Record and announce ``event``; returns its id, or None when it was a duplicate.

        ``duty_log=False``: the producer already wrote this to the duty log itself (a plan
        writes an entry per step), so only the alert goes out."""
        event.severity = normalise_severity(event.severity)
        now = self.clock()
        names = targets_for(self.cfg, event.severity, now)
        if self.spool is not None and self.spool.active:
            return self._emit_spooled(event, now, names, duty_log)
        wid = self._wid()
        try:
            with self._lock:
                eid, status, items = self._record(event, now, names, wid)
        except StoreUnavailable as exc:
            if self.spool is None:
                raise
            log.warning("store unreachable (%s): event spooled locally", exc.message)
            return self._emit_spooled(event, now, names, duty_log, wid)
        if eid is None:
            return None
        silence = self._silence(event, eid, now) if status == "open" else None
        if silence is not None:
            status = "silenced"
        seq = self._duty_log(event, eid) if duty_log else None
        if seq is not None:
            with self.store.write() as conn:
                conn.execute(events.update().where(events.c.id == eid).values(duty_seq=seq))
        if status == "silenced":
            log.info("event #%d silenced by silence #%d (%s until %s): not sent", eid,
                     silence["id"], silence["target"], silence["until"])
            return eid
        if status == "suppressed":
            log.warning("alert rate limit (%d/hour) reached: event #%d %s not sent",
                        self.cfg.alerts.rate_limit_per_hour, eid, event.message)
            return eid
        if not names:
            log.info("event #%d (%s) has no alert targets for severity %s", eid,
                     event.message, event.severity)
        for item in items:
            self._enqueue(item)
        return eid

    def _wid(self) -> str | None:
        """A write id for a direct write that may fall back to the spool (none on SQLite:
        nothing is spooled there)."""
        if self.spool is None:
            return None
        from opsctl.daemon.spool import new_wid

        return new_wid()

    def _emit_spooled(self, event: Event, now: dt.datetime, names: list[str],
                      duty_log: bool, wid: str | None = None) -> None:
        """emit() while the store is away: the event, its duty-log entry and its
        deliveries go to the spool; the alert goes out now. Silences cannot be read: when
        in doubt, alert. Returns None (the event gets its id when it reaches the store)."""
        payload = {**self._payload(event, None, now, "alert"), "spooled": True}
        body = {"dedup_key": event.dedup_key, "source": event.source, "kind": event.kind,
                "subject": event.subject, "severity": event.severity,
                "message": event.message, "details": event.details or None,
                "dedup": event.dedup, "duty_log": duty_log}
        messages = [{"target": n, "purpose": "alert", "payload": payload} for n in names]
        with self._lock:
            rid, status, oids = self.spool.add_event(
                body, messages, window=dt.timedelta(minutes=self.cfg.alerts.dedup_minutes),
                rate_limit=self.cfg.alerts.rate_limit_per_hour, now=now, wid=wid)
        if rid is None:
            log.info("duplicate of a spooled event suppressed: %s", event.message)
            return None
        log.warning("event (spooled #%d) %s [%s/%s]: %s", rid, event.severity, event.source,
                    event.kind, event.message)
        if status == "suppressed":
            log.warning("alert rate limit (%d/hour) reached: spooled event %s not sent",
                        self.cfg.alerts.rate_limit_per_hour, event.message)
            return None
        for name, oid in zip(names, oids, strict=True):
            self._enqueue(_Item(None, name, payload, None, "alert", None, soid=oid))
        return None

    def replay_spool(self) -> int:
        """Queue the spool's deliveries a previous process left pending."""
        if self.spool is None:
            return 0
        rows = self.spool.pending_outbox()
        for r in rows:
            self._enqueue(_Item(None, r["target"], r["payload"], None, r["purpose"],
                                r["recipients"], attempts=r["attempts"], soid=r["id"]))
        if rows:
            log.warning("replaying %d spooled alert deliveries left pending by the previous "
                        "run", len(rows))
        return len(rows)

    def record_duty(self, *, event_id: int | None = None, **entry) -> int | None:
        """A duty-log entry (``handover.api.record_event`` arguments); spooled while the
        store is away (returns None then)."""
        from opsctl.handover.api import append_event, duty_key, record_event

        if self.spool is None:
            return record_event(self.store, cfg=self.cfg, **entry)
        wid = None
        if not self.spool.active:
            from opsctl.daemon.spool import mark

            wid = self._wid()
            try:
                with self.store.write() as conn:
                    seq = append_event(conn, key=duty_key(self.cfg), **entry)
                    mark(conn, wid, "duty")
                return seq
            except StoreUnavailable:
                pass
        self.spool.add("duty", {**entry, "event_id": event_id}, wid=wid)
        log.warning("store unreachable: duty-log entry spooled: %s", entry.get("text"))
        return None

    def _record(self, event: Event, now: dt.datetime, names: list[str],
                wid: str | None = None) -> tuple[int | None, str, list[_Item]]:
        """Dedup, rate limit, and the event with its outbox rows in one transaction: an
        event is never stored without the deliveries it owes. ``wid``: marked in the same
        transaction (opsctl.daemon.spool.mark)."""
        from opsctl.daemon.spool import mark

        window = dt.timedelta(minutes=self.cfg.alerts.dedup_minutes)
        with self.store.write() as conn:
            if window and event.dedup:
                row = conn.execute(
                    sa.select(events.c.id, events.c.last_seen, events.c.count)
                    .where(events.c.dedup_key == event.dedup_key,
                           events.c.status != "closed")
                    .order_by(events.c.id.desc()).limit(1)).first()
                if row is not None and timeutil.parse(row.last_seen) >= now - window:
                    conn.execute(events.update().where(events.c.id == row.id).values(
                        last_seen=timeutil.iso(now), count=row.count + 1))
                    mark(conn, wid, "event")
                    log.info("duplicate of event #%d suppressed: %s", row.id, event.message)
                    return None, "duplicate", []
            hour_ago = timeutil.iso(now - dt.timedelta(hours=1))
            recent = conn.execute(
                sa.select(sa.func.count()).select_from(events)
                .where(events.c.first_seen >= hour_ago,
                       events.c.status.notin_(("suppressed", "silenced")))
            ).scalar_one()
            status = "suppressed" if recent >= self.cfg.alerts.rate_limit_per_hour else "open"
            eid = conn.execute(events.insert().values(
                dedup_key=event.dedup_key, source=event.source, kind=event.kind,
                subject=event.subject, severity=event.severity, message=event.message,
                details=event.details or None, first_seen=timeutil.iso(now),
                last_seen=timeutil.iso(now), count=1, status=status,
            )).inserted_primary_key[0]
            items = []
            if status == "open":
                payload = self._payload(event, eid, now, "alert")
                for name in names:
                    oid = self._outbox_row(conn, name, payload, eid, "alert", None)
                    items.append(_Item(oid, name, payload, eid, "alert", None))
            mark(conn, wid, "event", ref=eid)
        log.warning("event #%d %s [%s/%s]: %s", eid, event.severity, event.source,
                    event.kind, event.message)
        return eid, status, items

    def _silence(self, event: Event, eid: int, now: dt.datetime) -> dict | None:
        from opsctl.daemon.silences import silence_for

        try:
            found = silence_for(self.store, event.source, event.kind, event.subject,
                                event.details, now)
        except Exception as exc:  # noqa: BLE001 - when in doubt, alert
            log.error("checking silences failed (event #%d is sent): %s", eid, exc)
            return None
        if found is not None:
            with self.store.write() as conn:
                conn.execute(events.update().where(events.c.id == eid).values(
                    status="silenced", silence_id=found["id"]))
        return found

    # -- auto-resolve -----------------------------------------------------------------------
    def open_subjects(self, source: str) -> list[tuple[str, str | None]]:
        """(kind, subject) of every event of ``source`` that is not closed yet."""
        if self.spool is None or not self.spool.active:
            try:
                with self.store.read() as conn:
                    rows = conn.execute(sa.select(events.c.kind, events.c.subject).where(
                        events.c.source == source, events.c.status != "closed").distinct())
                    found = [(r.kind, r.subject) for r in rows]
                self._open_seen[source] = set(found)
                return found
            except StoreUnavailable:
                if self.spool is None:
                    raise
        return sorted(self._open_seen.get(source, set()) | self.spool.open_subjects(source),
                      key=str)

    def resolve(self, source: str, kind: str, subject: str | None, reason: str) -> list[int]:
        """The condition behind (source, kind, subject) cleared: close its events and the
        pending duty-log items they opened, with the time and ``reason``."""
        key = Event(source, kind, "minor", "", subject).dedup_key
        now = timeutil.iso(self.clock())
        if self.spool is not None:
            wid = self._wid()
            try:
                if self.spool.active:
                    raise StoreUnavailable("spooling")
                return self._resolve(key, now, reason, wid)
            except StoreUnavailable:
                self.spool.close_events(key, reason, now)
                self.spool.add("resolve", {"dedup_key": key, "at": now, "reason": reason},
                               wid=wid)
                self._open_seen.get(source, set()).discard((kind, subject))
                log.info("%s resolved (spooled): %s", key, reason)
                return []
        return self._resolve(key, now, reason)

    def _resolve(self, key: str, now: str, reason: str, wid: str | None = None) -> list[int]:
        from opsctl.daemon.spool import mark

        # The events and their duty-log items close in one transaction: both or neither.
        with self.store.write() as conn:
            ids = close_events(conn, self.store, self.cfg, key, now, reason)
            mark(conn, wid, "resolve")
        for eid in ids:
            log.info("event #%d resolved: %s", eid, reason)
        return ids

    def _duty_log(self, event: Event, eid: int) -> int | None:
        try:
            from opsctl.handover.api import record_event  # noqa: F401 - is it there
        except ImportError:
            log.error("duty log unavailable (opsctl.handover.api missing): event #%d not "
                      "written to the duty log", eid)
            return None
        try:
            return self.record_duty(
                event_id=eid, category="incident",
                text=_("{message} (event #{id})").format(message=event.message, id=eid),
                severity=event.severity, source=f"daemon/{event.source}",
                pending=event.severity == "critical", author="opsctl-daemon",
                details={"event_id": eid, "kind": event.kind, "subject": event.subject,
                         **(event.details or {})})
        except Exception as exc:  # noqa: BLE001 - the alert must still go out
            log.error("writing event #%d to the duty log failed: %s", eid, exc)
            return None

    def _payload(self, event: Event, eid: int | None, now: dt.datetime, purpose: str) -> dict:
        return {
            "id": eid, "purpose": purpose, "site": self.cfg.site.name, "room": self.cfg.site.room,
            "source": event.source, "kind": event.kind, "severity": event.severity,
            "subject": event.subject, "message": event.message, "details": event.details,
            "first_seen": timeutil.iso(now), "sent_at": timeutil.iso(self.clock()),
        }

    # -- acknowledgement and escalation -----------------------------------------------------
    def check_escalations(self) -> list[int]:
        """Send still-unacknowledged events past their route's deadline to escalate_to,
        and along the roster (``alerts.escalation``)."""
        escalated = self._route_escalations()
        for eid in self._roster_escalations():
            if eid not in escalated:
                escalated.append(eid)
        return escalated

    def _people_for(self, to: str, now: dt.datetime) -> list[str]:
        if to in ("supervisor", "manager"):
            return [p.name for p in self.cfg.people if to in p.roles]
        try:
            from opsctl.handover.api import on_duty

            shifts = on_duty(self.cfg, self.store, now)
        except Exception as exc:  # noqa: BLE001 - the next level must still be reached
            log.error("who is on duty could not be read: %s", exc)
            return []
        names: list[str] = []
        for s in shifts:
            for n in ([s.get("lead")] if to == "lead" else s.get("people") or []):
                if n and n not in names:
                    names.append(n)
        return names

    def _roster_escalations(self) -> list[int]:
        esc = self.cfg.alerts.escalation
        if esc is None:
            return []
        now = self.clock()
        with self.store.read() as conn:
            rows = conn.execute(sa.select(events).where(
                events.c.status == "open", events.c.severity.in_(list(esc.severities))))\
                .fetchall()
        done: list[int] = []
        for row in rows:
            step = row.escalation_step or 0
            first = timeutil.parse(row.first_seen)
            due = [i for i in range(step, len(esc.steps))
                   if now >= first + dt.timedelta(seconds=esc.steps[i].after)]
            if not due:
                continue
            last = due[-1]
            with self.store.write() as conn:
                claimed = conn.execute(events.update().where(
                    events.c.id == row.id, events.c.status == "open",
                    sa.func.coalesce(events.c.escalation_step, 0) == step).values(
                        escalation_step=last + 1)).rowcount
            if not claimed:
                continue  # acknowledged meanwhile, or another process got there first
            for i in due:
                level = esc.steps[i].to
                people = self._people_for(level, now)
                emails = [p.email for p in self.cfg.people if p.name in people and p.email]
                who = ", ".join(people) or "nobody (no roster / nobody with that role)"
                self._duty_note(f"event #{row.id} not acknowledged: level {i + 1} "
                                f"({level}) notified: {who}: {row.message}", row.severity)
                log.warning("event #%d: escalation level %d (%s) to %s", row.id, i + 1,
                            level, who)
                if not people:
                    continue
                ev = Event(row.source, row.kind, row.severity, row.message, row.subject,
                           {**(row.details or {}), "escalation": {
                               "level": i + 1, "to": level, "people": people}})
                payload = self._payload(ev, row.id, first, "escalation")
                self._submit(esc.target, payload, row.id, "escalation",
                             recipients=emails or None)
            done.append(row.id)
        return done

    def _route_escalations(self) -> list[int]:
        now = self.clock()
        escalated: list[int] = []
        with self.store.read() as conn:
            rows = conn.execute(sa.select(events).where(
                events.c.status == "open", events.c.escalated_at.is_(None))).fetchall()
        for row in rows:
            route = route_for(self.cfg, row.severity)
            if route is None or not route.escalate_after_minutes or not route.escalate_to:
                continue
            due = timeutil.parse(row.first_seen) + dt.timedelta(
                minutes=route.escalate_after_minutes)
            if now < due:
                continue
            ev = Event(row.source, row.kind, row.severity, row.message, row.subject,
                       row.details or {})
            payload = self._payload(ev, row.id, timeutil.parse(row.first_seen), "escalation")
            with self.store.write() as conn:
                claimed = conn.execute(events.update().where(
                    events.c.id == row.id, events.c.status == "open",
                    events.c.escalated_at.is_(None)).values(
                        escalated_at=timeutil.iso(now))).rowcount
                # Claimed together with its outbox rows: a crash now still escalates.
                items = [_Item(self._outbox_row(conn, name, payload, row.id, "escalation",
                                                None), name, payload, row.id, "escalation",
                               None)
                         for name in route.escalate_to] if claimed else []
            if not claimed:
                continue  # acknowledged meanwhile, or another process got there first
            log.warning("event #%d not acknowledged within %d min: escalating to %s", row.id,
                        route.escalate_after_minutes, ", ".join(route.escalate_to))
            self._duty_note(_("event #{id} not acknowledged within {minutes} min, escalated "
                              "to {targets}: {message}").format(
                id=row.id, minutes=route.escalate_after_minutes,
                targets=", ".join(route.escalate_to), message=row.message), row.severity)
            for item in items:
                self._enqueue(item)
            escalated.append(row.id)
        return escalated

    def _duty_note(self, text: str, severity: str | None = None) -> None:
        try:
            self.record_duty(category="call", text=text, severity=severity,
                             source="daemon/alerts", author="opsctl-daemon")
        except Exception as exc:  # noqa: BLE001 - a note must not stop the escalation
            log.error("duty-log note failed: %s", exc)

    # -- reminders --------------------------------------------------------------------------
    def remind(self, message: str, people: list[str] = (), kind: str = "reminder") -> None:
        """A notice (shift change, roster approval) to ``alerts.reminder_targets``.

        Email targets send it to the named people's own addresses when they have one.
        """
        emails = []
        for name in people:
            try:
                p = self.cfg.person(name)
            except NotFoundError:
                continue
            if p.email:
                emails.append(p.email)
        ev = Event("daemon", kind, "minor", message, ",".join(people) or None,
                   {"people": list(people)})
        payload = self._payload(ev, None, self.clock(), "reminder")
        for name in self.cfg.alerts.reminder_targets:
            self._submit(name, payload, None, "reminder", recipients=emails or None)

    # -- delivery ---------------------------------------------------------------------------
    def _target(self, name: str):
        for t in self.cfg.alerts.targets:
            if t.name == name:
                return t
        return None

    def _submit(self, name: str, payload: dict, eid: int | None, purpose: str,
                recipients: list[str] | None = None) -> None:
        """Queue one message for one target: its outbox row first, then its worker."""
        from opsctl.daemon.spool import mark

        wid = self._wid()
        try:
            if self.spool is not None and self.spool.active:
                raise StoreUnavailable("records are waiting in the spool")
            with self.store.write() as conn:
                oid = self._outbox_row(conn, name, payload, eid, purpose, recipients)
                mark(conn, wid, "message", ref=oid)
        except StoreUnavailable as exc:
            if self.spool is None:
                log.error("queueing %s for %s in the outbox failed (%s); sending without "
                          "it", purpose, name, exc)
                self._enqueue(_Item(None, name, payload, eid, purpose, recipients))
                return
            # Sent from the spool's outbox; its delivery reaches the store with the spool.
            _rid, oids = self.spool.add_with_outbox("message", {"event_id": eid}, [{
                "target": name, "purpose": purpose, "payload": payload,
                "recipients": recipients}], wid=wid)
            self._enqueue(_Item(None, name, payload, eid, purpose, recipients,
                                soid=oids[0]))
            return
        except Exception as exc:  # noqa: BLE001 - still try to send what could not be queued
            log.error("queueing %s for %s in the outbox failed (%s); sending without it",
                      purpose, name, exc)
            oid = None
        self._enqueue(_Item(oid, name, payload, eid, purpose, recipients))

    def _outbox_row(self, conn, name: str, payload: dict, eid: int | None, purpose: str,
                    recipients: list[str] | None) -> int:
        now = timeutil.iso(self.clock())
        return conn.execute(outbox.insert().values(
            event_id=eid, target=name, purpose=purpose, payload=payload,
            recipients=recipients, created_at=now, updated_at=now, state="pending",
            attempts=0)).inserted_primary_key[0]

    def _enqueue(self, item: _Item) -> None:
        with self._idle:
            if self._stopping.is_set():
                return  # the row stays pending: the next start sends it
            worker = self._workers.get(item.target)
            if worker is None:
                worker = _TargetWorker(self, item.target)
                self._workers[item.target] = worker
                worker.start()
            self._inflight += 1
        worker.queue.put(item)

    def _finished(self) -> None:
        with self._idle:
            self._inflight -= 1
            self._idle.notify_all()

    def replay(self) -> int:
        """Queue every outbox row a previous process left pending; returns how many."""
        with self.store.read() as conn:
            rows = conn.execute(sa.select(outbox).where(outbox.c.state == "pending")
                                .order_by(outbox.c.id)).fetchall()
        for r in rows:
            self._enqueue(_Item(r.id, r.target, dict(r.payload), r.event_id, r.purpose,
                                r.recipients, attempts=r.attempts))
        if rows:
            log.warning("replaying %d alert deliveries left pending by the previous run",
                        len(rows))
        return len(rows)

    def _deliver(self, item: _Item) -> bool | None:
        """Send with retries; True/False when finished, None when stopped (left pending)."""
        target = self._target(item.target)
        if target is None:
            # validate.py rejects such configs; this guards a config changed under a queue.
            log.error("alert target %r is not configured", item.target)
            self._settle(item, False, "unknown alert target")
            return False
        error = None
        delay = self.cfg.alerts.retry_delay
        tries = self.cfg.alerts.retries + 1
        for attempt in range(tries):
            payload = {**item.payload, "sent_at": timeutil.iso(self.clock())}
            item.attempts += 1
            try:
                send(target, payload, recipients=item.recipients, runner=self.runner)
                error = None
                break
            except DeliveryError as exc:
                error = str(exc)
            except Exception as exc:  # noqa: BLE001 - report, never kill the worker
                error = f"{type(exc).__name__}: {exc}"
            log.warning("alert to %s failed (attempt %d/%d): %s", target.name, attempt + 1,
                        tries, error)
            self._note_attempt(item, error)
            if attempt < tries - 1 and self._stopping.wait(delay):
                log.warning("stopping: %s for %s stays in the outbox for the next start",
                            item.purpose, target.name)
                return None
            delay *= 2
        ok = error is None
        what = f"{item.purpose} for event #{item.eid}" if item.eid is not None else item.purpose
        if ok:
            log.info("%s delivered to %s", what, target.name)
        else:
            log.error("%s could not be delivered to %s: %s", what, target.name, error)
        self._settle(item, ok, error)
        return ok

    def _note_attempt(self, item: _Item, error: str | None) -> None:
        if item.soid is not None:
            try:
                self.spool.outbox_note(item.soid, item.attempts, error)
            except Exception as exc:  # noqa: BLE001
                log.error("updating spooled outbox row %s failed: %s", item.soid, exc)
            return
        if item.oid is None:
            return
        try:
            with self.store.write() as conn:
                conn.execute(outbox.update().where(outbox.c.id == item.oid).values(
                    attempts=item.attempts, error=error,
                    updated_at=timeutil.iso(self.clock())))
        except Exception as exc:  # noqa: BLE001
            log.error("updating outbox row %s failed: %s", item.oid, exc)

    def _settle(self, item: _Item, ok: bool, error: str | None) -> None:
        now = timeutil.iso(self.clock())
        if item.soid is not None:
            try:
                self.spool.outbox_note(item.soid, item.attempts, error,
                                       state="ok" if ok else "failed")
            except Exception as exc:  # noqa: BLE001
                log.error("recording a spooled delivery failed: %s", exc)
            return
        from opsctl.daemon.spool import mark

        wid = self._wid()
        try:
            if self.spool is not None and self.spool.active:
                raise StoreUnavailable("spooling")
            with self.store.write() as conn:
                mark(conn, wid, "settle")
                if item.oid is not None:
                    conn.execute(outbox.update().where(outbox.c.id == item.oid).values(
                        state="ok" if ok else "failed", attempts=item.attempts, error=error,
                        updated_at=now))
                conn.execute(deliveries.insert().values(
                    event_id=item.eid, target=item.target, purpose=item.purpose, at=now,
                    attempts=item.attempts, ok=ok, error=error))
        except StoreUnavailable:
            if self.spool is None:
                log.error("recording a delivery failed: the store is unreachable")
                return
            self.spool.add("settle", {"oid": item.oid, "eid": item.eid,
                                      "target": item.target, "purpose": item.purpose,
                                      "at": now, "attempts": item.attempts, "ok": ok,
                                      "error": error}, wid=wid)
        except Exception as exc:  # noqa: BLE001
            log.error("recording a delivery failed: %s", exc)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait for queued and in-flight deliveries; True when all finished in time."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._inflight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop retrying, give in-flight sends ``timeout`` seconds, then let them go.

        What is not finished stays ``pending`` in the outbox and is sent on the next start.
        """
        self._stopping.set()
        self.drain(timeout)
        with self._idle:
            workers = list(self._workers.values())
        for w in workers:
            w.queue.put(None)


def close_events(conn, store, cfg, key: str, at: str, reason: str,
                 details: dict | None = None) -> list[int]:
    """Close the events of ``key`` that are not closed, and the pending duty-log items they
    opened, inside the caller's write transaction; returns their ids. ``details`` go into
    each closing entry (a spooled resolve: when it happened, the spool record)."""
    from opsctl.handover.api import duty_key, resolve_item

    rows = conn.execute(sa.select(events.c.id, events.c.duty_seq, events.c.message)
                        .where(events.c.dedup_key == key, events.c.status != "closed"))\
        .fetchall()
    for r in rows:
        conn.execute(events.update().where(events.c.id == r.id).values(
            status="closed", closed_at=at, close_reason=reason))
    for r in rows:
        if r.duty_seq is not None:
            resolve_item(store, r.duty_seq, f"resolved at {at}: {reason} "
                         f"(event #{r.id}: {r.message})", conn=conn, key=duty_key(cfg),
                         details=details)
    return [r.id for r in rows]


@dataclass
class _Item:
    oid: int | None
    target: str
    payload: dict
    eid: int | None
    purpose: str
    recipients: list[str] | None
    attempts: int = 0
    soid: int | None = None  # its row in the spool's outbox (sent while the store is away)


class _TargetWorker(threading.Thread):
    """One thread and queue per target: a slow or dead target delays only its own
    messages, never another target's."""

    def __init__(self, pipeline: AlertPipeline, name: str):
        super().__init__(name=f"opsctl-alert-{name}"[:60], daemon=True)
        self.pipeline = pipeline
        self.queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()

    def run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            try:
                if self.pipeline._stopping.is_set():
                    continue  # stays pending for the next start
                self.pipeline._deliver(item)
            except Exception:  # noqa: BLE001 - a worker must survive anything
                log.exception("alert worker for %s", item.target)
            finally:
                self.pipeline._finished()


# -- used by the CLI (no pipeline needed) ---------------------------------------------------
def ack(store: Store, event_id: int, by: str, cfg=None) -> dict:
    now = timeutil.iso(timeutil.utcnow())
    with store.write() as conn:
        row = conn.execute(sa.select(events).where(events.c.id == event_id)).first()
        if row is None:
            raise NotFoundError(f"no event #{event_id}",
                                hint="see `opsctl daemon status` for open events")
        if row.status == "acked":
            return dict(row._mapping)
        conn.execute(events.update().where(events.c.id == event_id).values(
            status="acked", acked_at=now, acked_by=by))
    try:
        from opsctl.handover.api import record_event

        record_event(store, category="call",
                     text=_("event #{id} acknowledged by {who}: {message}").format(
                         id=event_id, who=by, message=row.message),
                     source="daemon/ack", author=by, cfg=cfg)
    except Exception as exc:  # noqa: BLE001 - the ack itself is what matters
        log.warning("duty-log note for the acknowledgement failed: %s", exc)
    with store.read() as conn:
        return dict(conn.execute(sa.select(events).where(events.c.id == event_id)).first()
                    ._mapping)


def open_events(store: Store, limit: int = 50) -> list[dict]:
    with store.read() as conn:
        rows = conn.execute(sa.select(events).where(events.c.status.in_(("open", "suppressed")))
                            .order_by(events.c.id.desc()).limit(limit))
        return [dict(r._mapping) for r in rows]


def recent_failures(store: Store, since: dt.datetime, limit: int = 20) -> list[dict]:
    with store.read() as conn:
        rows = conn.execute(sa.select(deliveries).where(
            deliveries.c.ok.is_(False), deliveries.c.at >= timeutil.iso(since))
            .order_by(deliveries.c.id.desc()).limit(limit))
        return [dict(r._mapping) for r in rows]


def pending_deliveries(store: Store, limit: int = 50) -> list[dict]:
    """Outbox rows not yet delivered (queued, being retried, or left by a stopped daemon)."""
    with store.read() as conn:
        rows = conn.execute(sa.select(outbox.c.id, outbox.c.event_id, outbox.c.target,
                                      outbox.c.purpose, outbox.c.created_at,
                                      outbox.c.attempts, outbox.c.error)
                            .where(outbox.c.state == "pending")
                            .order_by(outbox.c.id).limit(limit))
        return [dict(r._mapping) for r in rows]
