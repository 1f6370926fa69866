"""``opsctl daemon run``: the long-running scheduler systemd starts (Type=notify).

Threads: the main thread only waits for signals (SIGHUP reload, SIGTERM/SIGINT stop);
APScheduler's BackgroundScheduler runs the jobs on a small pool and a ``_tick`` on an
internal executor; two monotonic-clock threads (``supervise.py``) feed the systemd
watchdog while that tick keeps coming (a hung scheduler loop still gets us restarted),
write the heartbeat, re-plan after a wall-clock step, and do the store work the
scheduler thread hands over — the scheduler thread itself never waits for the database.

Restart safety: one daemon per state directory (an flock), every run recorded in the
store, runs a crash interrupted marked ``abandoned`` (their slot is re-run if still in its
grace window), cron slots missed while the daemon was down caught up once (coalesced) or
recorded as ``missed``.

A PostgreSQL store that goes away under the daemon is ridden out: what the daemon would
write meanwhile goes to a local spool (``opsctl.daemon.spool``), alerts keep going out,
and the heartbeat thread writes the spool into the store, in order, once it answers.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import gc
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from opsctl import __version__
from opsctl.core import kvstate
from opsctl.core.errors import OpsError
from opsctl.core.identity import pid_alive
from opsctl.core.memory import release_memory
from opsctl.core.runner import Runner
from opsctl.core.store import Store
from opsctl.daemon import timeutil
from opsctl.daemon.alerts import AlertPipeline
from opsctl.daemon.cron import fire_times_between
from opsctl.daemon.jobs import KV_NS, JobContext, JobSpec, build_jobs, execute
from opsctl.daemon.notify import Notifier, watchdog_interval
from opsctl.daemon.schema import jobs as jobs_t
from opsctl.daemon.schema import runs

log = logging.getLogger("opsctl.daemon")

LOCK_NAME = "opsctld.lock"
# Slots jumped over (a daemon down for a day, a clock stepped forward) are each recorded;
# the cap only bounds a pathological case (a per-second job down for a month).
MAX_MISSED_ROWS = 100_000
TICK_SECONDS = 1.0
TICK_SILENCE = 10.0  # no tick for this long: the scheduler loop is stuck


class DaemonLock:
    """One daemon per state directory; the kernel drops the lock if we are killed."""

    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            raise OpsError(f"another opsctl daemon is running on {self.path.parent}"
                           + (f" (pid {other})" if other else "")) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Daemon:
    def __init__(self, cfg, config_path: str | os.PathLike | None):
        self.cfg = cfg
        self.config_path = config_path
        self.zone = timeutil.site_zone(cfg)
        self.notifier = Notifier()
        self.runner = Runner()
        self.store: Store | None = None
        self.alerts: AlertPipeline | None = None
        self.scheduler = None
        self.specs: dict[str, JobSpec] = {}
        self.udev = None
        self.metrics = None
        self.policies = None
        self.supervisor = None
        self.leadership = None
        self.spool = None
        # False while a PostgreSQL store that was down when we started has not been set
        # up for us yet (migrated, jobs registered): everything is spooled meanwhile.
        self.store_ready = True
        self._tick_at = time.monotonic()
        self.started_at = timeutil.utcnow()
        self._wake = threading.Event()
        self._stop_requested = False
        self._reload_requested = False
        self._active: dict[str, int] = {}
        self._active_cv = threading.Condition()
        self._last_reload_error: str | None = None
        # Per cron job: slots up to this moment were accounted for at registration.
        self._accounted: dict[str, dt.datetime] = {}
        self._saved_next: dict[str, str | None] = {}

    # -- life cycle ------------------------------------------------------------------------
    def run(self) -> int:
        lock = DaemonLock(self.cfg.state_dir)
        self.cfg.state_dir.mkdir(parents=True, exist_ok=True)
        lock.acquire()
        try:
            self._install_signals()  # a SIGTERM during start-up stops right after it
            self._startup()
            self.notifier.ready(self.status_line())
            log.info("opsctl daemon %s ready (pid %d): %s", __version__, os.getpid(),
                     self.status_line())
            while not self._stop_requested:
                self._wake.wait(1.0)
                self._wake.clear()
                if self._reload_requested and not self._stop_requested:
                    self._reload_requested = False
                    self.reload()
            return self._shutdown()
        finally:
            lock.release()

    def _startup(self) -> None:
        _lean_imports()
        from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        SlotExecutor = _slot_executor_class(ThreadPoolExecutor)

        self.store = self._open_store()
        from opsctl.daemon.leader import Leadership

        self.leadership = Leadership(self.store)
        self.leadership.check()  # a store that is away: a follower until it answers
        self.alerts = AlertPipeline(self.cfg, self.store, runner=self.runner)
        if not self.store.is_sqlite:
            # A shared server can go away under us; a local SQLite file cannot.
            from opsctl.daemon.spool import Spool

            self.spool = Spool.open(self.cfg.state_dir)
            self.alerts.spool = self.spool
            self.alerts.replay_spool()
            if not self.store_ready:
                self.spool.hold("the store was unreachable when the daemon started")
        if self.store_ready:
            self._mark_abandoned()
            self.alerts.replay()  # what a crash or a stop left in the outbox goes out now
        self._drain_spool()
        from opsctl.daemon.jobs import PolicySink
        from opsctl.power.policies import PolicyEngine

        # Long-lived: it owns the threads of plan runs the policies start.
        self.policies = PolicyEngine(self.store, PolicySink(self.alerts))
        self.scheduler = BackgroundScheduler(
            timezone=self.zone,
            executors={"default": SlotExecutor(4), "internal": ThreadPoolExecutor(2)},
            job_defaults={"coalesce": True, "max_instances": 1,
                          "misfire_grace_time": self.cfg.daemon.misfire_grace_seconds},
        )
        self.scheduler.add_listener(self._on_scheduler_event,
                                    EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        self._apply_jobs(self.cfg, startup=True)
        self._add_internal_jobs()
        self._start_udev()
        self._start_metrics()
        self.scheduler.start()
        self._heartbeat()
        self.supervisor.start()

    def _open_store(self) -> Store:
        """The store; a PostgreSQL server that does not answer yet does not stop the
        daemon (systemd would only restart it into the same outage): it polls, alerts and
        spools, and :meth:`_store_setup` finishes the start when the server answers."""
        from opsctl.core.errors import StoreUnavailable

        try:
            return Store.for_config(self.cfg)
        except StoreUnavailable as exc:
            if getattr(self.cfg.store, "url", None) is None:
                raise
            log.warning("%s; starting without it: records are spooled until it answers",
                        exc.message)
            self.store_ready = False
            return Store.for_config(self.cfg, migrate=False)

    def _store_setup(self) -> bool:
        """The part of the start a store that was away missed: migrate, mark the runs a
        crash left, record the jobs, send what the outbox holds (heartbeat thread)."""
        from opsctl.core.errors import StoreUnavailable

        try:
            self.store.migrate()
            self._mark_abandoned()
            self._register_jobs()
            self.alerts.replay()
        except StoreUnavailable:
            return False
        except Exception as exc:  # noqa: BLE001 - the next heartbeat tries again
            log.error("setting up the store failed: %s", exc)
            return False
        self.store_ready = True
        self.spool.release()
        log.warning("the store answers: %s; writing the spool", self.store.describe())
        return True

    def _register_jobs(self) -> None:
        """Record the jobs scheduled while the store was away (no catch-up: they were
        scheduled from the start)."""
        with self.store.write() as conn:
            conn.execute(jobs_t.update().where(jobs_t.c.job_id.not_in(list(self.specs)))
                         .values(active=False, next_run=None))
        for spec in self.specs.values():
            self._register(spec, spec.trigger(self.zone), catch_up=False)
        self._saved_next.clear()
        self._save_next_runs()

    def _add_internal_jobs(self) -> None:
        from opsctl.daemon.supervise import Supervisor

        interval = watchdog_interval() if self.cfg.daemon.watchdog else None
        if interval is None or not self.notifier.enabled:
            interval = None
        # The scheduler proves it is alive by running this tick; the watchdog thread
        # feeds systemd only while it does (a hung loop still gets us restarted).
        self._tick_at = time.monotonic()
        self.scheduler.add_job(self._tick, "interval", seconds=TICK_SECONDS, id="_tick",
                               executor="internal", misfire_grace_time=None,
                               replace_existing=True)
        self.supervisor = Supervisor(self, watchdog_interval=interval,
                                     heartbeat_interval=self.cfg.daemon.heartbeat_interval)
        if interval is not None:
            self.notifier.watchdog()
            log.info("systemd watchdog: pinging every %.1fs", interval)

    def _tick(self) -> None:
        self._tick_at = time.monotonic()

    def scheduler_silence(self) -> float:
        return time.monotonic() - self._tick_at

    def scheduler_alive(self) -> bool:
        return self.scheduler_silence() < TICK_SILENCE

    def on_clock_step(self, step: float) -> None:
        """The wall clock jumped by ``step`` seconds (called from the supervisor thread).

        Backward: APScheduler would sleep until its old plan comes round again — for the
        size of the step — so every job is re-planned from the new time (a cron slot that
        already ran is not repeated: its row exists). Forward: the scheduler wakes on
        time and finds everything due; the slots jumped over are booked as missed by the
        next run of each cron job (``_book_skipped``)."""
        log.warning("wall clock stepped %s by %.0fs", "back" if step < 0 else "forward",
                    abs(step))
        if step < 0:
            for spec in list(self.specs.values()):
                if self.scheduler.get_job(spec.id) is not None:
                    self.scheduler.reschedule_job(spec.id, trigger=spec.trigger(self.zone))
            self.scheduler.reschedule_job("_tick", trigger="interval", seconds=TICK_SECONDS)
        self.scheduler.wakeup()

    def _install_signals(self) -> None:
        def on_term(signum, _frame):
            log.info("received %s: stopping", signal.Signals(signum).name)
            self._stop_requested = True
            self._wake.set()

        def on_hup(_signum, _frame):
            self._reload_requested = True
            self._wake.set()

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        signal.signal(signal.SIGHUP, on_hup)

    def request_stop(self) -> None:
        self._stop_requested = True
        self._wake.set()

    def _shutdown(self) -> int:
        self.notifier.stopping("stopping: waiting for running jobs")
        self.supervisor.stop()
        log.info("stopping: no new jobs; waiting up to %gs for running ones",
                 self.cfg.daemon.stop_timeout)
        self.scheduler.shutdown(wait=False)
        deadline = time.monotonic() + self.cfg.daemon.stop_timeout
        with self._active_cv:
            while self._active and time.monotonic() < deadline:
                self._active_cv.wait(max(0.05, deadline - time.monotonic()))
            unfinished = dict(self._active)
        if unfinished:
            log.warning("stopping with jobs still running (abandoned): %s",
                        ", ".join(unfinished))
            if self.store_ready:
                self._mark_abandoned(own=True)
        if self.udev is not None:
            self.udev.stop()
        if self.metrics is not None:
            self.metrics.stop()
        self.alerts.close(timeout=min(5.0, self.cfg.daemon.stop_timeout))
        if self.spool is not None:
            self._drain_spool()  # what can still be written now; the rest waits on disk
        self.leadership.release()
        try:
            self._write_process(running=False)
        except OpsError as exc:
            log.error("recording the stop failed: %s", exc.message)
        except Exception as exc:  # noqa: BLE001 - a stop during an outage still stops
            log.error("recording the stop failed: %s", exc)
        if self.spool is not None:
            self.spool.close()
        self.notifier.close()
        log.info("stopped")
        return 0 if not unfinished else 3

    # -- jobs ------------------------------------------------------------------------------
    def _apply_jobs(self, cfg, *, startup: bool = False) -> None:
        """Make the scheduler's jobs match ``cfg``; unchanged jobs keep their next run."""
        new = build_jobs(cfg)
        old = self.specs
        self._saved_next.clear()  # rows are rewritten below; write every next run again
        for job_id in set(old) - set(new):
            if self.scheduler.get_job(job_id):
                self.scheduler.remove_job(job_id)
            log.info("job %s removed", job_id)
        if self.store_ready:
            with self.store.write() as conn:
                conn.execute(jobs_t.update().where(jobs_t.c.job_id.not_in(list(new)))
                             .values(active=False, next_run=None))
        self.specs = new
        for spec in new.values():
            trigger = spec.trigger(self.zone)
            prev = old.get(spec.id)
            if prev is not None and prev.schedule == spec.schedule and \
                    self.scheduler.get_job(spec.id) is not None:
                continue  # same schedule: keep its timing; the function reads the new cfg
            if self.store_ready:
                checked = self._register(spec, trigger, catch_up=True)
            else:  # recorded when the store answers (_store_setup)
                checked = dt.datetime.now(dt.UTC)
            self._accounted[spec.id] = checked
            extra = {}
            if spec.cron is not None:
                # The first slot after the one the catch-up looked at: a slot passing while
                # the scheduler starts up is run late rather than skipped.
                extra["next_run_time"] = trigger.get_next_fire_time(None, checked)
            self.scheduler.add_job(
                self._scheduled, trigger, args=(spec.id,), id=spec.id, name=spec.id,
                kwargs={"slot": None} if spec.cron is not None else {},
                replace_existing=True, coalesce=True, max_instances=1,
                misfire_grace_time=cfg.daemon.misfire_grace_seconds, **extra)
            if not startup:
                log.info("job %s scheduled: %s", spec.id, spec.schedule)
        if self.store_ready:
            self._save_next_runs()

    def _register(self, spec: JobSpec, trigger, *, catch_up: bool) -> dt.datetime:
        """Record the job; catch up or record slots missed while we were down.

        Returns the moment up to which slots were accounted for."""
        now = dt.datetime.now(dt.UTC)
        with self.store.write() as conn:
            row = conn.execute(sa.select(jobs_t).where(jobs_t.c.job_id == spec.id)).first()
            if row is None:
                conn.execute(jobs_t.insert().values(
                    job_id=spec.id, kind=spec.kind, schedule=spec.schedule,
                    registered_at=timeutil.iso(now), active=True))
                return now
            conn.execute(jobs_t.update().where(jobs_t.c.job_id == spec.id).values(
                kind=spec.kind, schedule=spec.schedule, active=True))
            last_slot = conn.execute(sa.select(sa.func.max(runs.c.scheduled_for)).where(
                runs.c.job_id == spec.id)).scalar()
        if not catch_up or spec.cron is None or row.schedule != spec.schedule:
            return now
        after = timeutil.parse(last_slot) if last_slot else timeutil.parse(row.registered_at)
        slots, more = fire_times_between(trigger, after, now, limit=MAX_MISSED_ROWS)
        if not slots:
            return now
        grace = dt.timedelta(seconds=self.cfg.daemon.misfire_grace_seconds)
        latest = slots[-1]
        within = now - latest <= grace
        missed = slots[:-1] if within else slots
        if missed:
            self._record_missed(spec.id, missed, more,
                                "coalesced into one catch-up run" if within
                                else "daemon was not running")
        if within:
            log.info("job %s: catching up the run due at %s", spec.id,
                     latest.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S"))
            self.scheduler.add_job(self._scheduled, "date", run_date=now,
                                   args=(spec.id, "catch-up", latest), id=f"{spec.id}@catch-up",
                                   replace_existing=True, misfire_grace_time=None)
        return now

    def _record_missed(self, job_id: str, slots: list[dt.datetime], more: bool,
                       why: str, *, as_last: bool = True) -> None:
        now = timeutil.iso(timeutil.utcnow())
        rows = [{"job_id": job_id, "scheduled_for": timeutil.iso(slot), "trigger": "schedule",
                 "started_at": now, "finished_at": now, "status": "missed", "summary": why,
                 "pid": os.getpid()} for slot in slots]
        with self.store.write() as conn:
            if rows:
                conn.execute(_insert_or_ignore(conn, runs), rows)
            if as_last:
                conn.execute(jobs_t.update().where(jobs_t.c.job_id == job_id).values(
                    last_status="missed", last_error=why))
        log.warning("job %s: %d%s run(s) missed (%s)", job_id, len(slots), "+" if more else "",
                    why)

    def _mark_abandoned(self, own: bool = False) -> None:
        """Runs left 'running' by a dead process (or by us, at a forced stop)."""
        with self.store.write() as conn:
            rows = conn.execute(sa.select(runs.c.id, runs.c.pid, runs.c.scheduled_for,
                                          runs.c.host).where(
                runs.c.status == "running")).fetchall()
            here = socket.gethostname()
            # A shared store: another host's runs are its daemon's business (its pids
            # mean nothing here).
            rows = [r for r in rows if r.host in (None, here)]
            for r in rows:
                if own and r.pid != os.getpid():
                    continue
                if not own and (r.pid == os.getpid() or pid_alive(r.pid)):
                    continue
                # The slot is released so a restart inside the grace window runs it again.
                conn.execute(runs.update().where(runs.c.id == r.id).values(
                    status="abandoned", finished_at=timeutil.iso(timeutil.utcnow()),
                    scheduled_for=None,
                    error=f"daemon (pid {r.pid}) stopped while the job ran"
                          + (f"; slot {r.scheduled_for} released" if r.scheduled_for else "")))
        if rows:
            log.warning("%d interrupted run(s) marked abandoned", len(rows))

    def _current_slot(self, spec: JobSpec) -> dt.datetime | None:
        """The cron slot a scheduled run serves: the latest fire time not after now."""
        if spec.cron is None:
            return None
        now = dt.datetime.now(dt.UTC)
        trigger = spec.trigger(self.zone)
        # Widening windows: a per-second cron is found in the first, a daily one in the last,
        # without walking thousands of fire times.
        for window in (2, 65, 3700, self.cfg.daemon.misfire_grace_seconds + 1):
            slots, _ = fire_times_between(trigger, now - dt.timedelta(seconds=window), now,
                                          limit=10000)
            if slots:
                return slots[-1].replace(microsecond=0)
        return None

    def _scheduled(self, job_id: str, trigger: str = "schedule",
                   slot: dt.datetime | None = None) -> None:
        spec = self.specs.get(job_id)
        if spec is None:
            return
        from opsctl.daemon.leader import SITE_ONCE

        if job_id in SITE_ONCE and not self.leadership.check():
            # Another daemon on this shared store leads: it runs the site's jobs.
            log.debug("job %s: runs on the site's leader daemon, not here", job_id)
            return
        if slot is None and trigger == "schedule":
            slot = self._current_slot(spec)
        elif slot is not None and spec.cron is not None:
            slot = slot.astimezone(dt.UTC).replace(microsecond=0)
        if slot is not None and trigger == "schedule" and self.store_ready:
            self._book_skipped(spec, slot)
        with self._active_cv:
            self._active[job_id] = self._active.get(job_id, 0) + 1
        try:
            ctx = JobContext(self.cfg, self.store, self.alerts, self.runner,
                             policies=self.policies, spool=self.spool)
            execute(ctx, spec, trigger, slot, next_run=lambda: self._next_run(job_id))
            collect_garbage()
            release_memory()
        finally:
            with self._active_cv:
                self._active[job_id] -= 1
                if not self._active[job_id]:
                    del self._active[job_id]
                self._active_cv.notify_all()

    def _book_skipped(self, spec: JobSpec, slot: dt.datetime) -> None:
        """Slots APScheduler coalesced away (it ran late) are recorded as missed."""
        try:
            with self.store.read() as conn:
                prev = conn.execute(sa.select(sa.func.max(runs.c.scheduled_for)).where(
                    runs.c.job_id == spec.id, runs.c.scheduled_for < timeutil.iso(slot))
                ).scalar()
            bounds = [t for t in (timeutil.parse(prev), self._accounted.get(spec.id)) if t]
            if not bounds:
                return
            gaps, more = fire_times_between(spec.trigger(self.zone), max(bounds), slot,
                                            limit=MAX_MISSED_ROWS)
            gaps = [g for g in gaps if g < slot]
            if gaps:
                self._record_missed(spec.id, gaps, more, "coalesced: the scheduler ran late",
                                    as_last=False)
        except Exception as exc:  # noqa: BLE001 - bookkeeping must not stop the run
            log.error("checking %s for skipped slots failed: %s", spec.id, exc)

    def _next_run(self, job_id: str) -> dt.datetime | None:
        job = self.scheduler.get_job(job_id) if self.scheduler else None
        # Jobs added before start() are "pending" and have no next_run_time yet.
        return getattr(job, "next_run_time", None) if job is not None else None

    def trigger_now(self, job_id: str) -> bool:
        """Run a job as soon as possible (udev saw an md change → check RAID now)."""
        job = self.scheduler.get_job(job_id) if self.scheduler else None
        if job is None:
            return False
        job.modify(next_run_time=dt.datetime.now(self.zone))
        self.scheduler.wakeup()
        return True

    def _on_scheduler_event(self, event) -> None:
        from apscheduler.events import EVENT_JOB_MISSED

        spec = self.specs.get(event.job_id)
        if spec is None:
            return
        if event.code == EVENT_JOB_MISSED:
            slot = event.scheduled_run_time
            why = "scheduler woke too late (misfire grace exceeded)"
        else:
            slot = event.scheduled_run_times[-1]
            why = "previous run still going (max_instances=1)"
        if spec.cron is None:
            log.info("job %s: run skipped: %s", spec.id, why)
            return
        # Counted as missed; "last result" stays that of the last real run. This runs on
        # the scheduler thread, which must never wait for the store: the heartbeat
        # thread writes it.
        self.supervisor.submit(
            lambda: self._record_missed(spec.id, [slot], False, why, as_last=False))

    # -- reload ----------------------------------------------------------------------------
    def reload(self) -> bool:
        from opsctl.core.config import load_config

        log.info("SIGHUP: reloading %s", self.config_path or "the config")
        self.notifier.send("RELOADING=1",
                           f"MONOTONIC_USEC={int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6)}")
        try:
            new = load_config(self.config_path)
            if new.state_dir != self.cfg.state_dir:
                raise OpsError(f"state_dir changed ({self.cfg.state_dir} -> {new.state_dir}); "
                               "that needs a restart")
            from opsctl.daemon.validate import validate_config

            validate_config(new)
        except OpsError as exc:
            self._last_reload_error = exc.message
            log.error("reload rejected, the previous config keeps running: %s", exc.message)
            for extra in getattr(exc, "all_messages", [])[1:]:
                log.error("  %s", extra)
            self.notifier.send("READY=1", "STATUS=" + _one(
                f"reload failed ({exc.message}); running the previous config"))
            self._record_reload()
            return False
        except Exception as exc:  # noqa: BLE001 - a reload must never kill the daemon
            self._last_reload_error = f"{type(exc).__name__}: {exc}"
            log.exception("reload failed unexpectedly; the previous config keeps running")
            self.notifier.send("READY=1", "STATUS=reload failed; running the previous config")
            return False
        self.cfg = new
        from opsctl.core import i18n

        i18n.set_language(new.site.language)  # alerts and duty-log texts from now on
        self.zone = timeutil.site_zone(new)
        self.supervisor.heartbeat_interval = new.daemon.heartbeat_interval
        self.alerts.configure(new)
        self._apply_jobs(new)
        if self.udev is not None:
            self.udev.ignore = list(new.daemon.udev_ignore)
        self._last_reload_error = None
        log.info("reloaded: %s", self.status_line())
        self.notifier.send("READY=1", "STATUS=" + _one(self.status_line()))
        self._record_reload()
        return True

    def _record_reload(self) -> None:
        try:
            self._write_process(running=True)
        except OpsError as exc:  # the store away: the next heartbeat records it
            log.warning("recording the reload failed: %s", exc.message)

    # -- heartbeat and status ----------------------------------------------------------------
    def _drain_spool(self) -> None:
        """Write what was spooled while the store was away (heartbeat thread)."""
        if self.spool is None or not self.spool.active:
            return
        if not self.store_ready and not self._store_setup():
            return
        from opsctl.daemon.spool import drain

        try:
            drain(self.spool, self.store, self.cfg)
        except Exception as exc:  # noqa: BLE001 - the next heartbeat tries again
            log.error("writing the spool to the store failed: %s", exc)

    def _heartbeat(self) -> None:
        self._drain_spool()
        if not self.store_ready:
            self.leadership.check()  # a follower: site-once jobs wait
            self.notifier.status(self.status_line())
            return
        try:
            if self.leadership is not None:
                self.leadership.check()
            self._write_process(running=True)
            self._save_next_runs()
            self.notifier.status(self.status_line())
        except Exception as exc:  # noqa: BLE001
            log.error("heartbeat failed: %s", exc)

    def _save_next_runs(self) -> None:
        changed = {}
        for job_id in self.specs:
            nxt = timeutil.iso(self._next_run(job_id))
            if self._saved_next.get(job_id, "") != nxt:
                changed[job_id] = nxt
        if not changed:
            return  # an idle heartbeat writes one row, not one per job
        with self.store.write() as conn:
            for job_id, nxt in changed.items():
                conn.execute(jobs_t.update().where(jobs_t.c.job_id == job_id)
                             .values(next_run=nxt))
        self._saved_next.update(changed)

    def _write_process(self, *, running: bool) -> None:
        from opsctl.daemon.status import process_key

        now = timeutil.iso(timeutil.utcnow())
        kvstate.put(self.store, KV_NS, process_key(self.cfg, self.store), {
            "pid": os.getpid(), "host": socket.gethostname(), "version": __version__,
            "room": self.cfg.daemon.room,
            "role": self.leadership.role if self.leadership is not None else None,
            "running": running, "started_at": timeutil.iso(self.started_at),
            "heartbeat_at": now, "heartbeat_interval": self.cfg.daemon.heartbeat_interval,
            "stopped_at": None if running else now,
            "config": str(self.cfg.source) if self.cfg.source else None,
            "jobs": list(self.specs), "udev": getattr(self.udev, "state", "off"),
            "metrics": getattr(self.metrics, "address", None),
            "reload_error": self._last_reload_error, "status": self.status_line(),
            "spool": self.spool.counts() if self.spool is not None else None,
        })

    def status_line(self) -> str:
        parts = [f"{len(self.specs)} jobs"]
        nxt = [(self._next_run(j), j) for j in self.specs]
        nxt = [(t, j) for t, j in nxt if t is not None]
        if nxt:
            t, j = min(nxt)
            parts.append(f"next {j} at {t.astimezone(self.zone):%H:%M:%S}")
        if self.store is not None:
            from opsctl.daemon.schema import events

            try:
                with self.store.read() as conn:
                    n = conn.execute(sa.select(sa.func.count()).select_from(events).where(
                        events.c.status == "open")).scalar_one()
                parts.append(f"{n} open events")
            except OpsError:
                pass
        if self.spool is not None and self.spool.active:
            parts.append(f"{self.spool.counts()['records']} records spooled (store away)")
        if self._last_reload_error:
            parts.append("last reload FAILED")
        return "; ".join(parts)

    # -- udev and metrics ------------------------------------------------------------------
    def _start_udev(self) -> None:
        if not self.cfg.daemon.udev:
            return
        from opsctl.daemon.udevwatch import UdevWatcher

        self.udev = UdevWatcher(self.alerts.emit, self._on_md_change,
                                ignore=list(self.cfg.daemon.udev_ignore))
        self.udev.start()

    def _on_md_change(self, name: str) -> None:
        if not self.trigger_now("raid"):
            log.info("md change on %s but no RAID job scheduled (no /proc/mdstat at start)", name)

    def _start_metrics(self) -> None:
        listen = self.cfg.daemon.metrics_listen
        if not listen:
            return
        try:
            from opsctl.daemon.metrics import MetricsServer

            self.metrics = MetricsServer(listen, self)
            self.metrics.start()
        except Exception as exc:  # noqa: BLE001 - metrics are optional, the daemon is not
            log.error("metrics endpoint on %s not started: %s", listen, exc)
            self.metrics = None


class _SlotJob:
    """A view of an APScheduler job whose call also receives the run time it serves."""

    def __init__(self, job, run_time: dt.datetime):
        self._job = job
        self.kwargs = {**job.kwargs, "slot": run_time}

    def __getattr__(self, name):
        return getattr(self._job, name)

    def __str__(self) -> str:
        return str(self._job)


def _slot_executor_class(base):
    """A thread-pool executor that tells scheduled cron jobs which slot they run for, so
    a run that starts late (a busy pool, a slow start) is still booked on its own slot."""

    class SlotExecutor(base):
        def _do_submit_job(self, job, run_times):
            if job.kwargs.get("slot", "") is None and run_times:
                job = _SlotJob(job, run_times[-1])
            super()._do_submit_job(job, run_times)

    return SlotExecutor


def _lean_imports() -> None:
    """Keep pysnmp from loading its MIB compiler in the long-running process.

    pysnmp imports pysmi (with jinja2, lark and requests) when it is installed — it is a
    test dependency here — only to compile MIBs from source; opsctl speaks numeric OIDs,
    and pysnmp works without it. That is ~15 MB of resident memory the daemon never uses.
    (pysnmp itself is imported only for SNMPv1/v3 devices: v2c goes through gufo-snmp,
    see :mod:`opsctl.power.snmp.fast`.)
    """
    if "pysmi" not in sys.modules:
        sys.modules["pysmi"] = None  # type: ignore[assignment]
    # glibc gives every thread that allocates its own malloc arena (up to 8 per core) and
    # keeps their free memory; a daemon with a dozen threads needs two, not sixteen.
    if os.environ.get("MALLOC_ARENA_MAX") is None:
        try:
            import ctypes

            ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX
        except (OSError, AttributeError):
            pass


_frozen = False


def collect_garbage() -> None:
    """Free what a job left behind before the heap is trimmed.

    A full collection walks every tracked object — pysnmp's engine and MIB modules,
    SQLAlchemy, APScheduler, pydantic: ~60-90 ms per job, several times a minute. Once
    pysnmp is loaded (after the first poll) the survivors are frozen (``gc.freeze``:
    long-lived, never scanned again), so later collections only look at what the jobs
    created since. Frozen objects are still freed by reference counting; what the cycle
    collector no longer sees is a reference cycle among them, and the objects alive
    after the first poll (modules, the SNMP engine and its caches, the store, the config)
    live as long as the process (a reload's old config is the exception: small).
    """
    global _frozen
    gc.collect()
    if not _frozen and "pysnmp" in sys.modules:
        gc.freeze()
        _frozen = True


def _one(text: str) -> str:
    return " ".join(text.split())[:400]


def _insert_or_ignore(conn, table: sa.Table):
    """INSERT that skips rows clashing with a unique key (a slot already recorded)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        return insert(table).on_conflict_do_nothing()
    return table.insert().prefix_with("OR IGNORE")
