"""`duty log verify` checks a long SQLite log in batches on worker threads
(opsctl.handover.chainbatch); whatever a batch cannot vouch for is walked row by row.
Each case here is verified both ways, with batches of 7 entries so that damage falls
at and between batch boundaries, and the reports must be the same."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from opsctl.core.store import Store
from opsctl.handover import chain, chainbatch

KEY = b"a-secret-kept-outside-the-store-0123456789"
TEXTS = ["line one\nline two", "tab\there", 'quote " and back\\slash', "中文 😀 ünïcödé",
         "sep\u2028arator", "del\x7f", "nul\x00byte", "=1+2", "'quoted'"]


def _log(tmp_path, n: int = 50, *, keyed_from: int | None = None) -> Store:
    store = Store.open(tmp_path / "state")
    with store.write() as conn:
        for i in range(1, n + 1):
            key = KEY if keyed_from is not None and i >= keyed_from else None
            text = TEXTS[i % len(TEXTS)] if i % 3 == 0 else f"entry {i}"
            details = {"i": i, "note": TEXTS[i % len(TEXTS)]} if i % 4 == 0 else None
            chain.append(conn, chain.NewEntry(text=text, source="test", details=details), key)
    return store


def _sql(store: Store, sql: str, *args) -> None:
    conn = sqlite3.connect(store.path)
    conn.execute("DROP TRIGGER IF EXISTS duty_log_fts_au")
    conn.execute("DROP TRIGGER IF EXISTS duty_log_fts_ad")
    conn.execute(sql, args)
    conn.commit()
    conn.close()


def _both(store: Store, key: bytes | None, monkeypatch) -> dict:
    monkeypatch.setattr(chainbatch, "BATCH", 7)
    batched = chain.verify(store, key).to_dict()
    with monkeypatch.context() as m:
        m.setattr(chain, "_verify_batched", lambda *a: None)
        walked = chain.verify(store, key).to_dict()
    assert batched == walked
    return batched


@pytest.mark.parametrize("keyed_from", [None, 1, 20, 22])
def test_intact_logs_are_verified_in_batches(tmp_path, monkeypatch, keyed_from):
    store = _log(tmp_path, keyed_from=keyed_from)
    key = KEY if keyed_from else None
    seen = []
    real = chainbatch.verify_batches

    def spy(*args):
        state = real(*args)
        seen.append(state.n)
        return state

    monkeypatch.setattr(chainbatch, "verify_batches", spy)
    res = _both(store, key, monkeypatch)
    assert res["ok"] and res["entries"] == 50 and res["last_seq"] == 50, res
    # The texts with a NUL byte or U+2028 may leave a batch to the walk; the rest is
    # batched.
    assert seen[0] >= 14, seen
    if keyed_from:
        assert _both(store, None, monkeypatch)["problem"] == "unkeyed"
    else:
        assert _both(store, KEY, monkeypatch)["problem"] == "unkeyed"


@pytest.mark.parametrize("seq", [1, 7, 8, 14, 15, 29, 49, 50])
@pytest.mark.parametrize("damage", ["text", "hash", "prev_hash", "delete", "blob_hash",
                                    "alg", "forged", "seq_swap", "null_alg_forged"])
def test_damage_is_reported_as_by_the_walk(tmp_path, monkeypatch, seq, damage):
    store = _log(tmp_path)
    if damage == "text":
        _sql(store, "UPDATE duty_log SET text = text || '!' WHERE seq = ?", seq)
    elif damage == "hash":
        _sql(store, "UPDATE duty_log SET hash = ? WHERE seq = ?", "0" * 64, seq)
    elif damage == "prev_hash":
        _sql(store, "UPDATE duty_log SET prev_hash = ? WHERE seq = ?", "f" * 64, seq)
    elif damage == "delete":
        _sql(store, "DELETE FROM duty_log WHERE seq = ?", seq)
    elif damage == "blob_hash":  # the same hex digits, stored as a BLOB
        _sql(store, "UPDATE duty_log SET hash = CAST(hash AS BLOB) WHERE seq = ?", seq)
    elif damage == "alg":
        _sql(store, "UPDATE duty_log SET alg = 'md5' WHERE seq = ?", seq)
    elif damage == "forged":  # rewritten and re-hashed, as someone without a key can
        conn = sqlite3.connect(store.path)
        row = conn.execute(f"SELECT {', '.join(chain.FIELDS)} FROM duty_log WHERE seq = ?",
                           (seq,)).fetchone()
        vals = list(row)
        vals[5] = "forged"
        digest = hashlib.sha256(chain.canonical(tuple(vals))).hexdigest()
        conn.close()
        _sql(store, "UPDATE duty_log SET text = 'forged', hash = ? WHERE seq = ?", digest, seq)
    elif damage == "null_alg_forged":  # no algorithm, re-hashed with its null in place
        conn = sqlite3.connect(store.path)
        conn.execute("DROP TRIGGER IF EXISTS duty_log_fts_au")
        conn.execute("PRAGMA writable_schema = ON")  # alg is NOT NULL: as a forger would
        conn.execute("UPDATE sqlite_master SET sql = replace(sql, 'alg VARCHAR(16) NOT NULL',"
                     " 'alg VARCHAR(16)') WHERE name = 'duty_log'")
        conn.commit()
        conn.close()
        conn = sqlite3.connect(store.path)
        row = conn.execute(f"SELECT {', '.join(chain.FIELDS)} FROM duty_log WHERE seq = ?",
                           (seq,)).fetchone()
        vals = list(row)
        vals[11] = None
        digest = hashlib.sha256(chain.canonical(tuple(vals))).hexdigest()
        conn.execute("UPDATE duty_log SET alg = NULL, hash = ? WHERE seq = ?", (digest, seq))
        conn.commit()
        conn.close()
    elif damage == "seq_swap":  # two entries trade places
        other = seq + 1 if seq < 50 else seq - 1
        _sql(store, "UPDATE duty_log SET seq = -1 WHERE seq = ?", seq)
        _sql(store, "UPDATE duty_log SET seq = ? WHERE seq = ?", seq, other)
        _sql(store, "UPDATE duty_log SET seq = ? WHERE seq = -1", other)
    res = _both(store, None, monkeypatch)
    assert not res["ok"] and res["problem"] and res["bad_seq"], res


def test_keyed_damage_and_an_unkeyed_entry_after_keyed_ones(tmp_path, monkeypatch):
    store = _log(tmp_path, keyed_from=10)
    conn = sqlite3.connect(store.path)
    row = conn.execute(f"SELECT {', '.join(chain.FIELDS)} FROM duty_log WHERE seq = 30"
                       ).fetchone()
    conn.close()
    vals = list(row)
    vals[11] = chain.ALG_PLAIN
    digest = hashlib.sha256(chain.canonical(tuple(vals))).hexdigest()
    _sql(store, "UPDATE duty_log SET alg = 'sha256', hash = ? WHERE seq = 30", digest)
    res = _both(store, KEY, monkeypatch)
    assert res["problem"] == "altered" and res["bad_seq"] == 30, res
    assert _both(store, b"another-key-0123456789", monkeypatch)["bad_seq"] == 10


def test_head_and_purged_start(tmp_path, monkeypatch):
    store = _log(tmp_path)
    _sql(store, "UPDATE duty_meta SET value = ? WHERE key = 'head'", "50:" + "a" * 64)
    assert _both(store, None, monkeypatch)["problem"] == "altered"
    _sql(store, "UPDATE duty_meta SET value = ? WHERE key = 'head'", "60:" + "a" * 64)
    assert _both(store, None, monkeypatch)["problem"] == "deleted"

    # The chain after a purge starts at the anchor's purged_to + 1.
    other = _log(tmp_path / "p")
    conn = sqlite3.connect(other.path)
    h12 = conn.execute("SELECT hash FROM duty_log WHERE seq = 12").fetchone()[0]
    conn.close()
    with other.write() as c:
        chain.append(c, chain.NewEntry(text="purged", kind="purge", source="test",
                                       details={"purged_to": 12, "last_hash": h12}))
    _sql(other, "DELETE FROM duty_log WHERE seq <= 12")
    res = _both(other, None, monkeypatch)
    assert res["ok"] and res["first_seq"] == 13 and res["entries"] == 39, res
    _sql(other, "DELETE FROM duty_log WHERE seq = 13")
    assert _both(other, None, monkeypatch)["problem"] == "deleted"


def test_a_batch_failing_on_its_worker_is_walked(tmp_path, monkeypatch):
    store = _log(tmp_path)
    _sql(store, "UPDATE duty_log SET text = 'changed' WHERE seq = 40")
    real, calls = chainbatch.check_range, []

    def flaky(cur, a, b, key):
        calls.append(a)
        if a == 15:
            raise RuntimeError("worker trouble")
        return real(cur, a, b, key)

    monkeypatch.setattr(chainbatch, "check_range", flaky)
    res = _both(store, None, monkeypatch)
    assert res["problem"] == "altered" and res["bad_seq"] == 40 and 15 in calls, res
