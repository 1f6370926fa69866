"""The duty chain on a shared PostgreSQL under concurrent writers: several processes on
two "hosts" (two config files: one over the unix socket, one over TCP with a password),
and a writer killed inside its transaction."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from pg_cluster import PASSWORD, store_yaml

from opsctl.core.config import load_config
from opsctl.core.store import Store
from opsctl.handover import chain
from opsctl.handover.schema import duty_log

pytestmark = pytest.mark.postgresql

BASE = "site: {name: t, timezone: Europe/Berlin}\nstate_dir: state\n"

APPENDER = textwrap.dedent("""
    import sys
    from opsctl.core.config import load_config
    from opsctl.core.store import Store
    from opsctl.handover.chain import NewEntry, append
    cfg_path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = Store.for_config(load_config(cfg_path))
    for i in range(n):
        with store.write() as conn:
            append(conn, NewEntry(text=f"{tag} {i}", author=tag, source="test"))
""")


def two_hosts(tmp_path: Path, pg_cluster) -> tuple[Path, Path]:
    db = pg_cluster.new_database()
    a = tmp_path / "host-a"
    b = tmp_path / "host-b"
    a.mkdir()
    b.mkdir()
    (a / "opsctl.yaml").write_text(BASE + store_yaml(pg_cluster.socket_url(db)))
    pw = b / "db.pw"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    (b / "opsctl.yaml").write_text(BASE + store_yaml(pg_cluster.tcp_url(db),
                                                     password_file="db.pw"))
    Store.for_config(load_config(a / "opsctl.yaml")).close()  # migrated once
    return a / "opsctl.yaml", b / "opsctl.yaml"


def test_chain_gap_free_under_writers_on_two_hosts(tmp_path, pg_cluster):
    cfg_a, cfg_b = two_hosts(tmp_path, pg_cluster)
    n = 60
    writers = [(cfg, f"{host}{i}") for host, cfg in (("a", cfg_a), ("b", cfg_b))
               for i in range(3)]
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, str(cfg), tag, str(n)],
                              stderr=subprocess.PIPE, text=True) for cfg, tag in writers]
    # Verifying while they append: each verify sees one consistent snapshot.
    store = Store.for_config(load_config(cfg_b))
    checks = 0
    while any(p.poll() is None for p in procs):
        res = chain.verify(store)
        assert res.ok, res.message
        checks += 1
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert checks >= 1
    res = chain.verify(store)
    assert res.ok, res.message
    assert res.entries == n * len(writers) and res.first_seq == 1
    assert res.last_seq == n * len(writers)
    with store.read() as conn:
        rows = conn.execute(sa.select(duty_log.c.seq, duty_log.c.author, duty_log.c.text)
                            .order_by(duty_log.c.seq)).all()
    assert [r.seq for r in rows] == list(range(1, n * len(writers) + 1))
    for _, tag in writers:  # each writer's entries in the order it wrote them
        mine = [r.text for r in rows if r.author == tag]
        assert mine == [f"{tag} {i}" for i in range(n)]
    # the interleaving really happened: not one writer after another
    authors = [r.author for r in rows]
    switches = sum(1 for x, y in zip(authors, authors[1:], strict=False) if x != y)
    assert switches > len(writers)
    store.close()


HOLDER = textwrap.dedent("""
    import sys, time
    from opsctl.core.config import load_config
    from opsctl.core.store import Store
    from opsctl.handover.chain import NewEntry, append
    store = Store.for_config(load_config(sys.argv[1]))
    with store.write() as conn:
        append(conn, NewEntry(text="never committed", author="holder"))
        print("in-transaction", flush=True)
        time.sleep(120)
""")


def test_killed_writer_releases_the_lock_and_leaves_no_gap(tmp_path, pg_cluster):
    cfg_a, cfg_b = two_hosts(tmp_path, pg_cluster)
    store = Store.for_config(load_config(cfg_a))
    with store.write() as conn:
        chain.append(conn, chain.NewEntry(text="first", author="a"))
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(cfg_b)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "in-transaction"
    os.kill(proc.pid, signal.SIGKILL)  # the server sees the connection drop: lock released
    proc.wait()
    t0 = time.monotonic()
    with store.write() as conn:
        seq = chain.append(conn, chain.NewEntry(text="second", author="a"))
    assert time.monotonic() - t0 < 10
    assert seq == 2
    res = chain.verify(store)
    assert res.ok and res.entries == 2
    store.close()
