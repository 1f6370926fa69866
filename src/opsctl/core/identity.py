"""Who is running opsctl: recorded on every change, checked for privileged commands.

The acting person is the operating system's login — through sudo, the user who invoked
sudo — mapped to ``people[].login``. No environment variable chooses it: a record must
name who really sat at the keyboard.
"""

from __future__ import annotations

import os
import pwd

from opsctl.core.errors import SafetyError


def current_user() -> str:
    uid = os.getuid()
    # sudo keeps the human's name; only root can have set SUDO_USER for itself, and root
    # can do anything anyway.
    if uid == 0 and os.environ.get("SUDO_USER") and os.environ.get("SUDO_UID"):
        return os.environ["SUDO_USER"]
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # no passwd entry (a container): the number still says who
        return f"uid{uid}"


def person_for_user(cfg, user: str | None = None):
    """The configured person a unix login maps to, or None."""
    user = user or current_user()
    for p in cfg.people:
        if user in (p.login, p.unix_user) or (p.login is None and p.unix_user is None
                                              and p.name == user):
            return p
    return None


def require_role_for_change(cfg, role: str, action: str) -> str:
    """The login's person must hold ``role`` (SPEC §6). A login that maps to nobody —
    root at the console of a site without logins configured — is recorded by its name."""
    me = person_for_user(cfg)
    if me is None:
        return current_user()
    if role not in me.roles:
        who = ", ".join(p.name for p in cfg.people if role in p.roles) or "nobody"
        raise SafetyError(f"{me.name} (login {current_user()}) may not {action}: needs the "
                          f"{role} role (has {', '.join(me.roles)}; the {role} role: {who})",
                          hint=f"ask an {role}, or add the role to {me.name} in people:")
    return me.name


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
