"""The storage scenario against real mdadm, LVM, ext4/xfs and fstab, inside the VM.

Run by tests/run.sh through tests/vm/run-in-vm.sh (5 blank 400M disks). Every
step drives the real `opsctl` CLI end to end; the tests run in file order and build on
each other (one VM boot for the whole suite), so they share module-scoped state.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

DISKS = os.environ.get("VMRAID_DISKS", "").split()
pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(os.environ.get("VMRAID_IN_VM") != "1" or len(DISKS) < 5,
                       reason="needs the storage VM with 5 disks (tests/run.sh vm)"),
]

MDADM_CONF = Path("/etc/mdadm/mdadm.conf")
FSTAB = Path("/etc/fstab")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("opsctl")
    hook = base / "initramfs-hook"
    # Stands in for update-initramfs (/boot is read-only in the VM); it proves the order:
    # the ARRAY line must already be in mdadm.conf when the initramfs is rebuilt.
    hook.write_text(f"#!/bin/sh\ncat {MDADM_CONF} >> {base}/initramfs-saw\n")
    hook.chmod(0o755)
    cfg = base / "opsctl.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        site: {{name: vm-test}}
        state_dir: {base}/state
        storage:
          mdadm_conf: {MDADM_CONF}
          fstab: {FSTAB}
          initramfs_update: [{hook}]
          device_timeout: 5s
        """))
    MDADM_CONF.parent.mkdir(parents=True, exist_ok=True)
    if not MDADM_CONF.exists():
        MDADM_CONF.write_text("# mdadm.conf\nHOMEHOST <system>\n")
    # Faster resync than the kernel default under software emulation (test setup only).
    Path("/proc/sys/dev/raid/speed_limit_min").write_text("200000\n")
    Path("/proc/sys/dev/raid/speed_limit_max").write_text("2000000\n")
    return {"cfg": str(cfg), "base": base}


def opsctl(env, *args, check=True, expect=None):
    cmd = [sys.executable, "-m", "opsctl", "-c", env["cfg"], *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                       env=dict(os.environ, NO_COLOR="1"))
    if expect is not None:
        assert p.returncode == expect, (args, p.returncode, p.stdout, p.stderr)
    elif check:
        assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    return p


def ojson(env, *args, expect=0):
    p = opsctl(env, "--json", *args, expect=expect)
    return json.loads(p.stdout)


def sh(*argv) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def md5(path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def state_fingerprint() -> dict:
    """What an undone apply must leave exactly as it was."""
    return {
        "mdadm.conf": MDADM_CONF.read_text(),
        "fstab": FSTAB.read_text(),
        "lvs": sh("lvs", "--noheadings", "-o", "vg_name,lv_name,lv_size").split(),
        "vgs": sh("vgs", "--noheadings", "-o", "vg_name,pv_count").split(),
        "mdstat": [ln.split(":")[0] for ln in Path("/proc/mdstat").read_text().splitlines()
                   if ln.startswith("md")],
        "mounts": sorted(ln.split()[1] for ln in Path("/proc/mounts").read_text().splitlines()),
    }


# -- discovery and refusals before anything exists --------------------------------------------
def test_disks_all_blank_disks_free(env):
    disks = {d["path"]: d for d in ojson(env, "storage", "disks")}
    for d in DISKS:
        assert disks[d]["free"], disks[d]
        assert disks[d]["size"] == 400 * 1024**2


def test_bad_input_is_one_line_and_changes_nothing(env):
    before = state_fingerprint()
    p = opsctl(env, "storage", "raid", "create", "data", "--level", "5", *DISKS[:2], "--yes",
               expect=2)
    assert "needs at least 3 devices" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    # no TTY and no --yes: refused, nothing done
    p = opsctl(env, "storage", "raid", "create", "data", "--level", "5", *DISKS[:3], expect=1)
    assert "--yes" in p.stderr
    assert state_fingerprint() == before


def test_missing_mdadm_is_a_clear_error(env):
    mdadm = shutil.which("mdadm", path="/usr/sbin:/sbin")
    hidden = mdadm + ".hidden"
    os.rename(mdadm, hidden)  # /usr is a throw-away overlay inside the VM
    try:
        p = opsctl(env, "storage", "raid", "create", "data", "--level", "5", *DISKS[:3],
                   "--yes", expect=1)
    finally:
        os.rename(hidden, mdadm)
    assert "mdadm is not installed" in p.stderr and "Traceback" not in p.stderr


# -- the seed scenario: RAID5 over 3 disks -> vg -> lv -> ext4 -> fstab -> mounted ------------
def test_seed_raid5_create(env):
    p = opsctl(env, "storage", "raid", "create", "data", "--level", "5", *DISKS[:3], "--yes")
    assert "mdadm --create /dev/md/data" in p.stdout
    conf = MDADM_CONF.read_text()
    line = next(ln for ln in conf.splitlines() if ln.startswith("ARRAY /dev/md/data"))
    assert "UUID=" in line
    saw = (env["base"] / "initramfs-saw").read_text()
    assert line in saw, "initramfs was rebuilt before mdadm.conf had the ARRAY line"
    p = opsctl(env, "--json", "storage", "raid", "status", "data", check=False)
    assert p.returncode in (0, 1), p.stderr  # OK, or WARNING while the initial sync runs
    st = json.loads(p.stdout)
    assert st["arrays"][0]["level"] == "raid5"


def test_seed_vg_lv_fs_fstab_mount(env):
    vg = ojson(env, "storage", "vg", "create", "vg0", "data", "--yes")["result"]
    assert vg["vg"] == "vg0" and vg["size_bytes"] > 700 * 1024**2
    out = ojson(env, "storage", "lv", "create", "vg0/srv", "--size", "200M", "--fs", "ext4",
                "--mount", "/srv/data", "--yes")["result"]
    assert out["lv_size_bytes"] == 200 * 1024**2 and out["fs"] == "ext4"
    env["srv"] = out
    mnt = json.loads(sh("findmnt", "-J", "--mountpoint", "/srv/data"))["filesystems"][0]
    assert mnt["fstype"] == "ext4" and "vg0-srv" in mnt["source"]
    fstab = FSTAB.read_text()
    line = next(ln for ln in fstab.splitlines() if " /srv/data " in ln)
    assert line.startswith(f"UUID={out['fs_uuid']} /srv/data ext4 ")
    assert "nofail" in line and "x-systemd.device-timeout=5s" in line
    assert fstab.index("# BEGIN opsctl storage") < fstab.index(line) < fstab.index(
        "# END opsctl storage")
    assert Path(str(FSTAB) + ".opsctl-backup").exists()
    assert ojson(env, "storage", "fstab", "verify")["ok"]
    # the fstab entry really mounts: unmount and let `mount -a` bring it back
    sh("umount", "/srv/data")
    sh("mount", "-a")
    assert "/srv/data" in sh("findmnt", "-n", "-o", "TARGET", "/srv/data")
    # duplicate mount point / device refused
    p = opsctl(env, "storage", "fstab", "add", "/dev/vg0/srv", "/srv/other", "--yes", expect=1)
    assert "already has an entry for this device" in p.stderr
    # data for the later steps
    with open("/srv/data/blob", "wb") as f:
        f.write(os.urandom(30 * 1024**2))
    env["sum"] = md5("/srv/data/blob")


def test_in_use_disk_refused(env):
    before = state_fingerprint()
    p = opsctl(env, "storage", "raid", "create", "other", "--level", "1", DISKS[0], DISKS[3],
               "--yes", expect=1)
    assert "in use" in p.stderr and "member of array data" in p.stderr
    p = opsctl(env, "storage", "vg", "create", "vg1", DISKS[1], "--force", "--reason", "test",
               "--yes", expect=1)
    assert "in use" in p.stderr
    p = opsctl(env, "storage", "lv", "create", "vg0/huge", "--size", "5G", "--yes", expect=2)
    assert "larger than the free space" in p.stderr
    assert state_fingerprint() == before


# -- resize with the filesystem ------------------------------------------------------------------
def _lv(env, name):
    return next(x for x in ojson(env, "storage", "lv", "list") if x["lv"] == name)


def _mounted(path) -> bool:
    return any(ln.split()[1] == path for ln in Path("/proc/mounts").read_text().splitlines())


def test_grow_ext4_online(env):
    before = env["srv"]
    out = ojson(env, "storage", "lv", "resize", "vg0/srv", "+100M", "--yes")["result"]
    assert out["lv_size_bytes"] == before["lv_size_bytes"] + 100 * 1024**2
    assert out["mountpoint"] == "/srv/data" and _mounted("/srv/data")   # online grow
    assert out["fs_size_bytes"] >= before["fs_size_bytes"] + 95 * 1024**2
    assert md5("/srv/data/blob") == env["sum"]


def test_shrink_ext4_offline_keeps_data(env):
    p = opsctl(env, "storage", "lv", "resize", "vg0/srv", "20M", "--yes", expect=1)
    assert "holds" in p.stderr and "of data" in p.stderr
    out = ojson(env, "storage", "lv", "resize", "vg0/srv", "150M", "--yes")
    steps = [a["kind"] for a in out["plan"]["actions"]]
    assert steps == ["fs.umount", "fs.fsck", "fs.fits", "fs.shrink", "lv.reduce", "fs.mount"]
    assert out["result"]["lv_size_bytes"] == 152 * 1024**2   # rounded up to 4M extents
    assert 140 * 1024**2 < out["result"]["fs_size_bytes"] <= out["result"]["lv_size_bytes"]
    assert _mounted("/srv/data")
    assert md5("/srv/data/blob") == env["sum"]
    env["srv_size"] = out["result"]["lv_size_bytes"]


def test_xfs_grows_online_and_refuses_shrink(env):
    made = ojson(env, "storage", "lv", "create", "vg0/x", "--size", "320M", "--fs", "xfs",
                 "--mount", "/srv/x", "--yes")["result"]
    assert made["fs"] == "xfs" and _mounted("/srv/x")
    p = opsctl(env, "storage", "lv", "resize", "vg0/x", "-40M", "--yes", expect=1)
    assert "xfs filesystems cannot be shrunk" in p.stderr
    out = ojson(env, "storage", "lv", "resize", "vg0/x", "+40M", "--yes")
    assert out["result"]["lv_size_bytes"] == 360 * 1024**2
    # statvfs size (xfs keeps its log apart): it grew by the 40M, online
    assert out["result"]["fs_size_bytes"] >= made["fs_size_bytes"] + 39 * 1024**2
    assert _mounted("/srv/x")
    env["x_size"] = out["result"]["lv_size_bytes"]


# -- a disk fails and is replaced -------------------------------------------------------------
def test_fail_and_replace_disk(env):
    p = opsctl(env, "storage", "raid", "wait", "data")
    assert "data: clean (OK)" in p.stdout
    p = opsctl(env, "storage", "raid", "remove", "data", DISKS[2], "--yes", expect=1)
    assert "working member" in p.stderr
    out = ojson(env, "storage", "raid", "fail", "data", DISKS[2], "--yes")["result"]
    assert out["state"] == "degraded" and f"{DISKS[2]} faulty" in out["members"]
    st = ojson(env, "storage", "raid", "status", "data", expect=2)
    assert st["status"] == "CRITICAL" and st["arrays"][0]["degraded"]
    p = opsctl(env, "storage", "raid", "fail", "data", DISKS[1], "--yes", expect=1)
    assert "would lose data" in p.stderr
    # slow the rebuild down a little so progress is visible
    Path("/proc/sys/dev/raid/speed_limit_max").write_text("20000\n")
    Path("/proc/sys/dev/raid/speed_limit_min").write_text("10000\n")
    p = opsctl(env, "storage", "raid", "replace", "data", DISKS[2], DISKS[3], "--yes")
    assert "recovery" in p.stdout and "%" in p.stdout
    assert "data: clean (OK)" in p.stdout
    st = ojson(env, "storage", "raid", "status", "data", expect=0)
    roles = {m["device"]: m["role"] for m in st["arrays"][0]["members"]}
    assert roles == {DISKS[0]: "active", DISKS[1]: "active", DISKS[3]: "active"}
    assert md5("/srv/data/blob") == env["sum"]
    Path("/proc/sys/dev/raid/speed_limit_min").write_text("200000\n")
    Path("/proc/sys/dev/raid/speed_limit_max").write_text("2000000\n")


def test_vg_extend_and_reduce_with_pvmove(env):
    opsctl(env, "storage", "vg", "extend", "vg0", DISKS[4], "--yes")
    # put 24M of a volume on the new PV, so that reducing has something to move
    sh("lvcreate", "-y", "-L", "24M", "-n", "onnew", "vg0", DISKS[4])
    p = opsctl(env, "storage", "vg", "reduce", "vg0", "data", "--yes", expect=1)
    assert "cannot move" in p.stderr and "only" in p.stderr
    out = ojson(env, "storage", "vg", "reduce", "vg0", DISKS[4], "--yes")
    assert [a["kind"] for a in out["plan"]["actions"]] == ["pv.move", "vg.reduce", "pv.remove"]
    assert out["result"]["pvs"] == ["/dev/md127"] or len(out["result"]["pvs"]) == 1
    assert "onnew" in sh("lvs", "--noheadings", "-o", "lv_name", "vg0")
    sh("lvremove", "-y", "vg0/onnew")


def test_history_records_changes(env):
    rows = ojson(env, "storage", "history")
    actions = [r["action"] for r in rows]
    for a in ("raid.create", "vg.create", "lv.create", "lv.resize", "raid.fail", "raid.replace",
              "vg.extend", "vg.reduce"):
        assert a in actions
    create = next(r for r in rows if r["action"] == "raid.create")
    assert create["status"] == "ok" and create["actor"] == "root"
    assert any("mdadm --create" in " ".join(c["argv"]) for c in create["commands"])
    files_before = create["before"]["files"][str(MDADM_CONF)]
    files_after = create["after"]["files"][str(MDADM_CONF)]
    assert "ARRAY /dev/md/data" not in files_before and "ARRAY /dev/md/data" in files_after
    assert create["after"]["state"]["arrays"][0]["name"] == "data"


# -- the declarative path -------------------------------------------------------------------------
def _layout(env, name, text):
    path = env["base"] / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def _current_layout(env, extra_arrays="", extra_vgs="", extra_volumes=""):
    srv, x = env["srv_size"], env["x_size"]
    return f"""\
        arrays:
          - name: data
            level: 5
            devices: [{DISKS[0]}, {DISKS[1]}, {DISKS[3]}]
          {extra_arrays}
        volume_groups:
          - name: vg0
            pvs: [data]
          {extra_vgs}
        volumes:
          - {{vg: vg0, name: srv, size: {srv}, fs: ext4, mount: /srv/data}}
          - {{vg: vg0, name: x, size: {x}, fs: xfs, mount: /srv/x}}
          - {{vg: vg0, name: logs, size: 40M, fs: ext4, mount: /srv/logs, options: [noatime]}}
          {extra_volumes}
        """


def test_layout_apply_twice(env):
    path = _layout(env, "layout.yaml", _current_layout(env))
    p = opsctl(env, "storage", "plan", "-f", path)
    assert "lvcreate" in p.stdout and "/srv/logs" in p.stdout
    assert not Path("/srv/logs").exists() or not os.path.ismount("/srv/logs")
    opsctl(env, "storage", "apply", "-f", path, "--yes")
    assert os.path.ismount("/srv/logs")
    p = opsctl(env, "storage", "apply", "-f", path, "--yes")
    assert "no changes" in p.stdout
    assert _lv(env, "vg0/logs")["size_bytes"] == 40 * 1024**2


def test_layout_conflicts_refused_with_line(env):
    before = state_fingerprint()
    bad = _layout(env, "conflict.yaml", f"""\
        arrays:
          - name: other
            level: 1
            devices: [{DISKS[4]}, {DISKS[0]}]
        """)
    p = opsctl(env, "storage", "apply", "-f", bad, "--yes", expect=1)
    assert "conflict.yaml:2: arrays[0]" in p.stderr and "member of array data" in p.stderr
    small = _layout(env, "small.yaml", _current_layout(env).replace(
        "{vg: vg0, name: srv, size: " + str(env["srv_size"]), "{vg: vg0, name: srv, size: 8M"))
    p = opsctl(env, "storage", "plan", "-f", small, expect=1)
    assert "smaller than its data" in p.stderr and "volumes[0]" in p.stderr
    assert state_fingerprint() == before


def test_layout_failing_midway_is_undone(env):
    sh("mdadm", "--zero-superblock", DISKS[2])   # the disk replaced above, now reused
    before = state_fingerprint()
    path = _layout(env, "failing.yaml", _current_layout(
        env,
        extra_arrays=f"- {{name: scratch, level: 1, devices: [{DISKS[2]}, {DISKS[4]}]}}",
        extra_vgs="- {name: vg1, pvs: [scratch]}",
        extra_volumes="- {vg: vg1, name: tmp, size: 40M, fs: ext4, mount: /srv/tmp, "
                      "options: [defaults, no_such_mount_option]}"))
    p = opsctl(env, "storage", "apply", "-f", path, "--yes", expect=1)
    assert "undid" in p.stderr, p.stderr
    assert state_fingerprint() == before
    rows = ojson(env, "storage", "history")
    assert rows[0]["action"] == "layout.apply" and rows[0]["status"] == "rolled-back"
    # both disks are free again
    disks = {d["path"]: d for d in ojson(env, "storage", "disks")}
    assert disks[DISKS[2]]["free"] and disks[DISKS[4]]["free"], (disks[DISKS[2]], disks[DISKS[4]])


def test_raid_grow_by_a_disk(env):
    """Last: the reshape runs on in the background until the VM powers off."""
    out = ojson(env, "storage", "raid", "grow", "data", "--add", DISKS[4], "--yes")
    assert [a["kind"] for a in out["plan"]["actions"]] == ["raid.add", "raid.grow", "mdadm.conf",
                                                           "initramfs"]
    p = opsctl(env, "--json", "storage", "raid", "status", "data", check=False)
    assert p.returncode in (0, 1), p.stderr     # WARNING while reshaping
    st = json.loads(p.stdout)
    arr = st["arrays"][0]
    assert arr["raid_devices"] == 4 and DISKS[4] in [m["device"] for m in arr["members"]]
    assert arr["state"] in ("reshaping", "clean") and st["status"] in ("WARNING", "OK")
