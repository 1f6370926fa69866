"""The device model: what a probe found, as plain dataclasses (no tool calls here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opsctl.core.errors import Status


@dataclass
class ArrayInfo:
    name: str                  # "data" (from /dev/md/data), or "md127" when unnamed
    device: str                # /dev/md/data
    level: str                 # raid5
    state: str                 # clean / degraded / resyncing / recovering / reshaping /
                               # failed / inactive (held by the kernel, not started)
    health: Status
    size_bytes: int
    uuid: str
    raid_devices: int
    members: list[dict[str, Any]]
    state_words: list[str] = field(default_factory=list)
    percent: float | None = None
    operation: str | None = None
    eta_minutes: float | None = None
    speed_kib: int | None = None
    chunk: str | None = None
    kernel_name: str | None = None

    @property
    def degraded(self) -> bool:
        return "degraded" in self.state_words or self.state in ("degraded", "recovering")

    def member_devices(self) -> list[str]:
        return [m["device"] for m in self.members if m.get("device")]

    def member(self, device: str) -> dict[str, Any] | None:
        for m in self.members:
            if m.get("device") == device:
                return m
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "device": self.device, "level": self.level, "state": self.state,
            "health": self.health.name, "degraded": self.degraded, "size_bytes": self.size_bytes,
            "uuid": self.uuid, "raid_devices": self.raid_devices, "percent": self.percent,
            "operation": self.operation, "eta_minutes": self.eta_minutes,
            "speed_kib": self.speed_kib, "chunk": self.chunk, "kernel_name": self.kernel_name,
            "state_words": self.state_words, "members": self.members,
        }


@dataclass
class DiskInfo:
    """One block device as ``storage disks`` shows it."""

    path: str
    name: str
    type: str
    size: int
    model: str | None = None
    serial: str | None = None
    fstype: str | None = None
    label: str | None = None
    uuid: str | None = None
    pttype: str | None = None
    mountpoints: list[str] = field(default_factory=list)
    holders: list[str] = field(default_factory=list)
    partitions: list[str] = field(default_factory=list)
    readonly: bool = False
    free: bool = False
    why_not_free: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Snapshot:
    """Everything one probe learned; the base for plans and the before/after records."""

    block: list[dict[str, Any]] = field(default_factory=list)   # lsblk tree
    arrays: list[ArrayInfo] = field(default_factory=list)
    pvs: list[dict[str, Any]] = field(default_factory=list)
    vgs: list[dict[str, Any]] = field(default_factory=list)
    lvs: list[dict[str, Any]] = field(default_factory=list)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    # -- lookups -----------------------------------------------------------------------
    def array(self, name: str) -> ArrayInfo | None:
        key = name.removeprefix("/dev/md/").removeprefix("/dev/")
        for a in self.arrays:
            if key in (a.name, a.kernel_name) or name in (a.device, f"/dev/{a.kernel_name}"):
                return a
        return None

    def vg(self, name: str) -> dict[str, Any] | None:
        return next((v for v in self.vgs if v["vg_name"] == name), None)

    def lv(self, vg: str, name: str) -> dict[str, Any] | None:
        return next((v for v in self.lvs if v["vg_name"] == vg and v["lv_name"] == name), None)

    def pv(self, path: str, aliases: set[str] | None = None) -> dict[str, Any] | None:
        names = {path} | (aliases or set())
        return next((p for p in self.pvs if p["pv_name"] in names), None)

    def pvs_of(self, vg: str) -> list[dict[str, Any]]:
        return [p for p in self.pvs if p.get("vg_name") == vg]

    def mount_at(self, target: str) -> dict[str, Any] | None:
        return next((m for m in self.mounts if m.get("target") == target), None)

    def nodes(self) -> list[dict[str, Any]]:
        """Every lsblk node once (md and dm devices appear under each member)."""
        seen: dict[str, dict[str, Any]] = {}

        def walk(nodes: list[dict[str, Any]]) -> None:
            for n in nodes:
                seen.setdefault(n.get("path") or n["name"], n)
                walk(n.get("children") or [])

        walk(self.block)
        return list(seen.values())

    def node(self, path: str) -> dict[str, Any] | None:
        for n in self.nodes():
            if path in (n.get("path"), f"/dev/{n.get('kname')}", f"/dev/{n.get('name')}"):
                return n
        return None

    def to_dict(self) -> dict[str, Any]:
        """A compact summary for change records (the full lsblk tree is too big)."""
        return {
            "arrays": [{k: v for k, v in a.to_dict().items()
                        if k in ("name", "level", "state", "size_bytes", "uuid", "members")}
                       for a in self.arrays],
            "pvs": [{k: p.get(k) for k in ("pv_name", "vg_name", "pv_size", "pv_free")}
                    for p in self.pvs],
            "vgs": [{k: v.get(k) for k in ("vg_name", "vg_size", "vg_free", "pv_count")}
                    for v in self.vgs],
            "lvs": [{k: v.get(k) for k in ("vg_name", "lv_name", "lv_size", "lv_path")}
                    for v in self.lvs],
            "block": [{k: n.get(k) for k in ("path", "type", "size", "fstype", "uuid")}
                      | {"mountpoints": [m for m in (n.get("mountpoints") or []) if m]}
                      for n in self.nodes()],
        }
