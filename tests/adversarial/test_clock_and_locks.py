"""The daemon under clock steps (libfaketime moves its wall clock while the monotonic one
runs on) and under a store locked by another process: jobs, heartbeat and the systemd
watchdog keep going; slots jumped over are each recorded as missed."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from daemon_support import base_config, wait_for, write_config

from opsctl.daemon.supervise import ClockWatch

pytestmark = pytest.mark.slow

FAKETIME = next((p for p in (Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"),
                             Path("/usr/lib/faketime/libfaketime.so.1"),
                             Path("/usr/local/lib/faketime/libfaketime.so.1")) if p.exists()),
                None)
needs_faketime = pytest.mark.skipif(FAKETIME is None, reason="libfaketime not installed")

QUICK = {"name": "quick", "schedule": "0 9 * * *",
         "items": [{"id": "load", "check": "load", "params": {"warn": 500, "crit": 1000}}]}


def test_clock_watch_sees_steps_not_drift():
    wall, mono = [1000.0], [50.0]
    w = ClockWatch(lambda: wall[0], lambda: mono[0], threshold=5)
    wall[0] += 1.0
    mono[0] += 1.0
    assert w.check() == 0.0
    wall[0] += 1.0 - 7200
    mono[0] += 1.0
    assert w.check() == pytest.approx(-7200)
    wall[0] += 86400
    assert w.check() == pytest.approx(86400)
    wall[0] += 3.0  # slew-sized: not a step
    assert w.check() == 0.0


def runs(store, job: str, status: str | None = None) -> list[tuple]:
    from opsctl.daemon.schema import runs as runs_t

    q = sa.select(runs_t.c.scheduled_for, runs_t.c.status).where(runs_t.c.job_id == job)
    if status:
        q = q.where(runs_t.c.status == status)
    with store.read() as conn:
        return [tuple(r) for r in conn.execute(q.order_by(runs_t.c.scheduled_for))]


def heartbeat(store):
    from opsctl.core import kvstate
    from opsctl.daemon.jobs import KV_NS

    return (kvstate.get(store, KV_NS, "process") or {}).get("heartbeat_at")


def start_daemon(tmp_path, daemon_factory, notify_socket, monkeypatch, schedule: str,
                 faked: bool):
    from opsctl.core.config import load_config
    from opsctl.core.store import Store

    cfg = base_config(tmp_path, inspection={"profiles": [QUICK]},
                      daemon={"schedule_overrides": {"inspection:quick": schedule}})
    path = write_config(tmp_path / "opsctl.yaml", cfg)
    offset = tmp_path / "faketime"
    offset.write_text("+0\n")
    if faked:
        monkeypatch.setenv("LD_PRELOAD", str(FAKETIME))
        monkeypatch.setenv("FAKETIME_TIMESTAMP_FILE", str(offset))
        monkeypatch.setenv("FAKETIME_NO_CACHE", "1")
        monkeypatch.setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1")
    try:
        d = daemon_factory(path, notify_socket, watchdog_usec=2_000_000)
    finally:
        for var in ("LD_PRELOAD", "FAKETIME_TIMESTAMP_FILE", "FAKETIME_NO_CACHE",
                    "FAKETIME_DONT_FAKE_MONOTONIC"):
            monkeypatch.delenv(var, raising=False)
    notify_socket.wait("READY=1", timeout=60)
    return d, Store.for_config(load_config(path)), offset


@needs_faketime
def test_backward_step_keeps_jobs_heartbeat_and_watchdog(tmp_path, daemon_factory,
                                                         notify_socket, monkeypatch):
    d, store, offset = start_daemon(tmp_path, daemon_factory, notify_socket, monkeypatch,
                                    "* * * * * *", faked=True)
    wait_for(lambda: len(runs(store, "inspection:quick", "ok")) >= 2, 30, what="first runs")
    offset.write_text("-2h\n")
    time.sleep(1.5)
    ok_before = len(runs(store, "inspection:quick", "ok"))
    dogs = notify_socket.count("WATCHDOG=1")
    beats = {heartbeat(store)}
    end = time.monotonic() + 12
    while time.monotonic() < end:
        beats.add(heartbeat(store))
        time.sleep(0.5)
    assert d.proc.poll() is None
    assert len(runs(store, "inspection:quick", "ok")) - ok_before >= 4, "no jobs after the step"
    assert notify_socket.count("WATCHDOG=1") - dogs >= 6
    assert len(beats) >= 4, beats
    assert "wall clock stepped back by 7200s" in d.output()


@needs_faketime
def test_forward_jump_records_every_missed_slot(tmp_path, daemon_factory, notify_socket,
                                                monkeypatch):
    d, store, offset = start_daemon(tmp_path, daemon_factory, notify_socket, monkeypatch,
                                    "*/10 * * * * *", faked=True)
    wait_for(lambda: len(runs(store, "inspection:quick", "ok")) >= 1, 40, what="a first run")
    offset.write_text("+4h\n")
    # The next run (within 10 s of the jump) books every slot jumped over.
    wait_for(lambda: len(runs(store, "inspection:quick", "missed")) >= 1400, 60,
             what="the missed slots")
    wait_for(lambda: runs(store, "inspection:quick")[-1][1] == "ok", 30, what="a run after")
    slots = [dt.datetime.fromisoformat(s) for s, _ in runs(store, "inspection:quick")]
    assert len(slots) == len(set(slots))
    # Every 10-second slot from the first to the last has exactly one row.
    assert len(slots) == int((slots[-1] - slots[0]).total_seconds()) // 10 + 1
    assert d.proc.poll() is None


def test_locked_store_does_not_stop_the_watchdog(tmp_path, daemon_factory, notify_socket,
                                                 monkeypatch):
    d, store, _ = start_daemon(tmp_path, daemon_factory, notify_socket, monkeypatch,
                               "* * * * * *", faked=False)
    wait_for(lambda: len(runs(store, "inspection:quick", "ok")) >= 2, 30, what="first runs")
    db = sqlite3.connect(store.path, isolation_level=None, timeout=30)
    db.execute("BEGIN EXCLUSIVE")
    dogs = notify_socket.count("WATCHDOG=1")
    gaps = []
    last = [time.monotonic()]
    seen = [dogs]

    def watch():
        end = time.monotonic() + 35
        while time.monotonic() < end:
            n = notify_socket.count("WATCHDOG=1")
            if n != seen[0]:
                gaps.append(time.monotonic() - last[0])
                last[0], seen[0] = time.monotonic(), n
            time.sleep(0.1)

    t = threading.Thread(target=watch)
    t.start()
    t.join()
    db.execute("ROLLBACK")
    db.close()
    assert notify_socket.count("WATCHDOG=1") - dogs >= 20
    assert max(gaps) < 5, f"watchdog silent for {max(gaps):.1f}s under a locked store"
    ok = len(runs(store, "inspection:quick", "ok"))
    wait_for(lambda: len(runs(store, "inspection:quick", "ok")) > ok + 2, 60,
             what="jobs after the lock")
    assert d.proc.poll() is None
