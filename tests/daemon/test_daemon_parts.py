"""Daemon building blocks: cron parsing, the notify protocol on a real socket, config
validation through the real CLI, and block-device events from the real kernel."""

from __future__ import annotations

import datetime as dt
import os
import socket
import zoneinfo
from pathlib import Path

import pytest
from daemon_support import NotifySocket, base_config, opsctl, wait_for, write_config

from opsctl.daemon.cron import CronError, fire_times_between, parse_cron
from opsctl.daemon.notify import Notifier, watchdog_interval
from opsctl.daemon.udevwatch import UdevWatcher, event_for

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(("expr", "start", "expected"), [
    # cron's 1-5 is Monday..Friday (APScheduler's own numbering would give Tue..Sat).
    ("0 9 * * 1-5", "2026-11-21T10:00", "2026-11-23T09:00"),   # Sat → Mon
    ("0 9 * * 0", "2026-11-21T10:00", "2026-11-22T09:00"),     # Sunday
    ("0 9 * * 7", "2026-11-21T10:00", "2026-11-22T09:00"),     # 7 is Sunday too
    ("0 8,20 * * *", "2026-11-23T08:30", "2026-11-23T20:00"),
    ("*/15 * * * *", "2026-11-23T08:01", "2026-11-23T08:15"),
    ("@daily", "2026-11-23T08:01", "2026-11-24T00:00"),
    ("30 */2 * * * *", "2026-11-23T08:00:31", "2026-11-23T08:02:30"),  # six fields
])
def test_cron_semantics(expr, start, expected):
    trig = parse_cron(expr, BERLIN)
    got = trig.get_next_fire_time(None, dt.datetime.fromisoformat(start).replace(tzinfo=BERLIN))
    assert got == dt.datetime.fromisoformat(expected).replace(tzinfo=BERLIN)


@pytest.mark.parametrize("expr", ["61 * * * *", "* * *", "0 9 * * 8", "0 25 * * *",
                                  "a b c d e", ""])
def test_cron_rejects(expr):
    with pytest.raises(CronError):
        parse_cron(expr)


def test_fire_times_between_is_bounded():
    trig = parse_cron("* * * * * *", BERLIN)
    a = dt.datetime(2026, 11, 23, tzinfo=BERLIN)
    slots, more = fire_times_between(trig, a, a + dt.timedelta(hours=1), limit=10)
    assert len(slots) == 10 and more and slots[0] == a + dt.timedelta(seconds=1)


@pytest.mark.parametrize("abstract", [False, True])
def test_notify_protocol_on_a_real_socket(tmp_path, monkeypatch, abstract):
    ns = NotifySocket(tmp_path / "n.sock") if not abstract else \
        NotifySocket(abstract=f"opsctl-test-{os.getpid()}")
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", ns.address)
        n = Notifier()
        assert n.ready("3 jobs") and n.watchdog() and n.stopping("bye")
        wait_for(lambda: ns.count("STOPPING=1"), 5)
        assert ns.count("READY=1") == 1 and "STATUS=3 jobs" in ns.lines()
        assert f"MAINPID={os.getpid()}" in ns.lines() and ns.count("WATCHDOG=1") == 1
    finally:
        ns.close()


def test_notify_without_socket_is_silent(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not Notifier().ready()
    monkeypatch.setenv("NOTIFY_SOCKET", "/nonexistent/socket")
    assert not Notifier().watchdog()  # systemd gone: logged once, never raises


def test_watchdog_interval(monkeypatch):
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert watchdog_interval() is None  # meant for another process
    monkeypatch.delenv("WATCHDOG_USEC")
    assert watchdog_interval() is None


def _check(tmp_path, cfg) -> tuple[int, str]:
    path = write_config(tmp_path / "opsctl.yaml", cfg)
    proc = opsctl("-c", str(path), "config", "check")
    return proc.returncode, proc.stderr


def test_invalid_cron_is_a_config_error_with_file_and_line(tmp_path):
    cfg = base_config(tmp_path, inspection={"profiles": [
        {"name": "p", "schedule": "0 25 * * *",
         "items": [{"id": "q", "question": "ok?", "type": "yesno"}]}]})
    rc, err = _check(tmp_path, cfg)
    assert rc == 2
    line = next(i for i, t in enumerate((tmp_path / "opsctl.yaml").read_text().splitlines(), 1)
                if "0 25 * * *" in t)
    assert f"opsctl.yaml:{line}: inspection.profiles[0].schedule: invalid cron" in err
    assert "Traceback" not in err


def test_unknown_alert_target_in_route(tmp_path):
    cfg = base_config(tmp_path, alerts={
        "targets": [{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:1/"}],
        "routes": [{"severity": "critical", "targets": ["hook", "pagr"]}]})
    rc, err = _check(tmp_path, cfg)
    assert rc == 2
    assert "alerts.routes[0].targets[1]: unknown alert target 'pagr' (known: hook)" in err


def test_bad_daemon_schedule(tmp_path):
    cfg = base_config(tmp_path, daemon={"retention_schedule": "every day"})
    rc, err = _check(tmp_path, cfg)
    assert rc == 2 and "daemon.retention_schedule: invalid cron" in err


def test_udev_classification():
    kind, ev = event_for("remove", "sdb", "disk", {"ID_MODEL": "WDC", "ID_SERIAL_SHORT": "X1"},
                         ["loop*"])
    assert kind == "disk" and ev.kind == "disk-removed" and ev.severity == "major"
    assert "WDC" in ev.message and "serial X1" in ev.message
    assert event_for("add", "loop3", "disk", {}, ["loop*"]) == ("ignore", None)
    assert event_for("add", "sdb1", "partition", {}, []) == ("ignore", None)
    assert event_for("change", "md0", "disk", {}, []) == ("md", None)


def _writable_uevent() -> Path | None:
    for name in ("loop7", "loop6", "loop0"):
        p = Path(f"/sys/block/{name}/uevent")
        if p.exists() and os.access(p, os.W_OK):
            return p
    return None


@pytest.mark.skipif(_writable_uevent() is None, reason="needs root and /sys/block/loop*")
def test_udev_watcher_sees_real_kernel_events():
    """The kernel emits a real uevent when one is written to a device's uevent file."""
    uevent = _writable_uevent()
    name = uevent.parent.name
    got, md = [], []
    w = UdevWatcher(got.append, md.append, ignore=[])
    state = w.start()
    try:
        assert state.startswith("watching"), state
        uevent.write_text("add")
        wait_for(lambda: any(e.subject == name for e in got), 10, what="the add uevent")
        ev = next(e for e in got if e.subject == name)
        assert ev.kind == "disk-added" and name in ev.message
    finally:
        w.stop()


def test_udev_unavailable_is_not_fatal(monkeypatch):
    import pyudev

    def boom(*a, **k):
        raise OSError("netlink not permitted")

    monkeypatch.setattr(pyudev.Monitor, "from_netlink", boom)
    w = UdevWatcher(lambda e: None, lambda n: None)
    assert w.start().startswith("unavailable: netlink not permitted")
    w.stop()


def test_socket_family_is_datagram(tmp_path, monkeypatch):
    # A stream socket at NOTIFY_SOCKET is a misconfiguration: sending fails quietly.
    path = tmp_path / "stream.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert Notifier().ready() is False
    finally:
        s.close()


def test_check_cron_agrees_with_apscheduler():
    """config check validates the everyday forms without APScheduler: whatever it passes,
    APScheduler must accept; everything else is APScheduler's call (same CronError)."""
    import itertools
    import random

    from opsctl.daemon.cron import check_cron

    parts = ["*", "*/1", "*/5", "*/59", "*/60", "*/0", "0", "5", "07", "23", "24", "31",
             "32", "59", "60", "1-5", "5-1", "0-59", "1-12", "0-23/2", "1-5/4", "1-5/5",
             "1,3,5", "1,,3", "5/2", "a", "", "jan", "mon-fri", "L", "1-", "-1", "*/", "٣"]
    rng = random.Random(20)
    exprs = ["@daily", "@hourly", "@reboot", "0 9 * * 1-5", "0 9 * * 7", "0 9 * * sun",
             "0 9 * * 8", "* * * * * *", "* * *"]
    exprs += [" ".join(rng.choice(parts) or "*" for _ in range(rng.choice((5, 5, 6))))
              for _ in range(3000)]
    near = ["*", "*/5", "*/23", "*/31", "0", "1", "12", "13", "23", "31", "59", "1-5",
            "0-23/2", "1,3,5", "1-5/4", "1-31/30", "0-59/59"]  # valid in some fields only
    exprs += [" ".join(rng.choice(near) for _ in range(rng.choice((5, 6))))
              for _ in range(3000)]
    exprs += [" ".join(p) for p in itertools.product(["0", "*/60", "1-5/5"], repeat=5)]
    for expr in exprs:
        try:
            parse_cron(expr)
            full = None
        except CronError as exc:
            full = str(exc)
        try:
            check_cron(expr)
            fast = None
        except CronError as exc:
            fast = str(exc)
        assert fast == full, expr
