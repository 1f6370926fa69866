"""Log views paged in SQL (list --last, --pending, day ranges, show, search) give the
same answers as deriving every item's state from the whole log, on a real SQLite file."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
import sqlalchemy as sa

from opsctl.handover import chain, dutylog
from opsctl.handover.schema import duty_log


def _full_view(store) -> dict[int, dict]:
    """The reference: every entry decorated from the whole log's item states."""
    with store.read() as conn:
        entries = [dutylog.Entry.from_row(r)
                   for r in conn.execute(sa.select(duty_log).order_by(duty_log.c.seq))]
    st = dutylog.item_states(store)
    for e in entries:
        dutylog._decorate(e, st)
    return {e.seq: e.to_dict() for e in entries}


def _random_log(store, n: int, seed: int) -> None:
    """Pending items, amendments (of amendments), closures of roots and of amendments,
    double closures, amendments of plain entries, in a random order."""
    rnd = random.Random(seed)
    pend: list[int] = []
    seqs: list[int] = []
    t0 = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    with store.write() as conn:
        for i in range(n):
            ts = (t0 + dt.timedelta(minutes=37 * i)).isoformat(timespec="microseconds")
            r = rnd.random()
            if r < 0.25 or not seqs:
                e = chain.NewEntry(text=f"pending {i}", category="incident", pending=True,
                                   details={"status": "waiting"} if i % 3 else None)
            elif r < 0.45 and pend:
                ref = rnd.choice(pend)
                e = chain.NewEntry(text=f"amend {i} of {ref}", kind="amend", ref_seq=ref,
                                   pending=True, details={"amends": ref})
            elif r < 0.6 and pend:
                e = chain.NewEntry(text=f"close {i}", kind="close", ref_seq=rnd.choice(pend))
            elif r < 0.65:
                ref = rnd.choice(seqs)
                e = chain.NewEntry(text=f"amend {i} of plain {ref}", kind="amend", ref_seq=ref)
            else:
                e = chain.NewEntry(text=f"Patrol {i}: UPS 100% ok_{i % 7}")
            seq = chain.append(conn, e, ts=ts)
            seqs.append(seq)
            if e.pending:
                pend.append(seq)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_paged_views_match_the_whole_log(env, seed):
    env.run("duty", "log", "add", "first", "--by", "a1")
    cfg, store = env.cfg(), env.store()
    _random_log(store, 300, seed)
    ref = _full_view(store)
    everything = [e.to_dict() for e in dutylog.list_entries(cfg, store)]
    assert everything == list(ref.values())
    for n in (1, 7, 50, 1000):
        assert [e.to_dict() for e in dutylog.list_entries(cfg, store, last=n)] \
            == everything[-n:]
    open_ref = [e for e in ref.values() if e["status"] == "open"]
    assert [e.to_dict() for e in dutylog.list_entries(cfg, store, pending=True)] == open_ref
    for n in (1, 5, 200):
        got = dutylog.list_entries(cfg, store, pending=True, last=n)
        assert [e.to_dict() for e in got] == open_ref[-n:]
    for seq in rnd_sample(ref, seed):
        assert dutylog.show(store, seq).to_dict() == ref[seq]
    # A day range through the CLI, as JSON: the same rows as filtering the reference.
    day = "2025-03-03"
    got = json.loads(env.run("--json", "duty", "log", "list", "--from", day, "--to", day,
                             "--last", "10").stdout)
    lo, hi = dutylog.day_range_utc(cfg, dt.date(2025, 3, 3), dt.date(2025, 3, 3))
    want = [e for e in ref.values() if lo <= e["ts"] < hi][-10:]
    assert got and got == json.loads(json.dumps(want))
    store.close()


def rnd_sample(ref: dict, seed: int) -> list[int]:
    return random.Random(seed).sample(sorted(ref), 40)


def test_search_substring_case_insensitive_newest_first(env):
    env.run("duty", "log", "add", "first", "--by", "a1")
    cfg, store = env.cfg(), env.store()
    _random_log(store, 200, 7)
    with store.read() as conn:
        texts = [(r.seq, r.text) for r in conn.execute(
            sa.select(duty_log.c.seq, duty_log.c.text).order_by(duty_log.c.seq))]

    def want(needle: str, last: int) -> list[int]:
        return [s for s, t in texts if needle.lower() in t.lower()][-last:]

    for needle, last in (("patrol", 20), ("UPS 100%", 5), ("ok_3", 50), ("p", 10),
                         ("%", 3), ("_3", 4), ("PeNdInG 1", 500), ("nothing like it", 5)):
        got = [e.seq for e in dutylog.search(cfg, store, needle, last=last)]
        assert got == want(needle, last), needle
    hits = dutylog.search(cfg, store, "pending", last=30)
    assert all(e.status in ("open", "closed", "superseded") for e in hits)
    # A date range: only that day's entries.
    day = dt.date(2025, 3, 2)
    lo, hi = dutylog.day_range_utc(cfg, day, day)
    with store.read() as conn:
        in_day = {r.seq for r in conn.execute(sa.select(duty_log.c.seq).where(
            duty_log.c.ts >= lo, duty_log.c.ts < hi))}
    got = [e.seq for e in dutylog.search(cfg, store, "atrol", day, day, last=1000)]
    assert got == [s for s in want("atrol", 10**6) if s in in_day] and got
    with pytest.raises(dutylog.UsageError):
        dutylog.search(cfg, store, "  ")
    store.close()


def test_search_cli_and_quotes(env):
    env.run("duty", "log", "add", 'door "B" left [bold]open[/bold]', "--by", "a1")
    env.run("duty", "log", "add", "door A closed", "--by", "a1")
    got = json.loads(env.run("--json", "duty", "log", "search", '"b" left').stdout)
    assert [e["seq"] for e in got] == [1]
    table = env.run("duty", "log", "search", "DOOR").stdout
    assert "[bold]" in table and "door A" in table  # text is data, not markup
    assert json.loads(env.run("--json", "duty", "log", "search", "window").stdout) == []


def test_search_index_follows_purge_and_edits(env):
    """The full-text index is kept by triggers: purged entries are gone from it, and an
    entry edited behind opsctl's back is found by its new text (verify reports the edit)."""
    env.run("duty", "log", "add", "first", "--by", "a1")
    cfg, store = env.cfg(), env.store()
    old = dt.datetime(2015, 1, 1, tzinfo=dt.UTC)
    with store.write() as conn:
        conn.exec_driver_sql("DELETE FROM duty_log")
        conn.exec_driver_sql("DELETE FROM duty_meta")
        for i in range(30):
            ts = (old + dt.timedelta(days=100 * i)).isoformat(timespec="microseconds")
            chain.append(conn, chain.NewEntry(text=f"generator test {i}"), ts=ts)
    assert len(dutylog.search(cfg, store, "generator", last=100)) == 30
    dutylog.purge(cfg, store, dt.date(2019, 1, 1))
    left = dutylog.search(cfg, store, "generator test", last=100)
    assert left and all(e.ts >= "2019-01-01" for e in left)
    assert len(left) == sum(1 for i in range(30)
                            if old + dt.timedelta(days=100 * i) >= dt.datetime(
                                2018, 12, 31, 23, tzinfo=dt.UTC))
    env.sqlite(f"UPDATE duty_log SET text='chiller leak' WHERE seq={left[0].seq}")
    assert [e.seq for e in dutylog.search(cfg, store, "chiller")] == [left[0].seq]
    assert not dutylog.verify(cfg, store).ok
    store.close()


def test_migration_indexes_an_existing_log(env):
    """A store from before the search index (handover schema 2) gets it on open."""
    env.run("duty", "log", "add", "chiller alarm", "--by", "a1")
    env.run("duty", "log", "add", "patrol", "--by", "a1")
    if env.backend == "sqlite":
        env.sqlite("DROP TRIGGER duty_log_fts_ai; DROP TRIGGER duty_log_fts_ad; "
                   "DROP TRIGGER duty_log_fts_au; DROP TABLE duty_log_fts; ")
    else:
        env.sqlite("DROP INDEX ix_duty_log_text_trgm")
    env.sqlite("DROP INDEX ix_duty_log_pending; DROP INDEX ix_duty_log_items; "
               "UPDATE schema_versions SET version=2 WHERE component='handover'")
    got = json.loads(env.run("--json", "duty", "log", "search", "CHILLER").stdout)
    assert [e["text"] for e in got] == ["chiller alarm"]
    env.run("duty", "log", "add", "second chiller", "--by", "a1")
    got = json.loads(env.run("--json", "duty", "log", "search", "chiller").stdout)
    assert [e["seq"] for e in got] == [1, 3]
    assert env.run("duty", "log", "verify").returncode == 0
