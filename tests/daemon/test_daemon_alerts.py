"""The alert pipeline against real targets: an HTTP webhook receiver, an SMTP server (plain
and STARTTLS), a command reading stdin; a real SQLite store and the real duty log."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
import sqlalchemy as sa
from daemon_support import (
    SmtpServer,
    WebhookServer,
    base_config,
    free_tcp_port,
    wait_for,
    write_config,
)

from opsctl.core.config import load_config
from opsctl.core.errors import NotFoundError
from opsctl.core.store import Store
from opsctl.daemon.alerts import AlertPipeline, Event, ack, is_after_hours, open_events
from opsctl.daemon.schema import deliveries, events


def duty_entries(store) -> list[dict]:
    with store.read() as conn:
        rows = conn.execute(sa.text("SELECT * FROM duty_log ORDER BY seq")).mappings().all()
    return [dict(r) for r in rows]


class Clock:
    def __init__(self, t: dt.datetime):
        self.t = t

    def __call__(self) -> dt.datetime:
        return self.t


def make(tmp_path, targets, routes, **alerts):
    cfg = base_config(tmp_path, alerts={"targets": targets, "routes": routes, "retries": 1,
                                        "retry_delay": 0.1, "after_hours": ["00:00", "00:00"],
                                        **alerts})
    cfg = load_config(write_config(tmp_path / "opsctl.yaml", cfg))
    store = Store.for_config(cfg)
    return cfg, store


def test_event_logged_deduplicated_and_delivered(tmp_path, webhook):
    cfg, store = make(tmp_path, [{"name": "hook", "type": "webhook", "url": webhook.url,
                                  "token": "s3cret-token"}],
                      [{"severity": "major", "targets": ["hook"]}], dedup_minutes=30)
    pipe = AlertPipeline(cfg, store)
    try:
        ev = Event("power", "on-battery", "major", "ups1 is on battery", subject="ups1")
        eid = pipe.emit(ev)
        assert eid is not None
        # The same event again within the dedup window: counted, not re-sent or re-logged.
        assert pipe.emit(Event("power", "on-battery", "major", "ups1 is on battery",
                               subject="ups1")) is None
        assert pipe.drain(10)
    finally:
        pipe.close()
    assert len(webhook.received) == 1
    body = webhook.received[0]
    assert body["id"] == eid and body["kind"] == "on-battery" and body["severity"] == "major"
    assert webhook.headers[0]["Authorization"] == "Bearer s3cret-token"
    logged = [e for e in duty_entries(store) if f"event #{eid}" in e["text"]]
    assert len(logged) == 1 and logged[0]["severity"] == "major"
    with store.read() as conn:
        row = conn.execute(sa.select(events).where(events.c.id == eid)).first()
    assert row.count == 2 and row.duty_seq == logged[0]["seq"]


def test_failing_target_does_not_block_others(tmp_path, webhook, smtp_server):
    dead_port = free_tcp_port()  # nothing listens: connection refused
    slow = WebhookServer()
    cfg, store = make(tmp_path, [
        {"name": "dead-mail", "type": "email", "smtp_host": "127.0.0.1", "smtp_port": dead_port,
         "starttls": False, "sender": "opsctl@example.org", "to": ["ops@example.org"],
         "timeout": 2},
        {"name": "broken-hook", "type": "webhook", "url": slow.url, "timeout": 2},
        {"name": "hook", "type": "webhook", "url": webhook.url},
        {"name": "mail", "type": "email", "smtp_host": "127.0.0.1",
         "smtp_port": smtp_server.port, "starttls": False, "sender": "opsctl@example.org",
         "to": ["ops@example.org"]},
    ], [{"severity": "critical", "targets": ["dead-mail", "broken-hook", "hook", "mail"]}],
        retries=2, retry_delay=0.5)
    slow.status = 500
    pipe = AlertPipeline(cfg, store)
    try:
        started = time.monotonic()
        eid = pipe.emit(Event("raid", "degraded", "critical", "md0 degraded", subject="md0"))
        assert time.monotonic() - started < 2, "emit must not wait for deliveries"
        # The working targets are served while the broken ones are still retrying.
        wait_for(lambda: webhook.received and smtp_server.messages, 5, what="good targets")
        assert pipe.drain(20)
    finally:
        pipe.close()
        slow.close()
    with store.read() as conn:
        rows = {r.target: r for r in conn.execute(sa.select(deliveries).where(
            deliveries.c.event_id == eid))}
    assert rows["hook"].ok and rows["mail"].ok
    assert not rows["dead-mail"].ok and rows["dead-mail"].attempts == 3
    assert "unreachable" in rows["dead-mail"].error
    assert not rows["broken-hook"].ok and "HTTP 500" in rows["broken-hook"].error
    assert len(slow.received) == 3  # retried
    msg = smtp_server.messages[0]
    assert msg["to"] == ["ops@example.org"] and "CRITICAL: md0 degraded" in msg["data"]
    assert f"opsctl daemon ack {eid}" in msg["data"]


def test_smtp_starttls_with_verified_certificate(tmp_path, tls_cert):
    import ssl

    key, cert = tls_cert
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = SmtpServer(tls_context=ctx)
    try:
        cfg, store = make(tmp_path, [
            {"name": "mail", "type": "email", "smtp_host": "127.0.0.1", "smtp_port": srv.port,
             "starttls": True, "ca_file": str(cert), "sender": "opsctl@example.org",
             "to": ["ops@example.org", "boss@example.org"]}],
            [{"severity": "minor", "targets": ["mail"]}])
        pipe = AlertPipeline(cfg, store)
        try:
            pipe.emit(Event("udev", "disk-added", "minor", "disk sdz added", subject="sdz"))
            assert pipe.drain(20)
        finally:
            pipe.close()
        assert len(srv.messages) == 1
        assert srv.messages[0]["tls"] is True
        assert srv.messages[0]["to"] == ["ops@example.org", "boss@example.org"]
    finally:
        srv.close()


def test_smtps_implicit_tls_and_untrusted_certificate(tmp_path, tls_cert):
    import ssl

    key, cert = tls_cert
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = SmtpServer(tls_context=ctx, implicit_tls=True)
    common = {"type": "email", "smtp_host": "127.0.0.1", "smtp_port": srv.port,
              "ssl": True, "starttls": False, "sender": "opsctl@example.org",
              "to": ["ops@example.org"], "timeout": 5}
    try:
        cfg, store = make(tmp_path, [{**common, "name": "smtps", "ca_file": str(cert)},
                                     {**common, "name": "untrusted"}],
                          [{"severity": "major", "targets": ["smtps", "untrusted"]}], retries=0)
        pipe = AlertPipeline(cfg, store)
        try:
            eid = pipe.emit(Event("power", "overload", "major", "ups1 overload", "ups1"))
            assert pipe.drain(20)
        finally:
            pipe.close()
        assert len(srv.messages) == 1 and srv.messages[0]["tls"]
        with store.read() as conn:
            rows = {r.target: r for r in conn.execute(sa.select(deliveries).where(
                deliveries.c.event_id == eid))}
        # Without the CA the self-signed certificate is refused: no mail in clear or unverified.
        assert rows["smtps"].ok and not rows["untrusted"].ok
        assert "CERTIFICATE_VERIFY_FAILED" in rows["untrusted"].error
    finally:
        srv.close()


def test_command_target_gets_event_json_on_stdin(tmp_path):
    out = tmp_path / "received.json"
    cfg, store = make(tmp_path, [{"name": "pager", "type": "command",
                                  "command": ["sh", "-c", f"cat > {out}"]}],
                      [{"severity": "critical", "targets": ["pager"]}])
    pipe = AlertPipeline(cfg, store)
    try:
        eid = pipe.emit(Event("power", "low-battery", "critical", "ups1 battery low", "ups1"))
        assert pipe.drain(20)
    finally:
        pipe.close()
    data = json.loads(out.read_text())
    assert data["id"] == eid and data["message"] == "ups1 battery low"


def test_rate_limit_keeps_but_does_not_send(tmp_path, webhook):
    cfg, store = make(tmp_path, [{"name": "hook", "type": "webhook", "url": webhook.url}],
                      [{"severity": "minor", "targets": ["hook"]}], rate_limit_per_hour=2)
    pipe = AlertPipeline(cfg, store)
    try:
        for i in range(4):
            pipe.emit(Event("udev", "disk-added", "minor", f"disk sd{i} added", f"sd{i}"))
        assert pipe.drain(10)
    finally:
        pipe.close()
    assert len(webhook.received) == 2
    with store.read() as conn:
        statuses = [r.status for r in conn.execute(sa.select(events).order_by(events.c.id))]
    assert statuses == ["open", "open", "suppressed", "suppressed"]
    # Suppressed events are still written into the duty log: nothing goes unrecorded.
    assert sum("added" in e["text"] for e in duty_entries(store)) == 4


def test_escalation_after_deadline_unless_acknowledged(tmp_path, webhook):
    esc = WebhookServer()
    try:
        cfg, store = make(tmp_path, [{"name": "hook", "type": "webhook", "url": webhook.url},
                                     {"name": "boss", "type": "webhook", "url": esc.url}],
                          [{"severity": "critical", "targets": ["hook"],
                            "escalate_after_minutes": 15, "escalate_to": ["boss"]}])
        t0 = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
        clock = Clock(t0)
        pipe = AlertPipeline(cfg, store, clock=clock)
        try:
            a = pipe.emit(Event("power", "on-battery", "critical", "ups1 on battery", "ups1"))
            b = pipe.emit(Event("power", "on-battery", "critical", "ups2 on battery", "ups2"))
            clock.t = t0 + dt.timedelta(minutes=14)
            assert pipe.check_escalations() == []
            ack(store, a, "alice")
            clock.t = t0 + dt.timedelta(minutes=16)
            assert pipe.check_escalations() == [b]
            assert pipe.check_escalations() == []  # only once
            assert pipe.drain(10)
        finally:
            pipe.close()
        assert [r["id"] for r in esc.received] == [b]
        assert esc.received[0]["purpose"] == "escalation"
        assert [e["id"] for e in open_events(store)] == [b]
        texts = [e["text"] for e in duty_entries(store)]
        assert any(f"event #{a} acknowledged by alice" in t for t in texts)
        assert any(f"event #{b} not acknowledged within 15 min" in t for t in texts)
        with pytest.raises(NotFoundError):
            ack(store, 9999, "alice")
    finally:
        esc.close()


def test_after_hours_targets(tmp_path):
    cfg, _ = make(tmp_path, [{"name": "pager", "type": "command", "command": ["true"]}],
                  [{"severity": "critical", "targets": [], "after_hours_targets": ["pager"]}],
                  after_hours=["18:00", "08:00"])
    from opsctl.daemon.alerts import targets_for

    day = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    night = dt.datetime(2026, 11, 23, 23, 0, tzinfo=dt.UTC)
    early = dt.datetime(2026, 11, 23, 7, 59, tzinfo=dt.UTC)
    assert not is_after_hours(cfg, day) and is_after_hours(cfg, night)
    assert is_after_hours(cfg, early)
    assert targets_for(cfg, "critical", day) == []
    assert targets_for(cfg, "critical", night) == ["pager"]
