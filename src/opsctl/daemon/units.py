"""The systemd units (and a cron example), rendered for a given opsctl binary and config.

The files under ``systemd/`` in the source tree are this module's output for the default
paths (a test keeps them identical), so there is one source of truth and
``opsctl daemon install-units`` works from an installed package without the source tree.

Timers vs the daemon: ``opsctld`` runs everything itself. The inspection and export timers
are for sites that do not run the daemon (or want exports independent of it); enabling both
would run inspections twice.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Where the README's system-wide install puts the command (a venv in /opt/opsctl, linked
# here); the files under systemd/ are rendered for it. install-units uses the opsctl that
# is actually running instead (opsctl_command).
DEFAULT_BIN = "/usr/local/bin/opsctl"
DEFAULT_CONFIG = "/etc/opsctl/opsctl.yaml"
DEFAULT_UNIT_DIR = "/etc/systemd/system"

_DAEMON = """\
[Unit]
Description=opsctl machine-room daemon (inspections, SNMP polling, alerts, reminders)
Documentation=https://example.org/opsctl/docs/daemon.md
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
Environment=OPSCTL_CONFIG={config}
ExecStart={bin} -c {config} daemon run
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=5s
WatchdogSec=60s
TimeoutStartSec=120s
TimeoutStopSec=30s
KillMode=mixed
StateDirectory=opsctl
StateDirectoryMode=0750
UMask=0027
# Hardening that still lets the jobs read md/LVM state, run mdadm/smartctl and reach the
# network (SNMP, SSH, SMTP, webhooks); the daemon never rewrites /etc (storage changes are
# made by an engineer with `opsctl storage`, not by the daemon).
NoNewPrivileges=yes
ProtectSystem=full
ProtectHome=read-only
PrivateTmp=yes
ProtectControlGroups=yes
ProtectKernelLogs=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictRealtime=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK

[Install]
WantedBy=multi-user.target
"""

_INSPECTION_SERVICE = """\
[Unit]
Description=opsctl inspection %i
Documentation=https://example.org/opsctl/docs/daemon.md
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
Environment=OPSCTL_CONFIG={config}
ExecStart={bin} -c {config} daemon run-job inspection:%i
StateDirectory=opsctl
StateDirectoryMode=0750
UMask=0027
NoNewPrivileges=yes
ProtectSystem=full
ProtectHome=read-only
PrivateTmp=yes
"""

_INSPECTION_TIMER = """\
[Unit]
Description=opsctl inspection %i on schedule
Documentation=https://example.org/opsctl/docs/daemon.md

[Timer]
# Default: daily at 09:00; `opsctl daemon install-units` writes a drop-in per profile
# (opsctl-inspection@PROFILE.timer.d/schedule.conf) from the profile's cron schedule.
OnCalendar=*-*-* 09:00:00
Persistent=true
Unit=opsctl-inspection@%i.service

[Install]
WantedBy=timers.target
"""

_EXPORT_SERVICE = """\
[Unit]
Description=opsctl duty-log export (yesterday)
Documentation=https://example.org/opsctl/docs/daemon.md

[Service]
Type=oneshot
Environment=OPSCTL_CONFIG={config}
ExecStart={bin} -c {config} daemon run-job duty-export
StateDirectory=opsctl
StateDirectoryMode=0750
UMask=0027
NoNewPrivileges=yes
ProtectSystem=full
ProtectHome=read-only
PrivateTmp=yes
"""

_EXPORT_TIMER = """\
[Unit]
Description=opsctl duty-log export, daily
Documentation=https://example.org/opsctl/docs/daemon.md

[Timer]
OnCalendar=*-*-* 00:30:00
Persistent=true
Unit=opsctl-duty-export.service

[Install]
WantedBy=timers.target
"""

_CRON_HEAD = """\
# /etc/cron.d/opsctl — for sites without systemd timers and without the opsctl daemon.
# (opsctld runs all of this itself; do not enable both, or inspections run twice.)
# For opsctl installed as {bin} and the config {config}, with
# the config's schedules. Written by: sudo OPSCTL -c CONFIG daemon install-units --cron
# (OPSCTL: the opsctl you installed, e.g. /opt/opsctl/bin/opsctl); run it again after
# moving opsctl or changing a schedule.
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# m h dom mon dow user command
"""

TEMPLATES = {
    "opsctld.service": _DAEMON,
    "opsctl-inspection@.service": _INSPECTION_SERVICE,
    "opsctl-inspection@.timer": _INSPECTION_TIMER,
    "opsctl-duty-export.service": _EXPORT_SERVICE,
    "opsctl-duty-export.timer": _EXPORT_TIMER,
}


def _check_command(value: str, what: str) -> None:
    # systemd and cron split ExecStart/command lines on spaces: an absolute program path,
    # then plain words (e.g. "/usr/bin/python3 -m opsctl"), nothing that needs quoting.
    words = value.split(" ")
    if not words[0].startswith("/") or any(not w or re.search(r"[\s'\"\\%$;&|<>`]", w)
                                           for w in words):
        raise ValueError(f"{what} must be an absolute path without spaces or quotes: {value!r}")


def render(bin_path: str = DEFAULT_BIN, config: str = DEFAULT_CONFIG) -> dict[str, str]:
    _check_command(bin_path, "opsctl path")
    _check_command(config, "config path")
    if " " in config:
        raise ValueError(f"config path must not contain spaces: {config!r}")
    return {name: text.format(bin=bin_path, config=config) for name, text in TEMPLATES.items()}


def opsctl_command(argv0: str, executable: str,
                   which: Callable[[str], str | None]) -> str:
    """The command that runs the opsctl running now, as installed: its console script
    (``/opt/opsctl/bin/opsctl``, ``~/.local/bin/opsctl`` from pipx, ``.venv/bin/opsctl``),
    or ``<python> -m opsctl`` when started that way. Not simply the first ``opsctl`` on
    PATH: that may be another install (and sudo resets PATH)."""
    name = os.path.basename(argv0)
    if name == "__main__.py":                      # python -m opsctl
        return f"{os.path.abspath(executable)} -m opsctl"
    if argv0 and not name.endswith(".py") and not name.startswith("-"):
        path = argv0 if "/" in argv0 else which(argv0)
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return os.path.abspath(path)
    found = which("opsctl")
    if found:
        return os.path.abspath(found)
    raise ValueError("cannot tell where opsctl is installed; pass --bin PATH")


# -- cron → systemd OnCalendar ----------------------------------------------------------------
_DOW = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]


def _cal_field(field: str, width: int) -> str:
    """One cron field (minute/hour/day/month) in OnCalendar syntax."""
    if field == "*":
        return "*"
    parts = []
    for part in field.split(","):
        step = None
        if "/" in part:
            part, step = part.split("/", 1)
        if part == "*":
            part = "0" if width == 2 and step else "1"
            if step is None:
                return "*"
        if "-" in part:
            a, b = part.split("-", 1)
            text = f"{int(a):0{width}d}..{int(b):0{width}d}"
            if step:
                raise ValueError("stepped ranges are not supported")
        else:
            text = f"{int(part):0{width}d}"
        if step:
            text += f"/{int(step)}"
        parts.append(text)
    return ",".join(parts)


def cron_to_oncalendar(expr: str, zone: str | None = None) -> str:
    """``0 8,20 * * 1-5`` → ``Mon..Fri *-*-* 08,20:00:00`` (the common cron subset).

    With ``zone`` (an IANA name) the time is in that zone (systemd ≥ 235 reads a zone
    after the time), so "09:00" is the site's 09:00 whatever the host's clock zone is."""
    from opsctl.daemon.cron import _SHORTHANDS, _expand_dow

    text = _SHORTHANDS.get(expr.strip().lower(), expr.strip())
    fields = text.split()
    if len(fields) == 5:
        second, (minute, hour, day, month, dow) = "0", fields
    elif len(fields) == 6:
        second, minute, hour, day, month, dow = fields
    else:
        raise ValueError(f"not a cron expression: {expr!r}")
    cal = (f"*-{_cal_field(month, 2)}-{_cal_field(day, 2)} {_cal_field(hour, 2)}:"
           f"{_cal_field(minute, 2)}:{_cal_field(second, 2)}")
    days = _expand_dow(dow)
    if days != "*":
        cal = ",".join(d.capitalize() for d in days.split(",")) + " " + cal
    if zone:
        cal += f" {zone}"
    return cal


DEFAULT_CRON_DIR = "/etc/cron.d"


@dataclass
class PlannedFile:
    path: Path
    text: str
    mode: int = 0o644


def plan_install(cfg, prefix: str | None, bin_path: str, config: str) -> list[PlannedFile]:
    """Every file install-units writes: the units and one timer drop-in per scheduled
    profile (the cron example stays documentation: systemd/opsctl.cron)."""
    unit_dir = Path(prefix or DEFAULT_UNIT_DIR)
    zone = cfg.site.timezone if cfg is not None else None
    files = render(bin_path, config)
    out = [PlannedFile(unit_dir / name, text) for name, text in files.items()]
    for profile in cfg.inspection.profiles if cfg is not None else []:
        if not profile.schedule:
            continue
        escaped = profile.name  # profile names are [A-Za-z0-9._-]: no systemd escaping needed
        cal = cron_to_oncalendar(profile.schedule, zone)
        out.append(PlannedFile(
            unit_dir / f"opsctl-inspection@{escaped}.timer.d" / "schedule.conf",
            "# Written by `opsctl daemon install-units` from the profile's schedule "
            f"({profile.schedule}).\n[Timer]\nOnCalendar=\nOnCalendar={cal}\n"))
    if cfg is not None and cfg.daemon.export is not None:
        out.append(PlannedFile(
            unit_dir / "opsctl-duty-export.timer.d" / "schedule.conf",
            f"# From daemon.export.schedule ({cfg.daemon.export.schedule}).\n[Timer]\n"
            f"OnCalendar=\nOnCalendar={cron_to_oncalendar(cfg.daemon.export.schedule, zone)}"
            "\n"))
    return out


def render_cron(cfg, bin_path: str = DEFAULT_BIN, config: str = DEFAULT_CONFIG) -> str:
    """/etc/cron.d/opsctl: the scheduled inspections, the duty-log export and retention
    from the config's schedules, run by this opsctl (systemd/opsctl.cron is this for the
    example config)."""
    from opsctl.daemon.cron import _SHORTHANDS

    render(bin_path, config)  # the same path checks as the units
    jobs = [(p.schedule, f"inspection:{p.name}") for p in cfg.inspection.profiles
            if p.schedule]
    if cfg.daemon.export is not None:
        jobs.append((cfg.daemon.export.schedule, "duty-export"))
    if cfg.daemon.retention_schedule:
        jobs.append((cfg.daemon.retention_schedule, "retention"))
    # Times are the site's (crontab(5) CRON_TZ; a cron without it uses the host's zone).
    lines = [_CRON_HEAD.format(bin=bin_path, config=config),
             f"CRON_TZ={cfg.site.timezone}\n"]
    for schedule, job in jobs:
        expr = " ".join(schedule.split())
        if len(_SHORTHANDS.get(expr.lower(), expr).split()) != 5:
            raise ValueError(f"{job}: schedule {schedule!r} has a seconds field, which cron "
                             "cannot run; use the daemon or the systemd timers")
        lines.append(f"{expr:<12} root {bin_path} -c {config} daemon run-job {job}\n")
    return "".join(lines)


def plan_cron(cfg, prefix: str | None, bin_path: str, config: str) -> list[PlannedFile]:
    """The cron alternative to the units: /etc/cron.d/opsctl for this opsctl and config."""
    return [PlannedFile(Path(prefix or DEFAULT_CRON_DIR) / "opsctl",
                        render_cron(cfg, bin_path, config))]


def enable_commands(cfg) -> list[str]:
    cmds = ["systemctl daemon-reload", "systemctl enable --now opsctld.service"]
    timers = [f"opsctl-inspection@{p.name}.timer" for p in (cfg.inspection.profiles if cfg else [])
              if p.schedule]
    if timers:
        cmds.append("# without the daemon instead: systemctl enable --now "
                    + " ".join(shlex.quote(t) for t in timers) + " opsctl-duty-export.timer")
    return cmds
