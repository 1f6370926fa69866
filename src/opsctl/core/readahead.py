"""Read-only SQLite work spread over the cores, results taken in order.

Long scans (verifying or exporting a million duty log entries) spend most of their time
inside SQLite, which runs without the GIL: worker threads, each with its own connection
of the store (same file, same flags), run one job at a time (a batch of rows) while the
caller consumes the results in job order. ``window`` bounds how far the workers run
ahead of the caller, so memory stays flat however many jobs there are.

A job that raises yields its exception instead of a result; the caller decides (the
duty log code then redoes that part on its own connection, where the error, if real,
surfaces as it always did).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any


def cores() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


class Ordered:
    """``with Ordered(store, jobs, fn) as results: for r in results: ...`` — ``fn(cursor,
    *job)`` on worker threads; ``setup(cursor)`` once per worker after its BEGIN (a
    snapshot check; raising fails every job of that worker)."""

    def __init__(self, store, jobs: Sequence[tuple], fn: Callable[..., Any], *,
                 workers: int | None = None, window: int = 0,
                 setup: Callable[[Any], None] | None = None) -> None:
        self.store, self.jobs, self.fn, self.setup = store, jobs, fn, setup
        self.nw = max(1, min(workers or cores(), len(jobs) or 1))
        self.window = window or 4 * self.nw
        self.results: list[Any] = [None] * len(jobs)
        self.ready = [threading.Event() for _ in jobs]
        self.stop = threading.Event()
        self.cond = threading.Condition()
        self.taken = 0
        self.threads: list[threading.Thread] = []

    def __enter__(self) -> Ordered:
        self.threads = [threading.Thread(target=self._work, args=(k,), daemon=True,
                                         name=f"opsctl-read-{k}") for k in range(self.nw)]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        with self.cond:
            self.cond.notify_all()
        for t in self.threads:
            t.join()

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self.jobs)):
            self.ready[i].wait()
            result, self.results[i] = self.results[i], None
            with self.cond:
                self.taken = i + 1
                self.cond.notify_all()
            yield result

    def _work(self, k: int) -> None:
        raw = None
        mine = range(k, len(self.jobs), self.nw)
        try:
            # Made, used and closed in this thread: sqlite3 connections belong to one.
            raw = self.store.engine.raw_connection()
            cur = raw.cursor()
            cur.execute("BEGIN")  # one snapshot for all of this worker's jobs
            if self.setup is not None:
                self.setup(cur)
            for i in mine:
                with self.cond:
                    while i >= self.taken + self.window and not self.stop.is_set():
                        self.cond.wait()
                if self.stop.is_set():
                    break
                try:
                    self.results[i] = self.fn(cur, *self.jobs[i])
                except Exception as exc:  # noqa: BLE001 - handed to the caller
                    self.results[i] = exc
                self.ready[i].set()
        except Exception as exc:  # noqa: BLE001 - no connection: every job fails
            for i in mine:
                if not self.ready[i].is_set():
                    self.results[i] = exc
        finally:
            for i in mine:
                self.ready[i].set()  # the caller never waits for a job nobody runs
            if raw is not None:
                # Closing a reader cannot lose data; an error here changes nothing.
                with contextlib.suppress(Exception):
                    raw.close()
