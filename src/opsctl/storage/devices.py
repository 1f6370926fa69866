"""Naming and checking devices given on the command line or in a layout."""

from __future__ import annotations

import re
from dataclasses import dataclass

from opsctl.core.errors import SafetyError, UsageError
from opsctl.core.runner import Runner
from opsctl.storage.model import Snapshot
from opsctl.storage.probe import resolve_device, why_not_free

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,31}$")


def require_tool(runner: Runner, tool: str, package: str) -> None:
    """Fail before planning, not half-way through, when a tool is missing."""
    from opsctl.core.errors import ToolMissingError

    if not runner.has(tool):
        raise ToolMissingError(f"{tool} is not installed (package {package})",
                               hint=f"apt-get install {package}")


def check_name(name: str, what: str) -> str:
    if not NAME_RE.match(name or ""):
        raise UsageError(f"bad {what} name {name!r}: letters, digits, '_', '-', '.', '+' "
                         "(max 32, starting with a letter or digit)")
    return name


@dataclass
class Force:
    """``--force --reason TEXT``: use a device that is not free; the reason is recorded."""

    enabled: bool = False
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.enabled and not (self.reason or "").strip():
            raise UsageError("--force needs --reason TEXT (it is recorded with the change)")


def node_path(snap: Snapshot, spec: str) -> str:
    """The kernel path lsblk knows for ``spec`` (an array name, /dev/md/x, or a device)."""
    arr = snap.array(spec) if not spec.startswith("/dev/") or spec.startswith("/dev/md/") \
        else None
    if arr is not None and arr.kernel_name:
        return f"/dev/{arr.kernel_name}"
    return resolve_device(spec)


def require_free(snap: Snapshot, runner: Runner, devices: list[str], force: Force,
                 *, allow: dict[str, str] | None = None) -> list[str]:
    """Refuse any device that is in use; with --force return the reasons overridden.

    ``allow`` maps a device to a reason it is acceptable (e.g. an array this very plan
    creates), so the checks are not run for it.
    """
    overridden: list[str] = []
    seen: set[str] = set()
    for dev in devices:
        key = node_path(snap, dev)
        if key in seen:
            raise UsageError(f"device {dev} is listed twice")
        seen.add(key)
        if allow and dev in allow:
            continue
        reasons = why_not_free(snap, runner, key)
        if not reasons:
            continue
        hard = [r for r in reasons if r.startswith(("mounted", "holds mounted", "member of",
                                                    "held by", "read-only"))]
        if hard:
            # Not even --force: these are live, and wiping them destroys a running system.
            raise SafetyError(f"{dev} is in use: {'; '.join(reasons)}",
                              hint="see `opsctl storage disks`")
        if not force.enabled:
            raise SafetyError(f"{dev} is not free: {'; '.join(reasons)}",
                              hint="use another device, or --force --reason TEXT to wipe it")
        overridden.append(f"{dev}: {'; '.join(reasons)}")
    return overridden
