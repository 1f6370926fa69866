"""What must keep going whatever the wall clock or the database does: the systemd
watchdog, the heartbeat, and noticing that the wall clock jumped.

APScheduler plans on the wall clock: stepped back two hours, it sleeps two hours — no
jobs, no heartbeat, and a watchdog fed by one of its jobs goes quiet too. These threads
run on the monotonic clock instead:

- **watchdog** (every second at most): compares the wall clock with the monotonic one;
  a difference of more than :data:`STEP_SECONDS` is a clock step, and the daemon
  re-plans its schedules (:meth:`Daemon.on_clock_step`). It sends ``WATCHDOG=1`` only
  while the scheduler is alive — its ``_tick`` job ran recently — so systemd still sees
  a hung scheduler. It never touches the store.
- **heartbeat**: writes the heartbeat and runs the store work the scheduler thread hands
  over (recording missed runs): the scheduler thread itself never waits for the
  database, so a locked store (another process holding ``BEGIN EXCLUSIVE``) delays
  bookkeeping, never scheduling or the watchdog.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

log = logging.getLogger("opsctl.daemon")

STEP_SECONDS = 5.0


class ClockWatch:
    """Detects wall-clock steps against the monotonic clock."""

    def __init__(self, wall: Callable[[], float] = time.time,
                 mono: Callable[[], float] = time.monotonic, threshold: float = STEP_SECONDS):
        self.wall, self.mono, self.threshold = wall, mono, threshold
        self._offset = wall() - mono()

    def check(self) -> float:
        """The step since the last call in seconds (negative: backward), or 0.0."""
        offset = self.wall() - self.mono()
        step = offset - self._offset
        self._offset = offset
        return step if abs(step) > self.threshold else 0.0


class Supervisor:
    def __init__(self, daemon, *, watchdog_interval: float | None,
                 heartbeat_interval: float):
        self.daemon = daemon
        self.watchdog_interval = watchdog_interval
        self.heartbeat_interval = heartbeat_interval
        self.clock = ClockWatch()
        self._work: queue.SimpleQueue[tuple[Callable, tuple] | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._watch, name="opsctl-watchdog", daemon=True),
            threading.Thread(target=self._beat, name="opsctl-heartbeat", daemon=True),
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        self._work.put(None)

    def submit(self, fn: Callable, *args) -> None:
        """Store work from the scheduler thread, done on the heartbeat thread."""
        self._work.put((fn, args))

    def _watch(self) -> None:
        period = min(1.0, self.watchdog_interval or 1.0)
        next_ping = time.monotonic()
        while not self._stop.wait(period):
            try:
                step = self.clock.check()
                if step:
                    self.daemon.on_clock_step(step)
                if self.watchdog_interval is not None and time.monotonic() >= next_ping:
                    if self.daemon.scheduler_alive():
                        self.daemon.notifier.watchdog()
                        next_ping = time.monotonic() + self.watchdog_interval
                    else:
                        log.error("scheduler loop silent for %.0fs: not feeding the watchdog",
                                  self.daemon.scheduler_silence())
            except Exception:  # noqa: BLE001 - this thread must outlive anything
                log.exception("watchdog thread")

    def _beat(self) -> None:
        next_beat = time.monotonic() + self.heartbeat_interval
        while not self._stop.is_set():
            try:
                item = self._work.get(timeout=max(0.0, next_beat - time.monotonic()))
            except queue.Empty:
                item = ()
            if item is None:
                return
            if item:
                fn, args = item
                try:
                    fn(*args)
                except Exception as exc:  # noqa: BLE001
                    log.error("deferred store work failed: %s", exc)
            if time.monotonic() >= next_beat:
                self.daemon._heartbeat()
                next_beat = time.monotonic() + self.heartbeat_interval
