"""The one place that runs external tools.

argv lists only (never a shell), ``LC_ALL=C`` so output is parseable, a timeout on every
call, stdout/stderr captured. Commands that change the system are flagged
``changes=True``: in dry-run mode they are recorded instead of run, and when run they
are logged. Read-only probes run even in dry-run, because a plan needs real facts.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from opsctl.core.errors import CommandError, ToolMissingError

log = logging.getLogger("opsctl.runner")

DEFAULT_TIMEOUT = 120.0


@dataclass
class Result:
    argv: list[str]
    returncode: int
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def cmdline(self) -> str:
        return shlex.join(self.argv)

    def to_dict(self) -> dict:
        return {
            "argv": self.argv,
            "returncode": self.returncode,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "duration": round(self.duration, 3),
            "dry_run": self.dry_run,
        }


@dataclass
class Runner:
    dry_run: bool = False
    default_timeout: float = DEFAULT_TIMEOUT
    extra_env: dict[str, str] = field(default_factory=dict)
    # Every command flagged changes=True, run or (in dry-run) only recorded, in order.
    history: list[Result] = field(default_factory=list)

    def which(self, tool: str) -> str | None:
        return shutil.which(tool, path=self._env()["PATH"])

    def has(self, tool: str) -> bool:
        return self.which(tool) is not None

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["LC_ALL"] = "C"
        env["LANG"] = "C"
        # sbin is where mdadm, lvm and mkfs live; cron and systemd may not have it on PATH.
        path = env.get("PATH", "/usr/bin:/bin")
        for extra in ("/usr/local/sbin", "/usr/sbin", "/sbin"):
            if extra not in path.split(":"):
                path += ":" + extra
        env["PATH"] = path
        env.update(self.extra_env)
        return env

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        check: bool = True,
        changes: bool = False,
        input: str | None = None,
        ok_codes: Sequence[int] = (0,),
    ) -> Result:
        argv = [str(a) for a in argv]
        if not argv:
            raise ValueError("empty argv")
        if changes and self.dry_run:
            res = Result(argv, 0, dry_run=True)
            self.history.append(res)
            log.info("dry-run: %s", res.cmdline)
            return res
        if self.which(argv[0]) is None and not os.path.isabs(argv[0]):
            raise ToolMissingError(
                f"{argv[0]} is not installed (needed for: {shlex.join(argv)})",
                hint=f"install the package that provides {argv[0]}",
            )
        timeout = self.default_timeout if timeout is None else timeout
        started = time.monotonic()
        try:
            proc = subprocess.run(
                argv,
                input=input,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=self._env(),
                check=False,
                stdin=None if input is not None else subprocess.DEVNULL,
            )
        except FileNotFoundError as exc:
            raise ToolMissingError(f"{argv[0]} is not installed: {exc}") from exc
        except PermissionError as exc:
            raise CommandError(f"permission denied running {shlex.join(argv)}: {exc}") from exc
        except subprocess.TimeoutExpired as exc:
            res = Result(argv, -1, _text(exc.stdout), _text(exc.stderr), time.monotonic() - started)
            if changes:
                self.history.append(res)
            raise CommandError(f"timed out after {timeout:g}s: {res.cmdline}") from exc
        res = Result(argv, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)
        if changes:
            self.history.append(res)
            log.info("ran: %s (rc=%d, %.2fs)", res.cmdline, res.returncode, res.duration)
        else:
            log.debug("ran: %s (rc=%d, %.2fs)", res.cmdline, res.returncode, res.duration)
        if check and res.returncode not in ok_codes:
            detail = (res.stderr or res.stdout).strip().splitlines()
            tail = "; ".join(detail[-3:]) if detail else "no output"
            raise CommandError(f"{res.cmdline} failed (exit {res.returncode}): {tail}")
        return res


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data
