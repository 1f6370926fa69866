"""The alert lifecycle: dead-from-start devices, auto-resolve closing the duty-log item,
silences — with the daemon's real poll job against a real snmpd whose UPS changes, a
real webhook receiver, a real store and duty log."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sqlalchemy as sa
from daemon_support import base_config, wait_for, write_config
from snmp_agents import Snmpd, free_udp_port, snmpd_available
from ups_pass import ChangingUps

from opsctl.core.config import load_config
from opsctl.core.runner import Runner
from opsctl.core.store import Store
from opsctl.daemon.alerts import AlertPipeline, Event
from opsctl.daemon.jobs import JobContext, job_poll
from opsctl.daemon.schema import events

pytestmark = pytest.mark.skipif(not snmpd_available(), reason="net-snmp snmpd not installed")


def setup(tmp_path, webhook, port: int):
    cfg = base_config(
        tmp_path,
        people=[{"name": "alice", "roles": ["operator", "supervisor"]},
                {"name": "erin", "roles": ["operator", "engineer"]}],
        alerts={"targets": [{"name": "hook", "type": "webhook", "url": webhook.url}],
                "routes": [{"severity": s, "targets": ["hook"]}
                           for s in ("minor", "major", "critical")],
                "dedup_minutes": 30},
        devices=[{"name": "ups1", "kind": "ups", "host": "127.0.0.1", "port": port,
                  "profile": "ietf", "snmp": {"version": "2c", "community": "ups-ro"},
                  "timeout": 1, "retries": 0}])
    path = write_config(tmp_path / "opsctl.yaml", cfg)
    cfg = load_config(path)
    store = Store.for_config(cfg)
    pipe = AlertPipeline(cfg, store)
    return path, cfg, store, pipe


def rows(store) -> list[dict]:
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(
            sa.select(events).order_by(events.c.id))]


def open_items(cfg, store) -> list:
    from opsctl.handover.dutylog import open_items as items

    return items(store)


def opsctl(path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opsctl", "-c", str(path), *args],
                          capture_output=True, text=True, timeout=60)


def test_dead_from_start_then_auto_resolve(tmp_path, webhook):
    port = free_udp_port()
    path, cfg, store, pipe = setup(tmp_path, webhook, port)
    ctx = JobContext(cfg, store, pipe, Runner())
    ups = ChangingUps(tmp_path / "ups.json")
    agent = Snmpd(community="ups-ro", port=port, extra=[ups.pass_line()])
    try:
        # Never answered: alerted too (not only an up -> down change).
        job_poll(ctx)
        (dead,) = rows(store)
        assert dead["kind"] == "comms_lost" and dead["details"]["never_answered"] is True
        assert "not answering since monitoring started" in dead["message"]
        job_poll(ctx)
        assert len(rows(store)) == 1  # not again on every poll

        # It answers: the event closes by itself, with the time and the reason.
        agent.start()
        job_poll(ctx)
        (dead,) = [r for r in rows(store) if r["kind"] == "comms_lost"]
        assert dead["status"] == "closed" and dead["closed_at"]
        assert dead["close_reason"] == "ups1 answers again"

        # A power cut (critical: a pending duty-log item) and mains back.
        ups.set("OB", charge=90)
        job_poll(ctx)
        ob = [r for r in rows(store) if r["kind"] == "on_battery"][0]
        assert ob["status"] == "open"
        pending = [i.root for i in open_items(cfg, store)]
        assert ob["duty_seq"] in pending  # handover would be blocked by it
        ups.set("OL", charge=90)
        job_poll(ctx)
        ob = [r for r in rows(store) if r["kind"] == "on_battery"][0]
        assert ob["status"] == "closed" and "no longer reports on battery" in \
            ob["close_reason"]
        assert ob["duty_seq"] not in [i.root for i in open_items(cfg, store)]
        from opsctl.handover.dutylog import list_entries

        closing = [e for e in list_entries(cfg, store) if e.kind == "close"]
        assert closing and closing[-1].ref_seq == ob["duty_seq"]
        assert closing[-1].author == "opsctl-daemon" and "resolved at" in closing[-1].text
        # The next cut is a new event, not a duplicate of the closed one.
        ups.set("OB", charge=90)
        job_poll(ctx)
        assert len([r for r in rows(store) if r["kind"] == "on_battery"]) == 2
    finally:
        agent.stop()
        pipe.close()
        store.close()


def test_silence_records_but_does_not_send(tmp_path, webhook):
    path, cfg, store, pipe = setup(tmp_path, webhook, free_udp_port())
    try:
        # Silences need the engineer role; the refusal says who has it.
        proc = opsctl(path, "daemon", "silence", "add", "ups1", "--for", "2h",
                      "--reason", "battery swap", "--by", "alice")
        assert proc.returncode == 1, proc.stderr
        assert "needs the engineer role" in proc.stderr and "erin" in proc.stderr
        proc = opsctl(path, "daemon", "silence", "add", "ups1", "--for", "2h",
                      "--reason", "battery swap")  # root maps to nobody: say who
        assert proc.returncode == 2 and "--by NAME" in proc.stderr and "erin" in proc.stderr
        proc = opsctl(path, "--json", "daemon", "silence", "add", "ups1", "--for", "2h",
                      "--reason", "battery swap", "--by", "erin")
        assert proc.returncode == 0, proc.stderr
        sil = json.loads(proc.stdout)
        assert sil["target"] == "ups1" and sil["created_by"] == "erin"
        listed = json.loads(opsctl(path, "--json", "daemon", "silence", "list").stdout)
        assert [s["id"] for s in listed] == [sil["id"]]

        quiet = pipe.emit(Event("power", "on_battery", "critical", "ups1: on battery",
                                subject="ups1"))
        loud = pipe.emit(Event("power", "on_battery", "critical", "ups2: on battery",
                               subject="ups2"))
        assert pipe.drain(20)
        by_id = {r["id"]: r for r in rows(store)}
        assert by_id[quiet]["status"] == "silenced" and by_id[quiet]["silence_id"] == sil["id"]
        assert by_id[quiet]["duty_seq"] is not None  # still in the duty log
        assert by_id[loud]["status"] == "open"
        assert [b["subject"] for b in webhook.received] == ["ups2"]

        proc = opsctl(path, "daemon", "silence", "remove", str(sil["id"]), "--by", "alice")
        assert proc.returncode == 1 and "needs the engineer role" in proc.stderr
        proc = opsctl(path, "daemon", "silence", "remove", str(sil["id"]), "--by", "erin")
        assert proc.returncode == 0 and "removed" in proc.stdout
        assert "no active silences" in opsctl(path, "daemon", "silence", "list").stdout
        pipe.emit(Event("power", "overload", "major", "ups1: overload", subject="ups1"))
        wait_for(lambda: len(webhook.received) == 2, 20, what="the alert after the silence")

        proc = opsctl(path, "daemon", "silence", "add", "ups1", "--for", "soon",
                      "--reason", "x", "--by", "erin")
        assert proc.returncode == 2 and "'soon' is not a duration" in proc.stderr
        proc = opsctl(path, "daemon", "silence", "remove", "99")
        assert proc.returncode != 0 and "no silence #99" in proc.stderr
        assert "Traceback" not in proc.stderr
    finally:
        pipe.close()
        store.close()
