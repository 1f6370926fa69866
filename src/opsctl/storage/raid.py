"""RAID (mdadm) operations as plans: create, fail, remove, add, replace, grow; following
a resync or rebuild to the end."""

from __future__ import annotations

import shlex
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opsctl.core.config.models import StorageSettings
from opsctl.core.errors import CommandError, NotFoundError, OpsError, SafetyError, UsageError
from opsctl.core.runner import Runner
from opsctl.storage import mdadm_conf
from opsctl.storage.actions import Action, EditFile, ExecContext, OptionalCommand
from opsctl.storage.devices import Force, check_name, require_free, require_tool
from opsctl.storage.levels import Level, usable_fraction
from opsctl.storage.levels import level as parse_level
from opsctl.storage.model import ArrayInfo, Snapshot
from opsctl.storage.plan import Plan
from opsctl.storage.probe import probe_arrays, resolve_device
from opsctl.storage.tools import array_key, md_path


def new_md_uuid() -> str:
    h = uuidlib.uuid4().hex
    return ":".join(h[i:i + 8] for i in range(0, 32, 8))


def get_array(snap: Snapshot, name: str) -> ArrayInfo:
    a = snap.array(name)
    if a is None:
        known = ", ".join(x.name for x in snap.arrays) or "none"
        raise NotFoundError(f"no RAID array named {name!r} (running arrays: {known})")
    return a


def _vgs_on(runner: Runner, device: str) -> list[str]:
    from opsctl.storage.tools import LVM_REPORT

    if not runner.has("lvm"):
        return []
    res = runner.run(["pvs", *LVM_REPORT, "-o", "pv_name,vg_name", device], check=False)
    from opsctl.storage.parsers import parse_lvm_report

    try:
        rows = parse_lvm_report(res.stdout, "pv") if res.ok else []
    except OpsError:
        return []
    return sorted({r["vg_name"] for r in rows if r.get("vg_name")})


class CreateArray(Action):
    """mdadm --create; undone by stopping the array (after deactivating any volume group
    LVM found on it) and zeroing the members' superblocks."""

    def undo(self, ctx: ExecContext) -> None:
        device = self.undo_argv[0][-1]
        for vg in _vgs_on(ctx.runner, device):
            ctx.runner.run(["vgchange", "-an", vg], changes=True, check=False)
        super().undo(ctx)


class ClearStale(Action):
    """A new array's content is whatever its disks held at the data offset: a disk that
    left an old array brings the old PV label (and LVM may even activate its VG). The
    members were checked blank, so anything found here is stale and is wiped."""

    def commands(self) -> list[str]:
        return [f"blkid -p {self.argv[-1]}  # only if it finds an old signature:",
                f"vgchange -an <stale VG>; {shlex.join(self.argv)}"]

    def execute(self, ctx: ExecContext) -> None:
        from opsctl.storage.probe import blkid_probe

        device = self.argv[-1]
        if ctx.runner.dry_run:
            return
        found = blkid_probe(ctx.runner, device)
        if not found:
            return
        ctx.warn(f"{device} shows a stale {found.get('TYPE') or 'signature'} from its disks' "
                 "past: wiping it")
        for vg in _vgs_on(ctx.runner, device):
            ctx.runner.run(["vgchange", "-an", vg], changes=True)
        ctx.runner.run(self.argv, changes=True)


def _wipe_actions(devices: list[str]) -> list[Action]:
    return [Action("wipe", f"wipe old signatures from {d} (forced)", ["wipefs", "-a", d],
                   destructive=True) for d in devices]


def conf_and_initramfs(plan: Plan, settings: StorageSettings, device: str, md_uuid: str,
                       spares: int) -> None:
    """ARRAY line first, then the initramfs: the other order brings the array back as
    md127 after a reboot."""
    line = mdadm_conf.array_line(device, md_uuid, spares=spares)
    plan.add(EditFile("mdadm.conf", f"record {device} in {settings.mdadm_conf}",
                      path=settings.mdadm_conf,
                      transform=lambda text: mdadm_conf.set_array(text, line),
                      after_undo=[list(settings.initramfs_update)]
                      if settings.initramfs_update else []))
    if settings.initramfs_update:
        plan.add(OptionalCommand("initramfs", "rebuild the initramfs so the array assembles "
                                 "under its name at boot", list(settings.initramfs_update),
                                 timeout=600))


def create_plan(snap: Snapshot, runner: Runner, settings: StorageSettings, name: str,
                level: str, devices: list[str], spares: list[str] | None = None,
                chunk: str | None = None, force: Force | None = None,
                *, md_uuid: str | None = None) -> Plan:
    force = force or Force()
    spares = list(spares or [])
    name = check_name(array_key(name), "array")
    lv = parse_level(level)
    if snap.array(name) is not None:
        raise SafetyError(f"array {name} already exists ({snap.array(name).device})")
    if len(devices) < lv.min_devices:
        raise UsageError(f"RAID{lv.name} needs at least {lv.min_devices} devices, "
                         f"got {len(devices)}")
    if spares and not lv.spares:
        raise UsageError(f"RAID{lv.name} has no redundancy: spares are useless")
    devices = [resolve_device(d) for d in devices]
    spares = [resolve_device(d) for d in spares]
    overridden = require_free(snap, runner, devices + spares, force)
    # After the device checks: a typo in a device name is the likelier mistake to report.
    require_tool(runner, "mdadm", "mdadm")
    if chunk:
        from opsctl.storage.sizes import parse_size

        c = parse_size(chunk, "chunk size")
        if c % 4096 or c & (c - 1):
            raise UsageError(f"bad chunk size {chunk!r}: a power of two, at least 4K")
    md_uuid = md_uuid or new_md_uuid()
    device = md_path(name)
    plan = Plan(f"create RAID{lv.name} {name}", target=name)
    if overridden:
        plan.notes += [f"forced: {o}" for o in overridden]
        plan.actions += _wipe_actions([o.split(":")[0] for o in overridden])
    # --name makes the superblock say "md5" (not "5" or the host's guess), so udev also
    # links /dev/md/md5 and assembling without mdadm.conf still picks /dev/md5.
    argv = ["mdadm", "--create", device, "--run", f"--level={lv.name}",
            f"--raid-devices={len(devices)}", "--metadata=1.2", f"--uuid={md_uuid}",
            f"--name={name}"]
    if chunk and lv.name != "1":
        argv.append(f"--chunk={chunk}")
    if spares:
        argv.append(f"--spare-devices={len(spares)}")
    argv += devices + spares
    plan.add(CreateArray("raid.create", f"create RAID{lv.name} array {device} over "
                         f"{len(devices)} devices"
                         + (f" + {len(spares)} spare(s)" if spares else ""),
                         argv, undo_argv=[["mdadm", "--stop", device],
                                          ["mdadm", "--zero-superblock", *devices, *spares]],
                         destructive=True))
    plan.add(ClearStale("raid.clear", f"clear stale signatures inside the new {device}",
                        ["wipefs", "-a", device]))
    conf_and_initramfs(plan, settings, device, md_uuid, len(spares))
    plan.readback = lambda ctx: readback(ctx.runner, name)
    return plan


def find_array(arrays: list[ArrayInfo], spec: str) -> ArrayInfo | None:
    """The array ``spec`` names: /dev/md5, /dev/md/data, md5 or data."""
    return Snapshot(arrays=arrays).array(spec)


def readback(runner: Runner, name: str) -> dict[str, Any]:
    arr = find_array(probe_arrays(runner), name)
    if arr is None:
        return {"array": name, "state": "missing"}
    return {"array": arr.name, "device": arr.device, "level": arr.level, "state": arr.state,
            "size_bytes": arr.size_bytes, "percent": arr.percent,
            "members": [f"{m['device']} {m['role']}" for m in arr.members if m.get("device")]}


def _member(arr: ArrayInfo, device: str) -> dict[str, Any]:
    dev = resolve_device(device)
    m = arr.member(dev)
    if m is None:
        raise NotFoundError(f"{device} is not a member of array {arr.name} (members: "
                            + ", ".join(arr.member_devices()) + ")")
    return m


def fail_plan(snap: Snapshot, name: str, device: str) -> Plan:
    arr = get_array(snap, name)
    m = _member(arr, device)
    dev = m["device"]
    if m["role"] == "faulty":
        raise SafetyError(f"{dev} is already marked failed in {arr.name}")
    lv = parse_level(arr.level)
    active = [x for x in arr.members if x["role"] == "active"]
    missing = arr.raid_devices - len(active)
    if m["role"] == "active" and missing + 1 > lv.redundancy:
        state = "degraded" if missing else "without redundancy"
        raise SafetyError(f"refusing to fail {dev}: array {arr.name} is {state} "
                          f"({len(active)}/{arr.raid_devices} active) and would lose data",
                          hint="replace the missing member first")
    plan = Plan(f"fail {dev} in {arr.name}", target=f"{arr.name}:{dev}")
    plan.add(Action("raid.fail", f"mark {dev} failed in {arr.device}",
                    ["mdadm", arr.device, "--fail", dev], destructive=True))
    plan.readback = lambda ctx: readback(ctx.runner, arr.name)
    return plan


def remove_plan(snap: Snapshot, name: str, device: str) -> Plan:
    arr = get_array(snap, name)
    m = _member(arr, device)
    dev = m["device"]
    if m["role"] not in ("faulty", "spare"):
        raise SafetyError(f"refusing to remove {dev} from {arr.name}: it is a working member "
                          f"({m['state']})",
                          hint=f"mark it failed first: opsctl storage raid fail {arr.name} {dev}")
    plan = Plan(f"remove {dev} from {arr.name}", target=f"{arr.name}:{dev}")
    plan.add(Action("raid.remove", f"remove {m['role']} {dev} from {arr.device}",
                    ["mdadm", arr.device, "--remove", dev]))
    plan.readback = lambda ctx: readback(ctx.runner, arr.name)
    return plan


def add_plan(snap: Snapshot, runner: Runner, name: str, device: str,
             force: Force | None = None) -> Plan:
    force = force or Force()
    arr = get_array(snap, name)
    dev = resolve_device(device)
    overridden = require_free(snap, runner, [dev], force)
    plan = Plan(f"add {dev} to {arr.name}", target=f"{arr.name}:{dev}")
    plan.notes += [f"forced: {o}" for o in overridden]
    plan.actions += _wipe_actions([dev] if overridden else [])
    role = "rebuild onto it" if arr.degraded else "as a hot spare"
    plan.add(Action("raid.add", f"add {dev} to {arr.device} ({role})",
                    ["mdadm", arr.device, "--add", dev]))
    plan.readback = lambda ctx: readback(ctx.runner, arr.name)
    return plan


def replace_plan(snap: Snapshot, runner: Runner, name: str, old: str, new: str,
                 force: Force | None = None) -> Plan:
    """fail → remove → add: the disk leaves the array only after it is marked failed."""
    force = force or Force()
    arr = get_array(snap, name)
    m = _member(arr, old)
    olddev = m["device"]
    newdev = resolve_device(new)
    if olddev == newdev:
        raise UsageError("the old and the new device are the same")
    overridden = require_free(snap, runner, [newdev], force)
    plan = Plan(f"replace {olddev} with {newdev} in {arr.name}", target=f"{arr.name}:{olddev}")
    plan.notes += [f"forced: {o}" for o in overridden]
    if m["role"] != "faulty":
        plan.actions += fail_plan(snap, name, olddev).actions
    plan.add(Action("raid.remove", f"remove failed {olddev} from {arr.device}",
                    ["mdadm", arr.device, "--remove", olddev]))
    plan.actions += _wipe_actions([newdev] if overridden else [])
    plan.add(Action("raid.add", f"add {newdev} to {arr.device} (rebuild onto it)",
                    ["mdadm", arr.device, "--add", newdev]))
    plan.readback = lambda ctx: readback(ctx.runner, arr.name)
    return plan


@dataclass
class GrowArray(Action):
    """``mdadm --grow --raid-devices=N``. Metadata 1.2 reshapes by moving the data offset and
    needs no backup file; when mdadm says it needs one (an old array without room), the
    step is repeated with a backup file outside the array, kept until the reshape ends."""

    backup_file: str | None = None

    def execute(self, ctx: ExecContext) -> None:
        assert self.argv is not None
        try:
            ctx.runner.run(self.argv, changes=True, timeout=self.timeout)
        except CommandError as exc:
            if not self.backup_file or "backup" not in str(exc).lower():
                raise
            ctx.warn(f"mdadm needs a backup file for this reshape: {self.backup_file} "
                     "(assembling before the reshape ends needs --backup-file with it)")
            ctx.runner.run([*self.argv, f"--backup-file={self.backup_file}"], changes=True,
                           timeout=self.timeout)


@dataclass
class WaitReshape(Action):
    """Follow a reshape (or resync) to its end: the new size exists only then. Interrupted
    (Ctrl-C, a reboot), the reshape goes on in the kernel; the same command resumes here."""

    array: str = ""
    poll: float = 2.0

    def commands(self) -> list[str]:
        return [f"opsctl storage raid wait {self.array}  # until the reshape has finished"]

    def execute(self, ctx: ExecContext) -> None:
        if ctx.runner.dry_run:
            return
        shown = [-10.0]

        def report(arr: ArrayInfo) -> None:
            hook = ctx.facts.get("on_array_progress")
            if callable(hook):
                hook(arr)
                return
            pct = arr.percent if arr.percent is not None else 0.0
            if arr.operation and pct - shown[0] >= 10:
                shown[0] = pct
                eta = f", about {arr.eta_minutes:g} min left" if arr.eta_minutes else ""
                ctx.info(f"{arr.name}: {arr.operation} {pct:g}%{eta}")

        final = follow(ctx.runner, self.array, on_progress=report, poll=self.poll)
        if final.state not in ("clean", "checking"):
            raise OpsError(f"array {final.name} ended the reshape {final.state}",
                           hint=f"see `opsctl storage raid status {final.name}`")
        ctx.info(f"{final.name}: reshape done, {final.raid_devices} devices, "
                 f"{final.size_bytes} bytes")


@dataclass
class Replanned(Action):
    """Steps whose sizes exist only after the steps before them ran (the LV can grow only
    once the PV has): planned again from a fresh probe when their turn comes."""

    build: Callable[[Snapshot, Runner], Plan] | None = None
    shown: list[str] = field(default_factory=list)
    _done: list[Action] = field(default_factory=list)

    def commands(self) -> list[str]:
        return list(self.shown)

    def execute(self, ctx: ExecContext) -> None:
        from opsctl.storage.probe import snapshot

        if ctx.runner.dry_run or self.build is None:
            return
        sub = self.build(snapshot(ctx.runner), ctx.runner)
        if sub.empty:
            ctx.info(f"  {sub.title}: nothing to do")
        for a in sub.actions:
            ctx.info(f"  {a.summary}")
            a.execute(ctx)
            self._done.append(a)

    def undo(self, ctx: ExecContext) -> None:
        for a in reversed(self._done):
            a.undo(ctx)


def grow_backup_file(name: str) -> str:
    """Where a reshape's backup file lives (outside the array, kept across reboots)."""
    return f"/var/backups/opsctl-{array_key(name)}-grow.backup"


@dataclass
class AssembleArray(Action):
    """Start an array the boot left inactive. udev's incremental assembly does not start
    an array whose reshape was cut by a power loss, nor one with a member missing (the
    boot's last-resort timer would, 30 s later), and ``mdadm --assemble --scan`` then
    finds its disks busy. Stop the inactive remains, assemble from the superblocks and
    start it even with a member missing (``--run``: degraded is better than down, and
    ``raid status`` says so); mdadm restores a reshape's critical section, with the
    backup file if the grow used one. Then let the reshape go on (read-write) and
    activate the volume groups on it."""

    device: str = ""
    uuid: str = ""
    backup_file: str | None = None

    def _assemble_argv(self, with_backup: bool) -> list[str]:
        argv = ["mdadm", "--assemble", "--run", self.device, f"--uuid={self.uuid}"]
        return argv + ([f"--backup-file={self.backup_file}"] if with_backup else [])

    def commands(self) -> list[str]:
        lines = [shlex.join(["mdadm", "--stop", self.device]),
                 shlex.join(self._assemble_argv(False))]
        if self.backup_file:
            lines[-1] += f"  # --backup-file={self.backup_file} if it exists"
        return lines + [shlex.join(["mdadm", "--readwrite", self.device]),
                        "vgchange -ay <the volume groups on it>"]

    def execute(self, ctx: ExecContext) -> None:
        import os

        r = ctx.runner
        r.run(["mdadm", "--stop", self.device], changes=True, timeout=60)
        with_backup = bool(self.backup_file) and os.path.exists(str(self.backup_file))
        try:
            r.run(self._assemble_argv(with_backup), changes=True, timeout=300)
        except CommandError as exc:
            raise OpsError(
                f"mdadm could not assemble {self.device}: {exc}",
                hint="`mdadm --examine` on the members shows the reshape position; if mdadm "
                     "asks for the backup file and it is lost, `--invalid-backup` may lose "
                     "the stripes of the critical section: decide that by hand") from None
        # A freshly assembled array is auto-read-only: the reshape waits for the first
        # write. Let it go on now.
        r.run(["mdadm", "--readwrite", self.device], changes=True, check=False, timeout=60)
        for vg in _vgs_on(r, self.device):
            r.run(["vgchange", "-ay", vg], changes=True, timeout=120)
            ctx.info(f"volume group {vg} active")


def assemble_plan(snap: Snapshot, name: str) -> Plan:
    """Start an inactive array (see AssembleArray). Refused for an array that runs."""
    arr = get_array(snap, name)
    if arr.state != "inactive":
        raise SafetyError(f"array {arr.name} is {arr.state}, not inactive: nothing to assemble")
    plan = Plan(f"assemble {arr.name}", target=arr.name)
    plan.add(AssembleArray("raid.assemble", f"start {arr.device} from its members' superblocks",
                           device=arr.device, uuid=arr.uuid,
                           backup_file=grow_backup_file(arr.name)))
    plan.readback = lambda ctx: readback(ctx.runner, arr.name)
    return plan


def parse_extend(text: str) -> tuple[str, str, str]:
    """``vg0/data:+10G`` / ``vg0/data:100%FREE`` -> (vg, lv, size)."""
    from opsctl.storage.lvm import parse_vg_lv
    from opsctl.storage.sizes import parse_size_spec

    volume, sep, size = text.partition(":")
    if not sep or not size:
        raise UsageError(f"bad --extend {text!r}: expected VG/LV:SIZE, e.g. vg0/data:+10G "
                         "or vg0/data:100%FREE")
    vg, lv = parse_vg_lv(volume)
    if "%" in size:
        size = size.removeprefix("+")     # +100%FREE reads as "all the free space"
    parse_size_spec(size)
    return vg, lv, size


def grown_bytes(arr: ArrayInfo, n: int) -> int:
    """The array's size with ``n`` active devices (same member size)."""
    lv = parse_level(arr.level)
    if arr.raid_devices <= 0:
        return arr.size_bytes
    per = arr.size_bytes / levels_usable(lv, arr.raid_devices)
    return int(per * levels_usable(lv, n))


def levels_usable(lv: Level, n: int) -> float:
    return usable_fraction(lv, n)


def grow_plan(snap: Snapshot, runner: Runner, settings: StorageSettings, name: str,
              devices: str | list[str], force: Force | None = None, *, wait: bool = False,
              extend: list[str] | None = None) -> Plan:
    """Add disks, reshape onto them and — with ``wait``/``extend`` — follow the reshape,
    pvresize the array's PV and grow the named LVs with their filesystems.

    Running it again after an interruption does only what is left: disks already in the
    array are not added twice, a reshape under way is followed, not restarted."""
    force = force or Force()
    extends = [parse_extend(e) for e in (extend or [])]   # typos first, before any probe
    arr = get_array(snap, name)
    if arr.state == "inactive":
        # Rebooted (or powered off) mid-reshape: start the array, then plan the rest from
        # what it says once it runs (the disks may all be in, the reshape under way).
        plan = assemble_plan(snap, name)
        plan.title = f"finish growing {arr.name}"
        plan.notes.append(f"{arr.name} is inactive (a reshape cut short?): assembling it "
                          "first, the rest is planned from a fresh probe")

        def rest(fresh: Snapshot, runner: Runner) -> Plan:
            return grow_plan(fresh, runner, settings, name, devices, force, wait=wait,
                             extend=extend)

        plan.add(Replanned("raid.grow.rest", "the rest of the growth, planned once it runs",
                           shown=["(planned from a fresh probe after the assembly)"],
                           build=rest))
        return plan
    lv = parse_level(arr.level)
    if not lv.growable:
        raise SafetyError(f"RAID{lv.name} cannot be grown by adding a disk with mdadm")
    devs = [resolve_device(d) for d in ([devices] if isinstance(devices, str) else devices)]
    wait = wait or bool(extends)
    to_add = [d for d in devs if arr.member(d) is None]
    spares_listed = [d for d in devs if (arr.member(d) or {}).get("role") == "spare"]
    grow_by = len(to_add) + len(spares_listed)
    busy = arr.state in ("reshaping",) or arr.operation == "reshape"
    if grow_by and arr.state != "clean":
        raise SafetyError(f"array {arr.name} is {arr.state}: grow only a clean array")
    if not grow_by and not busy and not wait:
        raise SafetyError(f"{', '.join(devs)} already in array {arr.name}: nothing to grow",
                          hint="add --wait --extend VG/LV:SIZE to finish a growth")
    overridden = require_free(snap, runner, to_add, force) if to_add else []
    n = arr.raid_devices + grow_by
    plan = Plan(f"grow {arr.name} to {n} devices" if grow_by else f"finish growing {arr.name}",
                target=arr.name)
    plan.notes += [f"forced: {o}" for o in overridden]
    if busy:
        plan.notes.append(f"{arr.name} is reshaping already: following it, not restarting it")
    plan.actions += _wipe_actions([d for d in to_add if overridden])
    for d in to_add:
        plan.add(Action("raid.add", f"add {d} to {arr.device}", ["mdadm", arr.device, "--add", d],
                        undo_argv=[["mdadm", arr.device, "--remove", d]]))
    if grow_by:
        plan.add(GrowArray("raid.grow", f"reshape {arr.device} to {n} active devices",
                           ["mdadm", "--grow", arr.device, f"--raid-devices={n}"],
                           destructive=True, timeout=600,
                           backup_file=grow_backup_file(arr.name)))
        spares = sum(1 for m in arr.members if m["role"] == "spare") - len(spares_listed)
        conf_and_initramfs(plan, settings, arr.device, arr.uuid, max(spares, 0))
    if wait:
        plan.add(WaitReshape("raid.wait", f"follow the reshape of {arr.device} to its end",
                             array=arr.device))
    pv = snap.pv(arr.device, {f"/dev/{arr.kernel_name}"} if arr.kernel_name else set())
    if wait and pv is not None:
        from opsctl.storage.lvm import pvresize_action

        plan.add(pvresize_action(pv["pv_name"], grown_bytes(arr, n)))
    elif grow_by and pv is not None:
        plan.notes.append(f"when the reshape has finished: pvresize {pv['pv_name']} (or run "
                          f"this again with --wait)")
    for vg, lvname, size in extends:
        plan.add(_extend_step(snap, vg, lvname, size))
    plan.readback = lambda ctx: readback(ctx.runner, arr.name)
    return plan


def _extend_step(snap: Snapshot, vg: str, lvname: str, size: str) -> Replanned:
    from opsctl.storage.lvm import lv_resize_plan

    if snap.lv(vg, lvname) is None:
        raise NotFoundError(f"no logical volume {vg}/{lvname} to extend")

    def build(fresh: Snapshot, runner: Runner) -> Plan:
        return lv_resize_plan(fresh, runner, vg, lvname, size, grow_only=True)

    return Replanned("lv.extend", f"grow {vg}/{lvname} to {size} with its filesystem "
                     "(sizes from a fresh probe after pvresize)",
                     shown=[f"lvextend -L <{size}> {vg}/{lvname}",
                            "resize2fs / xfs_growfs (online)"], build=build)


def follow(runner: Runner, name: str, *, on_progress: Callable[[ArrayInfo], None],
           poll: float = 1.0, timeout: float | None = None) -> ArrayInfo:
    """Poll until no resync/recovery/reshape runs on the array; returns its final state."""
    started = time.monotonic()
    while True:
        arr = find_array(probe_arrays(runner), name)
        if arr is None:
            raise NotFoundError(f"array {name} disappeared while following it")
        on_progress(arr)
        # Right after --add the kernel may not have started the recovery yet: a degraded
        # array with a spare is "about to rebuild", not "done".
        pending = arr.degraded and any(m["role"] in ("spare", "rebuilding")
                                       for m in arr.members)
        if pending and time.monotonic() - started < 60:
            time.sleep(poll)
            continue
        if arr.operation is None and arr.state not in ("recovering", "resyncing", "reshaping"):
            return arr
        if timeout is not None and time.monotonic() - started > timeout:
            return arr
        time.sleep(poll)


def exec_context(runner: Runner, info, warn) -> ExecContext:
    return ExecContext(runner=runner, info=info, warn=warn)
