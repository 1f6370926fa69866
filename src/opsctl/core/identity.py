"""Who is running opsctl: recorded on every change, checked for privileged commands."""

from __future__ import annotations

import getpass
import os


def current_user() -> str:
    # sudo keeps the human's name; that is who a record should blame.
    for var in ("OPSCTL_ACTOR", "SUDO_USER", "LOGNAME", "USER"):
        v = os.environ.get(var)
        if v:
            return v
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in a container is not fatal
        return f"uid{os.getuid()}"


def person_for_user(cfg, user: str | None = None):
    """The configured person a unix login maps to, or None."""
    user = user or current_user()
    for p in cfg.people:
        if p.unix_user == user or p.name == user:
            return p
    return None


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this id exists on this host (records name who is running)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True
