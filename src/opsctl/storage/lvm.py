"""LVM operations as plans: VGs (create, extend, reduce with pvmove) and LVs (create with a
filesystem and a mount; resize together with the filesystem)."""

from __future__ import annotations

import os
from typing import Any

from opsctl.core.config.models import StorageSettings
from opsctl.core.errors import CommandError, NotFoundError, SafetyError, UsageError
from opsctl.core.runner import Runner
from opsctl.storage import fstab, movedata, parsers
from opsctl.storage.actions import Action, Check, ExecContext
from opsctl.storage.devices import Force, check_name, node_path, require_free, require_tool
from opsctl.storage.fsops import (
    check_fs,
    check_mountpoint,
    fs_size,
    fstab_add_actions,
    mkfs_action,
    new_fs_uuid,
)
from opsctl.storage.model import Snapshot
from opsctl.storage.plan import Plan
from opsctl.storage.probe import blkid_probe, probe_lvm, resolve_device
from opsctl.storage.sizes import SizeSpec, human, parse_size_spec, round_up
from opsctl.storage.tools import LVM_REPORT, lv_path


def pv_device(snap: Snapshot, spec: str) -> str:
    """A PV given as an array name ('data'), /dev/md/data, or a device path."""
    arr = snap.array(spec) if spec.startswith(("/dev/md", "md")) or "/" not in spec else None
    if arr is not None:
        return arr.device
    if not spec.startswith("/dev/"):
        raise NotFoundError(f"no RAID array named {spec!r} and not a device path")
    return resolve_device(spec) if not spec.startswith("/dev/md/") else spec


def _pv_of(snap: Snapshot, dev: str) -> dict[str, Any] | None:
    return snap.pv(dev, {node_path(snap, dev), resolve_device(dev)})


def parse_vg_lv(text: str) -> tuple[str, str]:
    parts = text.removeprefix("/dev/").split("/")
    if len(parts) != 2:
        raise UsageError(f"bad volume {text!r}: expected VG/NAME, e.g. vg0/data")
    return check_name(parts[0], "volume group"), check_name(parts[1], "logical volume")


# -- volume groups ------------------------------------------------------------------------------
def vg_create_plan(snap: Snapshot, runner: Runner, name: str, pvs: list[str],
                   force: Force | None = None) -> Plan:
    force = force or Force()
    require_tool(runner, "lvm", "lvm2")
    check_name(name, "volume group")
    if not pvs:
        raise UsageError("a volume group needs at least one PV")
    if snap.vg(name):
        raise SafetyError(f"volume group {name} already exists")
    devs = [pv_device(snap, p) for p in pvs]
    overridden = require_free(snap, runner, devs, force)
    plan = Plan(f"create volume group {name}", target=name)
    plan.notes += [f"forced: {o}" for o in overridden]
    for d in devs:
        plan.add(pvcreate_action(d, forced=bool(overridden)))
    plan.add(Action("vg.create", f"create volume group {name} on {', '.join(devs)}",
                    ["vgcreate", name, *devs], undo_argv=[["vgremove", "-y", name]]))
    plan.readback = lambda ctx: vg_readback(ctx.runner, name)
    return plan


def pvcreate_action(dev: str, forced: bool = False) -> Action:
    argv = ["pvcreate", "-y", *(["-ff"] if forced else []), dev]
    return Action("pv.create", f"make {dev} an LVM physical volume", argv,
                  undo_argv=[["pvremove", "-y", dev]], destructive=True)


def pvresize_action(pv: str, expected_bytes: int | None = None) -> Action:
    """Make the PV as big as its (grown) device; nothing to undo: the extents stay free."""
    what = f" (about {human(expected_bytes)})" if expected_bytes else ""
    return Action("pv.resize", f"grow the physical volume {pv} to its device's size{what}",
                  ["pvresize", pv])


def vg_extend_plan(snap: Snapshot, runner: Runner, name: str, pvs: list[str],
                   force: Force | None = None) -> Plan:
    force = force or Force()
    if not snap.vg(name):
        raise NotFoundError(f"no volume group named {name!r}")
    devs = [pv_device(snap, p) for p in pvs]
    fresh = []
    for d in devs:
        pv = _pv_of(snap, d)
        if pv and pv.get("vg_name") == name:
            continue
        if pv and pv.get("vg_name"):
            raise SafetyError(f"{d} is already a PV of volume group {pv['vg_name']}")
        fresh.append(d)
    plan = Plan(f"extend volume group {name}", target=name)
    if not fresh:
        return plan
    overridden = require_free(snap, runner, fresh, force)
    plan.notes += [f"forced: {o}" for o in overridden]
    for d in fresh:
        plan.add(pvcreate_action(d, forced=bool(overridden)))
    plan.add(Action("vg.extend", f"add {', '.join(fresh)} to volume group {name}",
                    ["vgextend", name, *fresh], undo_argv=[["vgreduce", name, *fresh]]))
    plan.readback = lambda ctx: vg_readback(ctx.runner, name)
    return plan


def vg_reduce_plan(snap: Snapshot, name: str, pv: str) -> Plan:
    vg = snap.vg(name)
    if not vg:
        raise NotFoundError(f"no volume group named {name!r}")
    dev = pv_device(snap, pv)
    info = _pv_of(snap, dev)
    if not info or info.get("vg_name") != name:
        raise NotFoundError(f"{pv} is not a physical volume of {name}")
    others = [p for p in snap.pvs_of(name) if p["pv_name"] != info["pv_name"]]
    if not others:
        raise SafetyError(f"{pv} is the only PV of {name}: remove the volume group instead")
    used = int(info.get("pv_used") or 0)
    free_elsewhere = sum(int(p.get("pv_free") or 0) for p in others)
    if used > free_elsewhere:
        raise SafetyError(f"cannot move {human(used)} off {info['pv_name']}: the other PVs of "
                          f"{name} have only {human(free_elsewhere)} free",
                          hint="extend the VG with another PV first")
    plan = Plan(f"remove {info['pv_name']} from volume group {name}", target=name)
    if used:
        plan.add(PvMove("pv.move", f"move {human(used)} of extents off {info['pv_name']}",
                        ["pvmove", "-b", info["pv_name"]],
                        undo_argv=[["pvmove", "--abort"]], timeout=120))
    plan.add(Action("vg.reduce", f"remove {info['pv_name']} from {name}",
                    ["vgreduce", name, info["pv_name"]],
                    undo_argv=[["vgextend", name, info["pv_name"]]]))
    plan.add(Action("pv.remove", f"wipe the PV label from {info['pv_name']}",
                    ["pvremove", "-y", info["pv_name"]]))
    plan.readback = lambda ctx: vg_readback(ctx.runner, name)
    return plan


class PvMove(Action):
    """pvmove in the background, followed by polling its copy progress.

    The copy runs in the kernel (dm-mirror); ``pvmove -b`` returns at once and the
    temporary ``pvmove0`` volume reports ``copy_percent`` until it disappears.
    """

    poll: float = 2.0

    def execute(self, ctx: ExecContext) -> None:
        import time

        ctx.runner.run(self.argv or [], changes=True, timeout=self.timeout)
        last = -10.0
        while True:
            res = ctx.runner.run(["lvs", *LVM_REPORT, "-a", "-o", "lv_name,copy_percent"],
                                 check=False)
            rows = [r for r in parsers.parse_lvm_report(res.stdout, "lv")
                    if "pvmove" in r.get("lv_name", "")]
            if not rows:
                ctx.info("pvmove: done")
                return
            try:
                pct = float(rows[0].get("copy_percent") or 0)
            except ValueError:
                pct = 0.0
            if pct - last >= 10:
                last = pct
                ctx.info(f"pvmove: {pct:g}%")
            time.sleep(self.poll)


def vg_readback(runner: Runner, name: str) -> dict[str, Any]:
    pvs, vgs, _ = probe_lvm(runner)
    vg = next((v for v in vgs if v["vg_name"] == name), None)
    if vg is None:
        return {"vg": name, "exists": False}
    return {"vg": name, "size_bytes": vg["vg_size"], "free_bytes": vg["vg_free"],
            "pvs": [p["pv_name"] for p in pvs if p.get("vg_name") == name]}


# -- logical volumes ----------------------------------------------------------------------------
def lv_size_bytes(spec: SizeSpec, vg: dict[str, Any], current: int = 0) -> int:
    return spec.resolve(current, int(vg["vg_free"]), int(vg["vg_size"]))


def lv_create_plan(snap: Snapshot, runner: Runner, settings: StorageSettings, vgname: str,
                   name: str, size: str | int, fs: str | None = None, mount: str | None = None,
                   options: str | list[str] | None = None, *, vg_override: dict | None = None,
                   fs_uuid: str | None = None, move_data: bool = False,
                   force: Force | None = None) -> Plan:
    """``move_data``: PATH is an existing directory whose data is copied onto the new
    volume before it is mounted there (see :mod:`opsctl.storage.movedata`); without it, a
    non-empty PATH is refused (mounting over it would hide its data). ``force`` lets a
    move go ahead while processes use PATH (its reason is recorded)."""
    force = force or Force()
    require_tool(runner, "lvm", "lvm2")
    check_name(vgname, "volume group")
    check_name(name, "logical volume")
    fs = check_fs(fs)
    spec = parse_size_spec(size, allow_relative=False)
    if mount and not fs:
        raise UsageError("--mount needs --fs (a filesystem to mount)")
    if move_data and not mount:
        raise UsageError("--move-data needs --mount PATH (the directory to move)")
    target = check_mountpoint(mount) if mount else None
    vg = vg_override or snap.vg(vgname)
    if vg is None:
        raise NotFoundError(f"no volume group named {vgname!r}")
    if snap.lv(vgname, name):
        raise SafetyError(f"logical volume {vgname}/{name} already exists")
    want = lv_size_bytes(spec, vg)
    extent = int(vg.get("vg_extent_size") or 4 * 1024**2)
    rounded = round_up(want, extent)
    if not spec.is_percent and rounded > int(vg["vg_free"]):
        raise UsageError(f"size {human(want)} is larger than the free space in {vgname} "
                         f"({human(int(vg['vg_free']))})")
    if fs == "xfs" and rounded < 300 * 1024**2:
        raise UsageError(f"xfs needs at least 300M; {human(rounded)} is too small")
    usage = None
    if target:
        _check_mount_free(snap, settings, target)
        usage = _check_target_dir(snap, target, move_data)
    if usage is not None:
        if usage.allocated_bytes > rounded * movedata.FIT_RATIO:
            need = round_up(int(usage.allocated_bytes / movedata.FIT_RATIO) + 1, extent)
            raise SafetyError(
                f"refusing to move {target}: it holds {human(usage.allocated_bytes)} of data "
                f"({usage.entries} entries); a {human(rounded)} volume is too small "
                f"(the filesystem needs some of it: make it at least {human(need)})")
        if not force.enabled:
            movedata.check_not_in_use(target)
    path = lv_path(vgname, name)
    title = (f"create logical volume {vgname}/{name} and move {target} onto it"
             if usage is not None else f"create logical volume {vgname}/{name}")
    plan = Plan(title, target=f"{vgname}/{name}")
    size_args = (["-l", f"{spec.percent}%{spec.of}"] if spec.is_percent
                 else ["-L", f"{rounded}b"])
    plan.add(Action("lv.create", f"create logical volume {path} ({spec})",
                    ["lvcreate", "-y", "--wipesignatures", "y", "-n", name, *size_args, vgname],
                    undo_argv=[["lvremove", "-y", f"{vgname}/{name}"]]))
    if fs:
        fs_uuid = fs_uuid or new_fs_uuid()
        plan.add(mkfs_action(fs, path, fs_uuid))
        if usage is not None:
            tmp = movedata.temp_mountpoint(vgname, name)
            movedata.check_temp_mountpoint(tmp)
            plan.actions += movedata.move_actions(runner, device=path, fs=fs, target=target,
                                                  tmp=tmp, usage=usage,
                                                  check_busy=not force.enabled)
        if target:
            entry = fstab.FstabEntry(f"UUID={fs_uuid}", target, fs,
                                     fstab.data_options(options, settings.device_timeout))
            plan.actions += fstab_add_actions(settings, entry)
    if usage is None:
        if move_data:
            plan.notes.append(f"{target} is empty or missing: nothing to move")
        plan.readback = lambda ctx: lv_readback(ctx.runner, vgname, name, target)
        return plan
    assert target is not None
    root, free_cmds = movedata.free_old_data_commands(target)
    if force.enabled:
        plan.notes.append(f"forced ({force.reason}): processes using {target} are not checked; "
                          "what they write during or after the copy stays in the old, hidden "
                          "copy")
    plan.notes.append(f"the old data of {target} ({usage.summary()}) stays on {root} under the "
                      f"new mount point, hidden; it is never deleted by opsctl")

    def readback(ctx: ExecContext) -> dict[str, Any]:
        out = lv_readback(ctx.runner, vgname, name, target)
        out["moved_from"] = target
        out["old_data_bytes"] = usage.allocated_bytes
        out["old_data_entries"] = usage.entries
        out["old_data_on"] = f"{root} (hidden under {target})"
        out["next_steps"] = [f"the old copy of {target} ({human(usage.allocated_bytes)}, "
                             f"{usage.entries} entries) is still on {root}, hidden under the "
                             "new mount. After checking the new volume, free it with:",
                             *[f"  {c}" for c in free_cmds]]
        return out

    plan.readback = readback
    return plan


def _check_target_dir(snap: Snapshot, target: str, move_data: bool):
    """The mount point's directory: None when missing or empty (nothing to move), else
    what it holds. Refused: not a directory, a symlink, filesystems mounted below it, and
    (without --move-data) any content, which the mount would hide."""
    if not os.path.lexists(target):
        return None
    if os.path.islink(target):
        raise SafetyError(f"{target} is a symlink (to {os.readlink(target)}): give the real "
                          "directory")
    if not os.path.isdir(target):
        raise SafetyError(f"{target} exists and is not a directory")
    if os.path.ismount(target):
        raise SafetyError(f"{target} is itself a mount point: something else is mounted there")
    with os.scandir(target) as it:
        if next(it, None) is None:
            return None
    if not move_data:
        raise SafetyError(f"{target} is not empty: mounting the new volume over it would hide "
                          "its data",
                          hint="add --move-data to copy the data onto the new volume first, "
                               "or choose an empty mount point")
    below = sorted(m["target"] for m in snap.mounts
                   if (m.get("target") or "").startswith(target.rstrip("/") + "/"))
    usage = movedata.scan_dir(target)
    below = sorted(set(below) | set(usage.submounts))
    if below:
        raise SafetyError(f"filesystems are mounted below {target} ({', '.join(below)}): the "
                          "new mount would hide them",
                          hint="unmount them first (and move them separately)")
    return usage


def _check_mount_free(snap: Snapshot, settings: StorageSettings, target: str) -> None:
    from opsctl.storage.files import read_text

    for e in fstab.parse(read_text(settings.fstab)):
        if e.file == target:
            raise SafetyError(f"fstab already has an entry for {target} (line {e.lineno})")
    if snap.mount_at(target):
        raise SafetyError(f"something is already mounted at {target}")


def lv_readback(runner: Runner, vg: str, name: str, mount: str | None) -> dict[str, Any]:
    _, _, lvs = probe_lvm(runner)
    lv = next((x for x in lvs if x["vg_name"] == vg and x["lv_name"] == name), None)
    out: dict[str, Any] = {"lv": f"{vg}/{name}", "exists": lv is not None}
    if lv is None:
        return out
    out["lv_size_bytes"] = lv["lv_size"]
    sig = blkid_probe(runner, lv["lv_path"])
    if sig.get("TYPE"):
        mp = mount or _mountpoint_of(runner, lv["lv_path"])
        out["fs"] = sig["TYPE"]
        out["fs_uuid"] = sig.get("UUID")
        out["fs_size_bytes"] = fs_size(runner, lv["lv_path"], sig["TYPE"], mp)
        out["mountpoint"] = mp
    return out


def _mountpoint_of(runner: Runner, dev: str) -> str | None:
    res = runner.run(["findmnt", "-J", "-o", "TARGET,SOURCE", "--source", dev], check=False)
    if not res.ok:
        return None
    mounts = parsers.parse_findmnt(res.stdout)
    return mounts[0]["target"] if mounts else None


def lv_resize_plan(snap: Snapshot, runner: Runner, vgname: str, name: str, size: str,
                   *, grow_only: bool = False) -> Plan:
    """Resize an LV with its filesystem: online grow (ext4, xfs); ext4 shrink offline after
    fsck and a check that the data fits; xfs shrink refused."""
    # The size is checked first: a typo in it is worth reporting before anything is probed.
    spec = parse_size_spec(size)
    lv = snap.lv(vgname, name)
    if lv is None:
        raise NotFoundError(f"no logical volume {vgname}/{name}")
    vg = snap.vg(vgname)
    current = int(lv["lv_size"])
    extent = int(vg.get("vg_extent_size") or 4 * 1024**2)
    want = round_up(lv_size_bytes(spec, vg, current), extent)
    if want <= 0:
        raise UsageError(f"size {size} would leave {vgname}/{name} with nothing")
    dev = lv["lv_path"]
    sig = blkid_probe(runner, dev)
    fstype = sig.get("TYPE")
    mp = _mountpoint_of(runner, dev)
    plan = Plan(f"resize {vgname}/{name} {human(current)} -> {human(want)}",
                target=f"{vgname}/{name}")
    plan.readback = lambda ctx: lv_readback(ctx.runner, vgname, name, None)
    if want == current:
        return plan
    if grow_only and want < current:
        raise SafetyError(f"{vgname}/{name} is {human(current)} already, more than {size}: "
                          "a growth never shrinks a volume")
    if want > current:
        if want - current > int(vg["vg_free"]):
            raise UsageError(f"growing by {human(want - current)} needs more than the free "
                             f"space in {vgname} ({human(int(vg['vg_free']))})")
        plan.add(Action("lv.extend", f"grow {dev} to {human(want)}",
                        ["lvextend", "-L", f"{want}b", f"{vgname}/{name}"]))
        if fstype == "ext4":
            plan.add(Action("fs.grow", f"grow the ext4 filesystem{' online' if mp else ''}",
                            ["resize2fs", dev], timeout=3600))
        elif fstype == "xfs":
            if not mp:
                raise SafetyError(f"xfs grows only while mounted: mount {dev} first")
            plan.add(Action("fs.grow", f"grow the xfs filesystem online at {mp}",
                            ["xfs_growfs", mp], timeout=3600))
        elif fstype:
            raise SafetyError(f"{dev} carries {fstype}, which opsctl does not resize")
        return plan
    # -- shrinking --------------------------------------------------------------------------
    if fstype == "xfs":
        raise SafetyError(f"refusing to shrink {vgname}/{name}: xfs filesystems cannot be "
                          "shrunk", hint="copy the data to a smaller new volume instead")
    if fstype and fstype != "ext4":
        raise SafetyError(f"{dev} carries {fstype}, which opsctl does not shrink")
    if not fstype:
        plan.add(Action("lv.reduce", f"shrink {dev} to {human(want)} (no filesystem on it)",
                        ["lvreduce", "-y", "-L", f"{want}b", f"{vgname}/{name}"],
                        destructive=True))
        return plan
    if mp:
        st = os.statvfs(mp)
        used = (st.f_blocks - st.f_bfree) * st.f_frsize
        if used >= want:
            raise SafetyError(f"refusing to shrink {vgname}/{name} to {human(want)}: it holds "
                              f"{human(used)} of data")
        plan.add(Action("fs.umount", f"unmount {mp} (ext4 shrinks offline)", ["umount", mp],
                        undo_argv=[["mount", dev, mp]]))
    plan.add(Action("fs.fsck", f"check the filesystem on {dev}", ["e2fsck", "-f", "-y", dev],
                    ok_codes=(0, 1), timeout=3600))
    plan.add(Check("fs.fits", f"check that the data fits in {human(want)}",
                   check=lambda ctx: _check_fits(ctx, dev, want),
                   shown=[f"resize2fs -P {dev}  # estimated minimum must be below "
                          f"{human(want)}"]))
    plan.add(Action("fs.shrink", f"shrink the ext4 filesystem to {human(want)}",
                    ["resize2fs", dev, f"{want // 1024}K"], undo_argv=[["resize2fs", dev]],
                    timeout=3600, destructive=True))
    plan.add(Action("lv.reduce", f"shrink {dev} to {human(want)}",
                    ["lvreduce", "-y", "-L", f"{want}b", f"{vgname}/{name}"],
                    undo_argv=[["lvextend", "-L", f"{current}b", f"{vgname}/{name}"]],
                    destructive=True))
    if mp:
        plan.add(Action("fs.mount", f"mount {mp} again", ["mount", dev, mp],
                        undo_argv=[["umount", mp]]))
    return plan


def _check_fits(ctx: ExecContext, dev: str, want: int) -> None:
    res = ctx.runner.run(["resize2fs", "-P", dev])
    blocks = parsers.parse_resize2fs_min(res.stdout)
    info = parsers.parse_dumpe2fs(ctx.runner.run(["dumpe2fs", "-h", dev]).stdout)
    try:
        bs = int(info["Block size"])
    except (KeyError, ValueError):
        raise CommandError(f"cannot read the block size of {dev} from dumpe2fs") from None
    if blocks is None:
        raise CommandError(f"cannot read the minimum size of {dev} from resize2fs -P")
    need = blocks * bs
    if need > want:
        raise SafetyError(f"the data on {dev} needs at least {human(need)}; "
                          f"{human(want)} is too small")
