"""Options shared by many commands, defined once."""

from __future__ import annotations

import datetime as dt

import click

from opsctl.core.errors import UsageError


def dry_run_option(f):
    return click.option("--dry-run", "-n", is_flag=True,
                        help="Print what would be done; change nothing.")(f)


def yes_option(f):
    return click.option("--yes", "-y", is_flag=True,
                        help="Do not ask for confirmation (for scripts).")(f)


class _Id(click.ParamType):
    """Record ids, sequence numbers, counts: SQLite integers (a larger number was an
    OverflowError deep in the store, not a usage error)."""

    name = "integer"

    def convert(self, value, param, ctx):
        try:
            n = int(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a whole number", param, ctx)
        if not 0 <= n < 2**63:
            self.fail(f"{value} is out of range (0 to 2^63-1)", param, ctx)
        return n


ID = _Id()


def parse_date(value: str | None, what: str = "date") -> dt.date | None:
    from opsctl.handover.timeutil import check_year

    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"bad {what} {value!r}: expected YYYY-MM-DD") from None
    check_year(day.year, what, value)
    return day


def parse_datetime(value: str | None, what: str = "time") -> dt.datetime | None:
    if value is None:
        return None
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"bad {what} {value!r}: expected YYYY-MM-DD[THH:MM[:SS]]") from None
    from opsctl.handover.timeutil import check_year

    check_year(t.year, what, value)
    return t if t.tzinfo else t.astimezone()


def confirm(app, question: str, yes: bool) -> None:
    """Ask before a destructive step; --yes skips; no TTY and no --yes refuses."""
    import sys

    from opsctl.core.errors import SafetyError

    if yes:
        return
    if not sys.stdin.isatty():
        raise SafetyError(f"{question} — refusing without confirmation",
                          hint="re-run with --yes to confirm from a script")
    from opsctl.core.safetext import visible

    # The question names devices, plans and paths the user or the config gave.
    if not click.confirm(visible(question), default=False, err=True):
        raise click.exceptions.Abort()
