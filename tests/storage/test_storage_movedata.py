"""`lv create --move-data`: the plan, its refusals, the copy verification and the undo.

LVM and mount are faked (no dm in this kernel); mkdir, rmdir and the copy itself (cp) run
for real on temporary directories, so the verification sees a real copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from storage_fakes import FakeRunner, fixture_text

from opsctl.core.errors import OpsError, SafetyError, UsageError
from opsctl.core.journal import list_changes
from opsctl.core.store import Store
from opsctl.storage import lvm, movedata
from opsctl.storage.actions import ExecContext
from opsctl.storage.devices import Force
from opsctl.storage.plan import execute
from opsctl.storage.probe import snapshot

MiB = 1024**2


def _real(argv):
    p = subprocess.run(argv, capture_output=True, text=True)
    return (p.returncode, p.stdout, p.stderr)


class FakeMounts:
    """mount/umount of the temporary mount point, emulated on a plain directory: while
    "mounted" os.path.ismount says so; unmounting makes what was copied into it vanish."""

    def __init__(self) -> None:
        self.mounted: set[str] = set()
        self._ismount = os.path.ismount

    def ismount(self, p) -> bool:
        return str(p) in self.mounted or self._ismount(p)

    def mount(self, argv):
        if argv[1] == "-t":
            self.mounted.add(argv[-1])
        return ""

    def umount(self, argv):
        if argv[1] not in self.mounted:
            return (32, "", f"umount: {argv[1]}: not mounted.")
        self.mounted.discard(argv[1])
        for child in Path(argv[1]).iterdir():
            subprocess.run(["rm", "-rf", str(child)], check=True)
        return ""


FAKE_MOUNTS = FakeMounts()


def runner(mounts: list[dict] | None = None, tools=("mdadm", "lvm", "lsblk", "blkid",
                                                     "findmnt")) -> FakeRunner:
    fm = json.loads(fixture_text("findmnt.json"))
    fm["filesystems"] += mounts or []
    return FakeRunner({
        ("lsblk",): fixture_text("lsblk-lvm.json"),
        ("mdadm", "--detail", "--scan"): "",
        ("pvs",): fixture_text("pvs.json"), ("vgs",): fixture_text("vgs.json"),
        ("lvs",): fixture_text("lvs.json"),
        ("blkid", "-p"): (2, ""),
        ("findmnt",): json.dumps(fm),
        ("findmnt", "--verify"): "",
        ("mkdir",): _real, ("rmdir",): _real, ("cp",): _real,
        ("mount",): FAKE_MOUNTS.mount, ("umount",): FAKE_MOUNTS.umount,
    }, tools=tools)


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A directory with the awkward things: a hard link, a symlink, a sparse file, a fifo,
    odd modes and owners, an xattr when the filesystem takes one."""
    monkeypatch.setattr(movedata, "TEMP_BASE", str(tmp_path / "run"))
    FAKE_MOUNTS.mounted.clear()
    monkeypatch.setattr(os.path, "ismount", FAKE_MOUNTS.ismount)
    (tmp_path / "run").mkdir()
    d = tmp_path / "srv" / "app"
    (d / "sub" / "deep").mkdir(parents=True)
    (d / "a.txt").write_text("alpha\n" * 1000)
    os.link(d / "a.txt", d / "sub" / "a-link")
    (d / "sub" / "deep" / "conf").write_text("x=1\n")
    os.symlink("../a.txt", d / "sub" / "rel-link")
    with open(d / "sparse.img", "wb") as f:
        f.truncate(8 * MiB)
        f.seek(4 * MiB)
        f.write(b"data")
    os.mkfifo(d / "fifo")
    os.chmod(d / "sub" / "deep" / "conf", 0o4751)
    os.chmod(d / "sub", 0o2770)
    with contextlib.suppress(PermissionError):
        os.chown(d / "sub" / "deep" / "conf", 1234, 5678)
    with contextlib.suppress(OSError):
        os.setxattr(d / "a.txt", "user.origin", b"test")
    return d


def _plan(r, settings, target, *, size="100M", fs="ext4", move=True, force=None):
    return lvm.lv_create_plan(snapshot(r, mdstat_text=""), r, settings, "vg0", "app", size, fs,
                              str(target), move_data=move, force=force, fs_uuid="0000-u")


def _exec(plan, r, store, settings, action="lv.move-data"):
    lines: list[str] = []
    ctx = ExecContext(r, info=lines.append, warn=lines.append)
    result = execute(plan, ctx, store=store, files=[settings.mdadm_conf, settings.fstab],
                     action=action)
    return result, lines


def test_move_plan_steps_and_exact_commands(settings, tree):
    r = runner()
    plan = _plan(r, settings, tree)
    tmp = movedata.temp_mountpoint("vg0", "app")
    assert [a.kind for a in plan.actions] == [
        "lv.create", "fs.mkfs", "fs.mkdir", "fs.mount-temp", "data.precheck", "data.copy",
        "data.verify", "fs.umount-temp", "fs.rmdir", "fstab.add", "fs.mount"]
    argv = {a.kind: a.argv for a in plan.actions}
    assert argv["fs.mount-temp"] == ["mount", "-t", "ext4", "/dev/vg0/app", tmp]
    assert argv["data.copy"] == ["cp", "-a", "--sparse=always", "--one-file-system",
                                 f"{tree}/.", f"{tmp}/"]
    assert argv["fs.umount-temp"] == ["umount", tmp]
    assert argv["fs.mount"] == ["mount", "-T", str(settings.fstab), str(tree)]
    text = "\n".join(plan.render_lines())
    assert f"+UUID=0000-u {tree} ext4 defaults,nofail,x-systemd.device-timeout=30s 0 2" in text
    assert "content byte for byte" in text and "no process has its cwd" in text
    assert any("stays on" in n and "hidden" in n for n in plan.notes)
    # with rsync installed it is the copy tool
    r2 = runner(tools=("mdadm", "lvm", "lsblk", "blkid", "findmnt", "rsync"))
    copy = next(a for a in _plan(r2, settings, tree).actions if a.kind == "data.copy")
    assert copy.argv == ["rsync", "-aHAXS", "--numeric-ids", "--one-file-system",
                         f"{tree}/", f"{tmp}/"]


def test_non_empty_mount_point_refused_without_move_data(settings, tree, tmp_path):
    r = runner()
    with pytest.raises(SafetyError, match="is not empty: mounting the new volume over it "
                                          "would hide its data") as ei:
        _plan(r, settings, tree, move=False)
    assert "--move-data" in ei.value.hint
    # an empty or missing directory is fine either way (nothing to move)
    (tmp_path / "empty").mkdir()
    for p in (tmp_path / "empty", tmp_path / "missing"):
        plan = _plan(r, settings, p)
        assert "data.copy" not in [a.kind for a in plan.actions]
        assert any("nothing to move" in n for n in plan.notes)
    with pytest.raises(UsageError, match="--move-data needs --mount"):
        lvm.lv_create_plan(snapshot(r, mdstat_text=""), r, settings, "vg0", "app", "100M",
                           "ext4", None, move_data=True)


def test_move_refusals(settings, tree, tmp_path):
    r = runner()
    f = tmp_path / "afile"
    f.write_text("x")
    with pytest.raises(SafetyError, match="exists and is not a directory"):
        _plan(r, settings, f)
    os.symlink(tree, tmp_path / "alink")
    with pytest.raises(SafetyError, match="is a symlink"):
        _plan(r, settings, tmp_path / "alink")
    # too small, with the numbers
    with pytest.raises(SafetyError, match=r"holds .* of data \(\d+ entries\); a 8M volume is "
                                          r"too small .*at least 12M"):
        (tree / "big").write_bytes(os.urandom(7 * MiB + MiB // 2))
        _plan(r, settings, tree, size="8M")
    # PATH is itself a mount point; something is mounted below it
    mnt = runner([{"target": str(tree), "source": "/dev/sdz1", "fstype": "ext4"}])
    with pytest.raises(SafetyError, match="already mounted at"):
        _plan(mnt, settings, tree)
    below = runner([{"target": f"{tree}/sub", "source": "/dev/sdz1", "fstype": "ext4"}])
    with pytest.raises(SafetyError, match=r"filesystems are mounted below .*/sub\): the new "
                                          "mount would hide them"):
        _plan(below, settings, tree)
    # a leftover temporary mount point from an interrupted move
    tmp = Path(movedata.temp_mountpoint("vg0", "app"))
    tmp.mkdir()
    (tmp / "junk").write_text("x")
    with pytest.raises(SafetyError, match="not an empty directory"):
        _plan(r, settings, tree)


def test_in_use_refused_with_the_processes_unless_forced(settings, tree):
    r = runner()
    p = subprocess.Popen(["sleep", "60"], cwd=tree / "sub")
    try:
        for _ in range(50):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{p.pid}/cwd") == str(tree / "sub"):
                    break
            time.sleep(0.05)
        with pytest.raises(SafetyError, match=rf"is in use: pid {p.pid} sleep \(user \w+\): "
                                              rf"cwd {tree}/sub") as ei:
            _plan(r, settings, tree)
        assert "stop these services first, or do it from rescue mode" in ei.value.hint
        with pytest.raises(UsageError, match="--reason"):
            Force(True, None)
        plan = _plan(r, settings, tree, force=Force(True, "maintenance window"))
        assert "no process" not in "\n".join(plan.render_lines())
        assert any(n.startswith("forced (maintenance window)") for n in plan.notes)
    finally:
        p.kill()
        p.wait()


def test_processes_using_reads_proc(tmp_path):
    proc = tmp_path / "proc"
    for pid, cwd, fd, maps in ((10, "/srv/app/logs", "/etc/passwd", ""),
                               (11, "/", "/srv/app/db/x.db (deleted)", ""),
                               (12, "/", "/dev/null", "7f-7f r-xp 0 08:01 5 /srv/app/lib.so\n"),
                               (13, "/srv/apple", "/srv/apple/f", "")):
        d = proc / str(pid)
        (d / "fd").mkdir(parents=True)
        os.symlink(cwd, d / "cwd")
        os.symlink("/", d / "root")
        os.symlink("/usr/bin/daemon", d / "exe")
        os.symlink(fd, d / "fd" / "3")
        (d / "maps").write_text(maps)
        (d / "comm").write_text(f"d{pid}\n")
        (d / "status").write_text("Name:\tx\nUid:\t0\t0\t0\t0\n")
    (proc / "swaps").write_text("Filename Type Size Used Priority\n/srv/app/swapfile file 1 0 -2\n")
    users = movedata.processes_using("/srv/app", str(proc), exclude=())
    assert [(u["pid"], u["name"], u["user"], u["uses"]) for u in users] == [
        (10, "d10", "root", ["cwd /srv/app/logs"]),
        (11, "d11", "root", ["open /srv/app/db/x.db (deleted)"]),
        (12, "d12", "root", ["mapped /srv/app/lib.so"])]
    assert movedata.other_users("/srv/app", str(proc), str(tmp_path / "nosys")) == [
        "active swap file /srv/app/swapfile"]
    with pytest.raises(SafetyError, match="pid 10 d10 .*; active swap file"):
        movedata.check_not_in_use("/srv/app", proc=str(proc), sys_block=str(tmp_path))


def test_compare_trees_finds_every_kind_of_difference(tree, tmp_path):
    dst = tmp_path / "copy"
    dst.mkdir()
    subprocess.run(["cp", "-a", "--sparse=always", f"{tree}/.", f"{dst}/"], check=True)
    (dst / "lost+found").mkdir()          # a new ext4 has it; not a difference
    diffs, counts = movedata.compare_trees(str(tree), str(dst))
    assert diffs == [] and counts["entries"] == 8 and counts["hardlink_groups"] == 1
    os.chmod(dst / "sub" / "deep" / "conf", 0o755)
    (dst / "a.txt").unlink()                               # breaks the hard link too
    (dst / "a.txt").write_text("alpha\n" * 1000)
    with open(dst / "sparse.img", "r+b") as f:             # same size, other content
        f.seek(100)
        f.write(b"X")
    os.utime(dst / "sparse.img", ns=(os.lstat(tree / "sparse.img").st_atime_ns,
                                     os.lstat(tree / "sparse.img").st_mtime_ns))
    (dst / "extra").write_text("")
    try:
        os.setxattr(dst / "sub" / "a-link", "user.added", b"1")
        xattrs = True
    except OSError:
        xattrs = False
    (dst / "fifo").unlink()
    diffs, _ = movedata.compare_trees(str(tree), str(dst))
    text = "\n".join(diffs)
    assert "fifo: missing in the copy" in text
    assert "extra: in the copy but not in the original" in text
    assert "sub/deep/conf: mode differ" in text
    assert "sparse.img: content differs" in text
    assert "hard links not kept: a.txt = sub/a-link" in text
    if xattrs:
        assert "sub/a-link: xattrs (extra user.added) differ" in text


def test_move_executes_copies_verifies_and_records(settings, tree, tmp_path):
    r = runner()
    before_src = movedata.compare_trees(str(tree), str(tree))[1]
    plan = _plan(r, settings, tree)
    store = Store.open(tmp_path / "state")
    result, lines = _exec(plan, r, store, settings)
    tmp = movedata.temp_mountpoint("vg0", "app")
    assert [a[0] for a in r.changed()] == ["lvcreate", "mkfs.ext4", "mkdir", "mount", "cp",
                                           "umount", "rmdir", "mount"]
    assert any(ln.startswith("verified: 8 entries") for ln in lines), lines
    assert not os.path.exists(tmp)
    assert f"UUID=0000-u {tree} ext4" in settings.fstab.read_text()
    # the original is untouched (it stays, hidden under the new mount)
    assert movedata.compare_trees(str(tree), str(tree))[1] == before_src
    assert result["moved_from"] == str(tree) and result["old_data_entries"] == 8
    steps = "\n".join(result["next_steps"])
    assert f"mount --bind {movedata.mount_root(str(tree))} /mnt/opsctl-old" in steps
    rel = os.path.relpath(tree, movedata.mount_root(str(tree)))
    assert f"find /mnt/opsctl-old/{rel} -xdev -mindepth 1 -delete" in steps
    rec = list_changes(store, "storage")[0]
    assert rec["action"] == "lv.move-data" and rec["status"] != "rolled-back"
    assert "cp" in [c["argv"][0] for c in rec["commands"]]


def _fingerprint(settings, tree):
    return (settings.fstab.read_text(), movedata.compare_trees(str(tree), str(tree))[1],
            sorted(p.name for p in Path(movedata.TEMP_BASE).iterdir()))


def test_failed_copy_is_undone_and_the_original_untouched(settings, tree, tmp_path):
    r = runner()
    r.answer(("cp",), lambda argv: (_real(argv), (1, "", "cp: No space left"))[1])
    before = _fingerprint(settings, tree)
    plan = _plan(r, settings, tree)
    store = Store.open(tmp_path / "state")
    with pytest.raises(OpsError, match=r"step 6 \(copy .*\) failed.*No space left.*undid the "
                                       r"5 step"):
        _exec(plan, r, store, settings)
    tmp = movedata.temp_mountpoint("vg0", "app")
    # undo, backwards: the temporary mount, its mount point, the filesystem, the LV
    assert r.changed()[-4:] == [["umount", tmp], ["rmdir", tmp],
                                ["wipefs", "-a", "/dev/vg0/app"], ["lvremove", "-y", "vg0/app"]]
    assert _fingerprint(settings, tree) == before
    assert list_changes(store, "storage")[0]["status"] == "rolled-back"


def test_a_copy_that_differs_fails_verification_and_is_undone(settings, tree, tmp_path):
    def bad_cp(argv):
        res = _real(argv)
        dst = argv[-1]
        with open(os.path.join(dst, "sub", "deep", "conf"), "a") as f:
            f.write("corrupted")
        return res

    r = runner()
    r.answer(("cp",), bad_cp)
    before = _fingerprint(settings, tree)
    with pytest.raises(OpsError, match=r"step 7 \(verify the copy.*differs from .*"
                                       r"sub/deep/conf: size.* differ"):
        _exec(_plan(r, settings, tree), r, Store.open(tmp_path / "state"), settings)
    assert ["lvremove", "-y", "vg0/app"] in r.changed()
    assert _fingerprint(settings, tree) == before


def test_space_check_on_the_new_filesystem(tree):
    u = movedata.scan_dir(str(tree))
    assert u.entries == 8 and u.inodes == 7 and u.apparent_bytes >= 8 * MiB + 6000
    assert u.allocated_bytes < 2 * MiB            # the sparse file holds one block
    ctx = ExecContext(FakeRunner(), info=print, warn=print)
    movedata.check_space(ctx, str(tree), u)      # plenty of room on the test filesystem
    big = movedata.DirUsage(str(tree), entries=1, inodes=1, allocated_bytes=1 << 60)
    with pytest.raises(SafetyError, match="does not fit: the new filesystem has"):
        movedata.check_space(ctx, str(tree), big)


def test_cli_help_explains_move_data():
    import sys

    p = subprocess.run([sys.executable, "-m", "opsctl", "storage", "lv", "create", "--help"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0
    for word in ("--move-data", "--force", "--reason", "rescue mode", "hidden"):
        assert word in p.stdout, word
