#!/usr/bin/env python3
"""The duty chain on SQLite and on PostgreSQL, side by side in one run.

Usage: python3 benchmarks/store/pg_vs_sqlite.py [--appends N] [--writers P]
                                                [--entries N] [--json]

Starts a throw-away PostgreSQL cluster (tests/helpers/pg_cluster.py) with production
durability (fsync, synchronous_commit on, as SQLite's synchronous=FULL), then measures:

- append rate, one writer: N appends, each its own write transaction (what `duty log
  add` and the daemon do): opsctl (lock, read head, hash, insert, head update) beside the
  peer, the same row INSERTed in its own transaction by the bare driver;
- append rate, P writers at once (processes; on PostgreSQL half of them over the socket,
  half over TCP with a password: two "hosts"); the chain is verified gap-free afterwards;
- verify rate on a log of --entries rows (default 1 000 000; loaded in bulk), opsctl's
  `chain.verify` beside the peer, reading the same rows with the bare driver.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "helpers"))
from pg_cluster import PASSWORD, PgCluster, pg_bindir, store_yaml  # noqa: E402

from opsctl.core.config import load_config  # noqa: E402
from opsctl.core.store import Store  # noqa: E402
from opsctl.handover import chain  # noqa: E402

BASE = "site: {name: bench, timezone: UTC}\nstate_dir: state\n"

APPENDER = textwrap.dedent("""
    import sys, time
    from opsctl.core.config import load_config
    from opsctl.core.store import Store
    from opsctl.handover.chain import NewEntry, append
    cfg, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = Store.for_config(load_config(cfg))
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    sys.stdin.readline()
    for i in range(n):
        with store.write() as conn:
            append(conn, NewEntry(text=f"{tag} {i}", author=tag, source="bench"))
""")


def configs(tmp: Path, cluster: PgCluster | None, db: str | None) -> dict[str, Path]:
    out = {}
    s = tmp / "sqlite"
    s.mkdir()
    (s / "opsctl.yaml").write_text(BASE)
    out["sqlite"] = s / "opsctl.yaml"
    if cluster is not None:
        a, b = tmp / "pg-a", tmp / "pg-b"
        a.mkdir()
        b.mkdir()
        (a / "opsctl.yaml").write_text(BASE + store_yaml(cluster.socket_url(db)))
        (b / "db.pw").write_text(PASSWORD + "\n")
        (b / "db.pw").chmod(0o600)
        (b / "opsctl.yaml").write_text(BASE + store_yaml(cluster.tcp_url(db),
                                                         password_file="db.pw"))
        out["postgresql"], out["postgresql-tcp"] = a / "opsctl.yaml", b / "opsctl.yaml"
    return out


def reset(store: Store) -> None:
    with store.write() as conn:
        conn.exec_driver_sql("DELETE FROM duty_log")
        conn.exec_driver_sql("DELETE FROM duty_meta")


def one_writer(store: Store, n: int) -> float:
    reset(store)
    t0 = time.perf_counter()
    for i in range(n):
        with store.write() as conn:
            chain.append(conn, chain.NewEntry(text=f"bench {i}", author="bench",
                                              source="bench"))
    return n / (time.perf_counter() - t0)


def peer_one_writer(store: Store, n: int, cluster, db) -> float:
    """The bare driver: one INSERT per transaction into a plain table, durable commits."""
    if store.is_sqlite:
        con = sqlite3.connect(store.path, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.execute("CREATE TABLE IF NOT EXISTS peer (seq INTEGER PRIMARY KEY, text TEXT, "
                    "hash TEXT)")
        t0 = time.perf_counter()
        for i in range(n):
            con.execute("BEGIN IMMEDIATE")
            con.execute("INSERT INTO peer (text, hash) VALUES (?, ?)",
                        (f"bench {i}", hashlib.sha256(str(i).encode()).hexdigest()))
            con.execute("COMMIT")
        rate = n / (time.perf_counter() - t0)
        con.execute("DROP TABLE peer")
        con.close()
        return rate
    import psycopg

    with psycopg.connect(host=str(cluster.sock), port=cluster.port, user="opsctl",
                         dbname=db, autocommit=True) as con:
        con.execute("CREATE TABLE IF NOT EXISTS peer (seq serial PRIMARY KEY, text text, "
                    "hash text)")
        t0 = time.perf_counter()
        for i in range(n):
            with con.transaction():
                con.execute("INSERT INTO peer (text, hash) VALUES (%s, %s)",
                            (f"bench {i}", hashlib.sha256(str(i).encode()).hexdigest()))
        rate = n / (time.perf_counter() - t0)
        con.execute("DROP TABLE peer")
    return rate


def many_writers(cfgs: list[Path], store: Store, per: int) -> tuple[float, bool]:
    reset(store)
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, str(c), f"w{i}", str(per)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for i, c in enumerate(cfgs)]
    for p in procs:  # every writer connected and migrated-checked before the clock starts
        assert p.stdout.readline().strip() == "ready"
    t0 = time.perf_counter()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        p.stdin.close()
        assert p.wait(timeout=3600) == 0
    rate = per * len(cfgs) / (time.perf_counter() - t0)
    res = chain.verify(store)
    return rate, bool(res.ok and res.entries == per * len(cfgs)
                      and res.last_seq == per * len(cfgs))


def bulk_load(store: Store, entries: int) -> float:
    """A valid chain of ``entries`` rows, loaded in bulk (not what is measured)."""
    reset(store)
    t0 = time.perf_counter()
    fields = chain.FIELDS
    prev = chain.GENESIS
    batch: list[tuple] = []

    def flush(conn) -> None:
        if store.is_sqlite:
            conn.connection.dbapi_connection.executemany(
                f"INSERT INTO duty_log ({', '.join(fields)}, hash) VALUES "
                f"({', '.join('?' * (len(fields) + 1))})", batch)
        else:
            cur = conn.connection.dbapi_connection.cursor()
            with cur.copy(f"COPY duty_log ({', '.join(fields)}, hash) FROM STDIN") as cp:
                for row in batch:
                    cp.write_row(row)
        batch.clear()

    with store.write() as conn:
        for seq in range(1, entries + 1):
            values = (seq, f"2025-01-01T00:00:{seq % 60:02d}.000000+00:00", "entry",
                      "patrol", None, f"patrol {seq}: all normal, room 22.{seq % 10} C",
                      "bench", "op", 0, None, None, chain.ALG_PLAIN, prev)
            digest = chain.entry_hash(values, chain.ALG_PLAIN, None)
            batch.append((*values, digest))
            prev = digest
            if len(batch) == 20000:
                flush(conn)
        flush(conn)
        conn.exec_driver_sql("DELETE FROM duty_meta WHERE key = 'head'")
        conn.execute(chain.duty_meta.insert().values(key="head", value=f"{entries}:{prev}"))
    if not store.is_sqlite:
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE duty_log")
    return time.perf_counter() - t0


def verify_rate(store: Store) -> tuple[float, bool]:
    t0 = time.perf_counter()
    res = chain.verify(store)
    return time.perf_counter() - t0, res.ok


def peer_read(store: Store, cluster, db) -> float:
    """The bare driver reading the same columns in seq order (no hashing)."""
    cols = ", ".join(chain.FIELDS) + ", hash"
    t0 = time.perf_counter()
    if store.is_sqlite:
        con = sqlite3.connect(store.path)
        for _ in con.execute(f"SELECT {cols} FROM duty_log ORDER BY seq"):  # noqa: S608
            pass
        con.close()
    else:
        import psycopg

        with psycopg.connect(host=str(cluster.sock), port=cluster.port, user="opsctl",
                             dbname=db) as con, con.cursor(name="peer") as cur:
            cur.itersize = 10000
            cur.execute(f"SELECT {cols} FROM duty_log ORDER BY seq")  # noqa: S608
            for _ in cur:
                pass
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--appends", type=int, default=1000)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    bindir = pg_bindir()
    if bindir is None:
        sys.exit("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install "
                 "postgresql")
    cluster = PgCluster(bindir).start(durable=True)
    out: dict = {"appends": a.appends, "writers": a.writers, "entries": a.entries,
                 "cpus": os.cpu_count(), "load_at_start": os.getloadavg()[0]}
    try:
        db = cluster.new_database()
        with tempfile.TemporaryDirectory(prefix="opsctl-bench-") as tmp:
            cfgs = configs(Path(tmp), cluster, db)
            stores = {name: Store.for_config(load_config(cfgs[name]))
                      for name in ("sqlite", "postgresql")}
            for name, store in stores.items():
                r: dict = {}
                # interleaved runs, medians: the machine is shared
                ours, peer = [], []
                for _ in range(a.runs):
                    ours.append(one_writer(store, a.appends))
                    peer.append(peer_one_writer(store, a.appends, cluster, db))
                r["append_per_s"] = round(statistics.median(ours), 1)
                r["peer_insert_per_s"] = round(statistics.median(peer), 1)
                writers = ([cfgs["sqlite"]] * a.writers if name == "sqlite" else
                           [cfgs["postgresql"], cfgs["postgresql-tcp"]] * (a.writers // 2))
                rate, ok = many_writers(writers, store, a.appends // len(writers) * 2)
                r["concurrent_append_per_s"] = round(rate, 1)
                r["concurrent_chain_ok"] = ok
                r["bulk_load_s"] = round(bulk_load(store, a.entries), 1)
                secs, ok = verify_rate(store)
                r["verify_s"] = round(secs, 2)
                r["verify_entries_per_s"] = round(a.entries / secs)
                r["verify_ok"] = ok
                r["peer_read_s"] = round(peer_read(store, cluster, db), 2)
                out[name] = r
                reset(store)
                store.close()
    finally:
        cluster.destroy()
    out["load_at_end"] = os.getloadavg()[0]
    if a.json:
        print(json.dumps(out, indent=1))
    else:
        for name in ("sqlite", "postgresql"):
            r = out[name]
            print(f"{name:10}  append {r['append_per_s']:8.1f}/s (peer insert "
                  f"{r['peer_insert_per_s']:.1f}/s)  {a.writers} writers "
                  f"{r['concurrent_append_per_s']:.1f}/s chain ok={r['concurrent_chain_ok']}  "
                  f"verify {a.entries} in {r['verify_s']} s ({r['verify_entries_per_s']}/s, "
                  f"ok={r['verify_ok']}; peer read {r['peer_read_s']} s)")
        print(f"load average {out['load_at_start']:.1f} -> {out['load_at_end']:.1f} on "
              f"{out['cpus']} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
