"""``opsctl config init``: a minimal, commented config that passes ``config check``."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

from opsctl.core.errors import OpsError, UsageError

TEMPLATE = """\
# opsctl configuration — written by `opsctl config init`; check it with
#   opsctl -c {path} config check
# Every key, with defaults: `opsctl config reference` (docs/configuration.md).
# A complete example with every section: configs/opsctl.example.yaml in the source.

site:
  name: {site}
  timezone: {timezone}          # IANA name; shift times and days are in this zone
  # language: zh_CN            # interface language (default: the locale's, else English)

# Where the store (SQLite) lives; a relative path is relative to this file.
# Sharing it in a team (a group and a setgid directory): docs/deployment.md.
state_dir: {state_dir}

# The people who work the room (names are used on the command line).
people: []
#  - {{name: alice, full_name: Alice Adams, team: A, roles: [operator, engineer], lead: true}}

# SSH targets for remote checks and ordered shutdown (host keys are verified).
hosts: []
#  - {{name: app1, address: 192.0.2.10, user: root, key_file: ~/.ssh/id_ed25519}}

# UPSes, switches and sensors over SNMP. Secrets may be given as <key>_file or <key>_env.
devices: []
#  - name: ups1
#    kind: ups
#    host: 192.0.2.20
#    snmp: {{version: "2c", community_file: ups1.community}}

# Inspections: automatic checks and questions for the person on duty.
inspection:
  profiles: []
#    - name: daily-room
#      schedule: "0 9 * * *"
#      items:
#        - {{id: root-fs, check: fs_usage, params: {{mount: /, warn: 80, crit: 90}}}}
#        - {{id: leaks, question: "No water leaks under the raised floor?", type: yesno}}
"""


def _timezone() -> str:
    """The host's zone (Debian keeps its name in /etc/timezone), else UTC."""
    from zoneinfo import ZoneInfo

    for read in (lambda: Path("/etc/timezone").read_text().strip(),
                 lambda: os.readlink("/etc/localtime").split("zoneinfo/", 1)[1]):
        try:
            name = read()
            ZoneInfo(name)
            return name
        except (OSError, IndexError, ValueError, KeyError):
            continue
    return "UTC"


def render(path: Path) -> str:
    # The system-wide config keeps the store in /var/lib; anywhere else (a trial in a
    # home directory) next to the config, where the user can write.
    state_dir = "/var/lib/opsctl" if str(path).startswith("/etc/") else "state"
    site = socket.gethostname().split(".")[0] or "my-site"
    if not all(c.isalnum() or c in "-_." for c in site):
        site = "my-site"
    return TEMPLATE.format(path=path, site=site, timezone=_timezone(), state_dir=state_dir)


def write_initial_config(path: Path, *, force: bool = False) -> str:
    """Write the template to ``path`` (mode 0640: it will hold secrets); refuses to
    replace an existing file unless ``force``. Returns the text written."""
    from opsctl.core.interrupt import critical

    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path} is a directory: give the config file's path")
    if path.exists() and not force:
        raise UsageError(f"{path} already exists: not overwritten",
                         hint="check it with `opsctl -c PATH config check`, or use --force "
                              "to replace it")
    text = render(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with critical():
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(text)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.chmod(tmp, 0o640)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
    except OSError as exc:
        raise OpsError(f"cannot write {path}: {exc.strerror or exc}") from None
    return text
