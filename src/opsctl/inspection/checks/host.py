"""Host health: load, memory, swap, a process running, a systemd unit active.

Locally the numbers come from psutil; on a remote host (item ``host:``) from /proc and
``ps``/``systemctl`` over SSH, which is what psutil itself reads on Linux.
"""

from __future__ import annotations

import re
from typing import Any

from opsctl.core.errors import OpsError, Status
from opsctl.core.i18n import _
from opsctl.inspection.checks.base import (
    Check,
    CheckResult,
    Param,
    ParamError,
    grade_high,
    percent_thresholds,
    thresholds_ascending,
)
from opsctl.inspection.registry import register


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo as bytes per field."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+):\s+(\d+)(?:\s+kB)?", line)
        if m:
            out[m.group(1)] = int(m.group(2)) * (1024 if line.rstrip().endswith("kB") else 1)
    return out


@register
class LoadCheck(Check):
    name = "load"
    summary = "System load average (optionally per CPU) against warn/crit."
    remote = True
    params = (
        Param("warn", "number", 4.0, "load at or above which the item is WARNING", min=0),
        Param("crit", "number", 8.0, "load at or above which the item is CRITICAL", min=0),
        Param("period", "int", 5, "load average period in minutes", choices=(1, 5, 15)),
        Param("per_cpu", "bool", False, "divide the load by the number of CPUs first"),
    )

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        thresholds_ascending(params)

    def run(self, ctx, p: dict[str, Any]) -> CheckResult:
        index = {1: 0, 5: 1, 15: 2}[p["period"]]
        if ctx.remote:
            loads = [float(x) for x in ctx.read_text("/proc/loadavg").split()[:3]]
            cpus = int(ctx.runner.run(["getconf", "_NPROCESSORS_ONLN"],
                                      timeout=ctx.timeout).stdout.strip() or 1)
        else:
            import psutil

            loads = list(psutil.getloadavg())
            cpus = psutil.cpu_count() or 1
        load = loads[index]
        value = load / cpus if p["per_cpu"] else load
        status = grade_high(value, p["warn"], p["crit"])
        msg = (_("load per CPU {value:.2f} ({period} min, {cpus} CPUs; warn {warn:g}, "
                 "crit {crit:g})") if p["per_cpu"] else
               _("load {value:.2f} ({period} min, {cpus} CPUs; warn {warn:g}, crit {crit:g})"))
        return CheckResult(status, msg.format(value=value, period=p["period"], cpus=cpus,
                                              warn=p["warn"], crit=p["crit"]),
                           round(value, 2), {"loadavg": loads, "cpus": cpus})


@register
class MemoryCheck(Check):
    name = "memory"
    summary = "Memory in use (total minus available) as % of RAM."
    remote = True
    params = (
        *percent_thresholds(90.0, 97.0),
    )

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        thresholds_ascending(params)

    def run(self, ctx, p: dict[str, Any]) -> CheckResult:
        if ctx.remote:
            info = parse_meminfo(ctx.read_text("/proc/meminfo"))
            total, avail = info.get("MemTotal", 0), info.get("MemAvailable", 0)
        else:
            import psutil

            vm = psutil.virtual_memory()
            total, avail = vm.total, vm.available
        if not total:
            return CheckResult.unknown(_("cannot read total memory"))
        pct = 100.0 * (total - avail) / total
        status = grade_high(pct, p["warn"], p["crit"])
        return CheckResult(status, _("memory {pct:.1f}% used, {avail:.1f} GiB available of "
                                     "{total:.1f} GiB").format(pct=pct, avail=avail / 2**30,
                                                               total=total / 2**30),
                           round(pct, 1),
                           {"total_bytes": total, "available_bytes": avail})


@register
class SwapCheck(Check):
    name = "swap"
    summary = "Swap in use as % of swap space."
    remote = True
    params = (
        *percent_thresholds(50.0, 80.0),
        Param("required", "bool", False, "no swap configured at all is a WARNING"),
    )

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        thresholds_ascending(params)

    def run(self, ctx, p: dict[str, Any]) -> CheckResult:
        if ctx.remote:
            info = parse_meminfo(ctx.read_text("/proc/meminfo"))
            total, free = info.get("SwapTotal", 0), info.get("SwapFree", 0)
        else:
            import psutil

            sw = psutil.swap_memory()
            total, free = sw.total, sw.free
        if not total:
            status = Status.WARNING if p["required"] else Status.OK
            return CheckResult(status, _("no swap configured"), 0.0)
        pct = 100.0 * (total - free) / total
        return CheckResult(grade_high(pct, p["warn"], p["crit"]),
                           _("swap {pct:.1f}% used of {total:.1f} GiB").format(
                               pct=pct, total=total / 2**30), round(pct, 1),
                           {"total_bytes": total, "free_bytes": free})


@register
class ProcessCheck(Check):
    name = "process"
    summary = "A process is running (by name or a substring of its command line)."
    remote = True
    params = (
        Param("name", "str", description="process name (exact) or command-line substring"),
        Param("match", "str", "name", "compare against the process 'name' or its 'cmdline'",
              choices=("name", "cmdline")),
        Param("min", "int", 1, "fewer running processes than this is CRITICAL", min=0),
        Param("max", "int", None, "more running processes than this is WARNING", min=0),
    )

    def run(self, ctx, p: dict[str, Any]) -> CheckResult:
        want = p["name"]
        by_cmdline = p["match"] == "cmdline"
        if ctx.remote:
            fmt = "args=" if by_cmdline else "comm="
            lines = ctx.runner.run(["ps", "-e", "-o", fmt], timeout=ctx.timeout).stdout
            procs = [ln.strip() for ln in lines.splitlines() if ln.strip()]
        else:
            import psutil

            procs = []
            for proc in psutil.process_iter(["name", "cmdline"]):
                info = proc.info
                procs.append(" ".join(info.get("cmdline") or []) if by_cmdline
                             else info.get("name") or "")
        if by_cmdline:
            count = sum(1 for c in procs if want in c)
        else:
            # The kernel keeps only 15 characters of a process name (comm).
            count = sum(1 for n in procs if n == want or (len(n) == 15 and want.startswith(n)))
        if count < p["min"]:
            return CheckResult(Status.CRITICAL, _("{name}: {n} running, expected at least "
                                                  "{min}").format(name=want, n=count,
                                                                  min=p["min"]), count)
        if p["max"] is not None and count > p["max"]:
            return CheckResult(Status.WARNING, _("{name}: {n} running, expected at most "
                                                 "{max}").format(name=want, n=count,
                                                                 max=p["max"]), count)
        return CheckResult(Status.OK, _("{name}: {n} running").format(name=want, n=count),
                           count)

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        if params["max"] is not None and params["max"] < params["min"]:
            raise ParamError("max", f"max ({params['max']}) must not be below min "
                                    f"({params['min']})")


# systemctl is-active answers; anything else (inactive, failed, deactivating) is CRITICAL.
_UNIT_STATES = {"active": Status.OK, "reloading": Status.OK, "activating": Status.WARNING,
                "refreshing": Status.OK}
_NO_SYSTEMD = ("has not been booted with systemd", "Failed to connect to bus",
               "System has not been booted")


@register
class SystemdUnitCheck(Check):
    name = "systemd_unit"
    summary = "A systemd unit is active (systemctl is-active)."
    remote = True
    params = (Param("unit", "str", description="unit name, e.g. sshd.service or backup.timer"),)

    def run(self, ctx, p: dict[str, Any]) -> CheckResult:
        unit = p["unit"]
        try:
            res = ctx.runner.run(["systemctl", "is-active", "--", unit], timeout=ctx.timeout,
                                 check=False)
        except OpsError as exc:
            return CheckResult.unknown(f"{unit}: {exc}")
        state = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ""
        err = res.stderr.strip()
        if not state or any(s in err for s in _NO_SYSTEMD):
            return CheckResult.unknown(_("{unit}: systemd is not running here").format(
                unit=unit) + (f" ({err.splitlines()[0]})" if err else ""))
        status = _UNIT_STATES.get(state, Status.CRITICAL)
        return CheckResult(status, _("{unit} is {state}").format(unit=unit, state=state), state)
