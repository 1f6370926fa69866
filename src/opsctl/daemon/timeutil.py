"""Timestamps in the daemon's tables: UTC ISO-8601, so string order is time order."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def iso(t: dt.datetime | None) -> str | None:
    if t is None:
        return None
    return t.astimezone(dt.UTC).isoformat(timespec="seconds")


def parse(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def site_zone(cfg):
    """The site's time zone (schedules and after-hours are local to the machine room)."""
    import zoneinfo

    name = getattr(cfg.site, "timezone", None)
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    return dt.datetime.now().astimezone().tzinfo
