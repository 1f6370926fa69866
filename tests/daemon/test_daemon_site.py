"""Several daemons, one site, one PostgreSQL store: each polls its own room's devices,
the site-once jobs run on the leader only, and a follower takes over when the leader is
killed with -9 (the server frees the leader's advisory lock with its connection)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from daemon_support import DaemonProcess, base_config, free_tcp_port, opsctl, wait_for, write_config
from pg_cluster import PASSWORD

from opsctl.core.config import load_config
from opsctl.core.store import Store
from opsctl.daemon.schema import runs
from opsctl.power.schema import readings

pytestmark = [pytest.mark.postgresql, pytest.mark.slow]


def _device(name: str, room: str, port: int) -> dict:
    # Nothing answers there: each poll records the device unreachable, which is enough
    # to see which daemon polled it.
    return {"name": name, "kind": "ups", "host": "127.0.0.1", "port": port, "room": room,
            "timeout": 0.2, "retries": 0, "snmp": {"community": "public"}}


def _status(cfg) -> dict:
    p = opsctl("-c", str(cfg), "daemon", "status", "--json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def _retention_pids(store) -> set[int]:
    with store.read() as conn:
        return {r.pid for r in conn.execute(sa.select(runs.c.pid).where(
            runs.c.job_id == "retention", runs.c.status == "ok"))}


def test_two_daemons_one_site_rooms_leader_and_takeover(tmp_path, pg_cluster):
    db = pg_cluster.new_database()
    port = free_tcp_port()
    devices = [_device("ups-a", "a", port), _device("ups-b", "b", port)]
    configs = {}
    for room in ("a", "b"):
        d = tmp_path / room
        d.mkdir()
        if room == "a":
            store = {"url": pg_cluster.socket_url(db)}
        else:  # the other "host" comes over TCP with a password
            (d / "db.pw").write_text(PASSWORD + "\n")
            (d / "db.pw").chmod(0o600)
            store = {"url": pg_cluster.tcp_url(db), "password_file": str(d / "db.pw")}
        cfg = base_config(d, devices=devices, store=store,
                          daemon={"room": room, "schedule_overrides": {
                              "retention": "* * * * * *"}})
        configs[room] = write_config(d / "opsctl.yaml", cfg)
    store = Store.for_config(load_config(configs["a"]))
    da = DaemonProcess(configs["a"], None, None, tmp_path / "a.log").start()
    try:
        wait_for(lambda: _retention_pids(store), 60, what="the first daemon leading")
        db_ = DaemonProcess(configs["b"], None, None, tmp_path / "b.log").start()
        try:
            wait_for(lambda: _status(configs["b"])["daemon"].get("running"), 60,
                     what="the second daemon running")
            sa_, sb = _status(configs["a"]), _status(configs["b"])
            assert sa_["daemon"]["role"] == "leader" and sb["daemon"]["role"] == "follower"
            names = {d["name"]: d for d in sb["site_daemons"]}
            assert names["a"]["role"] == "leader" and names["b"]["role"] == "follower"
            human = opsctl("-c", str(configs["b"]), "daemon", "status").stdout
            assert "follower" in human and "daemons on this store" in human
            # each polls its own room
            # (every poll covers one device: each daemon polls only its room's)
            wait_for(lambda: _polled(store) == ({"ups-a", "ups-b"}, {1}), 30,
                     what="each room polled by its daemon")
            n0 = len(_retention_runs(store))
            wait_for(lambda: len(_retention_runs(store)) >= n0 + 3, 30, what="more runs")
            # the site-once job ran on the leader only
            assert _retention_pids(store) == {da.proc.pid}
            # the leader dies without a word: the follower takes over
            da.proc.kill()
            da.proc.wait(10)
            wait_for(lambda: db_.proc.pid in _retention_pids(store), 30,
                     what="the follower taking over")
            assert _status(configs["b"])["daemon"]["role"] == "leader"
            slots = [r.scheduled_for for r in _retention_runs(store)]
            assert len(slots) == len(set(slots))  # no slot run twice
        finally:
            db_.stop()
        assert "now the site's leader" in db_.output()
    finally:
        da.stop()
        store.close()


def _polled(store) -> tuple[set[str], set[int]]:
    """The devices polled, and how many devices the polls covered."""
    from opsctl.power.schema import polls

    with store.read() as conn:
        devices = {r.device for r in conn.execute(sa.select(readings.c.device).distinct())}
        sizes = {r.devices for r in conn.execute(sa.select(polls.c.devices).distinct())}
    return devices, sizes


def _retention_runs(store) -> list:
    with store.read() as conn:
        return conn.execute(sa.select(runs).where(runs.c.job_id == "retention",
                                                  runs.c.scheduled_for.is_not(None))).all()


def test_daemon_rides_out_a_database_restart(tmp_path, pg_cluster):
    """The server goes away under a polling daemon and comes back: the daemon keeps
    running (its jobs fail and are logged meanwhile), then records again, and leads again."""
    from opsctl.power.schema import polls

    db = pg_cluster.new_database()
    cfg = base_config(tmp_path, devices=[_device("ups-a", "a", free_tcp_port())],
                      store={"url": pg_cluster.socket_url(db)},
                      daemon={"room": "a"})
    path = write_config(tmp_path / "opsctl.yaml", cfg)
    store = Store.for_config(load_config(path))

    def n_polls() -> int:
        with store.read() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(polls)).scalar()

    d = DaemonProcess(path, None, None, tmp_path / "d.log").start()
    try:
        wait_for(lambda: n_polls() >= 2, 60, what="polls before the restart")
        pg_cluster.stop("fast")
        try:
            wait_for(lambda: "cannot" in d.output() or "failed" in d.output(), 30,
                     what="the daemon noticing the database is gone")
            assert d.proc.poll() is None  # still running
        finally:
            pg_cluster.pg_ctl_start()
        before = n_polls()
        wait_for(lambda: n_polls() >= before + 2, 60, what="polls after the restart")
        wait_for(lambda: _status(path)["daemon"].get("role") == "leader", 30,
                 what="the lead taken again")
        assert d.proc.poll() is None
    finally:
        d.stop()
        store.close()
