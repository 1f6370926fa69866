"""Dates and times of the duty domain: the store keeps UTC, people speak site-local."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from opsctl.core.errors import ConfigError, UsageError

UTC = dt.UTC


def site_tz(cfg) -> dt.tzinfo:
    name = getattr(getattr(cfg, "site", None), "timezone", None) or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"site.timezone: unknown time zone {name!r}") from None


# Dates given on the command line stay well inside what date arithmetic can take (a day
# or a month added to 9999-12 overflows): the duty log has nothing outside these years.
MIN_YEAR, MAX_YEAR = 1900, 2999


def check_year(year: int, what: str, value: str) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise UsageError(f"bad {what} {value!r}: year outside {MIN_YEAR}..{MAX_YEAR}")


def parse_date(value: str, what: str = "date") -> dt.date:
    try:
        if len(value) != 10:
            raise ValueError
        day = dt.date.fromisoformat(value)
    except (ValueError, TypeError):
        raise UsageError(f"bad {what} {value!r}: expected YYYY-MM-DD") from None
    check_year(day.year, what, value)
    return day


def parse_month(value: str) -> tuple[int, int]:
    try:
        if len(value) != 7 or value[4] != "-":
            raise ValueError
        year, month = int(value[:4]), int(value[5:])
        dt.date(year, month, 1)
    except (ValueError, TypeError):
        raise UsageError(f"bad month {value!r}: expected YYYY-MM") from None
    check_year(year, "month", value)
    return year, month


def parse_time(cfg, value: str, what: str = "time") -> dt.datetime:
    """YYYY-MM-DD[THH:MM[:SS]] in site time (or with an explicit offset)."""
    try:
        t = dt.datetime.fromisoformat(value)
    except (ValueError, TypeError):
        raise UsageError(f"bad {what} {value!r}: expected YYYY-MM-DD[THH:MM[:SS]]") from None
    check_year(t.year, what, value)
    return t if t.tzinfo else t.replace(tzinfo=site_tz(cfg))


def local_midnight(cfg, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=site_tz(cfg))


def to_utc_iso(t: dt.datetime) -> str:
    """The store's timestamp form: fixed width, so text comparison orders correctly."""
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def day_range_utc(cfg, start: dt.date, end: dt.date) -> tuple[str, str]:
    """[start 00:00, end+1 00:00) in site time, as store timestamps."""
    if end < start:
        raise UsageError(f"--to {end} is before --from {start}")
    return (to_utc_iso(local_midnight(cfg, start)),
            to_utc_iso(local_midnight(cfg, end + dt.timedelta(days=1))))


def local_str(cfg, ts: str, *, seconds: bool = True) -> str:
    """A stored UTC timestamp shown in site time, to the second (or minute), in the
    interface language's format (2026-12-03 14:05:09; 2026年12月3日 14:05:09)."""
    from opsctl.core.i18n import format_datetime

    return format_datetime(dt.datetime.fromisoformat(ts), site_tz(cfg), seconds=seconds)


def years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)
