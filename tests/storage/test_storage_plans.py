"""Plans: the exact commands built for each operation, refusals, and the executor's undo.

The command runner is a recording fake answering with real captured output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from storage_fakes import FakeRunner, fixture_text

from opsctl.core.errors import NotFoundError, OpsError, SafetyError, UsageError
from opsctl.core.journal import list_changes
from opsctl.core.store import Store
from opsctl.storage import lvm, raid
from opsctl.storage.actions import ExecContext
from opsctl.storage.devices import Force
from opsctl.storage.layout import load_layout, plan_layout
from opsctl.storage.plan import execute
from opsctl.storage.probe import snapshot

UUID = "11111111:22222222:33333333:44444444"


def blank_runner() -> FakeRunner:
    return FakeRunner({
        ("lsblk",): fixture_text("lsblk-blank.json"),
        ("mdadm", "--detail", "--scan"): "",
        ("blkid", "-p"): (2, ""),
        ("findmnt",): fixture_text("findmnt.json"),
    })


def lvm_runner(detail: str = "mdadm-detail-clean.txt") -> FakeRunner:
    r = FakeRunner({
        ("lsblk",): fixture_text("lsblk-lvm.json"),
        ("mdadm", "--detail", "--scan"): fixture_text("mdadm-detail-scan.txt"),
        ("mdadm", "--detail", "/dev/md/data"): fixture_text(detail),
        ("pvs",): fixture_text("pvs.json"), ("vgs",): fixture_text("vgs.json"),
        ("lvs",): fixture_text("lvs.json"),
        ("blkid", "-p"): (2, ""),
        ("blkid", "-p", "-o", "export", "/dev/vg0/data"): fixture_text("blkid-lv.txt"),
        ("findmnt",): fixture_text("findmnt.json"),
        ("findmnt", "-J", "-o", "TARGET,SOURCE", "--source", "/dev/vg0/data"):
            fixture_text("findmnt-data.json"),
    })
    return r


def test_raid5_create_commands_in_order(settings):
    r = blank_runner()
    plan = raid.create_plan(snapshot(r, mdstat_text=""), r, settings, "data", "5",
                            ["/dev/vda", "/dev/vdb", "/dev/vdc"], ["/dev/vdd"], "512K",
                            md_uuid=UUID)
    assert [a.kind for a in plan.actions] == ["raid.create", "raid.clear", "mdadm.conf",
                                              "initramfs"]
    assert plan.actions[0].argv == [
        "mdadm", "--create", "/dev/md/data", "--run", "--level=5", "--raid-devices=3",
        "--metadata=1.2", f"--uuid={UUID}", "--name=data", "--chunk=512K", "--spare-devices=1",
        "/dev/vda", "/dev/vdb", "/dev/vdc", "/dev/vdd"]
    assert plan.actions[0].undo_argv == [
        ["mdadm", "--stop", "/dev/md/data"],
        ["mdadm", "--zero-superblock", "/dev/vda", "/dev/vdb", "/dev/vdc", "/dev/vdd"]]
    shown = "\n".join(plan.actions[2].commands())
    assert f"+ARRAY /dev/md/data metadata=1.2 spares=1 UUID={UUID}" in shown
    assert plan.actions[3].argv == ["update-initramfs", "-u"]


def test_raid_create_refusals(settings):
    r = blank_runner()
    snap = snapshot(r, mdstat_text="")
    with pytest.raises(UsageError, match="RAID5 needs at least 3 devices"):
        raid.create_plan(snap, r, settings, "data", "5", ["/dev/vda", "/dev/vdb"])
    with pytest.raises(NotFoundError, match="unknown device /dev/sdz"):
        raid.create_plan(snap, r, settings, "data", "5", ["/dev/vda", "/dev/vdb", "/dev/sdz"])
    with pytest.raises(UsageError, match="listed twice"):
        raid.create_plan(snap, r, settings, "data", "1", ["/dev/vda", "/dev/vda"])
    with pytest.raises(UsageError, match="bad array name"):
        raid.create_plan(snap, r, settings, "bad name", "1", ["/dev/vda", "/dev/vdb"])
    # a disk carrying a filesystem signature: refused, unless forced with a reason
    r.answer(("blkid", "-p", "-o", "export", "/dev/vdb"), fixture_text("blkid-probe-ext4.txt"))
    with pytest.raises(SafetyError, match="carries a ext4 signature"):
        raid.create_plan(snap, r, settings, "data", "1", ["/dev/vda", "/dev/vdb"])
    with pytest.raises(UsageError, match="--reason"):
        Force(True, None)
    plan = raid.create_plan(snap, r, settings, "data", "1", ["/dev/vda", "/dev/vdb"],
                            force=Force(True, "old test disk"))
    assert plan.actions[0].argv == ["wipefs", "-a", "/dev/vdb"]
    # mdadm missing: one clear error before anything is planned
    nomd = blank_runner()
    nomd.tools.discard("mdadm")
    with pytest.raises(OpsError, match="mdadm is not installed"):
        raid.create_plan(snapshot(nomd, mdstat_text=""), nomd, settings, "d", "1",
                         ["/dev/vda", "/dev/vdb"])


def test_in_use_disk_refused_even_with_force(settings):
    r = lvm_runner()
    snap = snapshot(r, mdstat_text=fixture_text("mdstat-clean.txt"))
    with pytest.raises(SafetyError, match="member of array data"):
        raid.create_plan(snap, r, settings, "x", "1", ["/dev/vda", "/dev/vdd"],
                         force=Force(True, "because"))


def test_fail_remove_replace_rules():
    r = lvm_runner("mdadm-detail-clean.txt")
    snap = snapshot(r, mdstat_text=fixture_text("mdstat-clean.txt"))
    with pytest.raises(SafetyError, match="working member"):
        raid.remove_plan(snap, "data", "/dev/vdc")
    plan = raid.replace_plan(snap, r, "data", "/dev/vdc", "/dev/vdd")
    assert [a.argv for a in plan.actions] == [
        ["mdadm", "/dev/md/data", "--fail", "/dev/vdc"],
        ["mdadm", "/dev/md/data", "--remove", "/dev/vdc"],
        ["mdadm", "/dev/md/data", "--add", "/dev/vdd"]]
    deg = lvm_runner("mdadm-detail-failed-member.txt")
    snap = snapshot(deg, mdstat_text=fixture_text("mdstat-failed-member.txt"))
    with pytest.raises(SafetyError, match="would lose data"):
        raid.fail_plan(snap, "data", "/dev/vda")
    assert raid.remove_plan(snap, "data", "/dev/vdc").actions[0].argv == [
        "mdadm", "/dev/md/data", "--remove", "/dev/vdc"]
    with pytest.raises(NotFoundError, match="not a member"):
        raid.fail_plan(snap, "data", "/dev/vde")


def test_lv_create_with_fs_and_mount(settings):
    r = lvm_runner()
    snap = snapshot(r, mdstat_text="")
    plan = lvm.lv_create_plan(snap, r, settings, "vg0", "srv", "100M", "ext4", "/srv/new",
                              "noatime", fs_uuid="0000-u")
    assert [a.kind for a in plan.actions] == ["lv.create", "fs.mkfs", "fs.mkdir", "fstab.add",
                                              "fs.mount"]
    assert plan.actions[0].argv == ["lvcreate", "-y", "--wipesignatures", "y", "-n", "srv",
                                    "-L", f"{100 * 1024**2}b", "vg0"]
    assert plan.actions[1].argv == ["mkfs.ext4", "-q", "-F", "-U", "0000-u", "/dev/vg0/srv"]
    assert ("+UUID=0000-u /srv/new ext4 noatime,nofail,x-systemd.device-timeout=30s 0 2"
            in "".join(plan.actions[3].commands()))
    assert plan.actions[4].argv == ["mount", "-T", str(settings.fstab), "/srv/new"]
    with pytest.raises(UsageError, match="larger than the free space"):
        lvm.lv_create_plan(snap, r, settings, "vg0", "big", "1G")
    with pytest.raises(SafetyError, match="already exists"):
        lvm.lv_create_plan(snap, r, settings, "vg0", "data", "1G")


def test_lv_resize_rules():
    r = lvm_runner()
    snap = snapshot(r, mdstat_text="")
    grow = lvm.lv_resize_plan(snap, r, "vg0", "data", "+40M")
    assert [a.argv for a in grow.actions] == [
        ["lvextend", "-L", f"{140 * 1024**2}b", "vg0/data"], ["resize2fs", "/dev/vg0/data"]]
    r.answer(("blkid", "-p", "-o", "export", "/dev/vg0/xdata"), "TYPE=xfs\nUUID=x\n")
    with pytest.raises(SafetyError, match="xfs filesystems cannot be shrunk"):
        lvm.lv_resize_plan(snap, r, "vg0", "xdata", "-40M")
    with pytest.raises(UsageError, match="more than the free space"):
        lvm.lv_resize_plan(snap, r, "vg0", "data", "+2G")


def test_vg_reduce_needs_free_extents_elsewhere():
    r = lvm_runner()
    snap = snapshot(r, mdstat_text="")
    with pytest.raises(SafetyError, match="only PV"):
        lvm.vg_reduce_plan(snap, "vg0", "/dev/md127")


def test_executor_undoes_in_reverse_and_records(settings, tmp_path):
    r = blank_runner()
    plan = raid.create_plan(snapshot(r, mdstat_text=""), r, settings, "data", "5",
                            ["/dev/vda", "/dev/vdb", "/dev/vdc"], md_uuid=UUID)
    r.answer(("update-initramfs",), (1, "", "initramfs: disk full"))
    r.tools.add("update-initramfs")
    store = Store.open(tmp_path / "state")
    before = settings.mdadm_conf.read_text()
    with pytest.raises(OpsError, match=r"step 4 .* failed.*undid the 3 step"):
        execute(plan, ExecContext(r, info=lambda m: None, warn=lambda m: None), store=store,
                files=[settings.mdadm_conf, settings.fstab], action="raid.create")
    assert settings.mdadm_conf.read_text() == before          # file edit undone
    # undo runs backwards: mdadm.conf restored (and the initramfs rebuilt from it), array gone
    assert r.changed() == [
        plan.actions[0].argv, ["update-initramfs", "-u"], ["update-initramfs", "-u"],
        ["mdadm", "--stop", "/dev/md/data"],
        ["mdadm", "--zero-superblock", "/dev/vda", "/dev/vdb", "/dev/vdc"]]
    rec = list_changes(store, "storage")[0]
    assert rec["status"] == "rolled-back" and rec["action"] == "raid.create"
    assert rec["detail"]["failed_step"].startswith("rebuild the initramfs")
    assert [c["argv"][0] for c in rec["commands"]] == [
        "mdadm", "update-initramfs", "update-initramfs", "mdadm", "mdadm"]
    assert rec["before"]["files"][str(settings.mdadm_conf)] == before


def test_layout_errors_name_file_line_field(tmp_path):
    p = tmp_path / "layout.yaml"
    p.write_text("arrays:\n  - name: data\n    level: 7\n    devices: [/dev/a, /dev/b, /dev/c]\n")
    with pytest.raises(OpsError, match=r"layout.yaml:3: arrays\[0\].level: must be one of"):
        load_layout(p)
    p.write_text("arrays:\n  - name: data\n    level: 5\n    devices: [/dev/a, /dev/b]\n")
    with pytest.raises(OpsError, match=r"layout.yaml:2: arrays\[0\]: RAID5 needs at least 3"):
        load_layout(p)
    p.write_text("volume_groups: [{name: vg0, pvs: [data]}]\n"
                 "volumes:\n  - {vg: vg0, name: a, size: 10X}\n")
    with pytest.raises(OpsError, match=r"layout.yaml:3: volumes\[0\].size: bad size"):
        load_layout(p)
    p.write_text("volumes:\n  - {vg: nope, name: a, size: 1G}\n")
    with pytest.raises(OpsError, match="volume group 'nope' is not in volume_groups"):
        load_layout(p)
    p.write_text("arrays: [\n")
    with pytest.raises(OpsError, match="invalid YAML"):
        load_layout(p)


def test_layout_plan_from_blank_disks(settings, tmp_path):
    p = tmp_path / "layout.yaml"
    text = Path(__file__).resolve().parents[2].joinpath(
        "configs", "layout.example.yaml").read_text()
    import yaml

    arrays = yaml.safe_load(text)["arrays"]
    assert all(d.startswith("/dev/disk/by-id/")
               for a in arrays for d in a["devices"] + a.get("spares", []))
    for i, dev in enumerate(("vda", "vdb", "vdc", "vdd"), 1):    # the fake host's disks
        text = text.replace(f"/dev/disk/by-id/ata-ST4000NM0035-1V4107_ZC11AAA{i}", f"/dev/{dev}")
    p.write_text(text)
    r = blank_runner()
    plan = plan_layout(load_layout(p), snapshot(r, mdstat_text=""), r, settings)
    kinds = [a.kind for a in plan.actions]
    assert kinds[:6] == ["raid.create", "raid.clear", "mdadm.conf", "initramfs", "pv.create",
                         "vg.create"]
    assert kinds.count("lv.create") == 2 and kinds.count("fstab.add") == 2
    # a disk listed in the layout that is a member of another array
    r2 = lvm_runner()
    snap = snapshot(r2, mdstat_text=fixture_text("mdstat-clean.txt"))
    p.write_text("arrays:\n  - name: new\n    level: 1\n    devices: [/dev/vdd, /dev/vda]\n")
    with pytest.raises(SafetyError, match=r"layout.yaml:2: arrays\[0\]: /dev/vda is in use.*"
                                          r"member of array data"):
        plan_layout(load_layout(p), snap, r2, settings)


def test_follow_rebuild_until_clean(monkeypatch):
    seq = ["mdadm-detail-recovering.txt",
           "mdadm-detail-recovering-spare.txt", "mdadm-detail-clean-spare.txt"]
    r = FakeRunner({("mdadm", "--detail", "--scan"): fixture_text("mdadm-detail-scan.txt"),
                    ("mdadm", "--detail", "/dev/md/data"):
                        lambda argv: fixture_text(seq.pop(0) if len(seq) > 1 else seq[0])})
    monkeypatch.setattr("opsctl.storage.probe.read_mdstat", lambda *a: "")
    seen = []
    final = raid.follow(r, "data", on_progress=lambda a: seen.append((a.state, a.percent)),
                        poll=0)
    assert final.state == "clean"
    assert seen == [("recovering", 3.0), ("recovering", 4.0), ("clean", None)]


def test_pvmove_is_followed_until_done():
    from opsctl.storage.lvm import PvMove

    progress = ['{"report":[{"lv":[{"lv_name":"[pvmove0]","copy_percent":"12.50"}]}]}',
                '{"report":[{"lv":[{"lv_name":"[pvmove0]","copy_percent":"87.00"}]}]}',
                '{"report":[{"lv":[{"lv_name":"srv","copy_percent":""}]}]}']
    r = FakeRunner({("lvs",): lambda argv: progress.pop(0)})
    a = PvMove("pv.move", "move", ["pvmove", "-b", "/dev/vde"], undo_argv=[["pvmove", "--abort"]])
    a.poll = 0
    lines = []
    a.execute(ExecContext(r, info=lines.append, warn=lines.append))
    assert r.changed() == [["pvmove", "-b", "/dev/vde"]]
    assert lines == ["pvmove: 12.5%", "pvmove: 87%", "pvmove: done"]


LAYOUT_AS_BUILT = """\
arrays:
  - {name: data, level: 5, devices: [/dev/vda, /dev/vdb, /dev/vdc]}
volume_groups:
  - {name: vg0, pvs: [data]}
volumes:
  - {vg: vg0, name: data, size: 100M, fs: ext4, mount: /mnt/data}
  - {vg: vg0, name: xdata, size: 320M, fs: xfs, mount: /mnt/xdata}
"""


def _as_built(settings, tmp_path):
    r = lvm_runner()
    r.answer(("blkid", "-p", "-o", "export", "/dev/vg0/xdata"),
             "UUID=f95ecb95-226c-422c-a77c-0288e7a8b8f1\nTYPE=xfs\nUSAGE=filesystem\n")
    settings.fstab.write_text(
        "UUID=44ead0e6-9a25-4f99-aced-c107104b8da2 /mnt/data ext4 defaults,nofail 0 2\n"
        "UUID=f95ecb95-226c-422c-a77c-0288e7a8b8f1 /mnt/xdata xfs defaults,nofail 0 2\n")
    # the probe's own findmnt columns (captured for /mnt/data) plus the xfs mount
    mounts = json.loads(fixture_text("findmnt-data.json"))
    mounts["filesystems"].append({"target": "/mnt/xdata", "source": "/dev/mapper/vg0-xdata",
                                  "fstype": "xfs", "options": "rw", "size": 331000000,
                                  "used": 2000000, "avail": 329000000})
    r.answer(("findmnt", "-J", "-b"), json.dumps(mounts))
    return r, snapshot(r, mdstat_text=fixture_text("mdstat-clean.txt"))


def test_layout_matching_reality_plans_nothing(settings, tmp_path):
    r, snap = _as_built(settings, tmp_path)
    p = tmp_path / "layout.yaml"
    p.write_text(LAYOUT_AS_BUILT)
    plan = plan_layout(load_layout(p), snap, r, settings)
    assert plan.empty and plan.render_lines() == ["no changes"]


def test_layout_grow_and_conflicts(settings, tmp_path):
    r, snap = _as_built(settings, tmp_path)
    p = tmp_path / "layout.yaml"
    p.write_text(LAYOUT_AS_BUILT.replace("size: 100M", "size: 140M"))
    plan = plan_layout(load_layout(p), snap, r, settings)
    assert [a.argv for a in plan.actions] == [
        ["lvextend", "-L", f"{140 * 1024**2}b", "vg0/data"], ["resize2fs", "/dev/vg0/data"]]
    p.write_text(LAYOUT_AS_BUILT.replace("size: 100M", "size: 8M"))
    with pytest.raises(SafetyError, match=r"layout.yaml:6: volumes\[0\]: .*smaller than its "
                                          r"data \(20M used\)"):
        plan_layout(load_layout(p), snap, r, settings)
    p.write_text(LAYOUT_AS_BUILT.replace("level: 5", "level: 6").replace(
        "/dev/vdc]", "/dev/vdc, /dev/vdd]"))
    with pytest.raises(SafetyError, match="exists as raid5, the layout says raid6"):
        plan_layout(load_layout(p), snap, r, settings)
    p.write_text(LAYOUT_AS_BUILT.replace("fs: xfs", "fs: ext4"))
    with pytest.raises(SafetyError, match="carries xfs, the layout says ext4"):
        plan_layout(load_layout(p), snap, r, settings)


def test_new_array_with_a_stale_volume_group_inside_is_wiped():
    """A disk that left an old array brings the old PV label into the new one."""
    from opsctl.storage.raid import ClearStale, CreateArray

    r = FakeRunner({
        ("blkid", "-p", "-o", "export", "/dev/md/new"): "TYPE=LVM2_member\nUSAGE=raid\n",
        ("pvs",): '{"report":[{"pv":[{"pv_name":"/dev/md126","vg_name":"oldvg"}]}]}',
    })
    ctx = ExecContext(r, info=lambda m: None, warn=lambda m: None)
    ClearStale("raid.clear", "clear", ["wipefs", "-a", "/dev/md/new"]).execute(ctx)
    assert r.changed() == [["vgchange", "-an", "oldvg"], ["wipefs", "-a", "/dev/md/new"]]
    r.history.clear()
    CreateArray("raid.create", "create", ["mdadm", "--create", "/dev/md/new"],
                undo_argv=[["mdadm", "--stop", "/dev/md/new"],
                           ["mdadm", "--zero-superblock", "/dev/vdc"]]).undo(ctx)
    assert r.changed() == [["vgchange", "-an", "oldvg"], ["mdadm", "--stop", "/dev/md/new"],
                           ["mdadm", "--zero-superblock", "/dev/vdc"]]


def test_fstab_add_refuses_to_mount_over_data(settings, tmp_path):
    from opsctl.storage.fsops import fstab_add_plan

    r = lvm_runner()
    r.answer(["blkid", "-p", "-o", "export", "/dev/mapper/vg0-data"], fixture_text("blkid-lv.txt"))
    snap = snapshot(r, mdstat_text="")
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("data that a mount would hide\n")
    with pytest.raises(SafetyError, match="not empty") as exc:
        fstab_add_plan(snap, r, settings, "/dev/mapper/vg0-data", str(full))
    assert "--move-data" in exc.value.hint
    # without mounting it the entry may be written; an empty directory is fine either way
    assert fstab_add_plan(snap, r, settings, "/dev/mapper/vg0-data", str(full), mount=False).actions
    (tmp_path / "empty").mkdir()
    assert fstab_add_plan(snap, r, settings, "/dev/mapper/vg0-data", str(tmp_path / "empty")).actions


def test_layout_adding_a_disk_grows_the_array_pv_lv_and_fs(settings, tmp_path):
    """The seed's growth path as one layout change: add -> reshape -> follow it ->
    pvresize -> the LV and its filesystem, sized from a fresh probe after pvresize."""
    r, snap = _as_built(settings, tmp_path)
    p = tmp_path / "layout.yaml"
    p.write_text(LAYOUT_AS_BUILT.replace("/dev/vdc]", "/dev/vdc, /dev/vdd]")
                 .replace("size: 100M", "size: 700M"))
    plan = plan_layout(load_layout(p), snap, r, settings)
    kinds = [a.kind for a in plan.actions]
    assert kinds == ["raid.add", "raid.grow", "mdadm.conf", "initramfs", "raid.wait",
                     "pv.resize", "lv.extend"], kinds
    assert plan.actions[0].argv == ["mdadm", "/dev/md/data", "--add", "/dev/vdd"]
    assert plan.actions[1].argv == ["mdadm", "--grow", "/dev/md/data", "--raid-devices=4"]
    assert plan.actions[5].argv == ["pvresize", "/dev/md127"]
    assert isinstance(plan.actions[6], raid.Replanned)
    # more than the grown VG can hold is refused at plan time, with the layout line
    p.write_text(LAYOUT_AS_BUILT.replace("/dev/vdc]", "/dev/vdc, /dev/vdd]")
                 .replace("size: 100M", "size: 2G"))
    with pytest.raises(OpsError, match=r"layout.yaml:6: volumes\[0\]: growing by"):
        plan_layout(load_layout(p), snap, r, settings)


def test_raid_grow_whole_path_and_rerun(settings):
    r = lvm_runner()
    snap = snapshot(r, mdstat_text=fixture_text("mdstat-clean.txt"))
    r.answer(("lvs",), fixture_text("lvs.json"))
    plan = raid.grow_plan(snap, r, settings, "data", ["/dev/vdd"], wait=True,
                          extend=["vg0/data:+100%FREE"])
    assert [a.kind for a in plan.actions] == ["raid.add", "raid.grow", "mdadm.conf",
                                              "initramfs", "raid.wait", "pv.resize", "lv.extend"]
    assert raid.grown_bytes(snap.array("data"), 4) == 815104 * 1024 * 3 // 2
    # the same names for one array: bare, /dev/md/NAME, kernel /dev/mdN
    assert snap.array("/dev/md/data") is snap.array("data") is snap.array("/dev/md127")
    with pytest.raises(UsageError, match="expected VG/LV:SIZE"):
        raid.grow_plan(snap, r, settings, "data", ["/dev/vdd"], extend=["vg0/data"])
    with pytest.raises(NotFoundError, match="no logical volume vg0/nope"):
        raid.grow_plan(snap, r, settings, "data", ["/dev/vdd"], extend=["vg0/nope:+1G"])
    # run again after an interruption: the disk is in, nothing is added twice
    again = raid.grow_plan(snap, r, settings, "data", ["/dev/vda"], wait=True)
    assert [a.kind for a in again.actions] == ["raid.wait", "pv.resize"]
    with pytest.raises(SafetyError, match="nothing to grow"):
        raid.grow_plan(snap, r, settings, "data", ["/dev/vda"])


def test_md_numbered_names():
    from opsctl.storage.tools import array_key, md_numbered, md_path

    assert md_path("md5") == "/dev/md5" and md_path("data") == "/dev/md/data"
    assert md_path("/dev/md/x") == "/dev/md/x" and md_numbered("md127")
    assert not md_numbered("mdata") and not md_numbered("md")
    assert array_key("/dev/md5") == "md5" == array_key("/dev/md/md5") == array_key("md5")


def inactive_runner() -> FakeRunner:
    """What a VM showed after a power cut in the middle of a reshape (seed phase 3):
    udev's incremental assembly held the disks and left md5 inactive."""
    return FakeRunner({
        ("lsblk",): fixture_text("lsblk-blank.json"),
        ("mdadm", "--detail", "--scan"): fixture_text("mdadm-detail-scan-inactive.txt"),
        ("mdadm", "--detail", "/dev/md5"): fixture_text("mdadm-detail-inactive-reshape.txt"),
        ("pvs",): '{"report": [{"pv": []}]}', ("vgs",): '{"report": [{"vg": []}]}',
        ("lvs",): '{"report": [{"lv": []}]}',
        ("blkid", "-p"): (2, ""),
        ("findmnt",): fixture_text("findmnt.json"),
    })


def test_inactive_array_is_critical_and_assembled_on_request(settings):
    r = inactive_runner()
    snap = snapshot(r, mdstat_text=fixture_text("mdstat-inactive-reshape.txt"))
    a = snap.array("md5")
    assert a is not None and a.state == "inactive" and a.health.name == "CRITICAL"
    assert a.device == "/dev/md5" and {m["role"] for m in a.members} == {"held"}
    plan = raid.assemble_plan(snap, "/dev/md5")
    [step] = plan.actions
    assert step.commands()[:2] == [
        "mdadm --stop /dev/md5",
        "mdadm --assemble --run /dev/md5 --uuid=99cc32b7:07db44bd:85fa647d:97f96b64"
        "  # --backup-file=/var/backups/opsctl-md5-grow.backup if it exists"]
    step.execute(raid.exec_context(r, print, print))
    changed = [c for c in r.calls if c[:2] != ["mdadm", "--detail"] and c[0] == "mdadm"]
    assert changed == [["mdadm", "--stop", "/dev/md5"],
                       ["mdadm", "--assemble", "--run", "/dev/md5",
                        "--uuid=99cc32b7:07db44bd:85fa647d:97f96b64"],
                       ["mdadm", "--readwrite", "/dev/md5"]]


def test_grow_of_an_inactive_array_assembles_first_then_replans(settings):
    r = inactive_runner()
    snap = snapshot(r, mdstat_text=fixture_text("mdstat-inactive-reshape.txt"))
    plan = raid.grow_plan(snap, r, settings, "md5", ["/dev/vdb"], wait=True,
                          extend=["vg5/data:100%FREE"])
    assert [a.kind for a in plan.actions] == ["raid.assemble", "raid.grow.rest"]
    assert plan.title == "finish growing md5" and "inactive" in plan.notes[0]
    with pytest.raises(SafetyError, match="not inactive"):
        raid.assemble_plan(snapshot(lvm_runner(), mdstat_text=fixture_text("mdstat-clean.txt")),
                           "data")
