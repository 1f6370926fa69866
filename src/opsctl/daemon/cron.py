"""Cron expressions as people write them, turned into APScheduler 3 triggers.

Accepted: the five classic fields (``min hour dom month dow``), six fields with a leading
seconds field (used by tests and for sub-minute jobs), and the ``@hourly``/``@daily``/
``@weekly``/``@monthly``/``@yearly`` shorthands.

APScheduler 3 numbers weekdays from Monday=0 while cron uses Sunday=0 (and 7), and its
``from_crontab`` passes numbers straight through — "0 9 * * 1-5" would silently run Tue–Sat.
So the day-of-week field is expanded here into explicit weekday names.
"""

from __future__ import annotations

import datetime as dt
import re

_SHORTHANDS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_DOW_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_DOW_ALIASES = {n: i for i, n in enumerate(_DOW_NAMES)}


class CronError(ValueError):
    pass


def _dow_value(token: str) -> int:
    t = token.lower()
    if t in _DOW_ALIASES:
        return _DOW_ALIASES[t]
    if not t.isdigit() or int(t) > 7:
        raise CronError(f"bad day of week {token!r} (0-7 or sun-sat)")
    return int(t) % 7


def _expand_dow(field: str) -> str:
    """Cron day-of-week field → comma-separated weekday names APScheduler understands."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        step = 1
        if "/" in part:
            part, step_s = part.split("/", 1)
            if not step_s.isdigit() or int(step_s) == 0:
                raise CronError(f"bad step in day of week {field!r}")
            step = int(step_s)
        if part in ("*", ""):
            lo, hi = 0, 6
        elif "-" in part:
            a, b = part.split("-", 1)
            lo, hi = _dow_value(a), _dow_value(b)
            if b.strip() == "7":
                hi = 7  # "1-7" means Monday to Sunday
            if hi < lo:
                raise CronError(f"bad range in day of week {field!r}")
        else:
            lo = hi = _dow_value(part)
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(_DOW_NAMES[d] for d in sorted(days))


def parse_cron(expr: str, timezone=None):
    """Return a ``CronTrigger`` for ``expr`` or raise :class:`CronError` saying why."""
    from apscheduler.triggers.cron import CronTrigger

    text = _SHORTHANDS.get(expr.strip().lower(), expr.strip())
    fields = re.split(r"\s+", text) if text else []
    if len(fields) == 5:
        second, (minute, hour, day, month, dow) = "0", fields
    elif len(fields) == 6:
        second, minute, hour, day, month, dow = fields
    else:
        raise CronError(
            f"expected 5 fields (minute hour day month weekday) or 6 with leading seconds, "
            f"got {len(fields)}: {expr!r}")
    try:
        return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month,
                           day_of_week=_expand_dow(dow), timezone=timezone)
    except CronError:
        raise
    except (ValueError, TypeError) as exc:
        raise CronError(f"{exc} in {expr!r}") from None


# Field ranges as APScheduler 3 checks them (second … month; weekdays come as names).
_RANGES = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12))
_PLAIN = re.compile(r"(?:\*|([0-9]+)(?:-([0-9]+))?)(?:/([0-9]+))?")


def _plainly_valid(field: str, lo: int, hi: int) -> bool:
    """True only for the common forms (``*``, ``*/n``, ``a``, ``a-b``, ``a-b/n`` and lists
    of them) that APScheduler certainly accepts; anything else goes to APScheduler."""
    for item in field.split(","):
        m = _PLAIN.fullmatch(item)
        if m is None:
            return False
        first, last, step = (int(g) if g is not None else None for g in m.groups())
        if first is None:                                   # * or */n
            first, last = lo, hi
        elif last is None:
            if step is not None:                            # a/n: left to APScheduler
                return False
            last = first
        if not lo <= first <= last <= hi:
            return False
        if step is not None and not 0 < step <= last - first:
            return False
    return True


def check_cron(expr: str) -> None:
    """Raise :class:`CronError` if ``expr`` is not a valid schedule, as :func:`parse_cron`
    would, without importing APScheduler for the everyday forms (``config check`` runs
    this for every schedule; APScheduler and asyncio are ~25 ms of its start-up)."""
    text = _SHORTHANDS.get(expr.strip().lower(), expr.strip())
    fields = re.split(r"\s+", text) if text else []
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) == 6:
        try:
            dow = _expand_dow(fields[5])
        except CronError:
            dow = None
        plain = zip(fields[:5], _RANGES, strict=True)
        if dow is not None and all(_plainly_valid(f, lo, hi) for f, (lo, hi) in plain):
            return
    parse_cron(expr)  # the full parser decides, and words its error


def fire_times_between(trigger, after: dt.datetime, until: dt.datetime,
                       limit: int = 1000) -> tuple[list[dt.datetime], bool]:
    """Fire times in (after, until], at most ``limit``; the flag says whether more exist."""
    out: list[dt.datetime] = []
    prev = None
    t = trigger.get_next_fire_time(None, after)
    while t is not None and t <= until:
        if t > after:
            if len(out) >= limit:
                return out, True
            out.append(t)
        prev = t
        t = trigger.get_next_fire_time(prev, prev + dt.timedelta(microseconds=1))
    return out, False
