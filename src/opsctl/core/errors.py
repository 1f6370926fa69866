"""Exit codes and the error hierarchy, defined once for the whole tool.

Two conventions coexist:
- ordinary commands: 0 success, 1 operation failed, 2 usage or configuration error;
- check-style commands (inspections, power status, raid status): the monitoring-plugin
  convention 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2


class Status(enum.IntEnum):
    """Health of a check, ordered so that ``max()`` gives the worst one.

    UNKNOWN sorts above CRITICAL for ``max()`` purposes only when nothing is
    critical; use :func:`worst` rather than ``max()`` directly.
    """

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @property
    def label(self) -> str:
        return self.name

    @property
    def short(self) -> str:
        return {0: "ok", 1: "warn", 2: "crit", 3: "unknown"}[self.value]

    @classmethod
    def parse(cls, text: str) -> Status:
        key = text.strip().lower()
        aliases = {
            "ok": cls.OK, "warn": cls.WARNING, "warning": cls.WARNING,
            "crit": cls.CRITICAL, "critical": cls.CRITICAL, "unknown": cls.UNKNOWN,
        }
        if key not in aliases:
            raise UsageError(f"unknown status {text!r}: expected ok, warn, crit or unknown")
        return aliases[key]


# Severity order for "worst": CRITICAL beats UNKNOWN beats WARNING beats OK, as
# Nagios/Icinga aggregate service states.
_SEVERITY = {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}


def worst(statuses) -> Status:
    result = Status.OK
    for s in statuses:
        if _SEVERITY[s] > _SEVERITY[result]:
            result = s
    return result


class OpsError(Exception):
    """An expected failure: shown to the user as one line, no traceback."""

    exit_code: int = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(OpsError):
    """Bad input on the command line (device name, size, date…)."""

    exit_code = ExitCode.USAGE


class ConfigError(OpsError):
    """The configuration file is missing or invalid; message names file:line: field."""

    exit_code = ExitCode.USAGE


class NotFoundError(OpsError):
    """A named thing (device, person, record) does not exist."""

    exit_code = ExitCode.USAGE


class CommandError(OpsError):
    """An external tool failed; the message carries the command and its stderr."""


class ToolMissingError(OpsError):
    """An external tool is not installed."""


class SafetyError(OpsError):
    """A request was refused because it would be unsafe (device in use, xfs shrink…)."""


class StoreError(OpsError):
    """The state store cannot be opened or is inconsistent."""


class StoreUnavailable(StoreError):
    """The store's server is down or unreachable (PostgreSQL): the daemon spools what it
    would have written (opsctl.daemon.spool) instead of losing it."""


class DeviceError(OpsError):
    """A remote device (SNMP agent, SSH host) could not be reached or misbehaved."""
