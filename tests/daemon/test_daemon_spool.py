"""A PostgreSQL outage under a polling daemon loses nothing (issue 15).

A real daemon polls a real UPS (net-snmp snmpd serving RFC 1628 values a test changes)
and writes to a throw-away PostgreSQL cluster. The cluster stops; during the outage the
UPS goes on battery and back on mains: the alert is delivered to a real webhook while
the database is still down, and ``daemon status`` shows the spool. The cluster starts
again: the spooled records reach the store in their order — the on-battery incident and
its closing entry in the duty chain (which verifies), the polls, the event with its
delivery, the job runs — each once.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from daemon_support import DaemonProcess, base_config, opsctl, wait_for, write_config
from snmp_agents import Snmpd, snmpd_available
from ups_pass import ChangingUps

from opsctl.core.config import load_config
from opsctl.core.store import Store
from opsctl.daemon.schema import deliveries, events, runs, spool_applied
from opsctl.daemon.spool import peek
from opsctl.handover.dutylog import list_entries
from opsctl.power.schema import events as power_events
from opsctl.power.schema import polls

pytestmark = [pytest.mark.postgresql, pytest.mark.slow,
              pytest.mark.skipif(not snmpd_available(), reason="net-snmp snmpd not installed")]


@pytest.fixture
def ups(tmp_path):
    values = ChangingUps(tmp_path / "ups-state.json")
    agent = Snmpd(community="ups-ro", extra=[values.pass_line()]).start()
    yield values, agent
    agent.stop()


def _count(store, table, *where) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where))\
            .scalar()


def test_outage_alerts_go_out_and_records_arrive_in_order(tmp_path, pg_cluster, ups,
                                                          webhook):
    values, agent = ups
    db = pg_cluster.new_database()
    cfg = base_config(
        tmp_path, store={"url": pg_cluster.socket_url(db)}, daemon={"room": "a"},
        alerts={"targets": [{"name": "hook", "type": "webhook", "url": webhook.url}],
                "routes": [{"severity": s, "targets": ["hook"]}
                           for s in ("minor", "major", "critical")],
                "rate_limit_per_hour": 1000, "retries": 1, "retry_delay": 0.2},
        devices=[{"name": "ups1", "kind": "ups", "host": "127.0.0.1", "port": agent.port,
                  "profile": "ietf", "room": "a",
                  "snmp": {"version": "2c", "community": "ups-ro"},
                  "timeout": 3, "retries": 1}])
    path = write_config(tmp_path / "opsctl.yaml", cfg)
    store = Store.for_config(load_config(path))
    state = tmp_path / "state"
    d = DaemonProcess(path, None, None, tmp_path / "d.log").start()
    try:
        wait_for(lambda: _count(store, polls) >= 2, 60, what="polls before the outage")
        head = max((e.seq for e in list_entries(load_config(path), store)), default=0)
        polls_before = _count(store, polls)
        pg_cluster.stop("fast")
        try:
            wait_for(lambda: "records are spooled" in d.output(), 30,
                     what="the daemon spooling")
            values.set("OB")
            wait_for(lambda: [b for b in webhook.received if b.get("kind") == "on_battery"],
                     30, what="the on-battery alert delivered during the outage")
            alert = next(b for b in webhook.received if b.get("kind") == "on_battery")
            assert alert["subject"] == "ups1" and alert["spooled"] is True
            # daemon status: the store is away (exit 1, clear message), the spool is shown
            p = opsctl("-c", str(path), "daemon", "status")
            assert p.returncode == 1, p.stdout + p.stderr
            assert "records waiting" in p.stdout and "Traceback" not in p.stderr
            assert "cannot" in p.stderr
            values.set("OL")  # mains back, still during the outage: the event resolves
            wait_for(lambda: "resolved (spooled)" in d.output(), 30,
                     what="the on-battery event resolved while spooling")
            spooled = peek(state)
            assert spooled is not None and spooled["records"] >= 3, spooled
        finally:
            pg_cluster.pg_ctl_start()
        wait_for(lambda: (peek(state) or {}).get("records") == 0, 60,
                 what="the spool written to the store")
        assert d.proc.poll() is None

        # The duty chain: the spooled entries after the old head, in spool order, once.
        entries = [e for e in list_entries(load_config(path), store) if e.seq > head]
        spooled_entries = [e for e in entries if (e.details or {}).get("spooled")]
        keys = [e.details["spooled"] for e in spooled_entries]
        assert len(keys) == len(set(keys)), keys  # nothing twice
        ids = [int(k.split(":")[1]) for k in keys]
        assert ids == sorted(ids), keys  # the spool's order
        incident = [e for e in spooled_entries if e.kind == "entry"
                    and e.text.startswith("ups1: on battery")]
        assert len(incident) == 1, [e.text for e in entries]
        inc = incident[0]
        assert inc.details["occurred_at"] and inc.details["subject"] == "ups1"
        closing = [e for e in entries if e.kind == "close" and e.ref_seq == inc.seq]
        assert len(closing) == 1 and closing[0].seq > inc.seq
        assert closing[0].details.get("spooled")
        p = opsctl("-c", str(path), "duty", "log", "verify")
        assert p.returncode == 0, p.stdout + p.stderr

        # The alert event with its delivery, the polls and the runs of the outage.
        with store.read() as conn:
            ev = conn.execute(sa.select(events).where(events.c.kind == "on_battery")).all()
            assert len(ev) == 1 and ev[0].status == "closed" and ev[0].duty_seq == inc.seq
            dl = conn.execute(sa.select(deliveries).where(
                deliveries.c.event_id == ev[0].id)).all()
            assert [(x.target, x.ok) for x in dl] == [("hook", True)]
            applied = conn.execute(sa.select(spool_applied.c.key)).scalars().all()
            assert len(applied) == len(set(applied)) >= 3
            ok_polls = conn.execute(sa.select(sa.func.count()).select_from(runs).where(
                runs.c.job_id == "poll", runs.c.status == "ok")).scalar()
        assert _count(store, power_events, power_events.c.kind == "on_battery") == 1
        assert _count(store, polls) > polls_before + 2
        assert ok_polls > 2
        # the daemon records directly again afterwards
        n = _count(store, polls)
        wait_for(lambda: _count(store, polls) >= n + 2, 30, what="polls after the replay")
        assert (peek(state) or {}).get("records") == 0
        assert len([b for b in webhook.received if b.get("kind") == "on_battery"]) == 1
        status = json.loads(opsctl("-c", str(path), "daemon", "status", "--json").stdout)
        assert status["spool"] is None
    finally:
        d.stop()
        store.close()
        print(d.output())  # shown by pytest when the test failed


def test_a_daemon_started_while_the_database_is_down_runs_and_spools(tmp_path, pg_cluster,
                                                                      ups, webhook):
    """The database is down when the daemon starts (a fresh one: never migrated): it starts
    anyway, as a follower, polls, alerts and spools — the scheduled inspections and the
    UPS's on-battery incident too — and, once the server answers, migrates, records its
    jobs and writes the spool in order; the chain verifies."""
    values, agent = ups
    db = pg_cluster.new_database()
    cfg = base_config(
        tmp_path, store={"url": pg_cluster.socket_url(db)}, daemon={
            "room": "a", "schedule_overrides": {"inspection:quick": "*/2 * * * * *"}},
        inspection={"profiles": [{"name": "quick", "schedule": "0 9 * * *", "items": [
            {"id": "load", "check": "load", "params": {"warn": 500, "crit": 1000}}]}]},
        alerts={"targets": [{"name": "hook", "type": "webhook", "url": webhook.url}],
                "routes": [{"severity": s, "targets": ["hook"]}
                           for s in ("minor", "major", "critical")],
                "rate_limit_per_hour": 1000, "retries": 1, "retry_delay": 0.2},
        devices=[{"name": "ups1", "kind": "ups", "host": "127.0.0.1", "port": agent.port,
                  "profile": "ietf", "room": "a",
                  "snmp": {"version": "2c", "community": "ups-ro"},
                  "timeout": 3, "retries": 1}])
    path = write_config(tmp_path / "opsctl.yaml", cfg)
    state = tmp_path / "state"
    pg_cluster.stop("fast")
    d = None
    try:
        d = DaemonProcess(path, None, None, tmp_path / "d.log").start()
        wait_for(lambda: "starting without it" in d.output(), 60,
                 what="the daemon starting without its store")
        wait_for(lambda: "job poll: 1 devices polled" in d.output(), 30, what="a poll")
        values.set("OB")
        wait_for(lambda: [b for b in webhook.received if b.get("kind") == "on_battery"],
                 30, what="the on-battery alert delivered while the database is down")
        wait_for(lambda: "inspection quick spooled" in d.output(), 30,
                 what="a scheduled inspection spooled")
        assert d.proc.poll() is None
        assert "now the site's leader" not in d.output()  # no store, no lead
        spooled = peek(state)
        assert spooled is not None and spooled["records"] >= 3, spooled
    finally:
        pg_cluster.pg_ctl_start()
    try:
        wait_for(lambda: (peek(state) or {}).get("records") == 0, 60,
                 what="the spool written to the store")
        assert d.proc.poll() is None
        assert "the store answers" in d.output()
        wait_for(lambda: "now the site's leader" in d.output(), 30, what="the lead taken")
        store = Store.for_config(load_config(path))
        try:
            entries = list_entries(load_config(path), store)
            incident = [e for e in entries if e.text.startswith("ups1: on battery")]
            assert len(incident) == 1 and incident[0].details.get("spooled")
            p = opsctl("-c", str(path), "duty", "log", "verify")
            assert p.returncode == 0, p.stdout + p.stderr
            from opsctl.inspection.schema import runs as inspection_runs

            with store.read() as conn:
                ev = conn.execute(sa.select(events).where(events.c.kind == "on_battery"))\
                    .all()
                assert len(ev) == 1 and ev[0].duty_seq == incident[0].seq
                n_insp = conn.execute(sa.select(sa.func.count()).select_from(
                    inspection_runs).where(inspection_runs.c.source == "daemon")).scalar()
                jobs = conn.execute(sa.text("SELECT job_id FROM daemon_jobs")).scalars().all()
            assert n_insp >= 1
            assert {"poll", "inspection:quick"} <= set(jobs)
            assert _count(store, power_events, power_events.c.kind == "on_battery") == 1
            status = json.loads(opsctl("-c", str(path), "daemon", "status", "--json").stdout)
            assert status["spool"] is None
        finally:
            store.close()
    finally:
        d.stop()
        print(d.output())
