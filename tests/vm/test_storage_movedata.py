"""Moving a directory onto a new LV (`lv create --move-data`) with real LVM, ext4, xfs.

Independent of the storage scenario: its own VG on one disk (DISKS[0]), wiped again at the
end so the scenario (which runs after this file) finds all disks blank, and /etc/fstab put
back as it was. The source directory lives on an ext4 LV of its own (xattrs, ACLs, sparse
files behave as on a real root filesystem); it is moved onto an xfs LV.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import stat
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

DISKS = os.environ.get("VMRAID_DISKS", "").split()
pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(os.environ.get("VMRAID_IN_VM") != "1" or len(DISKS) < 5,
                       reason="needs the storage VM with 5 disks (tests/run.sh vm)"),
]

FSTAB = Path("/etc/fstab")
VG = "mvvg"
BASE = Path("/srv/mv-base")          # an ext4 LV standing in for the root filesystem
APP = BASE / "app"                   # moved onto mvvg/app (xfs)
BUSY = BASE / "busy"                 # the refusals and failures
MiB = 1024**2
# xfs lists its ACLs a second time for root under these names (its on-disk format); the
# ACL itself is system.posix_acl_access on both filesystems.
XFS_ACL_ALIASES = {"trusted.SGI_ACL_FILE", "trusted.SGI_ACL_DEFAULT"}


def sh(*argv, check=True) -> str:
    return subprocess.run(argv, check=check, capture_output=True, text=True).stdout


def opsctl(env, *args, expect=0, path_prefix=None):
    e = dict(os.environ, NO_COLOR="1")
    if path_prefix:
        e["PATH"] = f"{path_prefix}:{e['PATH']}"
    p = subprocess.run([sys.executable, "-m", "opsctl", "-c", env["cfg"], *args],
                       capture_output=True, text=True, timeout=900, env=e)
    assert p.returncode == expect, (args, p.returncode, p.stdout, p.stderr)
    return p


def _mounted(path) -> bool:
    return any(ln.split()[1] == str(path) for ln in Path("/proc/mounts").read_text().splitlines())


def fingerprint() -> dict:
    """What a refused or undone move must leave exactly as it was."""
    return {"fstab": FSTAB.read_text(),
            "lvs": sh("lvs", "--noheadings", "-o", "vg_name,lv_name,lv_size", VG).split(),
            "mounts": sorted(ln.split()[1] for ln in
                             Path("/proc/mounts").read_text().splitlines()),
            "run": sorted(p.name for p in Path("/run").iterdir() if "opsctl-move" in p.name)}


def manifest(root: Path) -> dict:
    """Everything a faithful copy keeps, computed independently of opsctl."""
    out = {}
    inodes: dict[int, list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if rel == "lost+found" or rel.startswith("lost+found/"):
                continue
            st = os.lstat(p)
            e = {"type": stat.S_IFMT(st.st_mode), "mode": oct(stat.S_IMODE(st.st_mode)),
                 "uid": st.st_uid, "gid": st.st_gid, "nlink": st.st_nlink,
                 "xattrs": {n: os.getxattr(p, n, follow_symlinks=False)
                            for n in os.listxattr(p, follow_symlinks=False)
                            if n not in XFS_ACL_ALIASES}}
            if stat.S_ISREG(st.st_mode):
                e |= {"size": st.st_size, "mtime": int(st.st_mtime),
                      "sha256": hashlib.sha256(Path(p).read_bytes()).hexdigest()}
                inodes.setdefault(st.st_ino, []).append(rel)
            elif stat.S_ISLNK(st.st_mode):
                e["target"] = os.readlink(p)
            elif stat.S_ISCHR(st.st_mode):
                e["rdev"] = st.st_rdev
            out[rel] = e
    st = os.lstat(root)
    out["."] = {"mode": oct(stat.S_IMODE(st.st_mode)), "uid": st.st_uid, "gid": st.st_gid}
    out["hardlinks"] = sorted(sorted(v) for v in inodes.values() if len(v) > 1)
    return out


def acl_xattr(uid: int) -> bytes:
    """A POSIX access ACL (user:UID:r--) in the kernel's xattr format (no setfacl here)."""
    entries = [(0x01, 6, 0xFFFFFFFF), (0x02, 4, uid), (0x04, 4, 0xFFFFFFFF),
               (0x10, 4, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def fill_app(d: Path) -> None:
    d.mkdir()
    (d / "data").mkdir()
    for i in range(20):
        (d / "data" / f"f{i:02}.bin").write_bytes(os.urandom(100_000 + i))
    (d / "data" / "name with spaces é").write_text("odd name\n")
    os.link(d / "data" / "f00.bin", d / "hardlink-to-f00")
    os.symlink("data/f01.bin", d / "rel-symlink")
    os.symlink("/etc/hostname", d / "abs-symlink")
    os.symlink("nowhere", d / "dangling")
    with open(d / "sparse.img", "wb") as f:
        f.truncate(48 * MiB)
        f.seek(20 * MiB)
        f.write(b"in the middle")
    os.mkfifo(d / "fifo")
    os.mknod(d / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(d / "sock"))
    s.close()
    (d / "empty-dir").mkdir()
    (d / "secret").write_text("owned by a uid with no name\n")
    os.chown(d / "secret", 4321, 8765)
    os.chmod(d / "secret", 0o640)
    os.chmod(d / "empty-dir", 0o1777)
    (d / "setuid").write_bytes(b"#!/bin/sh\n")
    os.chmod(d / "setuid", 0o4755)
    os.utime(d / "data" / "f02.bin", (946684800, 946684800))       # 2000-01-01
    os.setxattr(d / "data" / "f03.bin", "user.origin", b"machine room")
    os.setxattr(d / "data" / "f04.bin", "system.posix_acl_access", acl_xattr(1234))
    os.chown(d, 33, 33)
    os.chmod(d, 0o750)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("mv")
    cfg = base / "opsctl.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        site: {{name: vm-move}}
        state_dir: {base}/state
        storage:
          mdadm_conf: {base}/mdadm.conf
          fstab: {FSTAB}
          initramfs_update: [/bin/true]
          device_timeout: 5s
        """))
    fstab_before = FSTAB.read_text()
    e = {"cfg": str(cfg), "base": base}
    try:
        opsctl(e, "storage", "vg", "create", VG, DISKS[0], "--yes")
        opsctl(e, "storage", "lv", "create", f"{VG}/base", "--size", "48M", "--fs", "ext4",
               "--mount", str(BASE), "--yes")
        fill_app(APP)
        BUSY.mkdir()
        (BUSY / "blob").write_bytes(os.urandom(20 * MiB))
        (BUSY / "small").write_text("x\n")
        yield e
    finally:
        for m in (APP, BUSY, BASE, "/mnt/opsctl-old"):
            if _mounted(m):
                sh("umount", "-l", str(m), check=False)
        FSTAB.write_text(fstab_before)
        sh("vgremove", "-y", "-ff", VG, check=False)
        sh("pvremove", "-y", "-ff", DISKS[0], check=False)
        sh("wipefs", "-a", "-q", DISKS[0], check=False)


def test_move_directory_onto_new_xfs_volume(env):
    before = manifest(APP)
    assert before["hardlinks"] == [["data/f00.bin", "hardlink-to-f00"]]
    assert os.lstat(APP / "sparse.img").st_blocks * 512 < MiB
    # the dry run prints the exact commands and changes nothing
    fp = fingerprint()
    p = opsctl(env, "storage", "lv", "create", f"{VG}/app", "--size", "300M", "--fs", "xfs",
               "--mount", str(APP), "--move-data", "--dry-run")
    tmp = f"/run/opsctl-move-{VG}-app"
    for cmd in (f"lvcreate -y --wipesignatures y -n app -L {300 * MiB}b {VG}",
                f"mount -t xfs /dev/{VG}/app {tmp}",
                f"cp -a --sparse=always --one-file-system {APP}/. {tmp}/",
                f"umount {tmp}", f"mount -T /etc/fstab {APP}"):
        assert f"$ {cmd}" in p.stdout, (cmd, p.stdout)
    assert fingerprint() == fp
    t0 = time.monotonic()
    p = opsctl(env, "--json", "storage", "lv", "create", f"{VG}/app", "--size", "300M", "--fs",
               "xfs", "--mount", str(APP), "--move-data", "--yes")
    took = time.monotonic() - t0
    out = json.loads(p.stdout)["result"]
    assert "verified: " in p.stderr and "identical" in p.stderr, p.stderr
    # mounted at PATH from the new LV, by UUID in fstab, and the data is all there
    mnt = json.loads(sh("findmnt", "-J", "--mountpoint", str(APP)))["filesystems"][0]
    assert mnt["fstype"] == "xfs" and f"{VG}-app" in mnt["source"], mnt
    line = next(ln for ln in FSTAB.read_text().splitlines() if f" {APP} " in ln)
    assert line.startswith(f"UUID={out['fs_uuid']} {APP} xfs ") and "nofail" in line
    assert manifest(APP) == before
    assert os.lstat(APP / "sparse.img").st_blocks * 512 < 2 * MiB      # still sparse
    assert not os.path.exists(tmp)
    # the old copy is still there, hidden, untouched; the printed commands free it
    assert out["moved_from"] == str(APP) and out["old_data_entries"] == len(before) - 2
    steps = [ln.strip() for ln in out["next_steps"][1:]]
    assert steps[0].startswith(f"mkdir -p /mnt/opsctl-old && mount --bind {BASE} ")
    sh("sync")
    used_before = int(sh("df", "--output=used", "-B1", str(BASE)).split()[-1])
    sh("sh", "-c", steps[0].split("#")[0])
    try:
        assert manifest(Path("/mnt/opsctl-old/app")) == before
        sh("sh", "-c", steps[2].split("#")[0])
        assert os.listdir("/mnt/opsctl-old/app") == []
    finally:
        sh("sh", "-c", steps[3].split("#")[0])
    sh("sync")
    used_after = int(sh("df", "--output=used", "-B1", str(BASE)).split()[-1])
    assert used_before - used_after > 3 * MiB // 2, (used_before, used_after)
    assert manifest(APP) == before                   # the new volume is not affected
    hist = json.loads(opsctl(env, "--json", "storage", "history").stdout)
    assert hist[0]["action"] == "lv.move-data" and hist[0]["target"] == f"{VG}/app"
    print(f"move of {APP} took {took:.1f}s")


def test_in_use_directory_refused_and_not_empty_needs_move_data(env):
    fp = fingerprint()
    sleeper = subprocess.Popen(["sleep", "300"], cwd=BUSY)
    try:
        time.sleep(0.5)
        p = opsctl(env, "storage", "lv", "create", f"{VG}/busy", "--size", "40M", "--fs", "ext4",
                   "--mount", str(BUSY), "--move-data", "--yes", expect=1)
        assert f"{BUSY} is in use: pid {sleeper.pid} sleep (user root): cwd {BUSY}" in p.stderr
        assert "stop these services first, or do it from rescue mode" in p.stderr
    finally:
        sleeper.kill()
        sleeper.wait()
    p = opsctl(env, "storage", "lv", "create", f"{VG}/busy", "--size", "40M", "--fs", "ext4",
               "--mount", str(BUSY), "--yes", expect=1)
    assert "is not empty: mounting the new volume over it would hide its data" in p.stderr
    assert "--move-data" in p.stderr
    p = opsctl(env, "storage", "lv", "create", f"{VG}/busy", "--size", "16M", "--fs", "ext4",
               "--mount", str(BUSY), "--move-data", "--yes", expect=1)
    assert "a 16M volume is too small" in p.stderr and "holds 20M of data" in p.stderr, p.stderr
    # PATH is itself a mount point (not from fstab): refused
    other = BASE / "other"
    other.mkdir()
    sh("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(other))
    try:
        (other / "f").write_text("x")
        p = opsctl(env, "storage", "lv", "create", f"{VG}/busy", "--size", "40M", "--fs",
                   "ext4", "--mount", str(other), "--move-data", "--yes", expect=1)
        assert f"something is already mounted at {other}" in p.stderr
    finally:
        sh("umount", str(other))
        other.rmdir()
    assert fingerprint() == fp


FAILING_CP = """#!/bin/sh
# copies, then fails as a full disk would
/usr/bin/cp "$@"
for last; do :; done
echo "cp: error writing '$last': No space left on device" >&2
exit 1
"""
CORRUPTING_CP = """#!/bin/sh
# copies, then damages one file of the copy (the verification must catch it)
/usr/bin/cp "$@" || exit
for last; do :; done
printf 'X' | dd of="$last/blob" bs=1 seek=1000 conv=notrunc status=none
touch -m -r "$4/blob" "$last/blob"     # same size, same mtime: only the content differs
"""


@pytest.mark.parametrize("script,failed_step", [(FAILING_CP, "step 6 (copy"),
                                                (CORRUPTING_CP, "step 7 (verify the copy")],
                         ids=["copy-fails", "copy-corrupted"])
def test_failure_midway_is_undone(env, tmp_path, script, failed_step):
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    (fakebin / "cp").write_text(script)
    (fakebin / "cp").chmod(0o755)
    fp, data = fingerprint(), manifest(BUSY)
    p = opsctl(env, "storage", "lv", "create", f"{VG}/busy", "--size", "40M", "--fs", "ext4",
               "--mount", str(BUSY), "--move-data", "--yes", expect=1, path_prefix=str(fakebin))
    undone = 5 if script is FAILING_CP else 6
    assert failed_step in p.stderr and f"undid the {undone} step(s)" in p.stderr, p.stderr
    if script is CORRUPTING_CP:
        assert "blob: content differs" in p.stderr
    assert fingerprint() == fp and manifest(BUSY) == data
    assert not _mounted(BUSY)
    hist = json.loads(opsctl(env, "--json", "storage", "history").stdout)
    assert hist[0]["status"] == "rolled-back", hist[0]
    with contextlib.suppress(FileNotFoundError):
        assert not os.listdir(f"/run/opsctl-move-{VG}-busy")
