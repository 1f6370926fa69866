"""RAID (mdadm) operations as plans: create, fail, remove, add, replace, grow; following
a resync or rebuild to the end."""

from __future__ import annotations

import shlex
import time
import uuid as uuidlib
from collections.abc import Callable
from typing import Any

from opsctl.core.config.models import StorageSettings
from opsctl.core.errors import NotFoundError, OpsError, SafetyError, UsageError
from opsctl.core.runner import Runner
from opsctl.storage import mdadm_conf
from opsctl.storage.actions import Action, EditFile, ExecContext, OptionalCommand
from opsctl.storage.devices import Force, check_name, require_free, require_tool
from opsctl.storage.levels import level as parse_level
from opsctl.storage.model import ArrayInfo, Snapshot
from opsctl.storage.plan import Plan
from opsctl.storage.probe import probe_arrays, resolve_device
from opsctl.storage.tools import md_path


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
    require_tool(runner, "mdadm", "mdadm")
    check_name(name, "array")
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
    argv = ["mdadm", "--create", device, "--run", f"--level={lv.name}",
            f"--raid-devices={len(devices)}", "--metadata=1.2", f"--uuid={md_uuid}"]
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


def readback(runner: Runner, name: str) -> dict[str, Any]:
    arr = next((a for a in probe_arrays(runner) if name in (a.name, a.device)), None)
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


def grow_plan(snap: Snapshot, runner: Runner, settings: StorageSettings, name: str,
              device: str, force: Force | None = None) -> Plan:
    force = force or Force()
    arr = get_array(snap, name)
    lv = parse_level(arr.level)
    if not lv.growable:
        raise SafetyError(f"RAID{lv.name} cannot be grown by adding a disk with mdadm")
    if arr.state != "clean":
        raise SafetyError(f"array {arr.name} is {arr.state}: grow only a clean array")
    dev = resolve_device(device)
    overridden = require_free(snap, runner, [dev], force)
    n = arr.raid_devices + 1
    plan = Plan(f"grow {arr.name} to {n} devices", target=arr.name)
    plan.notes += [f"forced: {o}" for o in overridden]
    plan.actions += _wipe_actions([dev] if overridden else [])
    plan.add(Action("raid.add", f"add {dev} to {arr.device}", ["mdadm", arr.device, "--add", dev],
                    undo_argv=[["mdadm", arr.device, "--remove", dev]]))
    plan.add(Action("raid.grow", f"reshape {arr.device} to {n} active devices",
                    ["mdadm", "--grow", arr.device, f"--raid-devices={n}"], destructive=True))
    spares = sum(1 for m in arr.members if m["role"] == "spare")
    conf_and_initramfs(plan, settings, arr.device, arr.uuid, spares)
    plan.notes.append("when the reshape has finished: pvresize the array's PV (or "
                      "`opsctl storage vg extend`) to use the new space")
    plan.readback = lambda ctx: readback(ctx.runner, arr.name)
    return plan


def follow(runner: Runner, name: str, *, on_progress: Callable[[ArrayInfo], None],
           poll: float = 1.0, timeout: float | None = None) -> ArrayInfo:
    """Poll until no resync/recovery/reshape runs on the array; returns its final state."""
    started = time.monotonic()
    while True:
        arrays = probe_arrays(runner)
        arr = next((a for a in arrays if name in (a.name, a.device)), None)
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
