"""Moving a directory (``/var``, ``/srv/app``) onto a new LV: the data is copied first.

``opsctl storage lv create VG/NAME --size S --fs ext4 --mount PATH --move-data`` plans:

    lvcreate -> mkfs -> mount the new fs at a temporary mount point (/run/opsctl-move-VG-NAME)
    -> check space, inodes and that nothing uses PATH -> copy (rsync -aHAXS --numeric-ids -x
    when rsync is installed, else cp -a --sparse=always --one-file-system) -> verify the copy
    (in opsctl: every entry's type, owner, mode, size, mtime, symlink target, device number,
    hard-link groups, xattrs/ACLs and the content byte for byte) -> unmount the temporary
    mount -> fstab entry -> mount at PATH.

The original directory is only read, never changed: after the move it is still there under
the new mount point, hidden, and opsctl says how much it holds and how to free it after
checking (bind-mount the filesystem it lives on and delete it there). Any failure undoes
what was done (unmount, fstab, LV) and leaves PATH as it was.
"""

from __future__ import annotations

import os
import pwd
import stat
from dataclasses import dataclass, field
from typing import Any

from opsctl.core.errors import CommandError, SafetyError
from opsctl.core.runner import Runner
from opsctl.storage.actions import Action, Check, ExecContext
from opsctl.storage.sizes import human

# Up front, the data must fit in this share of the new volume: the filesystem's own
# structures (journal, inode tables, log) take the rest. The exact check (free blocks and
# inodes of the new, empty filesystem) runs after mkfs, before anything is copied.
FIT_RATIO = 0.9
COPY_TIMEOUT = 7 * 24 * 3600.0
MAX_LISTED = 20


# -- what is in the directory ------------------------------------------------------------------
@dataclass
class DirUsage:
    path: str
    entries: int = 0            # everything below PATH (files, dirs, links, specials)
    inodes: int = 0             # distinct inodes (hard links counted once)
    apparent_bytes: int = 0     # sum of file sizes
    allocated_bytes: int = 0    # blocks really used (sparse files count what they hold)
    submounts: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.entries == 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def summary(self) -> str:
        return (f"{human(self.allocated_bytes)} in {self.entries} entries "
                f"({human(self.apparent_bytes)} apparent)")


def scan_dir(path: str) -> DirUsage:
    """du-like walk below ``path``, not following symlinks, not crossing filesystems
    (a directory on another device is a mount below PATH and listed in ``submounts``)."""
    u = DirUsage(path)
    root_dev = os.lstat(path).st_dev
    seen: set[tuple[int, int]] = set()
    stack = [path]
    while stack:
        d = stack.pop()
        try:
            it = os.scandir(d)
        except OSError as exc:
            raise SafetyError(f"cannot read {d}: {exc.strerror}") from None
        with it:
            for e in it:
                st = e.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode) and st.st_dev != root_dev:
                    u.submounts.append(e.path)
                    continue
                u.entries += 1
                key = (st.st_dev, st.st_ino)
                if key not in seen:
                    seen.add(key)
                    u.inodes += 1
                    u.allocated_bytes += st.st_blocks * 512
                    if stat.S_ISREG(st.st_mode):
                        u.apparent_bytes += st.st_size
                if stat.S_ISDIR(st.st_mode):
                    stack.append(e.path)
    return u


def mount_root(path: str) -> str:
    """The mount point of the filesystem holding ``path`` (which is not one itself)."""
    p = os.path.dirname(os.path.normpath(path)) or "/"
    while not os.path.ismount(p):
        p = os.path.dirname(p)
    return p


def _under(p: str, path: str) -> bool:
    p = p.removesuffix(" (deleted)")
    return p == path or p.startswith(path.rstrip("/") + "/")


# -- who uses it -------------------------------------------------------------------------------
def processes_using(path: str, proc: str = "/proc",
                    exclude: tuple[int, ...] | None = None) -> list[dict[str, Any]]:
    """Processes whose cwd, root, executable, open files or mapped files are under ``path``
    (what ``fuser -v`` / ``lsof +D`` show, read from /proc directly)."""
    exclude = (os.getpid(),) if exclude is None else exclude
    out = []
    try:
        pids = sorted(int(p) for p in os.listdir(proc) if p.isdigit())
    except OSError:
        return []
    for pid in pids:
        if pid in exclude:
            continue
        base = f"{proc}/{pid}"
        uses: list[str] = []
        for what in ("cwd", "root", "exe"):
            try:
                t = os.readlink(f"{base}/{what}")
            except OSError:
                continue
            if _under(t, path):
                uses.append(f"{what} {t}")
        try:
            fds = os.listdir(f"{base}/fd")
        except OSError:
            fds = []
        opened = set()
        for fd in fds:
            try:
                t = os.readlink(f"{base}/fd/{fd}")
            except OSError:
                continue
            if t.startswith("/") and _under(t, path):
                opened.add(t)
        uses += [f"open {t}" for t in sorted(opened)]
        try:
            with open(f"{base}/maps") as f:
                mapped = {ln.split(None, 5)[5].strip() for ln in f if len(ln.split(None, 5)) == 6}
        except OSError:
            mapped = set()
        uses += [f"mapped {t}" for t in sorted(m for m in mapped
                                                if m.startswith("/") and _under(m, path)
                                                and f"exe {m}" not in uses)]
        if uses:
            out.append({"pid": pid, "name": _read(f"{base}/comm").strip() or "?",
                        "user": _owner(f"{base}/status"), "uses": uses})
    return out


def other_users(path: str, proc: str = "/proc", sys_block: str = "/sys/block") -> list[str]:
    """Swap files and loop devices backed by files under ``path``."""
    out = []
    for ln in _read(f"{proc}/swaps").splitlines()[1:]:
        f = ln.split()
        if f and _under(f[0], path):
            out.append(f"active swap file {f[0]}")
    try:
        loops = sorted(d for d in os.listdir(sys_block) if d.startswith("loop"))
    except OSError:
        loops = []
    for d in loops:
        backing = _read(f"{sys_block}/{d}/loop/backing_file").strip()
        if backing and _under(backing, path):
            out.append(f"/dev/{d} is backed by {backing}")
    return out


def _read(p: str) -> str:
    try:
        with open(p) as f:
            return f.read()
    except OSError:
        return ""


def _owner(status_path: str) -> str:
    for ln in _read(status_path).splitlines():
        if ln.startswith("Uid:"):
            uid = int(ln.split()[1])
            try:
                return pwd.getpwuid(uid).pw_name
            except KeyError:
                return str(uid)
    return "?"


def describe_users(procs: list[dict[str, Any]], others: list[str]) -> str:
    parts = [f"pid {p['pid']} {p['name']} (user {p['user']}): " + ", ".join(p["uses"][:3])
             + (f" and {len(p['uses']) - 3} more" if len(p["uses"]) > 3 else "")
             for p in procs[:MAX_LISTED]]
    if len(procs) > MAX_LISTED:
        parts.append(f"and {len(procs) - MAX_LISTED} more processes")
    return "; ".join(parts + others)


def check_not_in_use(path: str, *, proc: str = "/proc", sys_block: str = "/sys/block") -> None:
    procs = processes_using(path, proc)
    others = other_users(path, proc, sys_block)
    if procs or others:
        raise SafetyError(
            f"{path} is in use: {describe_users(procs, others)}",
            hint="stop these services first, or do it from rescue mode (or --force --reason "
                 "TEXT to copy a directory that is being written to)")


# -- the copy and its verification ---------------------------------------------------------------
def copy_argv(runner: Runner, src: str, dst: str) -> list[str]:
    """rsync when installed (-a, hard links, ACLs, xattrs, sparse, numeric ids, one fs),
    else GNU cp (-a preserves all of those; --sparse=always punches holes)."""
    if runner.has("rsync"):
        return ["rsync", "-aHAXS", "--numeric-ids", "--one-file-system",
                src.rstrip("/") + "/", dst.rstrip("/") + "/"]
    return ["cp", "-a", "--sparse=always", "--one-file-system",
            src.rstrip("/") + "/.", dst.rstrip("/") + "/"]


# xfs shows root its ACLs a second time, in its on-disk format, as these trusted.* names;
# the ACLs themselves are compared as system.posix_acl_access/default, on every fs.
ALIASED_XATTRS = {"trusted.SGI_ACL_FILE", "trusted.SGI_ACL_DEFAULT"}


def _xattrs(p: str) -> dict[str, bytes]:
    try:
        names = os.listxattr(p, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for n in names:
        if n in ALIASED_XATTRS:
            continue
        try:
            out[n] = os.getxattr(p, n, follow_symlinks=False)
        except OSError:
            out[n] = b"<unreadable>"
    return out


def _describe(p: str, st: os.stat_result) -> dict[str, Any]:
    m = st.st_mode
    d: dict[str, Any] = {"type": stat.S_IFMT(m), "mode": oct(stat.S_IMODE(m)), "uid": st.st_uid,
                         "gid": st.st_gid, "xattrs": _xattrs(p)}
    if stat.S_ISREG(m):
        d["size"] = st.st_size
        d["mtime"] = int(st.st_mtime)
    elif stat.S_ISLNK(m):
        d["target"] = os.readlink(p)
        d["mtime"] = int(st.st_mtime)
    elif stat.S_ISCHR(m) or stat.S_ISBLK(m):
        d["rdev"] = st.st_rdev
    return d


def _tree(root: str) -> tuple[dict[str, tuple[dict[str, Any], os.stat_result]],
                               dict[tuple[int, int], list[str]]]:
    entries: dict[str, tuple[dict[str, Any], os.stat_result]] = {}
    inodes: dict[tuple[int, int], list[str]] = {}
    root_dev = os.lstat(root).st_dev
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(root, rel) if rel else root) as it:
            for e in it:
                r = os.path.join(rel, e.name) if rel else e.name
                st = e.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode) and st.st_dev != root_dev:
                    continue
                entries[r] = (_describe(e.path, st), st)
                if not stat.S_ISDIR(st.st_mode):
                    inodes.setdefault((st.st_dev, st.st_ino), []).append(r)
                if stat.S_ISDIR(st.st_mode):
                    stack.append(r)
    return entries, inodes


def _same_content(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def _xattr_diff(src: dict[str, bytes], dst: dict[str, bytes]) -> str:
    missing = sorted(src.keys() - dst.keys())
    extra = sorted(dst.keys() - src.keys())
    changed = sorted(k for k in src.keys() & dst.keys() if src[k] != dst[k])
    parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
        ([f"extra {', '.join(extra)}"] if extra else []) + \
        ([f"other value of {', '.join(changed)}"] if changed else [])
    return f"xattrs ({'; '.join(parts)})"


def compare_trees(src: str, dst: str) -> tuple[list[str], dict[str, int]]:
    """Differences between ``src`` and its copy ``dst`` (empty when identical) and counts.

    Compared: the set of entries; each entry's type, owner, group, mode, xattrs (ACLs are
    xattrs); regular files' size, mtime (seconds) and content byte for byte; symlink
    targets; device numbers; which names are hard links of each other. Ignored: atime,
    ctime, directory mtimes, and a ``lost+found`` the new filesystem has at its top.
    """
    s_entries, s_inodes = _tree(src)
    d_entries, d_inodes = _tree(dst)
    if "lost+found" not in s_entries:
        d_entries = {k: v for k, v in d_entries.items()
                     if k != "lost+found" and not k.startswith("lost+found/")}
    diffs: list[str] = []
    root_s, root_d = (_describe(src, os.lstat(src)), _describe(dst, os.lstat(dst)))
    for k in ("mode", "uid", "gid", "xattrs"):
        if root_s[k] != root_d[k]:
            diffs.append(f"{dst}: {k} {root_d[k]!r}, the original has {root_s[k]!r}")
    for rel in sorted(s_entries.keys() - d_entries.keys()):
        diffs.append(f"{rel}: missing in the copy")
    for rel in sorted(d_entries.keys() - s_entries.keys()):
        diffs.append(f"{rel}: in the copy but not in the original")
    nbytes = 0
    for rel in sorted(s_entries.keys() & d_entries.keys()):
        (s, sst), (d, _dst) = s_entries[rel], d_entries[rel]
        bad = [k if k != "xattrs" else _xattr_diff(s[k], d[k]) for k in s if s[k] != d.get(k)]
        if bad:
            diffs.append(f"{rel}: {', '.join(bad)} differ")
            continue
        if stat.S_ISREG(sst.st_mode):
            nbytes += sst.st_size
            if not _same_content(os.path.join(src, rel), os.path.join(dst, rel)):
                diffs.append(f"{rel}: content differs")
    s_groups = {frozenset(v) for v in s_inodes.values() if len(v) > 1}
    d_groups = {frozenset(v) for v in d_inodes.values() if len(v) > 1}
    for g in sorted(s_groups - d_groups, key=sorted):
        diffs.append("hard links not kept: " + " = ".join(sorted(g)))
    for g in sorted(d_groups - s_groups, key=sorted):
        if g & s_entries.keys() == g:
            diffs.append("hard links in the copy that the original does not have: "
                         + " = ".join(sorted(g)))
    return diffs, {"entries": len(s_entries), "bytes": nbytes,
                   "hardlink_groups": len(s_groups)}


# -- plan steps --------------------------------------------------------------------------------
@dataclass
class MkdirTemp(Action):
    """mkdir the temporary mount point; undo removes it only when it is there and empty."""

    path: str = ""

    def undo(self, ctx: ExecContext) -> None:
        if os.path.isdir(self.path) and not os.path.ismount(self.path):
            ctx.runner.run(["rmdir", self.path], changes=True, check=False)


@dataclass
class TempMount(Action):
    """Mount at the temporary mount point; undo unmounts it only when it is still mounted."""

    path: str = ""

    def undo(self, ctx: ExecContext) -> None:
        if ctx.runner.dry_run or os.path.ismount(self.path):
            ctx.runner.run(["umount", self.path], changes=True, check=False)


# /run is a tmpfs: a mount point left by a crash does not outlive the next boot.
TEMP_BASE = "/run"


def temp_mountpoint(vg: str, name: str) -> str:
    return f"{TEMP_BASE}/opsctl-move-{vg}-{name}"


def check_temp_mountpoint(tmp: str) -> None:
    if os.path.ismount(tmp):
        raise SafetyError(f"{tmp} is mounted (an interrupted earlier move?): check it and "
                          f"unmount it first")
    if os.path.lexists(tmp) and (not os.path.isdir(tmp) or os.listdir(tmp)):
        raise SafetyError(f"{tmp} exists and is not an empty directory: check it and remove it")


def check_space(ctx: ExecContext, tmp: str, usage: DirUsage) -> None:
    """The exact check on the new, empty filesystem: free blocks and free inodes."""
    if ctx.runner.dry_run:
        return
    st = os.statvfs(tmp)
    free = st.f_bfree * st.f_frsize
    if usage.allocated_bytes > free:
        raise SafetyError(f"the data of {usage.path} ({human(usage.allocated_bytes)}) does not "
                          f"fit: the new filesystem has {human(free)} free")
    if st.f_files and usage.inodes > st.f_ffree:
        raise SafetyError(f"{usage.path} has {usage.inodes} files; the new filesystem has "
                          f"only {st.f_ffree} free inodes")


def verify_copy(ctx: ExecContext, src: str, dst: str) -> None:
    if ctx.runner.dry_run:
        return
    diffs, counts = compare_trees(src, dst)
    if diffs:
        more = f" (and {len(diffs) - 10} more)" if len(diffs) > 10 else ""
        raise CommandError(f"the copy in {dst} differs from {src}: " + "; ".join(diffs[:10])
                           + more)
    ctx.info(f"verified: {counts['entries']} entries, {human(counts['bytes'])} of file content "
             f"identical (content, owners, modes, mtimes, links, xattrs)")


def free_old_data_commands(path: str) -> tuple[str, list[str]]:
    """Where the hidden old copy is and the commands that free it after checking."""
    root = mount_root(path)
    rel = os.path.relpath(path, root)
    view = "/mnt/opsctl-old"
    old = f"{view}/{rel}"
    return root, [
        f"mkdir -p {view} && mount --bind {root} {view}   # the filesystem under {path}",
        f"ls -la {old}   # the old copy; compare it with {path}",
        f"find {old} -xdev -mindepth 1 -delete   # frees the space",
        f"umount {view} && rmdir {view}",
    ]


def move_actions(runner: Runner, *, device: str, fs: str, target: str, tmp: str,
                 usage: DirUsage, check_busy: bool) -> list[Action]:
    """The steps between mkfs and the fstab entry: temporary mount, checks, copy, verify."""
    out: list[Action] = [
        MkdirTemp("fs.mkdir", f"create the temporary mount point {tmp}", ["mkdir", "-p", tmp],
                  path=tmp),
        TempMount("fs.mount-temp", f"mount the new filesystem at {tmp}",
                  ["mount", "-t", fs, device, tmp], undo_argv=[["umount", tmp]], path=tmp),
    ]

    def pre_copy(ctx: ExecContext) -> None:
        check_space(ctx, tmp, usage)
        if check_busy and not ctx.runner.dry_run:
            check_not_in_use(target)

    shown = [f"  (opsctl) free space on {tmp} >= {human(usage.allocated_bytes)} and free "
             f"inodes >= {usage.inodes}"]
    if check_busy:
        shown.append(f"  (opsctl) no process has its cwd, open or mapped files under {target}")
    out.append(Check("data.precheck", "check the new filesystem's space"
                     + (f" and that nothing uses {target}" if check_busy else ""),
                     check=pre_copy, shown=shown))
    out.append(Action("data.copy", f"copy {target} ({usage.summary()}) to {tmp}",
                      copy_argv(runner, target, tmp), timeout=COPY_TIMEOUT))
    out.append(Check("data.verify", f"verify the copy against {target}",
                     check=lambda ctx: verify_copy(ctx, target, tmp),
                     shown=[f"  (opsctl) compare {target} with {tmp}: every entry's type, "
                            "owner, mode, size, mtime, symlink target, device number, hard "
                            "links, xattrs/ACLs, and file content byte for byte"]))
    out.append(Action("fs.umount-temp", f"unmount {tmp}", ["umount", tmp]))
    out.append(Action("fs.rmdir", f"remove the temporary mount point {tmp}", ["rmdir", tmp]))
    return out
