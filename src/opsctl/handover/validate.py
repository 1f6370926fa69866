"""Config checks across the duty sections: names that must refer to something.

Called by the config loader (``_POST_VALIDATORS``), so ``opsctl config check`` and a
SIGHUP reload reject a roster naming an unknown person or shift with ``file:line: field:
why`` instead of a roster generation failing (or silently leaving a gap) weeks later.
"""

from __future__ import annotations

from opsctl.core.errors import ConfigError


def _problems(cfg) -> list[tuple[tuple, str]]:
    out: list[tuple[tuple, str]] = []
    roster = cfg.duty.roster
    people = {p.name for p in cfg.people}
    for team, members in roster.teams.items():
        for j, name in enumerate(members):
            if name not in people:
                out.append((("duty", "roster", "teams", team, j),
                            f"unknown person {name!r} in team {team!r} (known: "
                            f"{', '.join(sorted(people)) or 'none configured'})"))
    shifts: set[str] = set()
    for i, shift in enumerate(roster.shifts):
        if shift.name in shifts:
            out.append((("duty", "roster", "shifts", i, "name"),
                        f"duplicate shift name {shift.name!r}"))
        shifts.add(shift.name)
    known = ", ".join(sorted(shifts)) or "no shifts configured"
    for i, name in enumerate(roster.rotation):
        if name != "off" and name not in shifts:
            out.append((("duty", "roster", "rotation", i),
                        f"unknown shift {name!r} (known: {known}, or 'off')"))
    if roster.day_shift is not None and roster.shifts and roster.day_shift not in shifts:
        out.append((("duty", "roster", "day_shift"), f"unknown shift {roster.day_shift!r} "
                                                     f"(known: {known})"))
    snap = cfg.duty.handover.snapshot_profile
    if snap is not None and snap not in {p.name for p in cfg.inspection.profiles}:
        out.append((("duty", "handover", "snapshot_profile"),
                    f"unknown inspection profile {snap!r}"))
    return out


def validate_config(cfg) -> None:
    problems = _problems(cfg)
    if not problems:
        return
    msgs = [f"{cfg.where(loc)}: {msg}" for loc, msg in problems]
    more = f" (and {len(msgs) - 1} more)" if len(msgs) > 1 else ""
    err = ConfigError(msgs[0] + more)
    err.all_messages = msgs  # type: ignore[attr-defined]
    raise err
