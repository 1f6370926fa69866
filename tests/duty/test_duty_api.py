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
