"""The power domain's entry points for other domains (inspection, daemon); see DEVNOTES.

- ``poll(cfg, names=None) -> list[DeviceReading]``: read devices now, rules applied.
- ``poll_and_detect(cfg, store) -> (readings, events)``: poll everything, compare with
  the previous stored poll, store readings and events.
- ``last_readings(store) -> list[dict]``: the last stored poll (``DeviceReading.to_dict``).

All are synchronous and thread-safe; they share the process's one SNMP engine. None of
them raises for a device that cannot be read: that device is ``reachable=False`` with
``error``/``error_kind``. ``NotFoundError`` is raised for an unknown device name.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from opsctl.power.model import DeviceReading, Event, Finding

__all__ = ["DeviceReading", "Event", "Finding", "poll", "poll_and_detect", "last_readings",
           "recent_events", "cleared", "write_poll"]


def poll(cfg, names: Sequence[str] | None = None, *, kind: str | None = None,
         store=None) -> list[DeviceReading]:
    """Read the named devices (all when ``names`` is None). With ``store``, port rates
    are computed against each device's last stored reading (nothing is written)."""
    from opsctl.power.poller import poll_devices, select_devices

    readings = poll_devices(cfg, select_devices(cfg, names, kind))
    if store is not None:
        from opsctl.power.history import latest_per_device

        _add_rates(readings, latest_per_device(store, [r.name for r in readings]))
    return readings


def _add_rates(readings: list[DeviceReading], previous: dict[str, dict[str, Any]]) -> None:
    from opsctl.power.profiles.base import Notes
    from opsctl.power.rates import apply_rates

    for r in readings:
        prev = previous.get(r.name)
        if r.kind != "switch" or not r.reachable or not prev or not prev.get("reachable"):
            continue
        notes = Notes()
        apply_rates(r.values, prev.get("values"), notes)
        r.notes.extend(n.to_dict() for n in notes)


def poll_and_detect(cfg, store, devices=None, *, previous=None, save=None,
                    on_write=None) -> tuple[list[DeviceReading], list[Event]]:
    """One poll of every device (or of ``devices``), stored, with the events since the
    previous poll.

    ``previous``: called with the device names when the store cannot say what the last
    readings were (``StoreUnavailable``); returns them as :func:`last_readings` rows.
    ``save``: called with the poll (``history.poll_record``, plain JSON data) when the
    store cannot take it; the caller writes it later with :func:`write_poll`.
    ``on_write``: called with the connection inside the poll's write transaction (the
    daemon marks its write id there).
    """
    from opsctl.core.errors import StoreUnavailable
    from opsctl.power.events import detect
    from opsctl.power.history import latest_per_device, poll_record, write_poll
    from opsctl.power.poller import poll_devices

    t0 = time.monotonic()
    readings = poll_devices(cfg, list(cfg.devices if devices is None else devices))
    names = [r.name for r in readings]
    try:
        before = latest_per_device(store, names)
    except StoreUnavailable:
        if previous is None:
            raise
        before = previous(names)
    _add_rates(readings, before)
    events = detect(before, readings)
    record = poll_record(readings, events, time.monotonic() - t0)
    try:
        with store.write() as conn:
            write_poll(conn, record)
            if on_write is not None:
                on_write(conn)
    except StoreUnavailable:
        if save is None:
            raise
        save(record)
    return readings, events


def write_poll(conn, record: dict[str, Any]) -> int:
    """Store a poll handed to ``poll_and_detect``'s ``save`` (in the caller's write
    transaction); returns its id."""
    from opsctl.power.history import write_poll as _write

    return _write(conn, record)


def cleared(readings: Sequence[DeviceReading]) -> list[tuple[str, str, str]]:
    """(event kind, device, why) of every condition these readings show to be over: a
    device answering clears ``comms_lost``; a UPS without OB / LB / OVER / RB clears
    ``on_battery`` / ``low_battery`` / ``overload`` / ``replace_battery``; a UPS whose
    ``device.health`` is OK again clears ``device_health``. The daemon
    closes the matching open events (auto-resolve)."""
    from opsctl.power.events import TOKEN_EVENTS

    out: list[tuple[str, str, str]] = []
    for r in readings:
        if not r.reachable:
            continue
        out.append(("comms_lost", r.name, f"{r.name} answers again"))
        if r.values.get("device.health") == "OK":
            out.append(("device_health", r.name, f"{r.name} reports OK health again"))
        if r.kind != "ups" or "ups.status" not in r.values:
            continue
        status = set(r.ups_status)
        for token, (kind, _sev, text) in TOKEN_EVENTS.items():
            if token not in status:
                out.append((kind, r.name, f"{r.name} no longer reports {text} "
                                          f"(ups.status {r.values.get('ups.status')})"))
    return out


def last_readings(store) -> list[dict[str, Any]]:
    from opsctl.power.history import last_poll

    return last_poll(store)


def recent_events(store, limit: int = 50) -> list[dict[str, Any]]:
    from opsctl.power.history import recent_events as _recent

    return _recent(store, limit)
