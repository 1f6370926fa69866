"""``--format nagios`` for the check commands: one monitoring-plugin line, same exit code.

Each check command builds its (status, summary, perfdata, details) here from the domain
result it already has, so Icinga/Nagios can run ``opsctl power status --format nagios``
directly. A failure before there is a result (bad config, unreadable store, no md
driver) is ``UNKNOWN - message`` with exit 3, as the plugin guidelines ask: a config
error's usual exit 2 would read as CRITICAL.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable
from typing import Any

import click

from opsctl.core.errors import OpsError, Status, worst
from opsctl.core.nagios import Perf, render, threshold_range

FORMATS = ("table", "nagios")


def format_option(f: Callable) -> Callable:
    """Adds ``--format table|nagios`` (as ``fmt``); in nagios mode an OpsError becomes
    ``UNKNOWN - message`` on stdout, exit 3."""

    @click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
                  show_default=True,
                  help="nagios: one monitoring-plugin line (STATUS - summary | perfdata) "
                       "and the same exit code, for Icinga/Nagios; overrides --json.")
    @functools.wraps(f)
    def wrapper(*args: Any, fmt: str, **kw: Any) -> Any:
        if fmt != "nagios":
            return f(*args, fmt=fmt, **kw)
        try:
            return f(*args, fmt=fmt, **kw)
        except OpsError as exc:
            from opsctl.core.logsetup import redact

            emit(Status.UNKNOWN, redact(exc.message), details=[exc.hint] if exc.hint else ())

    return wrapper


def emit(status: Status, summary: str, perf: Iterable[Perf] = (),
         details: Iterable[str] = ()) -> None:
    sys.stdout.write(render(status, summary, perf, details))
    sys.stdout.flush()
    sys.exit(int(status))


def _not_ok(items: list[tuple[str, Status, str]]) -> str:
    bad = sorted((i for i in items if i[1] != Status.OK), key=lambda i: -_rank(i[1]))
    return "; ".join(f"{name} {st.name}: {why}" for name, st, why in bad)


def _rank(st: Status) -> int:
    # The plugin convention's order of badness: CRITICAL > UNKNOWN > WARNING > OK.
    return {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}[st]


# -- power ----------------------------------------------------------------------------------
def _num(v: Any) -> float | None:
    return v if isinstance(v, int | float) and not isinstance(v, bool) else None


def _device_perf(cfg, r) -> list[Perf]:
    from opsctl.power.rules import thresholds_for

    v, out = r.values, []
    if not r.reachable:
        return out
    dev = cfg.device(r.name)
    if r.kind == "ups":
        th = thresholds_for(cfg, dev)
        for key, label, uom, warn, crit, hi in (
                ("ups.load", "load", "%", th.load_warn, th.load_crit, 100),
                ("battery.charge", "charge", "%", f"{th.charge_warn:g}:",
                 f"{th.charge_crit:g}:", 100),
                ("battery.runtime", "runtime", "s", f"{th.runtime_warn_min * 60:g}:",
                 f"{th.runtime_crit_min * 60:g}:", None),
                ("battery.temperature", "battery_temperature", "", th.temperature_warn,
                 th.temperature_crit, None)):
            if _num(v.get(key)) is not None:
                out.append(Perf(f"{r.name}_{label}", v[key], uom, warn, crit,
                                0 if uom else None, hi))
    elif r.kind == "switch":
        ports = v.get("ports") or []
        up = sum(1 for p in ports if p.get("oper") == "up")
        out.append(Perf(f"{r.name}_ports_up", up, "", None, None, 0, len(ports)))
    else:
        for key, label, rng, uom in (
                ("ambient.temperature", "temperature", dev.temperature or cfg.power.temperature,
                 ""),
                ("ambient.humidity", "humidity", dev.humidity or cfg.power.humidity, "%")):
            if _num(v.get(key)) is not None:
                out.append(Perf(f"{r.name}_{label}", v[key], uom,
                                threshold_range(rng.warn_low, rng.warn_high),
                                threshold_range(rng.crit_low, rng.crit_high)))
    return out


def power(cfg, readings) -> None:
    if not readings:
        emit(Status.OK, "no devices configured")
    status = worst(r.status for r in readings)
    items = [(r.name, r.status, r.reason) for r in readings]
    bad = sum(1 for r in readings if r.status != Status.OK)
    n = len(readings)
    noun = "device" if n == 1 else "devices"
    summary = (f"{n} {noun} OK" if not bad
               else f"{bad} of {n} {noun} not OK: {_not_ok(items)}")
    perf = [p for r in readings for p in _device_perf(cfg, r)]
    details = [f"{r.name} ({r.kind}): {r.status.name} - {r.reason}" for r in readings]
    emit(status, summary, perf, details)


# -- storage --------------------------------------------------------------------------------
def raid(arrays) -> None:
    if not arrays:
        emit(Status.OK, "no RAID arrays")
    status = worst(a.health for a in arrays)
    words = []
    for a in arrays:
        state = a.state
        if a.percent is not None:
            state += f" ({a.operation or 'sync'} {a.percent:g}%"
            state += f", about {a.eta_minutes:g} min left)" if a.eta_minutes is not None \
                else ")"
        words.append((a.name, a.health, f"{a.level} {state}"))
    bad = [w for w in words if w[1] != Status.OK]
    summary = (f"{len(arrays)} RAID array(s) OK: "
               + ", ".join(f"{n} {why}" for n, _st, why in words)) if not bad \
        else _not_ok(words)
    perf: list[Perf] = []
    for a in arrays:
        working = sum(1 for m in a.members if m.get("role") == "active")
        perf.append(Perf(f"{a.name}_active", working, "", f"{a.raid_devices}:",
                         None, 0, a.raid_devices))
        if a.percent is not None:
            perf.append(Perf(f"{a.name}_sync", a.percent, "%", None, None, 0, 100))
    details = [f"{a.name} ({a.device}): {a.health.name} - {a.level} {a.state}" for a in arrays]
    emit(status, summary, perf, details)


# -- inspections ----------------------------------------------------------------------------
def inspection(rec) -> None:
    counts = rec.counts
    items = [(it.item_id, it.status, it.message) for it in rec.items]
    head = f"inspection #{rec.id} {rec.profile} on {rec.host}"
    bad = _not_ok(items)
    summary = f"{head}: " + (bad if bad else f"all {len(rec.items)} items OK")
    perf = [Perf(name.lower(), counts.get(name, 0), "", None, None, 0, len(rec.items))
            for name in ("OK", "WARNING", "CRITICAL", "UNKNOWN")]
    seconds = (rec.finished_at - rec.started_at).total_seconds()
    perf.append(Perf("duration", round(seconds, 3), "s", None, None, 0))
    details = [f"{it.item_id}: {it.status.name} - {it.message}" for it in rec.items]
    emit(rec.status, summary, perf, details)


# -- duty -----------------------------------------------------------------------------------
def chain(res, sealed=None) -> None:
    """The hash chain, and the seals when a verification key was given."""
    ok = res.ok and (sealed is None or sealed.ok)
    if not res.ok:
        summary = f"duty log BROKEN: {res.message}"
    elif sealed is not None and not sealed.ok:
        summary = f"duty log BROKEN: {sealed.message}"
    else:
        summary = f"duty log intact: {res.message}"
        if sealed is not None:
            summary += f"; seals intact: {sealed.message}"
    late = ok and sealed is not None and bool(sealed.late)
    emit(Status.CRITICAL if not ok else (Status.WARNING if late else Status.OK), summary,
         [Perf("entries", res.entries, "", None, None, 0)])


def roster(res) -> None:
    status = Status.OK if res.ok else Status.CRITICAL
    if res.ok:
        summary = f"roster {res.month}: {res.shifts} shifts, coverage complete"
    else:
        first = res.errors[0].get("message", "") if res.errors else ""
        summary = f"roster {res.month}: {len(res.errors)} problem(s), first: {first}"
    perf = [Perf("problems", len(res.errors), "", None, 0, 0),
            Perf("shifts", res.shifts, "", None, None, 0)]
    emit(status, summary, perf, [e.get("message", "") for e in res.errors[:20]])
