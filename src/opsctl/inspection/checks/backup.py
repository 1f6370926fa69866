"""Age of the last backup: the newest file matching a glob, or a marker file the backup
job touches when it succeeds."""

from __future__ import annotations

import glob
import os
import time
from typing import Any

from opsctl.core.errors import OpsError, Status
from opsctl.core.i18n import _
from opsctl.inspection.checks.base import (
    Check,
    CheckResult,
    Param,
    ParamError,
    fmt_bytes,
    grade_high,
    thresholds_ascending,
)
from opsctl.inspection.registry import register

# Remote: let the remote sh expand the glob (unquoted $1) and stat each match.
_REMOTE_STAT = 'for f in $1; do [ -e "$f" ] && stat -c "%Y %s %n" -- "$f"; done; true'


@register
class BackupAgeCheck(Check):
    name = "backup_age"
    summary = "Age of the newest backup file matching a pattern, or of a marker file."
    remote = True
    params = (
        Param("path", "str", None, "glob of backup files, e.g. /backup/db-*.tar.gz",
              nullable=True),
        Param("marker", "str", None, "file the backup job touches on success", nullable=True),
        Param("warn_hours", "number", 26.0, "age (hours) at or above which the item is WARNING",
              min=0),
        Param("crit_hours", "number", 50.0, "age (hours) at or above which the item is "
                                            "CRITICAL", min=0),
        Param("min_bytes", "int", 1, "a newest file smaller than this is CRITICAL (an empty "
                                     "dump is no backup)", min=0),
    )

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        if bool(params["path"]) == bool(params["marker"]):
            raise ParamError("path", "give exactly one of path (a glob) or marker (a file)")
        thresholds_ascending(params, "warn_hours", "crit_hours")

    def run(self, ctx, p: dict[str, Any]) -> CheckResult:
        pattern = p["path"] or p["marker"]
        try:
            found = self._stat(ctx, pattern)
        except (OSError, OpsError) as exc:
            return CheckResult.unknown(_("cannot look for {pattern}: {error}").format(
                pattern=pattern, error=exc))
        if not found:
            return CheckResult(Status.CRITICAL, _("no backup found ({pattern} matches "
                                                  "nothing)").format(pattern=pattern))
        mtime, size, name = max(found)
        age_h = max(0.0, (time.time() - mtime) / 3600.0)
        status = grade_high(age_h, p["warn_hours"], p["crit_hours"])
        msg = _("{name}: {hours:.1f} h old").format(name=name, hours=age_h)
        if p["path"]:
            msg += f", {fmt_bytes(size)}"
            if size < p["min_bytes"]:
                status = Status.CRITICAL
                msg += _(" (smaller than {n} bytes)").format(n=p["min_bytes"])
        msg += _(" (warn {warn:g} h, crit {crit:g} h)").format(warn=p["warn_hours"],
                                                             crit=p["crit_hours"])
        return CheckResult(status, msg, round(age_h, 2),
                           {"file": name, "mtime": mtime, "size": size, "matches": len(found)})

    @staticmethod
    def _stat(ctx, pattern: str) -> list[tuple[float, int, str]]:
        if ctx.remote:
            out = ctx.runner.run(["sh", "-c", _REMOTE_STAT, "sh", pattern],
                                 timeout=ctx.timeout).stdout
            rows = []
            for line in out.splitlines():
                mtime, size, name = line.split(" ", 2)
                rows.append((float(mtime), int(size), name))
            return rows
        rows = []
        for name in glob.glob(os.path.expanduser(pattern), recursive=True):
            try:
                st = os.stat(name)
            except FileNotFoundError:  # removed between glob and stat (rotation)
                continue
            rows.append((st.st_mtime, st.st_size, name))
        return rows
