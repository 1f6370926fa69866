"""Disk SMART health with ``smartctl -H -A --json``.

UNKNOWN, never a crash, where smartctl is missing, finds no disks, or a disk has no SMART
(virtual disks, USB bridges). A failing overall assessment, an attribute failing now, or an
NVMe critical warning is CRITICAL; reallocated / pending / uncorrectable sectors, NVMe
media errors or wear, and high temperature are WARNING.
"""

from __future__ import annotations

import json
from typing import Any

from opsctl.core.errors import OpsError, Status, ToolMissingError, worst
from opsctl.core.i18n import _
from opsctl.inspection.checks.base import Check, CheckResult, Param, thresholds_ascending
from opsctl.inspection.registry import register

# ATA attributes whose raw value counts bad sectors: any non-zero value is a warning sign.
ATA_SECTOR_ATTRS = {5: "reallocated sectors", 197: "pending sectors",
                    198: "offline uncorrectable sectors"}
# smartctl exit status bits (man smartctl, RETURN VALUES).
EXIT_CMDLINE, EXIT_OPEN_FAILED, EXIT_SMART_FAILED, EXIT_DISK_FAILING = 1, 2, 4, 8


def assess(data: dict, temp_warn: float, temp_crit: float,
           wear_warn: float) -> tuple[Status, str, dict]:
    """One device's status, a short text and the facts used, from smartctl's JSON."""
    argv = data.get("smartctl", {}).get("argv") or ["?"]
    dev = data.get("device", {}).get("name") or argv[-1]
    exit_status = int(data.get("smartctl", {}).get("exit_status", 0))
    messages = [m.get("string", "") for m in data.get("smartctl", {}).get("messages", [])]
    facts: dict[str, Any] = {"device": dev, "model": data.get("model_name"),
                             "serial": data.get("serial_number"), "exit_status": exit_status}
    support = data.get("smart_support")
    if isinstance(support, dict) and support.get("available") is False:
        return Status.UNKNOWN, f"{dev}: SMART not supported", facts
    if isinstance(support, dict) and support.get("enabled") is False:
        return Status.UNKNOWN, f"{dev}: SMART disabled", facts
    passed = data.get("smart_status", {}).get("passed")
    if passed is None:
        why = messages[0] if messages else "no SMART health in smartctl output"
        return Status.UNKNOWN, f"{dev}: SMART unavailable ({why})", facts
    facts["passed"] = passed
    statuses = [Status.OK]
    notes: list[str] = []
    if not passed or exit_status & EXIT_DISK_FAILING:
        statuses.append(Status.CRITICAL)
        notes.append("health FAILING")
    for attr in data.get("ata_smart_attributes", {}).get("table", []):
        if attr.get("when_failed") == "now":
            statuses.append(Status.CRITICAL)
            notes.append(f"{attr.get('name')} failing now")
        aid = attr.get("id")
        raw = attr.get("raw", {}).get("value", 0)
        if aid in ATA_SECTOR_ATTRS:
            facts[ATA_SECTOR_ATTRS[aid].replace(" ", "_")] = raw
            if raw:
                statuses.append(Status.WARNING)
                notes.append(f"{raw} {ATA_SECTOR_ATTRS[aid]}")
    nvme = data.get("nvme_smart_health_information_log")
    if nvme:
        facts.update(critical_warning=nvme.get("critical_warning"),
                     media_errors=nvme.get("media_errors"),
                     percentage_used=nvme.get("percentage_used"))
        if nvme.get("critical_warning"):
            statuses.append(Status.CRITICAL)
            notes.append(f"critical warning 0x{int(nvme['critical_warning']):02x}")
        spare, spare_min = nvme.get("available_spare"), nvme.get("available_spare_threshold")
        if spare is not None and spare_min is not None and spare <= spare_min:
            statuses.append(Status.CRITICAL)
            notes.append(f"spare {spare}% at/below threshold {spare_min}%")
        if nvme.get("media_errors"):
            statuses.append(Status.WARNING)
            notes.append(f"{nvme['media_errors']} media errors")
        if (nvme.get("percentage_used") or 0) >= wear_warn:
            statuses.append(Status.WARNING)
            notes.append(f"{nvme['percentage_used']}% worn")
    temp = data.get("temperature", {}).get("current")
    if temp is not None:
        facts["temperature"] = temp
        if temp >= temp_crit:
            statuses.append(Status.CRITICAL)
            notes.append(f"{temp}°C")
        elif temp >= temp_warn:
            statuses.append(Status.WARNING)
            notes.append(f"{temp}°C")
    status = worst(statuses)
    text = f"{dev}: " + (", ".join(notes) if notes else "PASSED"
                         + (f", {temp}°C" if temp is not None else ""))
    return status, text, facts


@register
class SmartCheck(Check):
    name = "smart"
    summary = "Disk SMART health (smartctl -H -A --json); UNKNOWN where SMART is unavailable."
    remote = True
    params = (
        Param("devices", "list[str]", [], "disks to check, e.g. [/dev/sda]; empty: every disk "
                                          "smartctl --scan finds"),
        Param("temp_warn", "number", 55.0, "drive temperature (°C) for WARNING"),
        Param("temp_crit", "number", 65.0, "drive temperature (°C) for CRITICAL"),
        Param("wear_warn", "number", 90.0, "NVMe percentage used (wear) for WARNING",
              min=0, max=255),
    )

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        thresholds_ascending(params, "temp_warn", "temp_crit")

    def run(self, ctx, p: dict[str, Any]) -> CheckResult:
        runner = ctx.runner
        try:
            targets = [(d, None) for d in p["devices"]] or self._scan(ctx)
        except ToolMissingError:
            return CheckResult.unknown(_("smartctl is not installed (package smartmontools)"))
        except (OpsError, ValueError) as exc:
            return CheckResult.unknown(_("smartctl --scan failed: {error}").format(error=exc))
        if not targets:
            return CheckResult.unknown(_("no disks found by smartctl --scan"))
        statuses, texts, facts = [], [], []
        for dev, dtype in targets:
            argv = ["smartctl", "-H", "-A", "--json"]
            if dtype:
                argv += ["-d", dtype]
            try:
                # smartctl's exit status is a bit mask of findings, not an error code.
                res = runner.run([*argv, dev], timeout=ctx.timeout, check=False)
                data = json.loads(res.stdout)
            except ToolMissingError:
                return CheckResult.unknown(_("smartctl is not installed (package smartmontools)"))
            except (OpsError, ValueError) as exc:
                statuses.append(Status.UNKNOWN)
                texts.append(f"{dev}: {exc}")
                continue
            status, text, fact = assess(data, p["temp_warn"], p["temp_crit"], p["wear_warn"])
            statuses.append(status)
            texts.append(text)
            facts.append(fact)
        ok = sum(1 for s in statuses if s == Status.OK)
        return CheckResult(worst(statuses), "; ".join(texts), f"{ok}/{len(statuses)} healthy",
                           {"devices": facts})

    @staticmethod
    def _scan(ctx) -> list[tuple[str, str | None]]:
        res = ctx.runner.run(["smartctl", "--scan", "--json"], timeout=ctx.timeout, check=False)
        data = json.loads(res.stdout or "{}")
        # --scan reports SATA disks behind libata as "scsi"; smartctl's own detection picks
        # SAT there and reads the ATA attributes, which "-d scsi" would lose.
        return [(d["name"], None if d.get("type") in (None, "scsi") else d["type"])
                for d in data.get("devices", []) if d.get("name")]
