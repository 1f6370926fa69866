"""Power events: what changed between the previous stored poll and this one.

NUT's rule for a silent UPS: one last seen on battery that stops answering must be
assumed to be at low battery (its card may have died with the power), so it raises
``low_battery`` as well as ``comms_lost``. On a device's first poll (no previous
reading) only conditions worth waking someone for are raised (on battery, low battery,
overload, replace battery, and a device that does not answer at all), never
"restored"/"up" events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from opsctl.power.model import DeviceReading, Event

# token -> (event kind, severity, text)
TOKEN_EVENTS = {
    "OB": ("on_battery", "critical", "on battery"),
    "LB": ("low_battery", "critical", "low battery"),
    "OVER": ("overload", "major", "overload"),
    "RB": ("replace_battery", "major", "battery needs replacing"),
}


def _tokens(d: Mapping[str, Any] | None) -> set[str]:
    if not d:
        return set()
    return set(str((d.get("values") or {}).get("ups.status") or "").split())


# device.health level -> severity of the ``device_health`` event (the card's own summary;
# for a card without a power-source object it is the only sign of trouble, e.g. on battery).
HEALTH_EVENTS = {"WARNING": "major", "CRITICAL": "critical"}


def _health(d: Mapping[str, Any] | None) -> Any:
    return (d.get("values") or {}).get("device.health") if d else None


def _ports(d: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    if not d:
        return {}
    return {str(p.get("index")): p for p in (d.get("values") or {}).get("ports") or []}


def detect(previous: Mapping[str, Mapping[str, Any]], readings: Sequence[DeviceReading],
           now: str | None = None) -> list[Event]:
    at = now or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    out: list[Event] = []
    for r in readings:
        prev = previous.get(r.name)
        first = prev is None
        was_reachable = bool(prev and prev.get("reachable"))

        def ev(kind: str, sev: str, msg: str, **details: Any) -> None:
            out.append(Event(kind, r.name, sev, f"{r.name}: {msg}", at, details))  # noqa: B023

        if not r.reachable:
            if was_reachable:
                ev("comms_lost", "major", f"communication lost ({r.error})",
                   error_kind=r.error_kind)
                if r.kind == "ups" and "OB" in _tokens(prev):
                    ev("low_battery", "critical", "last seen on battery and now silent: "
                       "assuming low battery")
            elif first:
                # Dead from the start is as bad as dying later: nobody would notice a UPS
                # that was never monitored.
                ev("comms_lost", "major", f"not answering since monitoring started "
                   f"({r.error})", error_kind=r.error_kind, never_answered=True)
            continue
        if prev is not None and not was_reachable:
            ev("comms_restored", "minor", "communication restored")
        if r.kind == "ups":
            now_t, before = set(r.ups_status), _tokens(prev)
            # A UPS that went silent on battery was assumed LB: do not raise it twice.
            for token, (kind, sev, text) in TOKEN_EVENTS.items():
                if token in now_t and token not in before:
                    ev(kind, sev, text, status=r.values.get("ups.status"))
            if "OL" in now_t and "OB" in before and not first:
                ev("online", "minor", "back on line", status=r.values.get("ups.status"))
            level, was = r.values.get("device.health"), _health(prev)
            if level in HEALTH_EVENTS and level != was:
                src = (r.status_source or {}).get("object") or "device.health"
                ev("device_health", HEALTH_EVENTS[level],
                   f"device reports {level.lower()} health ({src})", health=level)
        elif r.kind == "switch" and not first:
            old = _ports(prev)
            for p in r.values.get("ports") or []:
                o = old.get(str(p.get("index")))
                if o is None:
                    continue
                name = p.get("name") or p.get("descr") or p.get("index")
                if o.get("oper") == "up" and p.get("oper") not in ("up", None) \
                        and p.get("admin") == "up":
                    ev("port_down", "major", f"port {name} went {p.get('oper')}", port=name)
                elif o.get("oper") not in ("up", None) and p.get("oper") == "up":
                    ev("port_up", "minor", f"port {name} is up again", port=name)
    return out
