"""Filesystems and fstab as plan steps: mkfs (with a UUID chosen up front, so the fstab
line is known before anything runs), mount, and fstab edits validated by findmnt."""

from __future__ import annotations

import os
import uuid as uuidlib
from pathlib import Path
from typing import Any

from opsctl.core.config.models import StorageSettings
from opsctl.core.errors import CommandError, NotFoundError, SafetyError, UsageError
from opsctl.core.runner import Runner
from opsctl.storage import fstab, parsers
from opsctl.storage.actions import Action, EditFile, ExecContext
from opsctl.storage.model import Snapshot
from opsctl.storage.plan import Plan
from opsctl.storage.probe import blkid_probe, resolve_device

FILESYSTEMS = {
    # fs -> how to make it with a given UUID, and whether it can grow / shrink
    "ext4": {"mkfs": lambda dev, u: ["mkfs.ext4", "-q", "-F", "-U", u, dev],
             "grow_online": True, "shrink": "offline"},
    "xfs": {"mkfs": lambda dev, u: ["mkfs.xfs", "-q", "-f", "-m", f"uuid={u}", dev],
            "grow_online": True, "shrink": None},
}


def check_fs(fs: str | None) -> str | None:
    if fs is None:
        return None
    if fs not in FILESYSTEMS:
        raise UsageError(f"unsupported filesystem {fs!r}: expected " + " or ".join(FILESYSTEMS))
    return fs


def check_mountpoint(path: str) -> str:
    if not path.startswith("/") or path == "/" or "\n" in path or " " in path:
        raise UsageError(f"bad mount point {path!r}: an absolute path other than /, no spaces")
    return os.path.normpath(path)


def mkfs_action(fs: str, device: str, fs_uuid: str) -> Action:
    return Action("fs.mkfs", f"make an {fs} filesystem on {device}",
                  FILESYSTEMS[fs]["mkfs"](device, fs_uuid),
                  undo_argv=[["wipefs", "-a", device]], destructive=True, timeout=600)


def verify_fstab(ctx: ExecContext, path: Path, old_text: str) -> None:
    """findmnt --verify on the new file; only errors the old file did not have count."""
    new_errors = _verify_errors(ctx.runner, path)
    if not new_errors:
        return
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".fstab", delete=False) as f:
        f.write(old_text)
    try:
        old_errors = set(_verify_errors(ctx.runner, Path(f.name)))
    finally:
        os.unlink(f.name)
    fresh = [e for e in new_errors if e not in old_errors]
    if fresh:
        raise CommandError("findmnt --verify rejected the new fstab: " + "; ".join(fresh)
                           + " (previous file restored)")


def _verify_errors(runner: Runner, path: Path) -> list[str]:
    if not runner.has("findmnt"):
        return []
    res = runner.run(["findmnt", "--verify", "--verbose", "--tab-file", str(path)], check=False)
    return parsers.parse_findmnt_verify(res.stdout)


def fstab_add_actions(settings: StorageSettings, entry: fstab.FstabEntry,
                      *, mount: bool = True, mkdir: bool = True,
                      preview_from: str | None = None) -> list[Action]:
    out: list[Action] = []
    if mkdir and not os.path.isdir(entry.file):
        out.append(Action("fs.mkdir", f"create mount point {entry.file}",
                          ["mkdir", "-p", entry.file], undo_argv=[["rmdir", entry.file]]))
    out.append(EditFile("fstab.add", f"add {entry.file} to {settings.fstab}",
                        path=settings.fstab, transform=lambda t: fstab.add(t, entry),
                        validate=verify_fstab, preview_from=preview_from))
    if mount:
        out.append(Action("fs.mount", f"mount {entry.file}",
                          ["mount", "-T", str(settings.fstab), entry.file],
                          undo_argv=[["umount", entry.file]]))
    return out


def device_spellings(snap: Snapshot, runner: Runner, device: str) -> set[str]:
    """Every way an fstab line could name this device (path, /dev/mapper, UUID=, LABEL=)."""
    names = {device, resolve_device(device)}
    node = snap.node(resolve_device(device))
    if node:
        names |= {node.get("path") or "", f"/dev/{node.get('kname')}"}
        if node.get("uuid"):
            names.add(f"UUID={node['uuid']}")
        if node.get("label"):
            names.add(f"LABEL={node['label']}")
    sig = blkid_probe(runner, device)
    if sig.get("UUID"):
        names.add(f"UUID={sig['UUID']}")
    return {n for n in names if n}


def fstab_add_plan(snap: Snapshot, runner: Runner, settings: StorageSettings, device: str,
                   mountpoint: str, options: str | None = None, *, mount: bool = True) -> Plan:
    from opsctl.storage.files import read_text

    target = check_mountpoint(mountpoint)
    dev = resolve_device(device)
    if snap.node(dev) is None and not os.path.exists(dev):
        raise NotFoundError(f"unknown device {device}")
    sig = blkid_probe(runner, dev)
    if sig.get("USAGE", "filesystem") != "filesystem" or not sig.get("TYPE"):
        raise SafetyError(f"{device} has no filesystem to mount "
                          f"({sig.get('TYPE') or 'no signature'})")
    entry = fstab.FstabEntry(spec=f"UUID={sig['UUID']}", file=target, vfstype=sig["TYPE"],
                             mntops=fstab.data_options(options, settings.device_timeout),
                             passno=2)
    text = read_text(settings.fstab)
    fstab.check_add(fstab.parse(text), entry, device_spellings(snap, runner, dev))
    if snap.mount_at(target) is not None:
        raise SafetyError(f"something is already mounted at {target} "
                          f"({snap.mount_at(target).get('source')})")
    if mount and os.path.isdir(target) and not os.path.ismount(target):
        with os.scandir(target) as it:
            if next(it, None) is not None:
                raise SafetyError(
                    f"{target} is not empty: mounting {device} over it would hide its data",
                    hint="choose an empty mount point, or add the entry with --no-mount; to "
                         "move a directory onto a new volume use `storage lv create "
                         "--mount PATH --move-data`")
    plan = Plan(f"fstab: {device} on {target}", target=target)
    plan.actions += fstab_add_actions(settings, entry, mount=mount)
    plan.readback = lambda ctx: mount_readback(ctx.runner, target)
    return plan


def fstab_remove_plan(snap: Snapshot, settings: StorageSettings, target: str,
                      *, umount: bool = False) -> Plan:
    from opsctl.storage.files import read_text

    text = read_text(settings.fstab)
    _new, entry = fstab.remove(text, target)
    plan = Plan(f"fstab: remove {entry.file}", target=entry.file)
    mounted = snap.mount_at(entry.file) is not None
    if umount and mounted:
        plan.add(Action("fs.umount", f"unmount {entry.file}", ["umount", entry.file],
                        undo_argv=[["mount", "-T", str(settings.fstab), entry.file]]))
    elif mounted:
        plan.notes.append(f"{entry.file} stays mounted until unmounted or reboot "
                          "(use --umount to unmount now)")
    plan.add(EditFile("fstab.remove", f"remove {entry.file} from {settings.fstab}",
                      path=settings.fstab, transform=lambda t: fstab.remove(t, entry.file)[0]))
    return plan


def mount_readback(runner: Runner, target: str) -> dict[str, Any]:
    res = runner.run(["findmnt", "-J", "-b", "-o", "TARGET,SOURCE,FSTYPE,OPTIONS,SIZE,USED,AVAIL",
                      "--mountpoint", target], check=False)
    mounts = parsers.parse_findmnt(res.stdout) if res.ok else []
    if not mounts:
        raise CommandError(f"{target} is not mounted after the change")
    m = mounts[0]
    return {"mountpoint": target, "source": m.get("source"), "fstype": m.get("fstype"),
            "size_bytes": m.get("size"), "used_bytes": m.get("used")}


def new_fs_uuid() -> str:
    return str(uuidlib.uuid4())


def fs_size(runner: Runner, device: str, fstype: str, mountpoint: str | None) -> int | None:
    """The filesystem's own size in bytes (not the device's), read back from the tool."""
    if mountpoint:
        st = os.statvfs(mountpoint)
        if fstype == "ext4":
            # statvfs hides ext4's reserved overhead; dumpe2fs tells the real block count.
            pass
        else:
            return st.f_blocks * st.f_frsize
    if fstype == "ext4":
        res = runner.run(["dumpe2fs", "-h", device], check=False)
        d = parsers.parse_dumpe2fs(res.stdout)
        try:
            return int(d["Block count"]) * int(d["Block size"])
        except (KeyError, ValueError):
            return None
    if fstype == "xfs" and mountpoint:
        st = os.statvfs(mountpoint)
        return st.f_blocks * st.f_frsize
    return None
