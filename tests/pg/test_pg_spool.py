"""The daemon's spool against a real PostgreSQL: records written in spool order, a
replay cut short between the store's commit and the spool's removal applies nothing
twice, a record the store refuses is set aside (not lost, not blocking), and a server
that is down leaves the spool as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from pg_cluster import store_yaml

from opsctl.core.config import load_config
from opsctl.core.errors import StoreUnavailable
from opsctl.core.store import Store
from opsctl.daemon.schema import runs, spool_applied
from opsctl.daemon.spool import Spool, drain, peek
from opsctl.handover.dutylog import list_entries

pytestmark = pytest.mark.postgresql

BASE = ("site: {name: t, timezone: UTC}\nstate_dir: state\n"
        "people:\n  - {name: olga, roles: [operator]}\n")


def make(tmp_path: Path, url: str):
    p = tmp_path / "opsctl.yaml"
    p.write_text(BASE + store_yaml(url))
    cfg = load_config(p)
    return p, cfg, Store.for_config(cfg)


def note(text: str) -> dict:
    return {"category": "note", "text": text, "source": "daemon/test",
            "author": "opsctl-daemon"}


def verify(cfg_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opsctl", "-c", str(cfg_path), "duty",
                           "log", "verify"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NO_COLOR": "1"})


def test_replay_in_order_and_nothing_twice_after_a_crash_mid_replay(tmp_path, pg_url,
                                                                   monkeypatch):
    path, cfg, store = make(tmp_path, pg_url)
    try:
        spool = Spool.open(tmp_path)
        for i in range(3):
            spool.add("duty", note(f"spooled {i}"), at=f"2026-01-01T00:00:0{i}+00:00")
        spool.add("run", {"run_id": None, "job_id": "poll", "trigger": "schedule",
                          "scheduled_for": None, "started_at": "2026-01-01T00:00:03+00:00",
                          "finished_at": "2026-01-01T00:00:04+00:00", "status": "ok",
                          "summary": "1 devices polled", "error": None, "pid": 1,
                          "host": "h"})
        assert spool.active and peek(tmp_path)["records"] == 4

        # The "crash": the first record is committed to the store, then the process
        # dies before the spool row goes.
        real_remove = Spool.remove

        def crash(self, rid):
            raise KeyboardInterrupt("killed between commit and removal")

        monkeypatch.setattr(Spool, "remove", crash)
        with pytest.raises(KeyboardInterrupt):
            drain(spool, store, cfg)
        monkeypatch.setattr(Spool, "remove", real_remove)
        assert peek(tmp_path)["records"] == 4

        assert drain(spool, store, cfg) == 4
        assert not spool.active
        texts = [e.text for e in list_entries(cfg, store)]
        assert texts == ["spooled 0", "spooled 1", "spooled 2"]
        entries = list_entries(cfg, store)
        assert [e.details["occurred_at"] for e in entries] == [
            f"2026-01-01T00:00:0{i}+00:00" for i in range(3)]
        with store.read() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(spool_applied))\
                .scalar() == 4
            assert conn.execute(sa.select(runs.c.summary)).scalars().all() == [
                "1 devices polled"]
        p = verify(path)
        assert p.returncode == 0, p.stdout + p.stderr
        spool.close()
    finally:
        store.close()


def test_a_refused_record_is_set_aside_and_the_rest_goes_on(tmp_path, pg_url):
    path, cfg, store = make(tmp_path, pg_url)
    try:
        spool = Spool.open(tmp_path)
        spool.add("duty", note("before"))
        spool.add("duty", {**note("x"), "category": "no-such-category"})
        spool.add("duty", note("after"))
        assert drain(spool, store, cfg) == 2
        assert [e.text for e in list_entries(cfg, store)] == ["before", "after"]
        assert peek(tmp_path)["rejected"] == 1 and peek(tmp_path)["records"] == 0
        spool.close()
    finally:
        store.close()


def test_server_down_leaves_the_spool_untouched(tmp_path, pg_cluster):
    url = pg_cluster.socket_url(pg_cluster.new_database())
    path, cfg, store = make(tmp_path, url)
    spool = Spool.open(tmp_path)
    spool.add("duty", note("waiting"))
    pg_cluster.stop("fast")
    try:
        with pytest.raises(StoreUnavailable), store.write():
            pass
        assert drain(spool, store, cfg) == 0
        assert peek(tmp_path)["records"] == 1
    finally:
        pg_cluster.pg_ctl_start()
    try:
        assert drain(spool, store, cfg) == 1
        assert [e.text for e in list_entries(cfg, store)] == ["waiting"]
    finally:
        spool.close()
        store.close()


def test_the_jobs_saved_state_is_spooled_and_read_back_during_an_outage(tmp_path,
                                                                         pg_cluster):
    """The RAID/SMART jobs compare with their saved state: during an outage they read what
    they last saved (kept by the spool) and their new state is written when the store is
    back, in order."""
    from opsctl.core import kvstate
    from opsctl.daemon.jobs import KV_NS, JobContext, state_get, state_put

    url = pg_cluster.socket_url(pg_cluster.new_database())
    path, cfg, store = make(tmp_path, url)
    spool = Spool.open(tmp_path)
    ctx = JobContext(cfg, store, None, None, spool=spool)
    try:
        state_put(ctx, "raid_state", {"md0": {"degraded": False, "state": "clean"}})
        assert not spool.active  # written directly
        pg_cluster.stop("fast")
        try:
            assert state_get(ctx, "raid_state")["md0"]["degraded"] is False
            state_put(ctx, "raid_state", {"md0": {"degraded": True, "state": "degraded"}})
            assert spool.active and peek(tmp_path)["records"] == 1
            assert state_get(ctx, "raid_state")["md0"]["degraded"] is True
            state_put(ctx, "smart_state", {"/dev/sda": {"reallocated": 3}})
        finally:
            pg_cluster.pg_ctl_start()
        assert drain(spool, store, cfg) == 2
        assert kvstate.get(store, KV_NS, "raid_state")["md0"]["state"] == "degraded"
        assert kvstate.get(store, KV_NS, "smart_state") == {"/dev/sda": {"reallocated": 3}}
    finally:
        spool.close()
        store.close()
