"""The cross-domain API: record_event appends gapless, hash-chained entries."""

from __future__ import annotations

import pytest

from opsctl.core.errors import StoreError, UsageError
from opsctl.core.store import Store
from opsctl.handover.api import record_event
from opsctl.handover.chain import verify


@pytest.fixture()
def store(tmp_path):
    s = Store.open(tmp_path / "state")
    yield s
    s.close()


def test_record_event_returns_gapless_seq_and_chain_verifies(store):
    seqs = [record_event(store, category="change", text=f"lv grown {i}", source="storage",
                         details={"lv": "data", "i": i}) for i in range(20)]
    assert seqs == list(range(1, 21))
    res = verify(store)
    assert res.ok and res.entries == 20 and res.last_seq == 20


def test_record_event_rejects_bad_category_and_severity(store):
    with pytest.raises(UsageError):
        record_event(store, category="gossip", text="x", source="t")
    with pytest.raises(UsageError):
        record_event(store, category="incident", text="x", severity="huge", source="t")
    assert verify(store).entries == 0


def test_keyed_chain_needs_the_key(store, tmp_path):
    key = b"0123456789abcdef0123"
    record_event(store, category="note", text="keyed", source="t", key=key)
    assert verify(store, key=key).ok
    assert not verify(store).ok  # keyed entries cannot be verified without the key
    assert not verify(store, key=b"another-key-of-20-bytes").ok
    with pytest.raises(StoreError):  # never silently continue unkeyed
        record_event(store, category="note", text="unkeyed", source="t")


def test_daemon_facing_helpers(tmp_path):
    import datetime as dt

    from duty_support import make_env, two_shift_config

    from opsctl.handover import api, chain

    env = make_env(tmp_path / "d", two_shift_config())
    cfg, store = env.cfg(), env.store()
    with store.write() as conn:  # an entry from five years ago, one from today
        chain.append(conn, chain.NewEntry(text="ancient", source="t"),
                     ts="2021-01-01T00:00:00.000000+00:00")
    api.record_event(store, category="note", text="today", source="t", cfg=cfg)
    today = dt.date.today()
    assert api.purge_expired(cfg, store, today) == 1
    assert verify(store).ok and verify(store).entries == 2  # today's + the purge anchor
    assert "not generated" in api.roster_reminder(cfg, store, dt.date(2027, 3, 24))
    env.run("duty", "roster", "generate", "--month", "2027-03")
    tz = dt.timezone(dt.timedelta(hours=1))
    changes = api.shift_changes(cfg, store, dt.datetime(2027, 3, 5, 7, tzinfo=tz),
                                dt.datetime(2027, 3, 5, 9, tzinfo=tz))
    assert len(changes) == 1 and changes[0][0].hour == 8 and changes[0][1] and changes[0][2]
    manifest = api.export(cfg, store, today, today, ["json"], tmp_path / "exp")
    assert manifest.exists()
    store.close()
