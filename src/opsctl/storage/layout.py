"""The declarative layout (``storage.yaml``): arrays, volume groups and volumes.

``plan_layout`` compares the layout with a probe and returns the plan that makes reality
match it: only what is missing is created, so applying the same layout twice does nothing
the second time. Anything in reality that contradicts the layout (a listed disk in another
array, a volume bigger than the layout allows…) is refused with the layout line it
comes from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from opsctl.core.config.base import Section
from opsctl.core.config.models import StorageSettings
from opsctl.core.config.yamlsource import YamlDocument, format_loc, load_yaml
from opsctl.core.errors import ConfigError, OpsError, SafetyError
from opsctl.core.runner import Runner
from opsctl.storage import fstab, levels, lvm, raid
from opsctl.storage.actions import Action
from opsctl.storage.devices import Force, require_free
from opsctl.storage.files import read_text
from opsctl.storage.model import Snapshot
from opsctl.storage.plan import Plan
from opsctl.storage.probe import resolve_device
from opsctl.storage.sizes import human, parse_size, parse_size_spec
from opsctl.storage.tools import array_key, lv_path, md_path


class ArraySpec(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,31}$")
    level: int | str
    devices: list[str] = Field(min_length=1)
    spares: list[str] = Field(default_factory=list)
    chunk: str | None = None

    @field_validator("level")
    @classmethod
    def _level(cls, v: int | str) -> str:
        key = str(v).lower().removeprefix("raid")
        if key not in levels.LEVELS:
            raise ValueError("must be one of " + ", ".join(levels.LEVELS))
        return key

    @model_validator(mode="after")
    def _enough(self) -> ArraySpec:
        need = levels.LEVELS[str(self.level)].min_devices
        if len(self.devices) < need:
            raise ValueError(f"RAID{self.level} needs at least {need} devices, "
                             f"got {len(self.devices)}")
        return self


class VolumeGroupSpec(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,31}$")
    pvs: list[str] = Field(min_length=1, description="array names or device paths")


class VolumeSpec(Section):
    vg: str
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,31}$")
    size: str | int
    fs: str | None = Field(None, pattern=r"^(ext4|xfs)$")
    mount: str | None = Field(None, pattern=r"^/[^\s]*[^/\s]$")
    options: str | list[str] | None = None

    @field_validator("size")
    @classmethod
    def _size(cls, v: str | int) -> str | int:
        try:
            parse_size_spec(v, allow_relative=False)
        except OpsError as exc:
            raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _mount_needs_fs(self) -> VolumeSpec:
        if self.mount and not self.fs:
            raise ValueError("mount needs fs")
        return self


class Layout(Section):
    arrays: list[ArraySpec] = Field(default_factory=list)
    volume_groups: list[VolumeGroupSpec] = Field(default_factory=list)
    volumes: list[VolumeSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Layout:
        def dup(items, key, what):
            seen = set()
            for it in items:
                k = key(it)
                if k in seen and k is not None:
                    raise ValueError(f"duplicate {what} {k!r}")
                seen.add(k)

        dup(self.arrays, lambda a: a.name, "array")
        dup(self.volume_groups, lambda v: v.name, "volume group")
        dup(self.volumes, lambda v: f"{v.vg}/{v.name}", "volume")
        dup(self.volumes, lambda v: v.mount, "mount point")
        dup([d for a in self.arrays for d in a.devices + a.spares], lambda d: d, "device")
        vgs = {v.name for v in self.volume_groups}
        for v in self.volumes:
            if v.vg not in vgs:
                raise ValueError(f"volume {v.vg}/{v.name}: volume group {v.vg!r} is not in "
                                 "volume_groups")
        return self


class LoadedLayout:
    def __init__(self, doc: YamlDocument, layout: Layout):
        self.doc = doc
        self.layout = layout

    def where(self, loc: tuple) -> str:
        line = self.doc.line_for(loc)
        return f"{self.doc.path}:{line}: {format_loc(loc)}" if line else \
            f"{self.doc.path}: {format_loc(loc)}"


def load_layout(path: str | Path) -> LoadedLayout:
    from opsctl.core.config.loader import validate_document

    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{doc.path}:1: expected a mapping with arrays, volume_groups, "
                          "volumes")
    return LoadedLayout(doc, validate_document(doc, Layout))


def _at(lay: LoadedLayout, loc: tuple, exc: OpsError) -> SafetyError:
    err = SafetyError(f"{lay.where(loc)}: {exc.message}", hint=exc.hint)
    return err


def plan_layout(lay: LoadedLayout, snap: Snapshot, runner: Runner,
                settings: StorageSettings) -> Plan:
    layout = lay.layout
    plan = Plan(f"apply layout {lay.doc.path.name}", target=str(lay.doc.path))
    planned_arrays: dict[str, int] = {}     # name -> estimated size
    planned_vgs: dict[str, dict[str, Any]] = {}
    vg_growth: dict[str, int] = {}          # VG -> bytes its grown arrays will add
    fstab_text = read_text(settings.fstab)

    # -- arrays ---------------------------------------------------------------------------
    for i, a in enumerate(layout.arrays):
        loc = ("arrays", i)
        try:
            existing = snap.array(a.name)
            if existing is not None:
                added = _check_existing_array(lay, loc, a, existing)
                if added:
                    # A disk added to a running array's list is the seed's growth path:
                    # add, reshape, follow it, pvresize; volumes below grow afterwards.
                    sub = raid.grow_plan(snap, runner, settings, a.name, added, wait=True)
                    plan.actions += sub.actions
                    plan.notes += sub.notes
                    extra = raid.grown_bytes(existing, existing.raid_devices + len(added)) \
                        - existing.size_bytes
                    pv = snap.pv(existing.device, {f"/dev/{existing.kernel_name}"})
                    if pv is not None and pv.get("vg_name"):
                        vg_growth[pv["vg_name"]] = vg_growth.get(pv["vg_name"], 0) + extra
                continue
            sub = raid.create_plan(snap, runner, settings, a.name, str(a.level), a.devices,
                                   a.spares, a.chunk)
        except SafetyError as exc:
            raise _at(lay, loc, exc) from None
        except OpsError as exc:
            raise _at(lay, loc, exc) from None
        plan.actions += sub.actions
        sizes = [int((snap.node(resolve_device(d)) or {}).get("size") or 0) for d in a.devices]
        lv = levels.LEVELS[str(a.level)]
        planned_arrays[a.name] = int(min(sizes) * levels.usable_fraction(lv, len(sizes)))

    # -- volume groups ----------------------------------------------------------------------
    for i, v in enumerate(layout.volume_groups):
        loc = ("volume_groups", i)
        try:
            devs, allow = [], {}
            for p in v.pvs:
                if p in planned_arrays:
                    devs.append(md_path(p))
                    allow[md_path(p)] = "created by this layout"
                else:
                    devs.append(lvm.pv_device(snap, p))
            vg = snap.vg(v.name)
            if vg is not None:
                mine = {p["pv_name"] for p in snap.pvs_of(v.name)}
                fresh = [d for d in devs if d in allow or lvm._pv_of(snap, d) is None]
                for d in devs:
                    pv = lvm._pv_of(snap, d)
                    if pv and pv.get("vg_name") not in (None, "", v.name):
                        raise SafetyError(f"{d} is a PV of volume group {pv['vg_name']}")
                listed = {(lvm._pv_of(snap, d) or {}).get("pv_name") for d in devs}
                extra = mine - listed
                if extra:
                    raise SafetyError(f"volume group {v.name} also has {', '.join(sorted(extra))}"
                                      ", which the layout does not list (apply never removes "
                                      "PVs; use `opsctl storage vg reduce`)")
                if fresh:
                    require_free(snap, runner, [d for d in fresh if d not in allow], Force(),
                                 allow=allow)
                    for d in fresh:
                        plan.add(lvm.pvcreate_action(d))
                    plan.add(Action("vg.extend", f"add {', '.join(fresh)} to volume group "
                                    f"{v.name}", ["vgextend", v.name, *fresh],
                                    undo_argv=[["vgreduce", v.name, *fresh]]))
                continue
            require_free(snap, runner, devs, Force(), allow=allow)
        except OpsError as exc:
            raise _at(lay, loc, exc) from None
        total = 0
        for d in devs:
            if d in allow:
                total += planned_arrays[array_key(d)]
            else:
                total += int((snap.node(lvm.node_path(snap, d)) or {}).get("size") or 0)
        extent = 4 * 1024**2
        # LVM keeps ~1 MiB of metadata at the start of each PV; whole extents only.
        est = max(0, (total - len(devs) * 1024**2) // extent * extent)
        planned_vgs[v.name] = {"vg_name": v.name, "vg_size": est, "vg_free": est,
                               "vg_extent_size": extent}
        for d in devs:
            plan.add(lvm.pvcreate_action(d))
        plan.add(Action("vg.create", f"create volume group {v.name} on {', '.join(devs)}",
                        ["vgcreate", v.name, *devs], undo_argv=[["vgremove", "-y", v.name]]))

    # -- volumes ----------------------------------------------------------------------------
    used: dict[str, int] = {}
    for i, vol in enumerate(layout.volumes):
        loc = ("volumes", i)
        try:
            existing = snap.lv(vol.vg, vol.name)
            if existing is not None:
                plan.actions += _existing_volume(lay, loc, vol, existing, snap, runner,
                                                 settings, fstab_text,
                                                 vg_growth.get(vol.vg, 0))
                continue
            vg = planned_vgs.get(vol.vg) or snap.vg(vol.vg)
            if vg is None:
                raise SafetyError(f"volume group {vol.vg} does not exist")
            vg = dict(vg)
            vg["vg_free"] = int(vg["vg_free"]) - used.get(vol.vg, 0)
            sub = lvm.lv_create_plan(snap, runner, settings, vol.vg, vol.name, vol.size,
                                     vol.fs, vol.mount, vol.options, vg_override=vg)
            spec = parse_size_spec(vol.size, allow_relative=False)
            used[vol.vg] = used.get(vol.vg, 0) + (
                0 if spec.is_percent else
                -(-spec.bytes // int(vg["vg_extent_size"])) * int(vg["vg_extent_size"]))
        except OpsError as exc:
            raise _at(lay, loc, exc) from None
        plan.actions += sub.actions
    return plan


def _check_existing_array(lay: LoadedLayout, loc: tuple, a: ArraySpec,
                          existing) -> list[str]:
    """The layout's devices that the running array lacks (to grow onto); spares the
    array lacks are refused (`raid add` adds a spare)."""
    want = f"raid{a.level}"
    if existing.level != want:
        raise SafetyError(f"array {a.name} exists as {existing.level}, the layout says {want}")
    members = set(existing.member_devices())
    added = [d for d in a.devices if resolve_device(d) not in members]
    if added and not levels.LEVELS[str(a.level)].growable:
        raise SafetyError(f"{lay.where(loc + ('devices',))}: RAID{a.level} cannot grow onto "
                          f"{', '.join(added)}")
    for j, d in enumerate(a.spares):
        if resolve_device(d) not in members:
            raise SafetyError(f"{lay.where(loc + ('spares', j))}: {d} is not a member of the "
                              f"running array {a.name} (use `opsctl storage raid add`)")
    return added


def _existing_volume(lay, loc, vol: VolumeSpec, lv: dict[str, Any], snap: Snapshot,
                     runner: Runner, settings: StorageSettings, fstab_text: str,
                     vg_growth: int = 0) -> list[Action]:
    from opsctl.storage.probe import blkid_probe

    out: list[Action] = []
    spec = parse_size_spec(vol.size, allow_relative=False)
    current = int(lv["lv_size"])
    vg = snap.vg(vol.vg)
    extent = int(vg.get("vg_extent_size") or 4 * 1024**2) if vg else 4 * 1024**2
    sig = blkid_probe(runner, lv["lv_path"])
    fstype = sig.get("TYPE")
    if not spec.is_percent:
        want = -(-spec.bytes // extent) * extent
        if want < current:
            used = _used_bytes(snap, lv)
            why = (f"smaller than its data ({human(used)} used)" if used and used > want
                   else f"smaller than the volume ({human(current)}); apply never shrinks, "
                        "use `opsctl storage lv resize`")
            raise SafetyError(f"volume {vol.vg}/{vol.name}: layout size {human(want)} is {why}")
        if want > current:
            free = int(vg["vg_free"]) if vg else 0
            if want - current > free and vg_growth and want - current <= free + vg_growth:
                # The space comes from an array growing earlier in this plan.
                out.append(raid.Replanned(
                    "lv.extend", f"grow {vol.vg}/{vol.name} to {human(want)} with its "
                    "filesystem (after pvresize)",
                    shown=[f"lvextend -L {want}b {vol.vg}/{vol.name}",
                           "resize2fs / xfs_growfs (online)"],
                    build=lambda fresh, r, v=vol, w=want: lvm.lv_resize_plan(
                        fresh, r, v.vg, v.name, f"{w}B", grow_only=True)))
            else:
                out += lvm.lv_resize_plan(snap, runner, vol.vg, vol.name, f"{want}B").actions
    if vol.fs and fstype and fstype != vol.fs:
        raise SafetyError(f"volume {vol.vg}/{vol.name} carries {fstype}, the layout says {vol.fs}")
    if vol.fs and not fstype:
        from opsctl.storage.fsops import mkfs_action, new_fs_uuid

        if sig:
            raise SafetyError(f"volume {vol.vg}/{vol.name} carries {sig.get('TYPE') or 'data'}")
        u = new_fs_uuid()
        out.append(mkfs_action(vol.fs, lv_path(vol.vg, vol.name), u))
        sig = {"UUID": u, "TYPE": vol.fs}
    if vol.mount:
        from opsctl.storage.fsops import fstab_add_actions

        entries = fstab.parse(fstab_text)
        spellings = {f"UUID={sig.get('UUID')}", lv["lv_path"], lv.get("lv_dm_path")}
        mine = [e for e in entries if e.file == vol.mount]
        if mine and mine[0].spec not in spellings:
            raise SafetyError(f"fstab mounts {mine[0].spec} at {vol.mount} (line "
                              f"{mine[0].lineno}), not {vol.vg}/{vol.name}")
        elsewhere = [e for e in entries if e.spec in spellings and e.file != vol.mount]
        if elsewhere:
            raise SafetyError(f"fstab already mounts {vol.vg}/{vol.name} at "
                              f"{elsewhere[0].file} (line {elsewhere[0].lineno})")
        mounted = snap.mount_at(vol.mount)
        if not mine:
            entry = fstab.FstabEntry(f"UUID={sig['UUID']}", vol.mount, vol.fs or fstype,
                                     fstab.data_options(vol.options, settings.device_timeout))
            out += fstab_add_actions(settings, entry, mount=mounted is None)
        elif mounted is None:
            out.append(Action("fs.mount", f"mount {vol.mount}",
                              ["mount", "-T", str(settings.fstab), vol.mount],
                              undo_argv=[["umount", vol.mount]]))
    return out


def _used_bytes(snap: Snapshot, lv: dict[str, Any]) -> int | None:
    for m in snap.mounts:
        if m.get("source") in (lv.get("lv_dm_path"), lv.get("lv_path")) and m.get("used"):
            return int(m["used"])
    return None


def size_text(n: int) -> str:
    return human(n)


__all__ = ["Layout", "load_layout", "plan_layout", "parse_size"]
