"""What a check gets to do its work: a command runner (local or over SSH), a way to read
files on the target, the config and the store, and its time budget."""

from __future__ import annotations

import shlex
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opsctl.core.errors import CommandError, ToolMissingError
from opsctl.core.runner import Result, Runner


@dataclass
class CheckContext:
    cfg: Any
    store: Any
    runner: Any                 # Runner, or RemoteRunner for an item with ``host:``
    item_id: str = ""
    timeout: float = 10.0
    host: str | None = None     # remote host name from ``hosts:``; None = this machine

    @property
    def remote(self) -> bool:
        return self.host is not None

    @property
    def target(self) -> str:
        return self.host or socket.gethostname()

    def read_text(self, path: str) -> str:
        """A file's text on the target (over SSH with ``cat`` for remote items)."""
        if not self.remote:
            with open(path, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        res = self.runner.run(["cat", "--", path], timeout=self.timeout, check=False)
        if not res.ok:
            msg = (res.stderr or res.stdout).strip() or f"exit {res.returncode}"
            if "No such file" in msg:
                raise FileNotFoundError(path)
            raise OSError(f"cannot read {path} on {self.host}: {msg}")
        return res.stdout


@dataclass
class RemoteRunner:
    """The Runner interface over ``opsctl.core.ssh.run_remote`` (verified host keys), so
    checks built on commands (smartctl, findmnt, mdadm, lvm, chronyc…) run remotely as is.
    """

    host_cfg: Any
    default_timeout: float = 10.0
    dry_run: bool = False
    history: list[Result] = field(default_factory=list)
    _tools: dict[str, str | None] = field(default_factory=dict)

    def run(self, argv: Sequence[str], *, timeout: float | None = None, check: bool = True,
            changes: bool = False, input: str | None = None,
            ok_codes: Sequence[int] = (0,)) -> Result:
        from opsctl.core.ssh import run_remote

        if changes:  # an inspection only looks; refuse rather than change a remote host
            raise CommandError(f"refusing to change {self.host_cfg.name} from an inspection")
        argv = [str(a) for a in argv]
        res = run_remote(self.host_cfg, argv, timeout or self.default_timeout)
        if res.returncode == 127:
            raise ToolMissingError(f"{argv[0]} is not installed on {self.host_cfg.name}")
        if check and res.returncode not in ok_codes:
            detail = (res.stderr or res.stdout).strip().splitlines()
            tail = "; ".join(detail[-3:]) if detail else "no output"
            raise CommandError(f"{self.host_cfg.name}: {shlex.join(argv)} failed "
                               f"(exit {res.returncode}): {tail}")
        return res

    def which(self, tool: str) -> str | None:
        if tool not in self._tools:
            # PATH of a non-interactive SSH session may lack sbin, where mdadm/lvm live.
            probe = ["sh", "-c", 'PATH="$PATH:/usr/sbin:/sbin"; command -v "$1"', "sh", tool]
            res = self.run(probe, check=False)
            self._tools[tool] = (res.stdout.strip() or None) if res.returncode == 0 else None
        return self._tools[tool]

    def has(self, tool: str) -> bool:
        return self.which(tool) is not None


def local_runner(timeout: float) -> Runner:
    return Runner(default_timeout=timeout)
