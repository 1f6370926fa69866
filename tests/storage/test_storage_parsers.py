"""Parsers fed real output captured inside the storage VM (tests/fixtures/storage)."""

from __future__ import annotations

import pytest
from storage_fakes import fixture_text

from opsctl.core.errors import Status, UsageError
from opsctl.storage import fstab, mdadm_conf, parsers
from opsctl.storage.probe import classify
from opsctl.storage.sizes import human, parse_size, parse_size_spec


@pytest.mark.parametrize("name,state,health", [
    ("mdadm-detail-clean.txt", "clean", Status.OK),
    ("mdadm-detail-clean-spare.txt", "clean", Status.OK),
    ("mdadm-detail-resync.txt", "recovering", Status.WARNING),   # RAID5 initial build
    ("mdadm-detail-recovering.txt", "recovering", Status.WARNING),
    ("mdadm-detail-recovering-spare.txt", "recovering", Status.WARNING),
    ("mdadm-detail-degraded.txt", "degraded", Status.CRITICAL),
    ("mdadm-detail-failed-member.txt", "degraded", Status.CRITICAL),
    ("mdadm-detail-raid1.txt", "resyncing", Status.WARNING),
])
def test_mdadm_detail_classified(name, state, health):
    d = parsers.parse_mdadm_detail(fixture_text(name))
    assert classify(d) == (state, health)


def test_mdadm_detail_fields_and_members():
    d = parsers.parse_mdadm_detail(fixture_text("mdadm-detail-failed-member.txt"))
    assert d.device == "/dev/md/data" and d.level == "raid5" and d.name == "data"
    assert d.uuid == "0e398fb3:01fffc05:0f618e3e:0b578bd1"
    assert d.size_bytes == 815104 * 1024 and d.count("Raid") == 3
    assert [(m.device, m.raid_device, m.role) for m in d.members] == [
        ("/dev/vda", 0, "active"), ("/dev/vdb", 1, "active"), (None, 2, "removed"),
        ("/dev/vdc", None, "faulty")]
    rec = parsers.parse_mdadm_detail(fixture_text("mdadm-detail-recovering-spare.txt"))
    assert rec.rebuild_percent == 4.0
    assert [m.role for m in rec.members] == ["active", "active", "rebuilding", "spare"]


def test_mdstat_progress_and_members():
    md = parsers.parse_mdstat(fixture_text("mdstat-recovering-spare.txt"))["md127"]
    assert md.level == "raid5" and md.status == "UU_" and (md.raid_disks, md.working_disks) == (3, 2)
    assert (md.operation, md.percent, md.finish_minutes, md.speed_kib) == ("recovery", 4.7, 1.0, 6272)
    assert md.members == {"vdc": "S", "vdd": "", "vdb": "", "vda": ""}
    failed = parsers.parse_mdstat(fixture_text("mdstat-failed-member.txt"))["md127"]
    assert failed.members["vdc"] == "F" and failed.operation is None
    r1 = parsers.parse_mdstat(fixture_text("mdstat-raid1-resync.txt"))["md127"]
    assert (r1.level, r1.operation, r1.percent) == ("raid1", "resync", 46.0)
    assert parsers.parse_mdstat(fixture_text("mdstat-empty.txt")) == {}


def test_detail_scan():
    assert parsers.parse_detail_scan(fixture_text("mdadm-detail-scan.txt")) == [{
        "device": "/dev/md/data", "metadata": "1.2", "spares": "1", "name": "any:data",
        "UUID": "0e398fb3:01fffc05:0f618e3e:0b578bd1"}]


def test_lvm_reports_numbers_are_ints():
    lvs = parsers.parse_lvm_report(fixture_text("lvs.json"), "lv")
    assert [(x["vg_name"], x["lv_name"], x["lv_size"]) for x in lvs] == [
        ("vg0", "data", 104857600), ("vg0", "xdata", 335544320)]
    pv = parsers.parse_lvm_report(fixture_text("pvs.json"), "pv")[0]
    assert pv["pv_name"] == "/dev/md127" and pv["pv_free"] == 390070272
    vg = parsers.parse_lvm_report(fixture_text("vgs.json"), "vg")[0]
    assert vg["vg_extent_size"] == 4 * 1024**2 and vg["vg_free_count"] == 93


def test_blkid_findmnt_resize2fs():
    blocks = parsers.parse_blkid_export(fixture_text("blkid-all.txt"))
    types = {b["DEVNAME"]: b["TYPE"] for b in blocks}
    assert types["/dev/vda"] == "linux_raid_member" and types["/dev/md127"] == "LVM2_member"
    assert types["/dev/mapper/vg0-xdata"] == "xfs"
    assert parsers.parse_blkid_export(fixture_text("blkid-probe-blank.txt")) == []
    mounts = parsers.parse_findmnt(fixture_text("findmnt.json"))
    data = next(m for m in mounts if m["target"] == "/mnt/data")
    assert data["source"] == "/dev/mapper/vg0-data" and data["fstype"] == "ext4"
    one = parsers.parse_findmnt(fixture_text("findmnt-data.json"))[0]
    assert one["size"] == 92500992 and one["used"] == 20985856
    assert parsers.parse_findmnt_verify(fixture_text("findmnt-verify-bad.txt")) == [
        "/mnt/nowhere: unreachable on boot required target: No such file or directory"]
    assert parsers.parse_resize2fs_min(fixture_text("resize2fs-P.txt")) == 49803
    assert parsers.parse_dumpe2fs(fixture_text("dumpe2fs-h.txt"))["Block size"] == "1024"


def test_sizes():
    assert parse_size("512M") == 512 * 1024**2
    assert parse_size("1.5G") == 1536 * 1024**2
    assert parse_size("10GiB") == 10 * 1024**3
    assert parse_size("4096B") == 4096
    for bad in ("12Q", "abc", "10", "-5G", "0M", ""):
        with pytest.raises(UsageError):
            parse_size(bad)
    s = parse_size_spec("+100M")
    assert s.resolve(200 * 1024**2, 0, 0) == 300 * 1024**2
    assert parse_size_spec("-1G").sign == "-"
    assert parse_size_spec("50%FREE").resolve(0, 1000, 5000) == 500
    with pytest.raises(UsageError):
        parse_size_spec("+1G", allow_relative=False)
    assert human(152 * 1024**2) == "152M" and human(1536 * 1024**2) == "1.5G"


def test_fstab_block_add_remove_roundtrip():
    orig = "# /etc/fstab\nUUID=abc / ext4 errors=remount-ro 0 1\n"
    e = fstab.FstabEntry("UUID=1234", "/srv/data", "ext4",
                         fstab.data_options(None, "30s"))
    assert e.mntops == "defaults,nofail,x-systemd.device-timeout=30s"
    text = fstab.add(orig, e)
    assert fstab.BEGIN in text and "UUID=1234 /srv/data ext4 defaults,nofail" in text
    parsed = fstab.parse(text)
    assert [(x.file, x.managed) for x in parsed] == [("/", False), ("/srv/data", True)]
    with pytest.raises(Exception, match="already has an entry for /srv/data"):
        fstab.check_add(parsed, fstab.FstabEntry("UUID=9", "/srv/data", "xfs"), {"UUID=9"})
    with pytest.raises(Exception, match="this device"):
        fstab.check_add(parsed, fstab.FstabEntry("UUID=1234", "/srv/x", "xfs"), {"UUID=1234"})
    with pytest.raises(Exception, match="not written by opsctl"):
        fstab.remove(text, "/")
    back, removed = fstab.remove(text, "/srv/data")
    assert removed.spec == "UUID=1234" and back == orig


def test_mdadm_conf_array_lines():
    orig = "HOMEHOST <system>\nARRAY /dev/md/old metadata=1.2 UUID=1:2:3:4\n"
    line = mdadm_conf.array_line("/dev/md/data", "a:b:c:d", spares=1)
    assert line == "ARRAY /dev/md/data metadata=1.2 spares=1 UUID=a:b:c:d"
    text = mdadm_conf.set_array(orig, line)
    assert mdadm_conf.has_array(text, "a:b:c:d") and mdadm_conf.has_array(text, "1:2:3:4")
    again = mdadm_conf.set_array(text, line.replace("spares=1 ", ""))
    assert again.count("UUID=a:b:c:d") == 1
    assert not mdadm_conf.has_array(mdadm_conf.drop_array(again, "a:b:c:d"), "a:b:c:d")


def test_atomic_write_keeps_backup_and_handles_bind_mounted_file(tmp_path, monkeypatch):
    import errno
    import os

    from opsctl.storage.files import atomic_write, backup_path

    f = tmp_path / "fstab"
    f.write_text("old\n")
    f.chmod(0o640)
    atomic_write(f, "new\n")
    assert f.read_text() == "new\n" and backup_path(f).read_text() == "old\n"
    assert f.stat().st_mode & 0o777 == 0o640

    real_replace = os.replace

    def busy(src, dst):
        if str(dst) == str(f):
            raise OSError(errno.EBUSY, "Device or resource busy")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", busy)
    atomic_write(f, "newer\n")
    assert f.read_text() == "newer\n" and backup_path(f).read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fstab", "fstab.opsctl-backup"]


def test_detail_scan_lists_an_inactive_array():
    assert parsers.parse_detail_scan(fixture_text("mdadm-detail-scan-inactive.txt")) == [{
        "device": "/dev/md5", "inactive": "yes", "metadata": "1.2", "name": "virtme-ng:md5",
        "UUID": "99cc32b7:07db44bd:85fa647d:97f96b64"}]
