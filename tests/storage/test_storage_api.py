"""The cross-domain API on captured real output."""

from __future__ import annotations

import os

from storage_fakes import FakeRunner, fixture_text

from opsctl.core.errors import Status
from opsctl.core.store import Store
from opsctl.storage import api


def _runner(detail: str) -> FakeRunner:
    return FakeRunner({
        ("mdadm", "--detail", "--scan"): fixture_text("mdadm-detail-scan.txt"),
        ("mdadm", "--detail", "/dev/md/data"): fixture_text(detail),
        ("pvs",): fixture_text("pvs.json"),
        ("vgs",): fixture_text("vgs.json"),
        ("lvs",): fixture_text("lvs.json"),
    })


def test_raid_health_clean():
    arrays = api.raid_health(_runner("mdadm-detail-clean.txt"),
                             mdstat_text=fixture_text("mdstat-clean.txt"))
    assert len(arrays) == 1
    a = arrays[0]
    assert (a["name"], a["level"], a["state"], a["health"]) == ("data", "raid5", "clean", Status.OK)
    assert a["degraded"] is False
    assert [m["role"] for m in a["members"]] == ["active"] * 3


def test_raid_health_degraded_is_critical():
    a = api.raid_health(_runner("mdadm-detail-degraded.txt"),
                        mdstat_text=fixture_text("mdstat-degraded.txt"))[0]
    assert a["state"] == "degraded" and a["health"] == Status.CRITICAL and a["degraded"]


def test_raid_health_recovering_has_percent_and_eta():
    a = api.raid_health(_runner("mdadm-detail-recovering.txt"),
                        mdstat_text=fixture_text("mdstat-recovering.txt"))[0]
    assert a["state"] == "recovering" and a["health"] == Status.WARNING
    assert a["percent"] == 3.1 and a["eta_minutes"] == 1.4


def test_raid_health_without_mdadm_or_arrays_is_empty():
    assert api.raid_health(FakeRunner(tools=()), mdstat_text="") == []
    assert api.raid_health(FakeRunner(), mdstat_text=fixture_text("mdstat-empty.txt")) == []


def test_vg_usage():
    assert api.vg_usage(_runner("mdadm-detail-clean.txt")) == [{
        "vg": "vg0", "size_bytes": 830472192, "free_bytes": 390070272, "pv_count": 1,
        "lv_count": 2}]


def test_storage_busy(tmp_path):
    import socket

    from opsctl.core.journal import ChangeRecord, recorded_change
    from opsctl.storage.schema import storage_ops

    store = Store.open(tmp_path)
    assert api.storage_busy(store) is None
    with recorded_change(store, ChangeRecord("storage", "raid.create", "data")) as rec:
        with store.write() as conn:
            conn.execute(storage_ops.insert().values(
                change_id=rec.id, action="raid.create", target="data",
                host=socket.gethostname(), pid=os.getpid(), started_at="now"))
        assert "raid.create data" in api.storage_busy(store)
    assert api.storage_busy(store) is None
    # A crashed process (dead pid) does not block other domains forever.
    with recorded_change(store, ChangeRecord("storage", "lv.resize", "vg0/data")) as rec:
        with store.write() as conn:
            conn.execute(storage_ops.insert().values(
                change_id=rec.id, action="lv.resize", target="vg0/data",
                host=socket.gethostname(), pid=2**22 + 12345, started_at="now"))
        assert api.storage_busy(store) is None
