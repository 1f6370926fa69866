"""Config checks that need the daemon's knowledge: cron expressions and alert routing.

Called by the config loader (``_POST_VALIDATORS``) so ``opsctl config check`` and a
SIGHUP reload reject a bad schedule or a route to an unknown target with ``file:line:
field: why`` — before the daemon would have scheduled nonsense or dropped an alert.
"""

from __future__ import annotations

from opsctl.core.errors import ConfigError
from opsctl.daemon.cron import CronError, check_cron


def _problems(cfg) -> list[tuple[tuple, str]]:
    out: list[tuple[tuple, str]] = []

    def cron(loc: tuple, expr: str | None) -> None:
        if expr is None:
            return
        try:
            check_cron(expr)
        except CronError as exc:
            out.append((loc, f"invalid cron expression: {exc}"))

    for i, profile in enumerate(cfg.inspection.profiles):
        cron(("inspection", "profiles", i, "schedule"), profile.schedule)
    d = cfg.daemon
    cron(("daemon", "retention_schedule"), d.retention_schedule)
    cron(("daemon", "roster_reminder_schedule"), d.roster_reminder_schedule)
    if d.patrol_check_schedule:
        cron(("daemon", "patrol_check_schedule"), d.patrol_check_schedule)
    if d.not_relieved_schedule:
        cron(("daemon", "not_relieved_schedule"), d.not_relieved_schedule)
    if d.export is not None:
        cron(("daemon", "export", "schedule"), d.export.schedule)

    if d.schedule_overrides:
        from opsctl.daemon.jobs import build_jobs

        cron_jobs = {j.id for j in build_jobs(cfg).values() if j.cron is not None}
        for job_id, expr in d.schedule_overrides.items():
            loc = ("daemon", "schedule_overrides", job_id)
            if job_id not in cron_jobs:
                out.append((loc, f"no cron job {job_id!r} to override (cron jobs: "
                                 f"{', '.join(sorted(cron_jobs)) or 'none'})"))
            else:
                cron(loc, expr)

    known = {t.name for t in cfg.alerts.targets}
    hint = ", ".join(sorted(known)) or "none configured"
    seen: set[str] = set()
    for i, route in enumerate(cfg.alerts.routes):
        if route.severity in seen:
            out.append((("alerts", "routes", i, "severity"),
                        f"a second route for severity {route.severity!r}"))
        seen.add(route.severity)
        for key in ("targets", "after_hours_targets", "escalate_to"):
            for j, name in enumerate(getattr(route, key)):
                if name not in known:
                    out.append((("alerts", "routes", i, key, j),
                                f"unknown alert target {name!r} (known: {hint})"))
        if route.escalate_after_minutes and not route.escalate_to:
            out.append((("alerts", "routes", i, "escalate_to"),
                        "escalate_after_minutes is set but escalate_to names no target"))
    for j, name in enumerate(cfg.alerts.reminder_targets):
        if name not in known:
            out.append((("alerts", "reminder_targets", j),
                        f"unknown alert target {name!r} (known: {hint})"))
    esc = cfg.alerts.escalation
    if esc is not None and esc.target not in known:
        out.append((("alerts", "escalation", "target"),
                    f"unknown alert target {esc.target!r} (known: {hint})"))
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
