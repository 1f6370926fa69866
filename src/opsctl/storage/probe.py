"""Probing: ask the real tools what exists (arrays, PVs/VGs/LVs, block devices, mounts).

Everything goes through the Runner (read-only calls run even in dry-run mode, a plan
needs facts). /proc/mdstat is read directly for progress and ETA, which mdadm does not
print; its path is a parameter so tests can feed captured files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from opsctl.core.errors import CommandError, NotFoundError, Status, ToolMissingError
from opsctl.core.runner import Runner
from opsctl.storage import parsers, tools
from opsctl.storage.model import ArrayInfo, DiskInfo, Snapshot


# -- RAID -------------------------------------------------------------------------------------
def classify(detail: parsers.MdDetail) -> tuple[str, Status]:
    """One word and a health for an array, from mdadm's State line.

    A rebuild under way is WARNING (redundancy is coming back); degraded with nothing
    rebuilding is CRITICAL; a failed or inactive array is CRITICAL.
    """
    words = [w.lower() for w in detail.state_words]
    joined = " ".join(words)
    if not words:
        return "unknown", Status.UNKNOWN
    if "inactive" in joined:
        # Held by the kernel but not started: nothing on it is reachable.
        return "inactive", Status.CRITICAL
    if "failed" in joined or "not started" in joined:
        return "failed", Status.CRITICAL
    if "degraded" in words:
        if "recovering" in words or "resyncing" in words:
            return "recovering", Status.WARNING
        return "degraded", Status.CRITICAL
    if "reshaping" in words:
        return "reshaping", Status.WARNING
    if "resyncing" in words or "recovering" in words:
        return "resyncing", Status.WARNING
    if "checking" in words:
        return "checking", Status.OK
    if any(m.role == "faulty" for m in detail.members):
        return "clean", Status.WARNING  # a spare took over; the faulty disk still needs removing
    return "clean", Status.OK


def md_driver_loaded(path: str | os.PathLike = tools.MDSTAT) -> bool:
    """/proc/mdstat exists only while the md driver is loaded."""
    return Path(path).exists()


def read_mdstat(path: str | os.PathLike = tools.MDSTAT) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def probe_arrays(runner: Runner, mdstat_text: str | None = None) -> list[ArrayInfo]:
    if mdstat_text is None:
        mdstat_text = read_mdstat()
    mdstat = parsers.parse_mdstat(mdstat_text)
    if not runner.has("mdadm"):
        if mdstat:
            raise ToolMissingError("mdadm is not installed but the kernel has md arrays",
                                   hint="apt-get install mdadm")
        return []
    scan = runner.run(["mdadm", "--detail", "--scan"], check=False)
    entries = parsers.parse_detail_scan(scan.stdout)
    arrays: list[ArrayInfo] = []
    seen: set[str] = set()
    for entry in entries:
        dev = entry["device"]
        res = runner.run(["mdadm", "--detail", dev], check=False)
        if not res.ok or not res.stdout.strip():
            continue
        detail = parsers.parse_mdadm_detail(res.stdout)
        info = array_info(detail, mdstat)
        if info.uuid in seen:
            continue
        seen.add(info.uuid)
        arrays.append(info)
    return arrays


def array_info(detail: parsers.MdDetail, mdstat: dict[str, parsers.MdstatArray]) -> ArrayInfo:
    state, health = classify(detail)
    dev = detail.device
    name = dev.removeprefix("/dev/md/") if dev.startswith("/dev/md/") else (
        detail.name or dev.rsplit("/", 1)[-1])
    members = {os.path.basename(m.device) for m in detail.members if m.device}
    kernel = None
    entry = None
    for k, md in mdstat.items():
        if members and members <= set(md.members) | members and members & set(md.members):
            kernel, entry = k, md
            break
    percent = detail.rebuild_percent
    if tools.md_numbered(name) and kernel in (name, None) and dev != f"/dev/{name}":
        # md5 lives at /dev/md5 (udev's /dev/md/md5 is only a link to it): one name for
        # the array everywhere, the one the seed's commands use.
        dev = f"/dev/{name}"
    info = ArrayInfo(
        name=name, device=dev, level=detail.level, state=state, health=health,
        size_bytes=detail.size_bytes, uuid=detail.uuid,
        raid_devices=detail.count("Raid"),
        members=[m.to_dict() for m in detail.members if m.state != "removed" or m.device]
        + [m.to_dict() for m in detail.members if m.state == "removed" and not m.device],
        state_words=detail.state_words, percent=percent, chunk=detail.chunk,
        kernel_name=kernel,
    )
    if entry is not None and entry.operation:
        info.operation = entry.operation
        info.percent = entry.percent
        info.eta_minutes = entry.finish_minutes
        info.speed_kib = entry.speed_kib
    elif percent is not None:
        info.operation = "recovery" if state == "recovering" else "resync"
    return info


# -- LVM --------------------------------------------------------------------------------------
def probe_lvm(runner: Runner) -> tuple[list[dict], list[dict], list[dict]]:
    if not runner.has("lvm"):
        return [], [], []
    out = []
    for argv, kind in ((tools.pvs(), "pv"), (tools.vgs(), "vg"), (tools.lvs(), "lv")):
        res = runner.run(argv, check=False)
        if not res.ok and not res.stdout.strip():
            # No device-mapper in the kernel (or no VGs at all on some versions).
            out.append([])
            continue
        out.append(parsers.parse_lvm_report(res.stdout, kind))
    pvs, vgs, lvs = out
    # lvs -a lists hidden sub-volumes ([lv_rimage_0], pvmove0…); people manage real LVs.
    lvs = [lv for lv in lvs if not lv["lv_name"].startswith("[")]
    return pvs, vgs, lvs


# -- block devices and mounts -------------------------------------------------------------------
def probe_block(runner: Runner) -> list[dict[str, Any]]:
    return parsers.parse_lsblk(runner.run(tools.LSBLK).stdout)


def probe_mounts(runner: Runner) -> list[dict[str, Any]]:
    res = runner.run(tools.FINDMNT, check=False)
    return parsers.parse_findmnt(res.stdout) if res.ok else []


def snapshot(runner: Runner, *, mdstat_text: str | None = None) -> Snapshot:
    snap = Snapshot()
    snap.block = probe_block(runner)
    snap.arrays = probe_arrays(runner, mdstat_text)
    snap.pvs, snap.vgs, snap.lvs = probe_lvm(runner)
    snap.mounts = probe_mounts(runner)
    return snap


# -- is a device free to use? --------------------------------------------------------------
def _mountpoints(node: dict[str, Any]) -> list[str]:
    mps = [m for m in (node.get("mountpoints") or []) if m]
    if not mps and node.get("mountpoint"):
        mps = [node["mountpoint"]]
    return mps


def _descendant_mounts(node: dict[str, Any]) -> list[str]:
    out = list(_mountpoints(node))
    for c in node.get("children") or []:
        out += _descendant_mounts(c)
    return out


def blkid_probe(runner: Runner, path: str) -> dict[str, str]:
    """Low-level signature probe (bypasses the blkid cache and udev); {} when blank."""
    res = runner.run(["blkid", "-p", "-o", "export", path], check=False)
    if res.returncode == 2 or not res.stdout.strip():
        return {}
    blocks = parsers.parse_blkid_export(res.stdout)
    return blocks[0] if blocks else {}


def resolve_device(path: str) -> str:
    """/dev/disk/by-id/… -> /dev/vda, so every check compares kernel paths."""
    if path.startswith("/dev/") and os.path.islink(path):
        return os.path.realpath(path)
    return path


def why_not_free(snap: Snapshot, runner: Runner, path: str,
                 *, probe_signatures: bool = True) -> list[str]:
    """Every reason the device may not be used; empty when it is free."""
    node = snap.node(resolve_device(path))
    if node is None:
        raise NotFoundError(f"unknown device {path}: not a block device on this machine",
                            hint="see `opsctl storage disks`")
    reasons: list[str] = []
    if node.get("ro"):
        reasons.append("read-only")
    own = _mountpoints(node)
    if own:
        reasons.append("mounted at " + ", ".join(own))
    below = sorted(set(_descendant_mounts(node)) - set(own))
    if below:
        reasons.append("holds mounted filesystems " + ", ".join(below))
    for a in snap.arrays:
        if node.get("path") in a.member_devices():
            reasons.append(f"member of array {a.name}")
    pv = snap.pv(node.get("path", ""), {f"/dev/{node.get('kname')}"})
    if pv:
        vg = pv.get("vg_name")
        reasons.append(f"LVM physical volume{' of VG ' + vg if vg else ''}")
    kids = node.get("children") or []
    parts = [c["name"] for c in kids if c.get("type") == "part"]
    holders = sorted({c["name"] for c in kids if c.get("type") != "part"})
    if parts:
        reasons.append("has partitions " + ", ".join(parts))
    if holders:
        reasons.append("held by " + ", ".join(holders))
    if node.get("pttype"):
        reasons.append(f"carries a {node['pttype']} partition table")
    sig = node.get("fstype")
    if probe_signatures:
        found = blkid_probe(runner, node["path"])
        sig = found.get("TYPE") or sig
        if found.get("PTTYPE") and not node.get("pttype"):
            reasons.append(f"carries a {found['PTTYPE']} partition table")
    if sig and not any(r.startswith(("member of array", "LVM physical")) for r in reasons):
        reasons.append(f"carries a {sig} signature")
    return reasons


def disks(snap: Snapshot, runner: Runner) -> list[DiskInfo]:
    """Whole disks and partitions (and md arrays), each with whether it is free."""
    out: list[DiskInfo] = []
    for n in snap.nodes():
        if n.get("type") not in ("disk", "part") and not str(n.get("type", "")).startswith("raid"):
            continue
        kids = n.get("children") or []
        d = DiskInfo(
            path=n.get("path") or f"/dev/{n['name']}", name=n["name"], type=n.get("type", ""),
            size=int(n.get("size") or 0), model=(n.get("model") or None),
            serial=(n.get("serial") or None), fstype=n.get("fstype"), label=n.get("label"),
            uuid=n.get("uuid"), pttype=n.get("pttype"), mountpoints=_mountpoints(n),
            holders=sorted({c["name"] for c in kids if c.get("type") != "part"}),
            partitions=[c["name"] for c in kids if c.get("type") == "part"],
            readonly=bool(n.get("ro")),
        )
        if n.get("type") in ("rom",) or d.size == 0:
            continue
        try:
            d.why_not_free = why_not_free(snap, runner, d.path)
        except CommandError as exc:
            d.why_not_free = [f"cannot probe: {exc}"]
        d.free = not d.why_not_free
        out.append(d)
    return out
