"""The store: migrations, permissions, concurrent writers, crash safety."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import sqlalchemy as sa

from opsctl.core import kvstate
from opsctl.core.journal import ChangeRecord, list_changes, recorded_change
from opsctl.core.store import Store, schema_versions


def test_open_creates_owner_only_db_with_wal(tmp_path):
    store = Store.open(tmp_path / "state")
    db = tmp_path / "state" / "opsctl.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert store.versions()["core"] >= 1
    store.close()


def test_migrations_idempotent_and_refuse_newer(tmp_path):
    store = Store.open(tmp_path)
    before = store.versions()
    assert store.migrate() == before  # second run: nothing to do
    with store.write() as conn:
        conn.execute(schema_versions.update().where(schema_versions.c.component == "core")
                     .values(version=999))
    try:
        Store.open(tmp_path)
    except Exception as exc:  # noqa: BLE001
        assert "newer than this opsctl knows" in str(exc)
    else:
        raise AssertionError("a newer schema must be refused")


def test_failed_write_rolls_back(tmp_path):
    store = Store.open(tmp_path)
    kvstate.put(store, "t", "k", 1)
    try:
        with store.write() as conn:
            kvstate.put(store, "t", "k2", 2, conn=conn)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert kvstate.items(store, "t") == {"k": 1}


WRITER = textwrap.dedent("""
    import sys
    from opsctl.core.store import Store
    from opsctl.core import kvstate
    from opsctl.core.store_schema import kv
    import sqlalchemy as sa
    store = Store.open(sys.argv[1])
    for i in range(int(sys.argv[3])):
        with store.write() as conn:
            n = conn.execute(sa.select(sa.func.count()).select_from(kv)
                             .where(kv.c.namespace == "w")).scalar()
            kvstate.put(store, "w", f"{sys.argv[2]}-{n}", n, conn=conn)
""")


def test_concurrent_writers_serialise(tmp_path):
    Store.open(tmp_path).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), name, "40"])
             for name in ("a", "b", "c")]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    values = sorted(kvstate.items(Store.open(tmp_path), "w").values())
    # Each transaction saw the count left by the previous one: no lost or doubled write.
    assert values == list(range(120))


CRASHER = textwrap.dedent("""
    import sys, time
    from opsctl.core.store import Store
    from opsctl.core import kvstate
    store = Store.open(sys.argv[1])
    kvstate.put(store, "c", "committed", "yes")
    with store.write() as conn:
        for i in range(500):
            kvstate.put(store, "c", f"uncommitted-{i}", i, conn=conn)
        print("in-transaction", flush=True)
        time.sleep(60)
""")


def test_killed_writer_leaves_last_commit(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", CRASHER, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "in-transaction"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = Store.open(tmp_path)
    assert kvstate.items(store, "c") == {"committed": "yes"}
    # and the store is writable again (no stale lock)
    t0 = time.monotonic()
    kvstate.put(store, "c", "after", 1)
    assert time.monotonic() - t0 < 5


def test_change_journal_records_outcome(tmp_path):
    store = Store.open(tmp_path)
    with recorded_change(store, ChangeRecord("storage", "raid create", "md0",
                                             before={"x": 1})) as rec:
        rec.commands.append({"argv": ["mdadm", "--create"], "returncode": 0})
        rec.after = {"x": 2}
    try:
        with recorded_change(store, ChangeRecord("storage", "lv resize", "vg/lv")):
            raise ValueError("nope")
    except ValueError:
        pass
    rows = list_changes(store, "storage")
    assert [r["status"] for r in rows] == ["failed", "ok"]
    assert rows[1]["after"] == {"x": 2} and rows[0]["detail"]["error"] == "nope"
    with store.read() as conn:
        assert conn.execute(sa.text("select count(*) from changes")).scalar() == 2
