"""The daemon's jobs, built from the config: what runs, when, and what it does.

Every job has a stable id (``inspection:<profile>``, ``poll``, ``raid``, ``escalation``,
``handover-reminder``, ``not-relieved``, ``roster-reminder``, ``duty-export``,
``retention``) so the store can keep its history across restarts and reloads. A job
function takes a :class:`JobContext`
and returns a one-line summary; raising marks the run failed (the daemon keeps going).
Cross-domain work goes only through the documented ``*.api`` modules.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from opsctl.core import kvstate
from opsctl.core.errors import NotFoundError, Status, StoreUnavailable
from opsctl.core.runner import Runner
from opsctl.core.store import Store
from opsctl.daemon import timeutil
from opsctl.daemon.alerts import AlertPipeline, Event, normalise_severity
from opsctl.daemon.cron import parse_cron
from opsctl.daemon.spool import mark, new_wid

log = logging.getLogger("opsctl.daemon.jobs")

KV_NS = "daemon"


@dataclass
class JobContext:
    cfg: Any
    store: Store
    alerts: AlertPipeline
    runner: Runner
    now: Callable[[], dt.datetime] = timeutil.utcnow
    policies: Any = None  # the daemon's power.policies.PolicyEngine (None: run by hand)
    spool: Any = None     # the daemon's Spool (PostgreSQL store); None: nothing is spooled


@dataclass
class JobSpec:
    id: str
    kind: str
    schedule: str            # human form: "cron 0 9 * * *" or "every 60s"
    func: Callable[..., str | None]
    args: tuple = ()
    cron: str | None = None  # the cron expression, for cron jobs
    interval: float | None = None
    extra: dict = field(default_factory=dict)

    def trigger(self, zone):
        from apscheduler.triggers.interval import IntervalTrigger

        if self.cron is not None:
            return parse_cron(self.cron, zone)
        return IntervalTrigger(seconds=self.interval, timezone=zone)


# -- the jobs --------------------------------------------------------------------------------
def job_inspection(ctx: JobContext, profile_name: str) -> str:
    from opsctl.inspection.api import run_profile

    profile = ctx.cfg.profile(profile_name)
    extra = {"save": _inspection_saver(ctx)} if ctx.spool is not None else {}
    record = run_profile(ctx.cfg, ctx.store, profile, ctx.cfg.daemon.inspector,
                         answers=None, interactive=False, source="daemon", **extra)
    status = record.status if isinstance(record.status, Status) else Status.parse(
        str(getattr(record.status, "name", record.status)))
    # Spooled (store away): the record gets its number when the store takes it.
    label = f"record #{record.id}" if record.id is not None else "record spooled"
    # Auto-resolve: a better result closes what a worse one opened.
    over = {Status.OK: ("status-warn", "status-crit"), Status.WARNING: ("status-crit",)}
    for kind in over.get(status, ()):
        ctx.alerts.resolve("inspection", kind, profile_name,
                           f"inspection {profile_name} ({label}) is {status.name}")
    if status in (Status.WARNING, Status.CRITICAL):
        ctx.alerts.emit(Event(
            "inspection", f"status-{status.short}",
            "critical" if status is Status.CRITICAL else "minor",
            f"inspection {profile_name} ({label}) is {status.name}",
            subject=profile_name, details={"record": record.id}))
    return f"{label} {status.name}"


def _inspection_saver(ctx: JobContext) -> Callable:
    """How a daemon with a spool stores a run: record, items and follow-ups in one
    transaction with its write id; spooled (replayed in order, once) while the store is
    away."""
    from opsctl.inspection.api import record_data, store_run

    spool, wid = ctx.spool, new_wid()

    def save(record) -> None:
        if not spool.active:
            try:
                with ctx.store.write() as conn:
                    store_run(ctx.cfg, ctx.store, record, conn=conn)
                    mark(conn, wid, "inspection")
                return
            except StoreUnavailable:
                pass
        record.id, record.followups = None, []  # what a failed attempt may have set
        spool.add("inspection", {"record": record_data(record)}, wid=wid)
        log.warning("store unreachable: inspection %s spooled", record.profile)

    return save


def room_devices(cfg) -> list:
    """The devices this daemon polls: all, or those of its ``daemon.room``."""
    room = cfg.daemon.room
    return [d for d in cfg.devices if room is None or d.room == room]


def job_poll(ctx: JobContext) -> str:
    from opsctl.core.output import to_jsonable
    from opsctl.power.api import cleared, poll_and_detect

    spool = ctx.spool
    if spool is None:
        readings, events = poll_and_detect(ctx.cfg, ctx.store, room_devices(ctx.cfg))
    else:
        def previous(names):
            return {n: spool.last_readings[n] for n in names if n in spool.last_readings}

        wid = new_wid()

        def save(record):
            spool.add("poll", record, at=record["at"], wid=wid)

        def marked(conn):
            mark(conn, wid, "poll")

        # While records wait in the spool, this poll queues behind them (order).
        store = _Away(ctx.store) if spool.active else ctx.store
        readings, events = poll_and_detect(ctx.cfg, store, room_devices(ctx.cfg),
                                           previous=previous, save=save, on_write=marked)
        for r in readings:
            spool.last_readings[r.name] = to_jsonable(r.to_dict())
    for ev in events:
        ctx.alerts.emit(Event("power", str(ev.kind), normalise_severity(ev.severity),
                              str(ev.message), subject=getattr(ev, "device", None),
                              details=dict(getattr(ev, "details", None) or {})))
    open_now = set(ctx.alerts.open_subjects("power"))
    for kind, device, why in cleared(readings):
        if (kind, device) in open_now:
            ctx.alerts.resolve("power", kind, device, why)
    down = [r.name for r in readings if not r.reachable]
    text = f"{len(readings)} devices polled"
    if down:
        text += f", unreachable: {', '.join(down[:5])}" + ("…" if len(down) > 5 else "")
    if events:
        text += f", {len(events)} events"
    if ctx.policies is not None:
        busy = ctx.policies.evaluate(ctx.cfg, readings)
        if busy:
            text += f"; policies: {', '.join(busy)}"
    elif ctx.cfg.power.policies:
        text += "; power policies are applied by the running daemon only"
    return text


class _Away:
    """A store that answers as an unreachable one: while records wait in the spool, new
    ones must queue behind them, not reach the store first."""

    def __init__(self, store: Store):
        self._store = store

    def read(self):
        raise StoreUnavailable("records are waiting in the spool")

    write = read


class PolicySink:
    """A power policy's transitions into the duty log and the alert pipeline."""

    def __init__(self, alerts: AlertPipeline):
        self.alerts = alerts

    def alert(self, policy: str, kind: str, severity: str, text: str,
              details: dict | None = None, duty_log: bool = True) -> None:
        self.alerts.emit(Event("power-policy", kind, severity, text, subject=policy,
                               details=details or {}, dedup=False), duty_log=duty_log)

    def log(self, policy: str, kind: str, text: str, details: dict | None = None) -> None:
        log.info("%s", text)
        try:
            self.alerts.record_duty(category="note", text=text,
                                    source="daemon/power-policy", author="opsctl-daemon",
                                    details={"policy": policy, "kind": kind,
                                             **(details or {})})
        except Exception as exc:  # noqa: BLE001 - a log line must not stop the policy
            log.error("duty-log entry for policy %s failed: %s", policy, exc)


def state_get(ctx: JobContext, key: str, default: Any = None) -> Any:
    """A job's saved state (``daemon`` namespace). While the store is away (spooling), the
    value this daemon last read or wrote: the comparison goes on during an outage."""
    spool = ctx.spool
    if spool is None:
        return kvstate.get(ctx.store, KV_NS, key, default)
    if not spool.active:
        try:
            value = kvstate.get(ctx.store, KV_NS, key, default)
            spool.state[(KV_NS, key)] = value
            return value
        except StoreUnavailable:
            pass
    return spool.state.get((KV_NS, key), default)


def state_put(ctx: JobContext, key: str, value: Any) -> None:
    """Save a job's state; spooled while the store is away (written in order later)."""
    spool = ctx.spool
    if spool is None:
        kvstate.put(ctx.store, KV_NS, key, value)
        return
    spool.state[(KV_NS, key)] = value
    if not spool.active:
        try:
            kvstate.put(ctx.store, KV_NS, key, value)
            return
        except StoreUnavailable:
            pass
    spool.add("state", {"namespace": KV_NS, "key": key, "value": value})


def job_raid(ctx: JobContext) -> str:
    """Compare every array with its last known state: degraded, rebuilt, gone."""
    from opsctl.storage.api import raid_health

    arrays = raid_health(ctx.runner)
    before: dict = state_get(ctx, "raid_state", {}) or {}
    now: dict[str, dict] = {}
    for a in arrays:
        name = a["name"]
        degraded = bool(a.get("degraded"))
        state = str(a.get("state", ""))
        now[name] = {"degraded": degraded, "state": state}
        prev = before.get(name)
        if degraded and (prev is None or not prev.get("degraded")):
            ctx.alerts.emit(Event("raid", "degraded", "critical",
                                  f"RAID array {name} ({a.get('level', '?')}) is degraded: {state}",
                                  subject=name, details={"members": a.get("members")}))
        elif not degraded and prev is not None and prev.get("degraded"):
            ctx.alerts.emit(Event("raid", "rebuilt", "minor",
                                  f"RAID array {name} is healthy again: {state}", subject=name))
            ctx.alerts.resolve("raid", "degraded", name, f"RAID array {name} is healthy "
                               f"again: {state}")
    for name in set(before) - set(now):
        ctx.alerts.emit(Event("raid", "gone", "critical",
                              f"RAID array {name} is no longer present", subject=name))
    for kind, name in ctx.alerts.open_subjects("raid"):
        if kind == "gone" and name in now:
            ctx.alerts.resolve("raid", "gone", name, f"RAID array {name} is present again")
    state_put(ctx, "raid_state", now)
    bad = [n for n, s in now.items() if s["degraded"]]
    return f"{len(now)} arrays" + (f", degraded: {', '.join(bad)}" if bad else ", all healthy")


def job_smart(ctx: JobContext) -> str:
    """Read every disk's SMART counters and compare with the last reading of the same disk:
    a failing disk is critical, rising reallocated/pending/uncorrectable counts are major
    (the disk is on its way out while smartctl may still say PASSED)."""
    from opsctl.storage import smart

    devices = list(ctx.cfg.daemon.smart_devices) or smart.scan(ctx.runner)
    before: dict = state_get(ctx, "smart_state", {}) or {}
    now: dict[str, dict] = dict(before)
    unreadable: list[str] = []
    found = 0
    for dev in devices:
        health = smart.read(ctx.runner, dev)
        if not health.available:
            unreadable.append(dev)
            continue
        for f in smart.compare(before.get(dev), health):
            found += 1
            ctx.alerts.emit(Event("smart", f.kind, f.severity, f.message, subject=f.device,
                                  details=f.details))
        now[dev] = health.state()
    state_put(ctx, "smart_state", now)
    text = f"{len(devices) - len(unreadable)} disks read"
    if unreadable:
        text += f", no SMART: {', '.join(unreadable[:5])}"
    return text + (f", {found} findings" if found else "")


def job_patrol_check(ctx: JobContext) -> str:
    """Yesterday's patrols (site time): a profile walked fewer times than its runs_per_day
    is an alert, so a missed patrol is noticed the next morning, not at the audit."""
    from opsctl.inspection.api import missed_patrols

    day = ctx.now().astimezone(timeutil.site_zone(ctx.cfg)).date() - dt.timedelta(days=1)
    missed = missed_patrols(ctx.cfg, ctx.store, day, now=ctx.now())
    for m in missed:
        unattended = m["runs"] - m["walked"]
        ctx.alerts.emit(Event(
            "inspection", "patrol-missed", "major",
            f"missed patrol: {m['profile']} on {m['date']} walked {m['walked']} of "
            f"{m['required']} times" + (f" ({unattended} unattended runs do not count)"
                                        if unattended else ""),
            subject=f"{m['profile']}@{m['date']}", details=dict(m)))
    return f"{day}: " + (", ".join(f"{m['profile']} {m['walked']}/{m['required']}"
                                   for m in missed) + " missed" if missed
                         else "no missed patrols")


def job_seal(ctx: JobContext) -> str:
    """Seal the duty log once per epoch (forward-secure: the epoch's key is erased after)."""
    from opsctl.handover import seal

    if seal.read_key(seal.key_path(ctx.cfg)) is None:
        where = seal.auto_init(ctx.cfg, ctx.store, now=ctx.now())
        ctx.alerts.emit(Event(
            "duty", "seal-set-up", "minor",
            f"duty log sealing set up; the verification key is in {where}: store it off "
            "this host and delete it there (an auditor verifies with it)", subject="seal"))
    return seal.seal_now(ctx.cfg, ctx.store, now=ctx.now()).message


def job_escalation(ctx: JobContext) -> str:
    ids = ctx.alerts.check_escalations()
    return f"escalated {', '.join(f'#{i}' for i in ids)}" if ids else "nothing to escalate"


def job_handover_reminder(ctx: JobContext) -> str:
    """Remind both people of a shift change ``reminder_minutes`` before it."""
    from opsctl.handover.api import shift_changes

    ho = ctx.cfg.duty.handover
    zone = timeutil.site_zone(ctx.cfg)
    now = ctx.now().astimezone(zone)
    lead = dt.timedelta(minutes=ho.reminder_minutes)
    changes = shift_changes(ctx.cfg, ctx.store, now, now + lead + dt.timedelta(minutes=1))
    done: dict = kvstate.get(ctx.store, KV_NS, "reminded", {}) or {}
    sent = 0
    for when, outgoing, incoming in changes:
        if when.tzinfo is None:
            when = when.replace(tzinfo=zone)
        key = timeutil.iso(when)
        if key in done or not (when - lead <= now < when):
            continue
        out_s = ", ".join(outgoing) or "nobody"
        in_s = ", ".join(incoming) or "nobody"
        arrive = (when - dt.timedelta(minutes=ho.arrive_early_minutes)).strftime("%H:%M")
        ctx.alerts.remind(
            f"shift change at {when.astimezone(zone):%H:%M}: {out_s} hand(s) over to {in_s} "
            f"(incoming please arrive by {arrive})", people=[*outgoing, *incoming],
            kind="handover-reminder")
        done[key] = timeutil.iso(ctx.now())
        sent += 1
    # Keep only recent keys: the map must not grow for ever.
    cutoff = timeutil.iso(ctx.now() - dt.timedelta(days=2))
    done = {k: v for k, v in done.items() if k >= cutoff}
    kvstate.put(ctx.store, KV_NS, "reminded", done)
    return f"{sent} reminder(s) sent" if sent else "no shift change due"


# How far past its deadline a shift change is still checked: a daemon restarted within
# 2 h catches up; older changes (or a roster approved after the fact) raise nothing, as
# an alert about a shift long over helps nobody.
NOT_RELIEVED_LOOKBACK = dt.timedelta(hours=2)


def job_not_relieved(ctx: JobContext) -> str:
    """SPEC §4: the outgoing person may not leave until relieved. A shift change of the
    approved roster with no completed handover ``duty.not_relieved_after`` later is an
    alert and one duty-log entry (once per shift change); it resolves itself when the
    handover completes."""
    from opsctl.handover.api import relieved_by, shift_changes

    zone = timeutil.site_zone(ctx.cfg)
    now = ctx.now()
    after = dt.timedelta(seconds=ctx.cfg.duty.not_relieved_after)
    due = now - after
    changes = shift_changes(ctx.cfg, ctx.store, due - NOT_RELIEVED_LOOKBACK,
                            due + dt.timedelta(microseconds=1), approved_only=True)
    raised: dict = kvstate.get(ctx.store, KV_NS, "not_relieved", {}) or {}
    new = 0
    for when, outgoing, incoming in changes:
        key = timeutil.iso(when)
        if key in raised or relieved_by(ctx.store, when) is not None:
            continue
        local = when.astimezone(zone)
        minutes = int((now - when).total_seconds() // 60)
        ctx.alerts.emit(Event(
            "duty", "not-relieved", "major",
            f"not relieved: no handover completed {minutes} min after the shift change at "
            f"{local:%Y-%m-%d %H:%M} ({', '.join(outgoing)} -> {', '.join(incoming)})",
            subject=f"shift-change@{key}",
            details={"shift_change": key, "outgoing": outgoing, "incoming": incoming}))
        raised[key] = {"at": timeutil.iso(now), "resolved": None}
        new += 1
    resolved = 0
    for key, state in raised.items():
        if state.get("resolved"):
            continue
        hid = relieved_by(ctx.store, timeutil.parse(key))
        if hid is not None:
            ctx.alerts.resolve("duty", "not-relieved", f"shift-change@{key}",
                               f"handover {hid} completed")
            state["resolved"] = timeutil.iso(now)
            resolved += 1
    # Keep only recent shift changes: the map must not grow for ever.
    cutoff = timeutil.iso(now - dt.timedelta(days=2))
    raised = {k: v for k, v in raised.items() if k >= cutoff}
    kvstate.put(ctx.store, KV_NS, "not_relieved", raised)
    waiting = sum(1 for v in raised.values() if not v.get("resolved"))
    return (f"{new} shift change(s) not relieved, {resolved} relieved since, "
            f"{waiting} still waiting") if new or resolved or waiting \
        else "every shift change relieved"


def job_roster_reminder(ctx: JobContext) -> str:
    from opsctl.handover.api import roster_reminder

    today = ctx.now().astimezone(timeutil.site_zone(ctx.cfg)).date()
    text = roster_reminder(ctx.cfg, ctx.store, today)
    if not text:
        return "roster in order"
    supervisors = [p.name for p in ctx.cfg.people if "supervisor" in p.roles]
    ctx.alerts.remind(text, people=supervisors, kind="roster-reminder")
    return text


def job_export(ctx: JobContext) -> str:
    from opsctl.handover.api import export

    exp = ctx.cfg.daemon.export
    today = ctx.now().astimezone(timeutil.site_zone(ctx.cfg)).date()
    end = today - dt.timedelta(days=1)
    start = today - dt.timedelta(days=exp.days)
    manifest = export(ctx.cfg, ctx.store, start, end, list(exp.formats), exp.directory)
    return f"exported {start}..{end}: {manifest}"


def job_retention(ctx: JobContext) -> str:
    from opsctl.daemon.schema import deliveries, outbox, runs, spool_applied
    from opsctl.handover.api import purge_expired

    today = ctx.now().astimezone(timeutil.site_zone(ctx.cfg)).date()
    purged = purge_expired(ctx.cfg, ctx.store, today)
    cutoff = timeutil.iso(ctx.now() - dt.timedelta(days=ctx.cfg.daemon.run_retention_days))
    with ctx.store.write() as conn:
        n_runs = conn.execute(runs.delete().where(runs.c.started_at < cutoff,
                                                  runs.c.status != "running")).rowcount
        n_del = conn.execute(deliveries.delete().where(deliveries.c.at < cutoff)).rowcount
        # Finished outbox rows only: a pending one is an alert still owed.
        conn.execute(outbox.delete().where(outbox.c.state != "pending",
                                           outbox.c.updated_at < cutoff))
        # Replay marks and write ids are only consulted while a spool holds the record
        # they stand for, which is written as soon as the store answers: old ones are of
        # no further use.
        conn.execute(spool_applied.delete().where(spool_applied.c.applied_at < cutoff))
    return f"duty records purged: {purged}; daemon history pruned: {n_runs} runs, " \
           f"{n_del} deliveries"


# -- building the job list -------------------------------------------------------------------
def build_jobs(cfg) -> dict[str, JobSpec]:
    """The jobs this config asks for, by id (config order)."""
    d = cfg.daemon
    specs: list[JobSpec] = []
    for profile in cfg.inspection.profiles:
        if profile.schedule:
            specs.append(JobSpec(f"inspection:{profile.name}", "inspection",
                                 f"cron {profile.schedule}", job_inspection, (profile.name,),
                                 cron=profile.schedule))
    if room_devices(cfg):
        specs.append(JobSpec("poll", "poll", f"every {d.poll_interval:g}s", job_poll,
                             interval=d.poll_interval))
    if os.path.exists("/proc/mdstat"):
        specs.append(JobSpec("raid", "raid", f"every {d.raid_interval:g}s", job_raid,
                             interval=d.raid_interval))
    if d.smart_interval and Runner().has("smartctl"):
        specs.append(JobSpec("smart", "smart", f"every {d.smart_interval:g}s", job_smart,
                             interval=d.smart_interval))
    if any(r.escalate_after_minutes for r in cfg.alerts.routes) or cfg.alerts.escalation:
        specs.append(JobSpec("escalation", "escalation", f"every {d.housekeeping_interval:g}s",
                             job_escalation, interval=d.housekeeping_interval))
    if cfg.duty.roster.shifts and cfg.duty.handover.reminder_minutes > 0:
        specs.append(JobSpec("handover-reminder", "reminder",
                             f"every {d.housekeeping_interval:g}s", job_handover_reminder,
                             interval=d.housekeeping_interval))
    if d.not_relieved_schedule and cfg.duty.roster.shifts:
        specs.append(JobSpec("not-relieved", "duty", f"cron {d.not_relieved_schedule}",
                             job_not_relieved, cron=d.not_relieved_schedule))
    if d.roster_reminder_schedule:
        specs.append(JobSpec("roster-reminder", "reminder", f"cron {d.roster_reminder_schedule}",
                             job_roster_reminder, cron=d.roster_reminder_schedule))
    if cfg.duty.seal:
        every = float(min(60, cfg.duty.seal_epoch_seconds))
        specs.append(JobSpec("seal", "seal", f"every {every:g}s", job_seal, interval=every))
    if d.patrol_check_schedule and any(p.runs_per_day for p in cfg.inspection.profiles):
        specs.append(JobSpec("patrol-check", "inspection", f"cron {d.patrol_check_schedule}",
                             job_patrol_check, cron=d.patrol_check_schedule))
    if d.export is not None:
        specs.append(JobSpec("duty-export", "export", f"cron {d.export.schedule}", job_export,
                             cron=d.export.schedule))
    if d.retention_schedule:
        specs.append(JobSpec("retention", "retention", f"cron {d.retention_schedule}",
                             job_retention, cron=d.retention_schedule))
    for s in specs:
        override = d.schedule_overrides.get(s.id)
        if override and s.cron is not None:
            s.cron = override
            s.schedule = f"cron {override}"
    return {s.id: s for s in specs}


def job_by_id(cfg, job_id: str) -> JobSpec:
    specs = build_jobs(cfg)
    name = job_id.removeprefix("inspection:")
    if job_id not in specs and job_id != name and \
            any(p.name == name for p in cfg.inspection.profiles):
        # An unscheduled profile can still be run by a timer or by hand.
        return JobSpec(job_id, "inspection", "manual only", job_inspection, (name,))
    if job_id not in specs:
        raise NotFoundError(f"unknown job {job_id!r} (jobs: {', '.join(specs) or 'none'})")
    return specs[job_id]


# -- run bookkeeping (shared by the daemon and `daemon run-job`) -----------------------------
def start_run(store: Store, job_id: str, trigger: str,
              scheduled_for: dt.datetime | None, wid: str | None = None) -> int | None:
    """Insert the 'running' row; None when this cron slot already has a run (no duplicate).
    ``wid``: marked with the row (opsctl.daemon.spool.mark)."""
    from opsctl.daemon.schema import runs

    try:
        with store.write() as conn:
            run_id = conn.execute(runs.insert().values(
                job_id=job_id, scheduled_for=timeutil.iso(scheduled_for), trigger=trigger,
                started_at=timeutil.iso(timeutil.utcnow()), status="running",
                pid=os.getpid(), host=socket.gethostname())).inserted_primary_key[0]
            mark(conn, wid, "run-start", ref=run_id)
            return run_id
    except sa.exc.IntegrityError:
        return None


def finish_run(store: Store, run_id: int, job_id: str, status: str, summary: str | None,
               error: str | None, next_run: dt.datetime | None = None,
               wid: str | None = None) -> None:
    from opsctl.daemon.schema import jobs, runs

    now = timeutil.iso(timeutil.utcnow())
    with store.write() as conn:
        mark(conn, wid, "run")
        conn.execute(runs.update().where(runs.c.id == run_id).values(
            finished_at=now, status=status, summary=summary, error=error))
        values = {"last_run": now, "last_status": status, "last_error": error}
        if next_run is not None:
            values["next_run"] = timeutil.iso(next_run)
        conn.execute(jobs.update().where(jobs.c.job_id == job_id).values(**values))


def execute(ctx: JobContext, spec: JobSpec, trigger: str,
            scheduled_for: dt.datetime | None = None,
            next_run: Callable[[], dt.datetime | None] | None = None) -> tuple[str, str | None]:
    """Run one job with its bookkeeping; returns (status, summary-or-error). Never raises.

    With a spool (the daemon on PostgreSQL), a store that is away does not stop the job:
    its run record is spooled and written when the store is back."""
    spool = ctx.spool
    started = timeutil.iso(timeutil.utcnow())
    spooled = spool is not None and spool.active
    run_id = None
    start_wid = new_wid() if spool is not None else None
    if not spooled:
        try:
            run_id = start_run(ctx.store, spec.id, trigger, scheduled_for, start_wid)
        except StoreUnavailable:
            if spool is None:
                raise
            spooled = True
    if run_id is None and not spooled:
        log.info("job %s: slot %s already ran; not repeating it", spec.id,
                 timeutil.iso(scheduled_for))
        return "skipped", "slot already ran"
    try:
        summary = spec.func(ctx, *spec.args)
        status, error = "ok", None
        log.info("job %s: %s", spec.id, summary)
    except Exception as exc:  # noqa: BLE001 - a failing job must not stop the daemon
        status, summary = "failed", None
        error = f"{type(exc).__name__}: {exc}" if not str(exc).startswith(type(exc).__name__) \
            else str(exc)
        if hasattr(exc, "message"):
            error = exc.message
        log.error("job %s failed: %s", spec.id, error, exc_info=log.isEnabledFor(logging.DEBUG))
    record = {"run_id": run_id, "job_id": spec.id, "trigger": trigger,
              "scheduled_for": timeutil.iso(scheduled_for), "started_at": started,
              "finished_at": timeutil.iso(timeutil.utcnow()), "status": status,
              "summary": summary, "error": error, "pid": os.getpid(),
              "host": socket.gethostname(),
              # A 'running' row whose COMMIT went unanswered is found by this mark.
              "start_wid": start_wid if run_id is None else None}
    wid = new_wid() if spool is not None else None
    try:
        if spooled or spool is not None and spool.active:
            spool.add("run", record)
        else:
            finish_run(ctx.store, run_id, spec.id, status, summary, error,
                       next_run() if next_run else None, wid)
    except StoreUnavailable:
        if spool is not None:
            spool.add("run", record, wid=wid)
        else:
            log.error("recording the run of %s failed: the store is unreachable", spec.id)
    except Exception as exc:  # noqa: BLE001
        log.error("recording the run of %s failed: %s", spec.id, exc)
    return status, summary if status == "ok" else error
