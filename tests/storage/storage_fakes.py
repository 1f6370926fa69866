"""Shared fixtures for the storage unit tests: a recording fake Runner and fixture files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from opsctl.core.runner import Result, Runner

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "storage"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


class FakeRunner(Runner):
    """Answers commands from a table of argv prefixes; records every call.

    Changing commands are recorded in ``history`` exactly like the real Runner does
    (in dry-run mode they are recorded and not "run").
    """

    def __init__(self, answers: dict[tuple[str, ...], object] | None = None,
                 tools: Sequence[str] = ("mdadm", "lvm", "lsblk", "blkid", "findmnt"),
                 dry_run: bool = False):
        super().__init__(dry_run=dry_run)
        self.answers: dict[tuple[str, ...], object] = dict(answers or {})
        self.tools = set(tools)
        self.calls: list[list[str]] = []

    def which(self, tool: str) -> str | None:
        return f"/usr/sbin/{tool}" if tool in self.tools else None

    def answer(self, prefix: Sequence[str], value: object) -> None:
        self.answers[tuple(prefix)] = value

    def run(self, argv, *, timeout=None, check=True, changes=False, input=None,
            ok_codes=(0,)) -> Result:
        from opsctl.core.errors import CommandError

        argv = [str(a) for a in argv]
        if changes and self.dry_run:
            res = Result(argv, 0, dry_run=True)
            self.history.append(res)
            return res
        self.calls.append(argv)
        best: tuple[str, ...] | None = None
        for prefix in self.answers:
            if tuple(argv[: len(prefix)]) == prefix and (best is None or len(prefix) > len(best)):
                best = prefix
        value: object = "" if best is None else self.answers[best]
        if callable(value):
            value = value(argv)
        if isinstance(value, Result):
            res = value
            res.argv = argv
        elif isinstance(value, tuple):
            rc, out = value[0], value[1]
            res = Result(argv, rc, out, value[2] if len(value) > 2 else "")
        else:
            res = Result(argv, 0, str(value))
        if changes:
            self.history.append(res)
        if check and res.returncode not in ok_codes:
            raise CommandError(f"{res.cmdline} failed (exit {res.returncode}): {res.stderr}")
        return res

    def changed(self) -> list[list[str]]:
        return [r.argv for r in self.history]
