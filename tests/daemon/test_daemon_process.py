"""The real daemon process (`opsctl -c cfg daemon run`) end to end: the systemd notify
protocol on a socket the test binds, scheduled inspections and SNMP polls landing in the
store, a power event on a real SNMP agent alerted exactly once (webhook + SMTP) and logged
exactly once, reload on SIGHUP (valid and broken), clean stop on SIGTERM, kill -9 and
restart without duplicated or lost runs, and failures shown by `daemon status`."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
import urllib.request

import pytest
import sqlalchemy as sa
import yaml
from daemon_support import base_config, free_tcp_port, opsctl, wait_for, write_config

snmp_agents = pytest.importorskip("snmp_agents")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not snmp_agents.snmpd_available(),
                                                   reason="net-snmp snmpd not installed")]

UPS = "1.3.6.1.2.1.33.1"


def ups_values(on_battery: bool) -> list[tuple[str, str, object]]:
    """An RFC 1628 UPS; on battery = output source battery(5), battery still normal."""
    return [
        ("1.3.6.1.2.1.1.2.0", "object_id", ".1.3.6.1.4.1.99999.1.1"),
        (f"{UPS}.1.1.0", "octet_str", "ACME Power"), (f"{UPS}.1.2.0", "octet_str", "ACME 6000"),
        (f"{UPS}.2.1.0", "integer", 2), (f"{UPS}.2.2.0", "integer", 60 if on_battery else 0),
        (f"{UPS}.2.3.0", "integer", 400), (f"{UPS}.2.4.0", "integer", 95 if on_battery else 100),
        (f"{UPS}.4.1.0", "integer", 5 if on_battery else 3), (f"{UPS}.4.4.1.5.1", "integer", 35),
    ]


QUICK = {"name": "quick", "schedule": "0 9 * * *",
         "items": [{"id": "load", "check": "load", "params": {"warn": 500, "crit": 1000}}]}
# Profiles keep a normal 5-field schedule; the daemon runs them every second or two.
FAST = {"inspection:quick": "*/2 * * * * *", "inspection:second": "*/2 * * * * *"}


def store_for(cfg_path):
    from opsctl.core.config import load_config
    from opsctl.core.store import Store

    return Store.for_config(load_config(cfg_path))


def duty_texts(store) -> list[str]:
    with store.read() as conn:
        return [r[0] for r in conn.execute(sa.text("SELECT text FROM duty_log ORDER BY seq"))]


def status_json(cfg_path) -> dict:
    proc = opsctl("-c", str(cfg_path), "daemon", "status", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def job(status: dict, job_id: str) -> dict:
    return next(j for j in status["jobs"] if j["id"] == job_id)


def inspection_records(store, profile: str) -> list[dict]:
    from opsctl.inspection.api import runs_between

    now = dt.datetime.now(dt.UTC)
    return runs_between(store, now - dt.timedelta(days=1), now + dt.timedelta(days=1), profile)


@pytest.fixture
def ups_agent():
    agent = snmp_agents.Snmpd(ups_values(False)).start()
    yield agent
    agent.stop()


def test_daemon_end_to_end(tmp_path, notify_socket, webhook, smtp_server, ups_agent,
                           daemon_factory):
    cfg = base_config(
        tmp_path,
        devices=[{"name": "ups1", "kind": "ups", "host": "127.0.0.1", "port": ups_agent.port,
                  "snmp": {"version": "2c", "community": "public"}, "timeout": 1,
                  "retries": 1}],
        inspection={"profiles": [QUICK]},
        daemon={"schedule_overrides": {"inspection:quick": FAST["inspection:quick"]},
                "metrics_listen": "127.0.0.1:0"},
        alerts={"targets": [
            {"name": "hook", "type": "webhook", "url": webhook.url},
            {"name": "mail", "type": "email", "smtp_host": "127.0.0.1",
             "smtp_port": smtp_server.port, "starttls": False, "sender": "opsctl@test",
             "to": ["ops@test"]}],
            "routes": [{"severity": "critical", "targets": ["hook", "mail"]}]})
    path = write_config(tmp_path / "opsctl.yaml", cfg)
    d = daemon_factory(path, notify_socket, watchdog_usec=2_000_000)

    # systemd notify protocol: READY once start-up is done, then the watchdog from the loop.
    notify_socket.wait("READY=1", timeout=30)
    notify_socket.wait("WATCHDOG=1", n=3, timeout=15)
    assert any(ln.startswith("STATUS=") and "jobs" in ln for ln in notify_socket.lines())

    # Scheduled work lands in the store.
    store = store_for(path)
    from opsctl.power.api import last_readings

    wait_for(lambda: len(inspection_records(store, "quick")) >= 2, 20, what="inspections")
    wait_for(lambda: any(r.get("name") == "ups1" and r.get("reachable")
                         for r in last_readings(store)), 20, what="a stored UPS poll")

    # Power cut: the same agent port now says "on battery".
    port = ups_agent.port
    ups_agent.stop()
    ups_agent.values = ups_values(True)
    ups_agent.port = port
    ups_agent.start()
    wait_for(lambda: any(b.get("kind") == "on_battery" for b in webhook.received), 20,
             what="the on-battery webhook")
    wait_for(lambda: smtp_server.messages, 20, what="the alert mail")
    time.sleep(3)  # several more polls: the UPS is still on battery
    on_batt = [b for b in webhook.received if b.get("kind") == "on_battery"]
    assert len(on_batt) == 1, webhook.received
    assert len([m for m in smtp_server.messages if "on battery" in m["data"]]) == 1
    assert sum("ups1: on battery" in t for t in duty_texts(store)) == 1
    eid = on_batt[0]["id"]

    st = status_json(path)
    assert st["daemon"]["running"] and st["daemon"]["pid"] == d.proc.pid
    assert job(st, "poll")["last_status"] == "ok"
    assert job(st, "inspection:quick")["last_status"] == "ok"
    assert eid in [e["id"] for e in st["open_events"]]
    human = opsctl("-c", str(path), "daemon", "status")
    assert human.returncode == 0 and "running (pid" in human.stdout

    # Prometheus text endpoint on 127.0.0.1.
    metrics = urllib.request.urlopen(f"http://{st['daemon']['metrics']}/metrics",
                                     timeout=10).read().decode()
    assert 'opsctl_device_reachable{device="ups1",kind="ups"} 1' in metrics
    assert 'opsctl_ups_on_battery{device="ups1"} 1' in metrics
    assert 'opsctl_events_open{severity="critical"} 1' in metrics
    assert 'opsctl_job_last_run_ok{job="poll"} 1' in metrics
    assert 'opsctl_inspection_status{profile="quick"} 0' in metrics

    proc = opsctl("-c", str(path), "daemon", "ack", str(eid), "--by", "alice")
    assert proc.returncode == 0, proc.stderr
    assert eid not in [e["id"] for e in status_json(path)["open_events"]]

    # SIGHUP with a valid config: a new job appears, state (the open event) is kept.
    cfg["inspection"]["profiles"].append({**QUICK, "name": "second"})
    cfg["daemon"]["schedule_overrides"] = FAST
    write_config(path, cfg)
    d.signal(signal.SIGHUP)
    notify_socket.wait("READY=1", n=2, timeout=15)
    wait_for(lambda: len(inspection_records(store, "second")) >= 1, 20, what="the new job")
    assert len([b for b in webhook.received if b.get("kind") == "on_battery"]) == 1

    # SIGHUP with a broken config: rejected, logged, the old config keeps running.
    broken = dict(cfg, daemon={**cfg["daemon"], "schedule_overrides": {
        "inspection:quick": "61 * * * *"}})
    path.write_text(yaml.safe_dump(broken))
    before = len(inspection_records(store, "second"))
    d.signal(signal.SIGHUP)
    wait_for(lambda: "reload rejected" in d.output(), 15, what="the rejected reload")
    assert "invalid cron" in d.output() and "opsctl.yaml:" in d.output()
    wait_for(lambda: len(inspection_records(store, "second")) > before, 20,
             what="jobs still running after a broken reload")
    assert any("reload failed" in ln for ln in notify_socket.lines() if ln.startswith("STATUS="))
    assert d.proc.poll() is None
    write_config(path, cfg)

    # SIGTERM: clean and quick, STOPPING=1 sent, status says stopped.
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.wait(15) == 0
    assert time.monotonic() - t0 < 10
    assert notify_socket.count("STOPPING=1") == 1
    st = status_json(path)
    assert not st["daemon"]["running"] and st["daemon"]["stopped_at"]
    assert "Traceback" not in d.output()


def _slots(store, job_id: str) -> list[tuple[str, str]]:
    from opsctl.daemon.schema import runs

    with store.read() as conn:
        return [(r.scheduled_for, r.status) for r in conn.execute(
            sa.select(runs.c.scheduled_for, runs.c.status).where(runs.c.job_id == job_id)
            .order_by(runs.c.scheduled_for))]


def test_kill9_and_restart_neither_duplicates_nor_loses(tmp_path, daemon_factory):
    cfg = base_config(tmp_path, inspection={"profiles": [QUICK]},
                      daemon={"schedule_overrides": {"inspection:quick": "* * * * * *"}})
    path = write_config(tmp_path / "opsctl.yaml", cfg)
    store = store_for(path)
    d = daemon_factory(path)
    wait_for(lambda: len(inspection_records(store, "quick")) >= 3, 30, what="first runs")

    # A second daemon on the same state is refused while the first one lives.
    other = opsctl("-c", str(path), "daemon", "run", timeout=30)
    assert other.returncode == 1 and "another opsctl daemon is running" in other.stderr

    d.proc.kill()
    d.proc.wait(5)
    dead = status_json(path)["daemon"]
    assert not dead["running"] and dead["stale"]  # said "running", but its pid is gone
    assert "NOT running" in opsctl("-c", str(path), "daemon", "status").stdout
    time.sleep(2)  # slots pass while nothing runs
    d2 = daemon_factory(path)
    # Its own "ready": the log file also holds the first daemon's, and a SIGTERM before
    # the handlers are installed would kill it (-15) instead of stopping it.
    wait_for(lambda: f"ready (pid {d2.proc.pid})" in d2.output() and
             len([s for s in _slots(store, "inspection:quick") if s[1] == "ok"]) >= 8, 30,
             what="runs after the restart")
    d2.signal(signal.SIGTERM)
    assert d2.wait(15) == 0

    slots = _slots(store, "inspection:quick")
    stamps = [dt.datetime.fromisoformat(s) for s, _ in slots if s is not None]
    # Every second from the first to the last slot has exactly one row: nothing run twice
    # (the store's unique slot index) and nothing silently dropped (missed or caught up).
    assert len(stamps) == len(set(stamps))
    expected = int((stamps[-1] - stamps[0]).total_seconds()) + 1
    assert len(stamps) == expected, slots
    statuses = {st for _, st in slots}
    assert "running" not in statuses
    assert "missed" in statuses  # the seconds the daemon was dead are accounted for
    records = inspection_records(store, "quick")
    ok_runs = [s for s in slots if s[1] == "ok"]
    from opsctl.daemon.schema import runs

    with store.read() as conn:
        extra = conn.execute(sa.select(sa.func.count()).select_from(runs).where(
            runs.c.job_id == "inspection:quick", runs.c.status.in_(("ok", "abandoned")),
            runs.c.scheduled_for.is_(None))).scalar_one()
    # One inspection record per successful run (+ any run the kill interrupted).
    assert len(ok_runs) <= len(records) <= len(ok_runs) + extra


def test_failures_are_logged_and_shown(tmp_path, webhook, daemon_factory):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    dead_smtp = free_tcp_port()
    crit = {"name": "hot", "schedule": "0 9 * * *",
            "items": [{"id": "load", "check": "load", "params": {"warn": 0, "crit": 0}}]}
    cfg = base_config(
        tmp_path, inspection={"profiles": [crit]},
        alerts={"targets": [
            {"name": "hook", "type": "webhook", "url": webhook.url},
            {"name": "mail", "type": "email", "smtp_host": "127.0.0.1", "smtp_port": dead_smtp,
             "starttls": False, "sender": "opsctl@test", "to": ["ops@test"], "timeout": 2}],
            "routes": [{"severity": "critical", "targets": ["mail", "hook"]}]},
        daemon={"export": {"schedule": "* * * * * *", "directory": str(blocker / "exports")},
                "schedule_overrides": {"inspection:hot": "*/2 * * * * *"}})
    path = write_config(tmp_path / "opsctl.yaml", cfg)
    d = daemon_factory(path)
    # The export job raises every second; the inspection still runs and alerts.
    wait_for(lambda: webhook.received, 30, what="the webhook alert despite a dead SMTP")
    wait_for(lambda: job(status_json(path), "duty-export")["runs_failed"] >= 2, 30,
             what="failed export runs")
    st = wait_for(lambda: (s := status_json(path))["delivery_failures"] and s, 30,
                  what="the SMTP failure in status")
    exp = job(st, "duty-export")
    assert exp["last_status"] == "failed" and exp["last_error"]
    assert st["delivery_failures"][0]["target"] == "mail"
    assert "unreachable" in st["delivery_failures"][0]["error"]
    assert st["daemon"]["running"] and d.proc.poll() is None
    human = opsctl("-c", str(path), "daemon", "status").stdout
    assert "failed" in human and "failed alert deliveries" in human
    assert "job duty-export failed" in d.output()
    # run-job runs the same job by hand and reports the failure with exit 1.
    proc = opsctl("-c", str(path), "daemon", "run-job", "duty-export")
    assert proc.returncode == 1
    assert opsctl("-c", str(path), "daemon", "run-job", "nope").returncode == 2


def _writable_uevent():
    from pathlib import Path

    for name in ("loop7", "loop6", "loop0"):
        p = Path(f"/sys/block/{name}/uevent")
        if p.exists() and os.access(p, os.W_OK):
            return p
    return None


@pytest.mark.skipif(_writable_uevent() is None, reason="needs root and /sys/block/loop*")
def test_block_device_event_alerted_by_the_daemon(tmp_path, webhook, daemon_factory):
    """A real kernel uevent (written to a loop device's uevent file) → disk-added event →
    webhook and duty log, through the running daemon."""
    uevent = _writable_uevent()
    name = uevent.parent.name
    cfg = base_config(tmp_path, daemon={"udev": True, "udev_ignore": []}, alerts={
        "targets": [{"name": "hook", "type": "webhook", "url": webhook.url}],
        "routes": [{"severity": "minor", "targets": ["hook"]}]})
    path = write_config(tmp_path / "opsctl.yaml", cfg)
    d = daemon_factory(path)
    wait_for(lambda: "ready" in d.output(), 30, what="the daemon")
    st = status_json(path)
    assert st["daemon"]["udev"].startswith("watching")
    uevent.write_text("add")
    wait_for(lambda: any(b.get("subject") == name for b in webhook.received), 15,
             what="the disk-added alert")
    body = next(b for b in webhook.received if b.get("subject") == name)
    assert body["kind"] == "disk-added" and body["source"] == "udev"
    assert any(f"disk {name} added" in t for t in duty_texts(store_for(path)))
