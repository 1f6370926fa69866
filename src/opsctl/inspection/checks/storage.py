"""RAID health and LVM free space, through the storage domain's API."""

from __future__ import annotations

from typing import Any

from opsctl.core.errors import OpsError, Status, worst
from opsctl.core.i18n import _
from opsctl.inspection.checks.base import (
    Check,
    CheckResult,
    Param,
    fmt_bytes,
    grade_low,
    percent_thresholds,
    thresholds_descending,
)
from opsctl.inspection.registry import register


def _storage_api():
    try:
        from opsctl.storage import api
    except ImportError as exc:  # the storage domain is optional at install time
        raise OpsError(f"the storage module is not available ({exc})") from None
    return api


@register
class RaidCheck(Check):
    name = "raid"
    summary = "Linux software RAID (md) health: clean, degraded, resyncing, failed."
    remote = True
    params = (
        Param("arrays", "list[str]", [], "arrays that must exist, e.g. [md0] (missing: "
                                         "CRITICAL); empty: check whatever exists"),
        Param("require", "bool", False, "no md array at all is CRITICAL"),
    )

    def run(self, ctx, p: dict[str, Any]) -> CheckResult:
        try:
            kw = {}
            if ctx.remote:  # the storage API reads /proc/mdstat itself, i.e. locally
                try:
                    kw["mdstat_text"] = ctx.read_text("/proc/mdstat")
                except FileNotFoundError:
                    kw["mdstat_text"] = ""
            arrays = _storage_api().raid_health(ctx.runner, **kw)
        except (OpsError, OSError) as exc:
            return CheckResult.unknown(_("RAID state unavailable: {error}").format(error=exc))
        statuses: list[Status] = []
        parts: list[str] = []
        names = set()
        for a in arrays:
            name = str(a.get("name", "?")).removeprefix("/dev/")
            names.add(name)
            health = a.get("health", Status.UNKNOWN)
            health = health if isinstance(health, Status) else Status.parse(str(health))
            statuses.append(health)
            text = f"{name} {a.get('level', '')} {a.get('state', '')}".strip()
            if a.get("percent") is not None and health != Status.OK:
                text += f" {float(a['percent']):.1f}%"
            parts.append(text)
        for want in p["arrays"]:
            if want.removeprefix("/dev/") not in names:
                statuses.append(Status.CRITICAL)
                parts.append(_("{name} missing").format(name=want))
        if not arrays and not p["arrays"]:
            statuses.append(Status.CRITICAL if p["require"] else Status.OK)
            parts.append(_("no md arrays"))
        status = worst(statuses)
        bad = sum(1 for s in statuses if s != Status.OK)
        return CheckResult(status, "; ".join(parts), f"{len(arrays)} arrays, {bad} not clean",
                           {"arrays": [_plain(a) for a in arrays]})


def _plain(a: dict) -> dict:
    return {k: (v.name if isinstance(v, Status) else v) for k, v in a.items()}


@register
class LvmFreeCheck(Check):
    name = "lvm_free"
    summary = "Free space per LVM volume group (% of the VG still unallocated)."
    remote = True
    params = (
        Param("vgs", "list[str]", [], "volume groups to check (missing: CRITICAL); empty: all"),
        *percent_thresholds(10.0, 5.0, free=True),
    )

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        thresholds_descending(params)

    def run(self, ctx, p: dict[str, Any]) -> CheckResult:
        try:
            vgs = _storage_api().vg_usage(ctx.runner)
        except OpsError as exc:
            return CheckResult.unknown(_("LVM state unavailable: {error}").format(error=exc))
        wanted = p["vgs"]
        statuses: list[Status] = []
        parts: list[str] = []
        lowest: float | None = None
        seen = set()
        for vg in vgs:
            name = vg["vg"]
            seen.add(name)
            if wanted and name not in wanted:
                continue
            size, free = int(vg.get("size_bytes") or 0), int(vg.get("free_bytes") or 0)
            pct = 100.0 * free / size if size else 0.0
            lowest = pct if lowest is None else min(lowest, pct)
            statuses.append(grade_low(pct, p["warn"], p["crit"]))
            parts.append(_("{name} {pct:.1f}% free ({free} of {size})").format(
                name=name, pct=pct, free=fmt_bytes(free), size=fmt_bytes(size)))
        for name in wanted:
            if name not in seen:
                statuses.append(Status.CRITICAL)
                parts.append(_("{name} missing").format(name=name))
        if not parts:
            return CheckResult(Status.OK, _("no volume groups"), None)
        return CheckResult(worst(statuses), "; ".join(parts),
                           None if lowest is None else round(lowest, 1), {"vgs": vgs})
