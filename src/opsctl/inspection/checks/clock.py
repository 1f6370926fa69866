"""Clock synchronised: chrony first, then systemd-timesyncd (timedatectl), then the
kernel's own NTP state (adjtimex), which answers on any Linux even without either."""

from __future__ import annotations

import ctypes
import re
from typing import Any

from opsctl.core.errors import OpsError, Status
from opsctl.core.i18n import _
from opsctl.inspection.checks.base import (
    Check,
    CheckResult,
    Param,
    grade_high,
    thresholds_ascending,
)
from opsctl.inspection.registry import register

STA_UNSYNC = 0x0040
TIME_ERROR = 5


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>; only the leading fields are read, the tail is
    # padding the kernel writes into.
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long),
                ("status", ctypes.c_int), ("constant", ctypes.c_long),
                ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
                ("time", _Timeval), ("tick", ctypes.c_long), ("pad", ctypes.c_long * 32)]


def kernel_sync_state() -> tuple[bool, float]:
    """(synchronised, estimated max error in ms) from adjtimex(2) in read-only mode."""
    libc = ctypes.CDLL(None, use_errno=True)
    tx = _Timex()
    state = libc.adjtimex(ctypes.byref(tx))
    if state < 0:
        raise OSError(ctypes.get_errno(), "adjtimex failed")
    synced = state != TIME_ERROR and not (tx.status & STA_UNSYNC)
    return synced, tx.maxerror / 1000.0


def parse_chrony_tracking(text: str) -> dict[str, Any]:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    out: dict[str, Any] = {"leap": fields.get("Leap status", ""),
                           "reference": fields.get("Reference ID", ""),
                           "stratum": fields.get("Stratum")}
    m = re.match(r"([-\d.eE+]+) seconds (fast|slow)", fields.get("System time", ""))
    if m:
        secs = float(m.group(1))
        out["offset_ms"] = abs(secs) * 1000.0
    return out


@register
class ClockSyncCheck(Check):
    name = "clock_sync"
    summary = "Clock synchronised (chronyc tracking, timedatectl, or the kernel's NTP state)."
    remote = True
    params = (
        Param("warn_ms", "number", 100.0, "offset (ms) at or above which the item is WARNING",
              min=0),
        Param("crit_ms", "number", 1000.0, "offset (ms) at or above which the item is "
                                           "CRITICAL", min=0),
        Param("unsynced", "str", "warn", "status when the clock is not synchronised at all",
              choices=("warn", "crit")),
        Param("chronyd", "str", None, "chronyd to ask (chronyc -h: a host or a command "
                                      "socket path); default: the local one", nullable=True),
    )

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        thresholds_ascending(params, "warn_ms", "crit_ms")

    def run(self, ctx, p: dict[str, Any]) -> CheckResult:
        unsynced = Status.WARNING if p["unsynced"] == "warn" else Status.CRITICAL
        tried = []
        try:
            where = ["-h", p["chronyd"]] if p["chronyd"] else []
            res = ctx.runner.run(["chronyc", *where, "-n", "tracking"], timeout=ctx.timeout,
                                 check=False)
            if res.ok and "Leap status" in res.stdout:
                t = parse_chrony_tracking(res.stdout)
                if t["leap"].lower().startswith("not sync"):
                    return CheckResult(unsynced, _("chrony: not synchronised"), None, t)
                off = t.get("offset_ms")
                if off is None:
                    return CheckResult.unknown(_("chrony: cannot read the offset"), **t)
                return CheckResult(grade_high(off, p["warn_ms"], p["crit_ms"]),
                                   _("chrony: synchronised to {reference}, offset {offset:.3f} "
                                     "ms").format(reference=t["reference"] or "?", offset=off),
                                   round(off, 3), t)
            tried.append("chronyc: " + ((res.stderr or res.stdout).strip() or "no answer"))
            if p["chronyd"]:  # that chronyd was asked for: timedatectl would not be it
                return CheckResult.unknown(f"chronyd {p['chronyd']}: " + tried[-1])
        except OpsError as exc:
            tried.append(f"chronyc: {exc}")
        try:
            res = ctx.runner.run(["timedatectl", "show"], timeout=ctx.timeout, check=False)
            props = dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)
            if res.ok and "NTPSynchronized" in props:
                if props["NTPSynchronized"] == "yes":
                    return CheckResult(Status.OK, _("timedatectl: NTP synchronised"), "yes",
                                       props)
                return CheckResult(unsynced, _("timedatectl: NTP not synchronised")
                                   + ("" if props.get("NTP") == "yes" else _(" (NTP off)")),
                                   "no", props)
            tried.append("timedatectl: " + ((res.stderr or res.stdout).strip().splitlines()
                                            or ["no answer"])[0])
        except OpsError as exc:
            tried.append(f"timedatectl: {exc}")
        if ctx.remote:
            return CheckResult.unknown(_("no chrony or timedatectl answer ({tried})").format(
                tried="; ".join(tried)))
        try:
            synced, maxerr = kernel_sync_state()
        except OSError as exc:
            return CheckResult.unknown(_("cannot read the clock state: {error}").format(
                error=exc))
        if not synced:
            return CheckResult(unsynced, _("kernel: clock not synchronised (no NTP client "
                                           "disciplines it)"), None, {"tried": tried})
        return CheckResult(grade_high(maxerr, p["warn_ms"], p["crit_ms"]),
                           _("kernel: clock synchronised, max error {error:.1f} ms").format(
                               error=maxerr),
                           round(maxerr, 3), {"tried": tried})
