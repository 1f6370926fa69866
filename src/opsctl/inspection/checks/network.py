"""Network: IP addresses unchanged against a recorded baseline; a TCP port answering."""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import socket
import time
from typing import Any

from opsctl.core.errors import OpsError, Status
from opsctl.core.i18n import _
from opsctl.inspection.checks.base import Check, CheckResult, Param
from opsctl.inspection.registry import register


def addresses_from_ip_json(text: str) -> dict[str, list[str]]:
    """Interface -> ["addr/prefix", …] from ``ip -j addr show``."""
    out: dict[str, list[str]] = {}
    for link in json.loads(text or "[]"):
        name = link.get("ifname")
        if not name:
            continue
        addrs = out.setdefault(name, [])
        for a in link.get("addr_info", []):
            if a.get("family") in ("inet", "inet6") and a.get("local"):
                addrs.append(f"{a['local']}/{a.get('prefixlen', '')}")
    return out


def addresses_from_psutil() -> dict[str, list[str]]:
    import psutil

    out: dict[str, list[str]] = {}
    for name, addrs in psutil.net_if_addrs().items():
        lst = out.setdefault(name, [])
        for a in addrs:
            if a.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            addr = a.address.split("%")[0]
            try:
                prefix = ipaddress.ip_network(f"0.0.0.0/{a.netmask}" if a.family ==
                                              socket.AF_INET else f"::/{a.netmask}",
                                              strict=False).prefixlen if a.netmask else ""
            except ValueError:
                prefix = ""
            lst.append(f"{addr}/{prefix}")
    return out


def filter_addresses(addrs: dict[str, list[str]], ignore: list[str], ipv6: bool,
                     ignore_link_local: bool) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, lst in addrs.items():
        if any(fnmatch.fnmatch(name, pat) for pat in ignore):
            continue
        keep = []
        for a in lst:
            ip = ipaddress.ip_address(a.split("/")[0])
            if ip.version == 6 and not ipv6:
                continue
            if ignore_link_local and ip.is_link_local:
                continue
            keep.append(a)
        if keep:
            out[name] = sorted(set(keep))
    return out


def diff_addresses(old: dict[str, list[str]], new: dict[str, list[str]]) -> list[str]:
    changes = []
    for name in sorted(set(old) | set(new)):
        before, after = set(old.get(name, [])), set(new.get(name, []))
        for a in sorted(after - before):
            changes.append(f"{name}: +{a}")
        for a in sorted(before - after):
            changes.append(f"{name}: -{a}")
    return changes


@register
class IpBaselineCheck(Check):
    name = "ip_baseline"
    summary = "IP addresses unchanged against a recorded baseline (the first run records it)."
    remote = True
    params = (
        Param("ignore_interfaces", "list[str]", ["lo"], "interface names or globs to ignore "
                                                        "(e.g. veth*)"),
        Param("ipv6", "bool", True, "include IPv6 addresses"),
        Param("ignore_link_local", "bool", True, "ignore link-local addresses (fe80::/10, "
                                                 "169.254/16)"),
        Param("on_change", "str", "warn", "status when an address was added or removed",
              choices=("warn", "crit")),
    )

    def run(self, ctx, p: dict[str, Any]) -> CheckResult:
        try:
            res = ctx.runner.run(["ip", "-j", "addr", "show"], timeout=ctx.timeout)
            raw = addresses_from_ip_json(res.stdout)
        except (OpsError, ValueError) as exc:
            if ctx.remote:
                return CheckResult.unknown(_("cannot list addresses: {error}").format(error=exc))
            raw = addresses_from_psutil()
        current = filter_addresses(raw, p["ignore_interfaces"], p["ipv6"],
                                   p["ignore_link_local"])
        count = sum(len(v) for v in current.values())
        key = f"{ctx.target}/{ctx.item_id}"
        from opsctl.inspection import baseline

        old = baseline.get(ctx.cfg, ctx.store, key)
        if old is None:
            baseline.put(ctx.cfg, ctx.store, key, {"addresses": current,
                                                   "recorded_at": time.time()})
            return CheckResult(Status.OK, _("baseline recorded: {n} addresses on {m} "
                                            "interfaces").format(n=count, m=len(current)), count,
                               {"addresses": current, "baseline_recorded": True})
        changes = diff_addresses(old.get("addresses", {}), current)
        if changes:
            status = Status.WARNING if p["on_change"] == "warn" else Status.CRITICAL
            return CheckResult(status, _("addresses changed: {changes}").format(
                changes=", ".join(changes)), count,
                               {"addresses": current, "changes": changes})
        return CheckResult(Status.OK, _("{n} addresses unchanged").format(n=count), count,
                           {"addresses": current})


@register
class TcpPortCheck(Check):
    name = "tcp_port"
    summary = "A TCP port answers (connect from this machine), optionally within a time."
    params = (
        Param("address", "str", "127.0.0.1", "host name or IP address to connect to"),
        Param("port", "int", description="TCP port", min=1, max=65535),
        Param("connect_timeout", "number", 3.0, "seconds to wait for the connection",
              min=0.05, max=600),
        Param("warn_ms", "number", None, "connect time (ms) at or above which the item is "
                                         "WARNING", min=0, nullable=True),
    )

    def run(self, ctx, p: dict[str, Any]) -> CheckResult:
        target = f"{p['address']}:{p['port']}"
        started = time.monotonic()
        try:
            with socket.create_connection((p["address"], p["port"]),
                                          timeout=min(p["connect_timeout"], ctx.timeout)):
                pass
        except TimeoutError:
            return CheckResult(Status.CRITICAL, _("{target}: no answer within {s:g} s").format(
                target=target, s=p["connect_timeout"]))
        except OSError as exc:
            return CheckResult(Status.CRITICAL, f"{target}: {exc.strerror or exc}")
        ms = (time.monotonic() - started) * 1000.0
        status = Status.WARNING if p["warn_ms"] is not None and ms >= p["warn_ms"] \
            else Status.OK
        return CheckResult(status, _("{target} answers in {ms:.1f} ms").format(target=target,
                                                                              ms=ms),
                           round(ms, 1))
