"""Alerts under faults: a daemon killed while retrying, a slow target, hostile receivers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import hostile
import pytest
import sqlalchemy as sa
from daemon_support import WebhookServer, base_config, opsctl, wait_for, write_config

from opsctl.core.config import load_config
from opsctl.core.store import Store
from opsctl.daemon.alerts import AlertPipeline, Event, pending_deliveries
from opsctl.daemon.schema import deliveries, outbox


def make(tmp_path, targets, **alerts):
    names = [t["name"] for t in targets]
    cfg = base_config(tmp_path, alerts={
        "targets": targets, "routes": [{"severity": "critical", "targets": names}],
        "retries": 1, "retry_delay": 0.1, "after_hours": ["00:00", "00:00"], **alerts})
    path = write_config(tmp_path / "opsctl.yaml", cfg)
    cfg = load_config(path)
    return path, cfg, Store.for_config(cfg)


CHILD = textwrap.dedent("""
    import sys, time
    from opsctl.core.config import load_config
    from opsctl.core.store import Store
    from opsctl.daemon.alerts import AlertPipeline, Event
    cfg = load_config(sys.argv[1])
    pipe = AlertPipeline(cfg, Store.for_config(cfg))
    pipe.emit(Event("raid", "degraded", "critical", "md0 degraded", subject="md0"))
    time.sleep(600)
""")


def test_alert_survives_kill_while_retrying(tmp_path):
    """kill -9 between two attempts: the alert is listed as pending and sent on restart."""
    hook = WebhookServer(status=500)
    try:
        path, cfg, store = make(tmp_path, [{"name": "hook", "type": "webhook",
                                            "url": hook.url, "timeout": 2}],
                                retries=5, retry_delay=60)
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)])
        try:
            wait_for(lambda: hook.received, 30, what="first (failing) attempt")
            time.sleep(0.3)  # the attempt is recorded
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
        pending = pending_deliveries(store)
        assert [(p["target"], p["purpose"], p["attempts"]) for p in pending] == \
            [("hook", "alert", 1)]
        status = json.loads(opsctl("--config", str(path), "--json", "daemon", "status").stdout)
        assert [p["target"] for p in status["pending_deliveries"]] == ["hook"]
        human = opsctl("--config", str(path), "daemon", "status").stdout
        assert "pending alert deliveries" in human and "HTTP 500" in human

        hook.status = 200  # the receiver is back; the next start replays the outbox
        pipe = AlertPipeline(cfg, store)
        try:
            assert pipe.replay() == 1
            assert pipe.drain(20)
        finally:
            pipe.close()
        assert len(hook.received) == 2 and hook.received[1]["message"] == "md0 degraded"
        with store.read() as conn:
            row = conn.execute(sa.select(outbox)).one()
            done = conn.execute(sa.select(deliveries)).one()
        assert row.state == "ok" and row.attempts == 2
        assert done.ok and done.target == "hook"
        assert pending_deliveries(store) == []
    finally:
        hook.close()


def test_stop_leaves_unfinished_deliveries_pending(tmp_path):
    hook = WebhookServer(status=503)
    try:
        _, cfg, store = make(tmp_path, [{"name": "hook", "type": "webhook", "url": hook.url}],
                             retries=3, retry_delay=30)
        pipe = AlertPipeline(cfg, store)
        pipe.emit(Event("raid", "degraded", "critical", "md0 degraded", subject="md0"))
        wait_for(lambda: hook.received, 10, what="first attempt")
        started = time.monotonic()
        pipe.close(timeout=1)
        assert time.monotonic() - started < 3
        assert [p["target"] for p in pending_deliveries(store)] == ["hook"]
        with store.read() as conn:
            assert conn.execute(sa.select(deliveries)).all() == []  # not "failed"
    finally:
        hook.close()


def test_slow_target_does_not_starve_the_others(tmp_path):
    """A receiver dripping one byte a second holds only its own queue; 12 alerts reach the
    good target at once, and the drip is a failed delivery (deadline), never ``ok``."""
    slow = hostile.RawServer(hostile.drip(1.0))
    good = WebhookServer()
    try:
        _, cfg, store = make(tmp_path, [
            {"name": "slow", "type": "webhook", "url": slow.url(), "timeout": 2},
            {"name": "good", "type": "webhook", "url": good.url},
        ], retries=0, dedup_minutes=0)
        pipe = AlertPipeline(cfg, store)
        try:
            for i in range(12):
                pipe.emit(Event("power", f"kind{i}", "critical", f"alert {i}", subject=f"u{i}"))
            wait_for(lambda: len(good.received) == 12, 6, what="all alerts at the good target")
            wait_for(lambda: _count(store, "slow") >= 1, 10, what="the first slow delivery")
            with store.read() as conn:
                slow_rows = conn.execute(sa.select(deliveries).where(
                    deliveries.c.target == "slow")).fetchall()
            assert slow_rows and not any(r.ok for r in slow_rows)
            assert "2" in slow_rows[0].error and "within" in slow_rows[0].error
        finally:
            pipe.close(timeout=0.5)
    finally:
        slow.close()
        good.close()


def _count(store, target: str) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(deliveries).where(
            deliveries.c.target == target)).scalar_one()


def test_redirect_is_a_failed_delivery_and_credentials_stay_home(tmp_path):
    other = hostile.RawServer(hostile.answer(200))  # another origin (other port)
    first = hostile.RawServer(hostile.redirect(other.url("/stolen")))
    try:
        _, cfg, store = make(tmp_path, [{
            "name": "hook", "type": "webhook", "url": first.url(), "token": "tok-SECRET-1",
            "headers": {"X-Api-Key": "key-SECRET-2"}}], retries=0)
        pipe = AlertPipeline(cfg, store)
        try:
            pipe.emit(Event("raid", "degraded", "critical", "md0 degraded", subject="md0"))
            assert pipe.drain(10)
        finally:
            pipe.close()
        assert len(first.requests) == 1
        assert hostile.headers_of(first.requests[0])["authorization"] == "Bearer tok-SECRET-1"
        time.sleep(0.3)
        assert other.requests == []  # neither the payload nor the credentials went there
        with store.read() as conn:
            row = conn.execute(sa.select(deliveries)).one()
        assert not row.ok and "302" in row.error and "not followed" in row.error
    finally:
        first.close()
        other.close()


def test_userinfo_and_header_values_are_masked(tmp_path):
    dead = hostile.RawServer(hostile.answer(500))
    url = dead.url(userinfo="bob:pass-SECRET-3@")
    try:
        path, cfg, store = make(tmp_path, [{
            "name": "hook", "type": "webhook", "url": url,
            "headers": {"X-Api-Key": "key-SECRET-2"}}], retries=0)
        pipe = AlertPipeline(cfg, store)
        try:
            pipe.emit(Event("raid", "degraded", "critical", "md0 degraded", subject="md0"))
            assert pipe.drain(10)
        finally:
            pipe.close()
        # The userinfo is sent as HTTP basic auth, never shown.
        assert hostile.headers_of(dead.requests[0])["authorization"].startswith("Basic ")
        with store.read() as conn:
            row = conn.execute(sa.select(deliveries)).one()
        assert "HTTP 500" in row.error and "SECRET" not in row.error
        assert "***@127.0.0.1" in row.error
        for args in (["config", "show"], ["--json", "config", "show"]):
            out = opsctl("--config", str(path), *args)
            assert out.returncode == 0, out.stderr
            assert "SECRET" not in out.stdout and "X-Api-Key" in out.stdout
    finally:
        dead.close()


def test_smtp_server_dripping_its_banner_fails_at_the_deadline():
    """Per-read timeouts would let a byte-a-second banner hold the mail target for half a
    minute (and longer for a longer drip): the whole session has one deadline."""
    from opsctl.core.config.alerts import EmailTarget
    from opsctl.daemon.targets import DeliveryError, send_email

    server = hostile.BannerDrip(1.0)
    try:
        target = EmailTarget(name="mail", type="email", smtp_host="127.0.0.1",
                             smtp_port=server.port, sender="opsctl@example.org",
                             to=["duty@example.org"], timeout=2)
        started = time.monotonic()
        with pytest.raises(DeliveryError, match=r"not done within 2s"):
            send_email(target, {"message": "md0 degraded", "severity": "critical"})
        assert time.monotonic() - started < 6
    finally:
        server.close()
