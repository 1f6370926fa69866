"""The inspection domain's entry points for the daemon, the handover and exports
(see docs/DEVNOTES.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from opsctl.inspection.model import InspectionRecord


def run_profile(cfg, store, profile, inspector: str, answers: dict | None = None,
                interactive: bool = False, **kw: Any) -> InspectionRecord:
    """Run an inspection profile and store its record; returns it (``.id``, ``.status``).

    ``answers``: mapping item id -> answer or {answer, note} for manual items; without
    them (and not interactive) manual items are recorded as skipped (UNKNOWN). Keyword
    extras: ``source`` ("cli", "daemon", "handover"), ``progress``, ``prompter``.
    """
    from opsctl.inspection.engine import run_profile as _run

    return _run(cfg, store, profile, inspector, answers, interactive, **kw)


def runs_between(store, start: dt.datetime, end: dt.datetime,
                 profile: str | None = None) -> list[dict[str, Any]]:
    """Records started in [start, end) as dicts with their items (for exports)."""
    from opsctl.inspection.records import find

    return [r.to_dict() for r in find(store, start=start, end=end, profile=profile,
                                      with_items=True)]


def last_run(store, profile: str | None = None) -> dict[str, Any] | None:
    """The newest record (optionally of one profile), or None."""
    from opsctl.inspection.records import find

    found = find(store, profile=profile, with_items=True, limit=1)
    return found[0].to_dict() if found else None


def missed_patrols(cfg, store, day: dt.date, now: dt.datetime | None = None
                   ) -> list[dict[str, Any]]:
    """Profiles walked fewer times on ``day`` (site time) than their runs_per_day:
    ``{date, profile, runs, walked, required}`` each."""
    from opsctl.inspection.report import build

    return list(build(cfg, store, day, day, now=now)["missed_patrols"])
