"""Why the store cannot be opened, in words a sysadmin can act on.

SQLite only says "unable to open database file"; this module finds which path refuses
which permission to whom, and says how a team is meant to share one store (a group
owning a setgid state directory, see docs/deployment.md).
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path

SHARE_HINT = ("a team shares one store through a group: `chgrp -R opsctl DIR && "
              "chmod 2770 DIR && chmod 0660 DIR/opsctl.db` and add each person to the "
              "group (`usermod -aG opsctl NAME`, then log in again); see docs/deployment.md "
              "\"Sharing the store\"")

_NEED = {os.R_OK: "read (r)", os.W_OK: "write (w)", os.X_OK: "search (x)"}


def whoami() -> str:
    uid = os.geteuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    return f"{name} (uid {uid})"


def describe(path: Path) -> str:
    """``owner:group mode`` of ``path``, e.g. ``root:root 0750``."""
    try:
        st = path.stat()
    except OSError:
        return "unreadable"
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"{owner}:{group} {stat.S_IMODE(st.st_mode):04o}"


def blocked_dir(path: Path) -> Path | None:
    """The first directory on the way to ``path`` the current user cannot enter."""
    path = Path(os.path.abspath(path))
    for d in reversed(path.parents):  # from / down: never looks inside a blocked one
        if os.path.isdir(d) and not os.access(d, os.X_OK):
            return d
    return None


def hint_for(state_dir: Path) -> str:
    return SHARE_HINT.replace("DIR", str(state_dir))


def denied(target: Path, need: int, action: str) -> str:
    """``cannot <action>: <user> lacks <permission> permission on <target> (owner:group
    mode)`` — or on the first directory above it that the user cannot enter."""
    d = blocked_dir(target)
    if d is not None:
        return (f"cannot {action}: {whoami()} lacks search (x) permission on the "
                f"directory {d} ({describe(d)})")
    kind = "directory" if target.is_dir() else "file"
    return (f"cannot {action}: {whoami()} lacks {_NEED[need]} permission on the {kind} "
            f"{target} ({describe(target)})")


def can_write_store(state_dir: Path, db: Path) -> bool:
    """SQLite needs the file writable and, for its -wal/-shm files, the directory too."""
    return os.access(db, os.W_OK) and os.access(state_dir, os.W_OK | os.X_OK)


def shared_dir(state_dir: Path) -> bool:
    """A setgid state directory marks a group-shared store: files are made group-writable."""
    try:
        return bool(state_dir.stat().st_mode & stat.S_ISGID)
    except OSError:
        return False
