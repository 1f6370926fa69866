"""Filesystem usage per mount, and /etc/fstab against what is really mounted."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from opsctl.core.errors import OpsError, Status, worst
from opsctl.core.i18n import _
from opsctl.inspection.checks.base import (
    Check,
    CheckResult,
    Param,
    fmt_bytes,
    grade_high,
    percent_thresholds,
    thresholds_ascending,
)
from opsctl.inspection.registry import register


def _unescape(field: str) -> str:
    # mountinfo and fstab escape space, tab, newline and backslash as octal (\040…).
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mount_points(mountinfo: str) -> dict[str, dict[str, str]]:
    """Mount point -> {source, fstype} from /proc/self/mountinfo (last mount wins)."""
    out: dict[str, dict[str, str]] = {}
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        parts = left.split()
        if not sep or len(parts) < 5:
            continue
        rparts = right.split()
        out[_unescape(parts[4])] = {"fstype": rparts[0] if rparts else "",
                                    "source": _unescape(rparts[1]) if len(rparts) > 1 else ""}
    return out


@dataclass
class FsUsage:
    block_size: int
    blocks: int
    bfree: int
    bavail: int
    files: int
    ffree: int

    @property
    def used_pct(self) -> float:
        # df's formula: used / (used + available to unprivileged users).
        used = self.blocks - self.bfree
        denom = used + self.bavail
        return 100.0 * used / denom if denom else 0.0

    @property
    def inodes_pct(self) -> float | None:
        if not self.files:
            return None  # btrfs, vfat… have no fixed inode table
        return 100.0 * (self.files - self.ffree) / self.files


def _statvfs(ctx, mount: str) -> FsUsage:
    if not ctx.remote:
        import os

        st = os.statvfs(mount)
        return FsUsage(st.f_frsize, st.f_blocks, st.f_bfree, st.f_bavail, st.f_files,
                       st.f_ffree)
    out = ctx.runner.run(["stat", "-f", "-c", "%S %b %f %a %c %d", "--", mount],
                         timeout=ctx.timeout).stdout.split()
    return FsUsage(*(int(x) for x in out[:6]))


@register
class FsUsageCheck(Check):
    name = "fs_usage"
    summary = "Filesystem usage of one mount point (% of space, optionally % of inodes)."
    remote = True
    params = (
        Param("mount", "str", "/", "mount point to check"),
        *percent_thresholds(80.0, 90.0),
        Param("inodes_warn", "number", 90.0, "% of inodes used for WARNING (null: ignore)",
              min=0, max=100, nullable=True),
        Param("inodes_crit", "number", 97.0, "% of inodes used for CRITICAL (null: ignore)",
              min=0, max=100, nullable=True),
        Param("require_mount", "bool", True,
              "CRITICAL when the path is not a mount point (a data volume that failed to "
              "mount would otherwise report the usage of the filesystem below it)"),
    )

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        thresholds_ascending(params)
        thresholds_ascending(params, "inodes_warn", "inodes_crit")

    def run(self, ctx, p: dict[str, Any]) -> CheckResult:
        mount = p["mount"]
        if p["require_mount"]:
            mounts = mount_points(ctx.read_text("/proc/self/mountinfo"))
            if mount.rstrip("/") not in {m.rstrip("/") for m in mounts}:
                return CheckResult(Status.CRITICAL, _("{mount} is not a mount point "
                                                      "(filesystem not mounted?)").format(
                    mount=mount))
        try:
            fs = _statvfs(ctx, mount)
        except FileNotFoundError:
            return CheckResult(Status.CRITICAL, _("{mount} does not exist").format(mount=mount))
        except (OSError, OpsError) as exc:
            return CheckResult.unknown(f"{mount}: {exc}")
        pct = fs.used_pct
        status = grade_high(pct, p["warn"], p["crit"])
        total = fs.blocks * fs.block_size
        msg = _("{mount} {pct:.1f}% used ({used} of {total}, {free} free; warn {warn:g}%, "
                "crit {crit:g}%)").format(
            mount=mount, pct=pct, used=fmt_bytes(total - fs.bfree * fs.block_size),
            total=fmt_bytes(total), free=fmt_bytes(fs.bavail * fs.block_size), warn=p["warn"],
            crit=p["crit"])
        ipct = fs.inodes_pct
        if ipct is not None:
            istatus = grade_high(ipct, p["inodes_warn"], p["inodes_crit"])
            if istatus != Status.OK:
                msg += _("; inodes {pct:.1f}% used").format(pct=ipct)
            status = worst([status, istatus])
        return CheckResult(status, msg, round(pct, 1),
                           {"total_bytes": total, "avail_bytes": fs.bavail * fs.block_size,
                            "inodes_pct": None if ipct is None else round(ipct, 1)})


@dataclass
class FstabEntry:
    source: str
    target: str
    fstype: str
    options: list[str]
    line: int


def parse_fstab(text: str) -> list[FstabEntry]:
    entries = []
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        f = line.split()
        if len(f) < 2:
            continue
        entries.append(FstabEntry(_unescape(f[0]), _unescape(f[1]), f[2] if len(f) > 2 else "",
                                  f[3].split(",") if len(f) > 3 else ["defaults"], no))
    return entries


def parse_verify(stdout: str, stderr: str) -> tuple[int, int, list[str]]:
    """(errors, warnings, problem lines) from ``findmnt --verify``."""
    problems: list[str] = []
    target = ""
    for line in stdout.splitlines():
        if not line.startswith(" "):
            target = line.strip()
            continue
        m = re.match(r"\s*\[([EW])\]\s*(.*)", line)
        if m:
            problems.append(f"{target}: [{m.group(1)}] {m.group(2)}")
    m = re.search(r"(\d+) parse errors?, (\d+) errors?, (\d+) warnings?", stderr + stdout)
    if m:
        errors = int(m.group(1)) + int(m.group(2))
        warnings = int(m.group(3))
    else:
        errors = sum(1 for p in problems if "[E]" in p)
        warnings = sum(1 for p in problems if "[W]" in p)
    return errors, warnings, problems


@register
class FstabCheck(Check):
    name = "fstab"
    summary = "Every fstab entry (except swap/noauto) is mounted; `findmnt --verify` is clean."
    remote = True
    params = (
        Param("fstab", "str", None, "fstab file (default: storage.fstab)", nullable=True),
        Param("verify", "bool", True, "also run findmnt --verify (errors CRITICAL, warnings "
                                      "WARNING)"),
        Param("ignore", "list[str]", [], "mount points not to check"),
    )

    def run(self, ctx, p: dict[str, Any]) -> CheckResult:
        path = p["fstab"] or str(ctx.cfg.storage.fstab)
        try:
            entries = parse_fstab(ctx.read_text(path))
        except FileNotFoundError:
            return CheckResult(Status.CRITICAL, _("{path} does not exist").format(path=path))
        except (OSError, OpsError) as exc:
            return CheckResult.unknown(_("cannot read {path}: {error}").format(path=path,
                                                                              error=exc))
        mounted = {m.rstrip("/") or "/" for m in
                   mount_points(ctx.read_text("/proc/self/mountinfo"))}
        checked, missing = 0, []
        for e in entries:
            if e.fstype == "swap" or e.target in ("none", "swap") or "noauto" in e.options \
                    or e.target in p["ignore"]:
                continue
            checked += 1
            if (e.target.rstrip("/") or "/") not in mounted:
                missing.append(e.target)
        statuses = [Status.CRITICAL if missing else Status.OK]
        parts = [_("{n} entries checked").format(n=checked)]
        if missing:
            parts.append(_("not mounted: {mounts}").format(mounts=", ".join(missing)))
        details: dict[str, Any] = {"checked": checked, "not_mounted": missing}
        if p["verify"]:
            try:
                res = ctx.runner.run(["findmnt", "--verify", "--tab-file", path],
                                     timeout=ctx.timeout, check=False)
                errors, warnings, problems = parse_verify(res.stdout, res.stderr)
                details.update(verify_errors=errors, verify_warnings=warnings,
                               verify_problems=problems)
                if errors:
                    statuses.append(Status.CRITICAL)
                elif warnings:
                    statuses.append(Status.WARNING)
                # Show the worst problem: an error before a warning.
                first = sorted(problems, key=lambda x: "[E]" not in x)[:1]
                parts.append(_("findmnt --verify: {errors} errors, {warnings} warnings").format(
                    errors=errors, warnings=warnings) + (f" ({first[0]})" if first else ""))
            except OpsError as exc:
                statuses.append(Status.UNKNOWN)
                parts.append(_("findmnt --verify not run: {error}").format(error=exc))
        return CheckResult(worst(statuses), "; ".join(parts), len(missing), details)
