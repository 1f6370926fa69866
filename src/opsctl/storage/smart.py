"""Disk failure prediction from SMART (``smartctl --json``): the counters that rise before
a disk dies, compared with what the same disk reported last time.

The inspection's ``smart`` check judges one reading; the daemon needs the trend: a disk
whose reallocated sectors go from 1 to 304 between two readings is on its way out even
while smartctl still says PASSED.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from opsctl.core.errors import CommandError, ToolMissingError
from opsctl.core.runner import Runner

# Raw values that count events on ATA disks; any rise is news. These are the attributes
# drive-failure studies (Backblaze's among them) found to predict failure. 188 (command
# timeout) is not one of them here: Seagate packs three 16-bit counters into its raw
# value (17180131332 on a healthy disk), so a rise means nothing by itself.
ATA_COUNTERS = {5: "reallocated sectors", 10: "spin retries",
                187: "reported uncorrectable errors", 197: "pending sectors",
                198: "offline uncorrectable sectors"}
NVME_COUNTERS = {"media_errors": "media errors"}
# smartctl's exit status: bit 3 = "disk failing" (man smartctl, RETURN VALUES).
EXIT_DISK_FAILING = 8


@dataclass(frozen=True)
class DiskHealth:
    device: str
    model: str | None = None
    serial: str | None = None
    available: bool = True
    passed: bool | None = None
    counters: dict[str, int] = field(default_factory=dict)
    failing_now: tuple[str, ...] = ()       # attributes at or below their threshold now
    failed_before: tuple[str, ...] = ()
    nvme_warning: int = 0
    why_unavailable: str | None = None

    @property
    def identity(self) -> str:
        """Which physical disk: a replaced disk in the same slot starts a new history."""
        return f"{self.model or '?'}|{self.serial or '?'}"

    @property
    def failing(self) -> bool:
        return self.passed is False or bool(self.failing_now) or bool(self.nvme_warning)

    def label(self) -> str:
        return f"{self.device} ({self.model})" if self.model else self.device

    def state(self) -> dict[str, Any]:
        return {"identity": self.identity, "counters": dict(self.counters),
                "failing": self.failing}


def parse(data: dict[str, Any]) -> DiskHealth:
    dev = (data.get("device") or {}).get("name") or "?"
    model = data.get("model_name") or data.get("scsi_model_name")
    serial = data.get("serial_number")
    support = data.get("smart_support")
    if isinstance(support, dict) and (support.get("available") is False
                                      or support.get("enabled") is False):
        return DiskHealth(dev, model, serial, available=False, why_unavailable="SMART off")
    passed = (data.get("smart_status") or {}).get("passed")
    if passed is None:
        msgs = [m.get("string", "") for m in (data.get("smartctl") or {}).get("messages", [])]
        return DiskHealth(dev, model, serial, available=False,
                          why_unavailable=msgs[0] if msgs else "no SMART health reported")
    exit_status = int((data.get("smartctl") or {}).get("exit_status") or 0)
    counters: dict[str, int] = {}
    now: list[str] = []
    before: list[str] = []
    for attr in (data.get("ata_smart_attributes") or {}).get("table", []):
        name = attr.get("name") or str(attr.get("id"))
        if attr.get("when_failed") == "now":
            now.append(name)
        elif attr.get("when_failed") == "past":
            before.append(name)
        if attr.get("id") in ATA_COUNTERS:
            raw = (attr.get("raw") or {}).get("value")
            if isinstance(raw, int):
                counters[ATA_COUNTERS[attr["id"]]] = raw
    nvme = data.get("nvme_smart_health_information_log") or {}
    for key, label in NVME_COUNTERS.items():
        if isinstance(nvme.get(key), int):
            counters[label] = nvme[key]
    warning = int(nvme.get("critical_warning") or 0)
    return DiskHealth(dev, model, serial, passed=bool(passed) and not
                      exit_status & EXIT_DISK_FAILING, counters=counters,
                      failing_now=tuple(now), failed_before=tuple(before), nvme_warning=warning)


def read(runner: Runner, device: str) -> DiskHealth:
    """One disk's health; a disk smartctl cannot read is ``available=False``, not an error."""
    # smartctl's exit code is a bit mask of findings; the JSON says everything.
    res = runner.run(["smartctl", "--json", "--info", "--health", "--attributes",
                      "--nocheck=standby", device], check=False, timeout=60)
    try:
        data = json.loads(res.stdout or "{}")
    except json.JSONDecodeError:
        return DiskHealth(device, available=False, why_unavailable="smartctl printed no JSON")
    health = parse(data)
    if health.device == "?":
        health = DiskHealth(device, health.model, health.serial, health.available,
                            health.passed, health.counters, health.failing_now,
                            health.failed_before, health.nvme_warning, health.why_unavailable)
    return health


def scan(runner: Runner) -> list[str]:
    """The disks smartctl finds (``smartctl --scan``)."""
    try:
        res = runner.run(["smartctl", "--scan", "--json"], check=False, timeout=60)
    except (ToolMissingError, CommandError):
        return []
    try:
        data = json.loads(res.stdout or "{}")
    except json.JSONDecodeError:
        return []
    return [d["name"] for d in data.get("devices", []) if d.get("name")]


@dataclass(frozen=True)
class Finding:
    severity: str            # critical | major | minor (the alert severities)
    kind: str                # smart-failing | smart-rising | smart-counters
    device: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def compare(previous: dict[str, Any] | None, now: DiskHealth) -> list[Finding]:
    """What changed since the last reading of the same disk, worth telling someone."""
    if not now.available:
        return []
    if previous is not None and previous.get("identity") != now.identity:
        previous = None          # another disk in this slot: its history starts now
    out: list[Finding] = []
    details = {"model": now.model, "serial": now.serial, "counters": now.counters}
    if now.failing and not (previous or {}).get("failing"):
        why = [*(f"{a} failing now" for a in now.failing_now)]
        if now.nvme_warning:
            why.append(f"NVMe critical warning 0x{now.nvme_warning:02x}")
        if now.passed is False:
            why.append("overall health FAILED")
        out.append(Finding("critical", "smart-failing", now.device,
                           f"disk {now.label()} is failing: {', '.join(why)}; replace it",
                           details))
    old = (previous or {}).get("counters") or {}
    rose = {k: (int(old.get(k, 0)), v) for k, v in now.counters.items()
            if previous is not None and v > int(old.get(k, 0))}
    if rose:
        text = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in rose.items())
        out.append(Finding("major", "smart-rising", now.device,
                           f"disk {now.label()} is wearing out: {text}; plan its "
                           "replacement before it fails", {**details, "rose": rose}))
    elif previous is None:
        nonzero = {k: v for k, v in now.counters.items() if v}
        if nonzero:
            text = ", ".join(f"{v} {k}" for k, v in nonzero.items())
            out.append(Finding("minor", "smart-counters", now.device,
                               f"disk {now.label()} has {text} (first reading; an increase "
                               "will be reported)", details))
    return out
