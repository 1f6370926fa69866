"""The duty log on a real SQLite file, through the real CLI: concurrent writers, a writer
killed mid-append, tampering with the sqlite3 tool, keyed chains, purge."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from duty_support import local_day, make_env, two_shift_config

WRITER = textwrap.dedent("""
    import sys
    from opsctl.core.config import load_config
    from opsctl.core.store import Store
    from opsctl.handover.api import record_event
    cfg = load_config(sys.argv[1])
    store = Store.for_config(cfg)
    n = int(sys.argv[3])
    print("ready", flush=True)
    i = 0
    while n == 0 or i < n:
        record_event(store, category="note", text=f"{sys.argv[2]} {i}", source="test",
                     details={"writer": sys.argv[2], "i": i}, cfg=cfg)
        i += 1
""")


def _writer(env, name: str, n: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(env.config), name, str(n)],
                            stdout=subprocess.PIPE, text=True)


def _verify(env) -> tuple[int, dict]:
    p = env.run("--json", "duty", "log", "verify", check=None)
    return p.returncode, json.loads(p.stdout)


def test_two_concurrent_writers_lose_and_duplicate_nothing(env):
    env.run("duty", "log", "add", "shift start", "--by", "a1")  # creates the store
    n = 100
    procs = [_writer(env, name, n) for name in ("w1", "w2")]
    # ...and the CLI itself in parallel with them.
    clis = [subprocess.Popen([sys.executable, "-m", "opsctl", "-c", str(env.config), "duty",
                              "log", "add", f"cli {i}", "--by", "a2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(3)]
    for p in procs + clis:
        p.wait(timeout=120)
        assert p.returncode == 0, p.stderr and p.stderr.read()
    n_cli = len(clis)
    p = env.run_proc("--json", "duty", "log", "verify")  # a separate process reads it all
    res = json.loads(p.stdout)
    assert res["ok"], res
    total = 2 * n + 1 + n_cli
    assert res["entries"] == total and res["last_seq"] == total
    entries = json.loads(env.run("--json", "duty", "log", "list").stdout)
    assert [e["seq"] for e in entries] == list(range(1, total + 1))
    assert sorted(e["text"] for e in entries if e["author"] == "a2") == [
        f"cli {i}" for i in range(n_cli)]
    for w in ("w1", "w2"):  # every write of each writer is there, in its own order
        mine = [e["details"]["i"] for e in entries if (e["details"] or {}).get("writer") == w]
        assert mine == list(range(n))


def test_writer_killed_mid_append_leaves_a_verifiable_chain(env):
    env.run("duty", "log", "add", "before the crash")
    p = _writer(env, "doomed", 0)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.8)  # appending flat out, so the kill lands inside an append
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=10)
    rc, res = _verify(env)
    assert rc == 0 and res["ok"], res
    assert res["entries"] > 1
    env.run("duty", "log", "add", "after the crash")  # and the chain continues
    rc, res2 = _verify(env)
    assert rc == 0 and res2["last_seq"] == res["last_seq"] + 1


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """Eight entries (two via the CLI, six via the API), built once and copied per case."""
    env = make_env(tmp_path_factory.mktemp("filled"), two_shift_config())
    for i in range(2):
        env.run_proc("duty", "log", "add", f"entry {i}", "--category", "patrol")
    store = env.store()
    from opsctl.handover.api import record_event

    for i in range(2, 8):
        record_event(store, category="call", text=f"entry {i}", source="test")
    store.close()
    assert _verify(env)[0] == 0
    return env


TAMPERING = [
    ("edit text", "UPDATE duty_log SET text='nothing happened' WHERE seq=4", "altered", 4),
    ("edit severity", "UPDATE duty_log SET severity='minor' WHERE seq=3", "altered", 3),
    ("edit and rehash", "UPDATE duty_log SET text='x', hash=lower(hex(randomblob(32))) "
                        "WHERE seq=5", "altered", 5),
    ("delete middle", "DELETE FROM duty_log WHERE seq=5", "deleted", 5),
    ("delete first", "DELETE FROM duty_log WHERE seq=1", "deleted", 1),
    ("delete tail", "DELETE FROM duty_log WHERE seq>=7", "deleted", 7),
    ("delete and renumber",
     "DELETE FROM duty_log WHERE seq=3; UPDATE duty_log SET seq=-(seq-1) WHERE seq>3; "
     "UPDATE duty_log SET seq=-seq WHERE seq<0", "altered", 3),
    ("insert at end", "INSERT INTO duty_log SELECT 9, ts, kind, category, severity, "
                      "'forged', source, author, pending, ref_seq, details, alg, hash, "
                      "lower(hex(randomblob(32))) FROM duty_log WHERE seq=8", "altered", 9),
    ("insert in middle",
     "UPDATE duty_log SET seq=-(seq+1) WHERE seq>=4; UPDATE duty_log SET seq=-seq WHERE seq<0;"
     " INSERT INTO duty_log SELECT 4, ts, kind, category, severity, 'forged', source, author,"
     " pending, ref_seq, details, alg, hash, lower(hex(randomblob(32))) FROM duty_log "
     "WHERE seq=3", "inserted", 4),
]


@pytest.mark.parametrize(("what", "sql", "problem", "seq"), TAMPERING,
                         ids=[t[0] for t in TAMPERING])
def test_tampering_with_sqlite3_is_detected(filled, tmp_path, what, sql, problem, seq):
    env = filled
    # Each kind of tampering on its own copy of the store.
    copy = make_env(tmp_path / what.replace(" ", "-"), env.config.read_text())
    copy.db.parent.mkdir(parents=True)
    shutil.copy(env.db, copy.db)
    copy.sqlite(sql)
    rc, res = _verify(copy)
    assert rc == 2, res
    assert not res["ok"] and res["problem"] == problem and res["bad_seq"] == seq, res
    if what == "edit text":  # and the human form names the entry in one line
        human = copy.run("duty", "log", "verify", check=2)
        assert human.stderr.strip() == "opsctl: duty log BROKEN: entry 4 does not match " \
                                       "its hash: altered"


def test_keyed_chain_detects_a_rehash_without_the_key(tmp_path):
    key = tmp_path / "duty.key"
    key.write_text("a-secret-kept-outside-the-store-0123456789\n")
    key.chmod(0o600)
    env = make_env(tmp_path, two_shift_config(f"  log_key_file: {key}\n"))
    for i in range(3):
        env.run("duty", "log", "add", f"keyed {i}")
    rc, res = _verify(env)
    assert rc == 0 and res["keyed"], res
    # Someone with write access to the DB rewrites entry 2 and recomputes a plain SHA-256
    # chain from there: without the key that cannot produce valid HMACs.
    import hashlib

    from opsctl.handover.chain import FIELDS, canonical

    conn = __import__("sqlite3").connect(env.db)
    rows = conn.execute(f"SELECT {', '.join(FIELDS)}, hash FROM duty_log ORDER BY seq").fetchall()
    prev = rows[0][-1]
    for r in rows[1:]:
        vals = list(r[:13])
        if vals[0] == 2:
            vals[5] = "rewritten"
        vals[11], vals[12] = "sha256", prev
        h = hashlib.sha256(canonical(tuple(vals))).hexdigest()
        conn.execute("UPDATE duty_log SET text=?, alg=?, prev_hash=?, hash=? WHERE seq=?",
                     (vals[5], vals[11], vals[12], h, vals[0]))
        prev = h
    conn.execute("UPDATE duty_meta SET value=? WHERE key='head'", (f"3:{prev}",))
    conn.commit()
    conn.close()
    rc, res = _verify(env)
    assert rc == 2 and res["bad_seq"] == 2, res


def test_purge_respects_retention_and_keeps_the_chain_verifiable(env):
    import datetime as dt

    from opsctl.handover import chain, dutylog

    store = env.store()
    old = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    with store.write() as conn:  # four years of history (timestamps in the past)
        conn.exec_driver_sql("DELETE FROM duty_log")
        conn.exec_driver_sql("DELETE FROM duty_meta")
        for i in range(40):
            ts = (old + dt.timedelta(days=40 * i)).isoformat(timespec="microseconds")
            chain.append(conn, chain.NewEntry(text=f"old {i}", source="test"), ts=ts)
    store.close()
    assert _verify(env)[0] == 0
    young = env.run("duty", "log", "purge", "--before", "2025-01-01", "--yes", check=1)
    assert "retention" in young.stderr
    env.run("duty", "log", "purge", "--before", "2022-06-01", "--yes")
    rc, res = _verify(env)
    assert rc == 0, res
    entries = [e.to_dict() for e in dutylog.list_entries(env.cfg(), env.store())]
    assert entries[0]["seq"] > 1 and entries[-1]["kind"] == "purge"
    assert entries[-1]["details"]["purged_to"] == entries[0]["seq"] - 1
    assert all(e["ts"] >= "2022-06-01" for e in entries[:-1] if e["kind"] != "purge")
    # A second purge moves the anchor on; deleting the first remaining entry by hand is
    # still caught.
    cfg, store = env.cfg(), env.store()
    assert dutylog.purge(cfg, store, dt.date(2023, 1, 1)).purged > 0
    assert dutylog.verify(cfg, store).ok
    first = dutylog.list_entries(cfg, store)[0].seq
    env.sqlite(f"DELETE FROM duty_log WHERE seq={first}")
    res = dutylog.verify(cfg, store)
    assert not res.ok and res.problem == "deleted"
    store.close()
    env.run("duty", "log", "purge", "--before", "2021-13-01", check=2)  # bad date


def test_log_commands_amend_close_review(env):
    env.run("duty", "log", "add", "UPS on battery", "--category", "incident",
            "--severity", "major", "--pending", "--status", "utility notified", "--by", "a1")
    env.run("duty", "log", "amend", "1", "--reason", "typo", "--text", "UPS2 on battery",
            "--by", "a1")
    pending = json.loads(env.run("--json", "duty", "log", "list", "--pending").stdout)
    assert [e["seq"] for e in pending] == [2] and pending[0]["ref_seq"] == 1
    shown = json.loads(env.run("--json", "duty", "log", "show", "1").stdout)
    assert shown["status"] == "superseded" and shown["amended_by"] == [2]
    assert shown["text"] == "UPS on battery"  # the old entry stays as it was
    env.run("duty", "log", "close", "1", "--result", "mains back", "--by", "a1")
    assert json.loads(env.run("--json", "duty", "log", "list", "--pending").stdout) == []
    last = json.loads(env.run("--json", "duty", "log", "list", "--last", "1").stdout)
    assert [e["kind"] for e in last] == ["close"]
    assert "already closed" in env.run("duty", "log", "close", "2", "--result", "x",
                                       check=2).stderr
    today = local_day(json.loads(env.run("--json", "duty", "log", "show", "3").stdout)["ts"])
    bad = env.run("duty", "log", "review", "--date", today, "--by", "a1", check=1)
    assert "supervisor" in bad.stderr
    env.run("duty", "log", "review", "--date", today, "--by", "sam")
    env.run("duty", "log", "review", "--date", today, "--by", "sam", check=2)
    env.run("duty", "log", "add", "x", "--by", "nobody", check=2)
    env.run("duty", "log", "list", "--from", "23.11.2026", check=2)
    env.run("duty", "log", "show", "99", check=2)
    assert _verify(env)[0] == 0
    if env.backend == "sqlite":
        mode = os.stat(env.db).st_mode & 0o777
        assert mode & 0o007 == 0, oct(mode)  # the store is not world-readable
