"""Forward-secure seals: the forgery that recomputes every hash (and the head) passes the
chain check but not the seals; truncation is caught; a stolen current key cannot re-seal
the past; an auditor verifies a copy of the store with the verification key only."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import sqlite3

import pytest
from duty_support import make_env, two_shift_config

from opsctl.core.errors import UsageError
from opsctl.handover import dutylog, seal
from opsctl.handover.chain import FIELDS, canonical

T0 = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
EPOCH = 900


def at(epoch: int, minute: int = 1) -> dt.datetime:
    return T0 + dt.timedelta(seconds=epoch * EPOCH + minute * 60)


def forge(db, seq: int, text: str) -> None:
    """The 15-line script: rewrite one entry, recompute every hash after it and the head."""
    conn = sqlite3.connect(db)
    rows = conn.execute(f"SELECT {', '.join(FIELDS)}, hash FROM duty_log ORDER BY seq").fetchall()
    prev = None
    for r in rows:
        vals = list(r[:13])
        if prev is not None:
            vals[12] = prev
        if vals[0] == seq:
            vals[5] = text
        h = hashlib.sha256(canonical(tuple(vals))).hexdigest()
        conn.execute("UPDATE duty_log SET text=?, prev_hash=?, hash=? WHERE seq=?",
                     (vals[5], vals[12], h, vals[0]))
        prev = h
    conn.execute("UPDATE duty_meta SET value=? WHERE key='head'", (f"{rows[-1][0]}:{prev}",))
    conn.commit()
    conn.close()


@pytest.fixture()
def sealed(env):
    cfg, store = env.cfg(), env.store()
    vkey = seal.init(cfg, store, now=T0)
    assert oct(seal.key_path(cfg).stat().st_mode & 0o777) == "0o600"
    for epoch in range(3):
        for i in range(4):
            dutylog.add(cfg, store, f"epoch {epoch} entry {i}", by="a1")
        out = seal.seal_now(cfg, store, now=at(epoch, 10))
        assert out.sealed and out.epoch == epoch
        # once per epoch: the key has moved on
        assert not seal.seal_now(cfg, store, now=at(epoch, 12)).sealed
    dutylog.add(cfg, store, "after the last seal", by="a1")
    return cfg, store, vkey


def test_seals_verify_and_report_unsealed_entries(env, sealed):
    cfg, store, vkey = sealed
    res = seal.verify(store, vkey)
    assert res.ok and res.seals == 3 and res.sealed_head == 12 and res.unsealed_entries == 1
    # the key file holds the next epoch's key only
    assert seal.read_key(seal.key_path(cfg)).epoch == 3
    assert seal.read_key(seal.key_path(cfg)).key == vkey.key_for(3)
    # the round trip of the printed form, and a typo in it
    assert seal.VerificationKey.decode(vkey.encode()) == vkey
    with pytest.raises(UsageError, match="check digits"):
        # (a different last digit: a key ending in "0" made this test pass 15 times in 16)
        seal.VerificationKey.decode(vkey.encode()[:-1] + ("1" if vkey.encode()[-1] == "0"
                                                          else "0"))


@pytest.mark.sqlite_only  # forges with the sqlite3 module on the file
def test_the_forgery_that_passes_the_chain_is_caught_by_the_seals(env, sealed):
    cfg, store, vkey = sealed
    forge(env.db, 9, "nothing happened")
    assert dutylog.verify(cfg, store).ok          # the chain alone is fooled
    res = seal.verify(store, vkey)
    assert not res.ok and res.bad_epoch == 2 and res.bad_seq == 12, res
    assert "rewritten" in res.message
    p = env.run("duty", "log", "verify", "--verification-key", vkey.encode(), check=2)
    assert "BROKEN" in p.stderr and "epoch 2" in p.stderr


@pytest.mark.sqlite_only  # forges with the sqlite3 module on the file
def test_truncation_is_caught(env, sealed):
    cfg, store, vkey = sealed
    env.sqlite("DELETE FROM duty_log WHERE seq > 10")
    conn = sqlite3.connect(env.db)
    h = conn.execute("SELECT hash FROM duty_log WHERE seq = 10").fetchone()[0]
    conn.execute("UPDATE duty_meta SET value=? WHERE key='head'", (f"10:{h}",))
    conn.commit()
    conn.close()
    assert dutylog.verify(cfg, store).ok
    res = seal.verify(store, vkey)
    assert not res.ok and "truncated" in res.message and res.bad_epoch == 2


@pytest.mark.sqlite_only  # forges with the sqlite3 module on the file
def test_a_stolen_current_key_cannot_reseal_the_past(env, sealed):
    cfg, store, vkey = sealed
    forge(env.db, 3, "rewritten with the stolen key")
    stolen = seal.read_key(seal.key_path(cfg))      # epoch 3's key: all the host still has
    conn = sqlite3.connect(env.db)
    prev = seal.GENESIS_MAC
    for epoch, sealed_at, head_seq in conn.execute(
            "SELECT epoch, sealed_at, head_seq FROM duty_seal ORDER BY epoch").fetchall():
        head_hash = conn.execute("SELECT hash FROM duty_log WHERE seq=?", (head_seq,)
                                 ).fetchone()[0]
        mac = seal.seal_mac(stolen.key, epoch, sealed_at, head_seq, head_hash, prev)
        conn.execute("UPDATE duty_seal SET head_hash=?, prev_mac=?, mac=? WHERE epoch=?",
                     (head_hash, prev, mac, epoch))
        prev = mac
    conn.commit()
    conn.close()
    res = seal.verify(store, vkey)
    assert not res.ok and res.bad_epoch == 0 and "forged" in res.message


def test_deleting_a_seal_is_caught(env, sealed):
    cfg, store, vkey = sealed
    env.sqlite("DELETE FROM duty_seal WHERE epoch = 1")
    res = seal.verify(store, vkey)
    assert not res.ok and res.bad_epoch == 2 and "deleted or inserted" in res.message


@pytest.mark.sqlite_only  # forges with the sqlite3 module on the file
def test_auditor_verifies_a_copy_with_the_verification_key_only(env, tmp_path):
    env.run("duty", "log", "add", "first", "--by", "a1")
    p = env.run("--json", "duty", "log", "seal", "init")
    vkey = json.loads(p.stdout)["verification_key"]
    env.run("duty", "log", "seal", "now")
    env.run("duty", "log", "add", "second", "--by", "a1")
    st = json.loads(env.run("--json", "duty", "log", "seal", "status").stdout)
    assert st["seals"] == 1 and st["unsealed_entries"] == 1
    assert not st["verification_key_on_host"]
    # another machine: a copy of the database and the verification key, nothing else
    audit = make_env(tmp_path / "auditor", "site: {name: t}\nstate_dir: state\n")
    (audit.root / "state").mkdir()
    shutil.copy(env.db, audit.db)
    keyfile = audit.root / "vkey.txt"
    keyfile.write_text(vkey + "\n")
    p = audit.run("--json", "duty", "log", "verify", "--verification-key-file", str(keyfile))
    res = json.loads(p.stdout)
    assert res["ok"] and res["seals"]["ok"] and res["seals"]["sealed_head"] == 1
    assert not (audit.root / "state" / "duty-seal.key").exists()
    forge(audit.db, 1, "forged")
    p = audit.run("duty", "log", "verify", "--verification-key", vkey, check=2)
    assert "rewritten" in p.stderr
    # a second init would strand the seals made so far
    p = env.run("duty", "log", "seal", "init", "--force", check=None)
    assert p.returncode != 0 and "seals already" in p.stderr


def test_daemon_job_sets_up_and_seals(tmp_path):
    from opsctl.daemon.jobs import JobContext, build_jobs, job_seal

    env = make_env(tmp_path, two_shift_config("  seal_epoch_seconds: 60\n"))
    cfg, store = env.cfg(), env.store()
    assert "seal" in build_jobs(cfg)

    class Alerts:
        events: list = []

        def emit(self, ev):
            self.events.append(ev)

    alerts = Alerts()
    dutylog.add(cfg, store, "x", by="a1")
    text = job_seal(JobContext(cfg, store, alerts, None, now=lambda: T0))
    assert text == "sealed epoch 0 at entry 1"
    assert [e.kind for e in alerts.events] == ["seal-set-up"]
    vkey = seal.VerificationKey.decode(seal.local_vkey_path(cfg).read_text())
    assert oct(seal.local_vkey_path(cfg).stat().st_mode & 0o777) == "0o600"
    job_seal(JobContext(cfg, store, alerts, None, now=lambda: T0 + dt.timedelta(minutes=3)))
    assert seal.verify(store, vkey).seals == 2 and len(alerts.events) == 1


def test_seals_deleted_and_remade_with_the_current_key_show_as_sealed_late(env):
    """The intruder who holds today's key rewrites entries of epoch 1, deletes the seals of
    epochs 1-2 and seals the forged log in epoch 3, linked to the seal of epoch 0: every
    seal verifies (the earlier keys are gone, so nothing earlier can be re-made), but the
    entries of epoch 1 were sealed two epochs late with no seal in between — verify says
    so (exit 1) and points at the system log's copies of the seals."""
    from opsctl.handover import chain
    from opsctl.handover.chain import NewEntry

    cfg, store = env.cfg(), env.store()
    vkey = seal.init(cfg, store, now=T0)
    key = chain.key_for_config(cfg)

    def write(epoch: int, n: int) -> None:
        with store.write() as conn:
            for i in range(n):
                chain.append(conn, NewEntry(text=f"epoch {epoch} entry {i}", author="a1",
                                            source="cli"), key,
                             ts=at(epoch, 2 + i).isoformat(timespec="seconds"))

    for epoch in range(3):
        write(epoch, 3)
        assert seal.seal_now(cfg, store, now=at(epoch, 10)).sealed
    res = seal.verify(store, vkey)
    assert res.ok and res.late == []
    # The intruder, in epoch 3: drop the seals of epochs 1 and 2 and seal again.
    env.sqlite("DELETE FROM duty_seal WHERE epoch >= 1")
    assert seal.seal_now(cfg, store, now=at(3, 10)).sealed
    res = seal.verify(store, vkey)
    assert res.ok, res.message                     # every remaining seal is genuine...
    assert res.late == [{"first_seq": 4, "last_seq": 9, "written_epoch": 1,
                         "sealed_epoch": 3, "gap": [1, 2]}]
    assert "sealed late" in res.message and "system log" in res.message
    p = env.run_proc("duty", "log", "verify", "--verification-key", vkey.encode(), check=1)
    assert "entries 4..9 sealed late" in " ".join((p.stdout + p.stderr).split())
    p = env.run_proc("--json", "duty", "log", "verify", "--verification-key", vkey.encode(),
                     check=1)
    assert json.loads(p.stdout)["seals"]["late"][0]["gap"] == [1, 2]
