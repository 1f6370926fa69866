"""Typed plan actions: each knows the exact commands it runs and how to undo itself.

A plan is built from a probe, printed (``plan``/``--dry-run``), and executed later;
nothing here decides *what* to do, only *how* one step is done and undone.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from opsctl.core.errors import CommandError, OpsError
from opsctl.core.runner import Runner


@dataclass
class ExecContext:
    runner: Runner
    info: Callable[[str], None] = print
    warn: Callable[[str], None] = print
    # Values learned while executing (e.g. an array's real device) for later steps.
    facts: dict[str, object] = field(default_factory=dict)


@dataclass
class Action:
    kind: str
    summary: str
    argv: list[str] | None = None
    undo_argv: list[list[str]] = field(default_factory=list)
    ok_codes: tuple[int, ...] = (0,)
    timeout: float | None = None
    destructive: bool = False

    def commands(self) -> list[str]:
        """The lines a plan prints for this step."""
        return [shlex.join(self.argv)] if self.argv else []

    def undo_commands(self) -> list[str]:
        return [shlex.join(a) for a in self.undo_argv]

    def execute(self, ctx: ExecContext) -> None:
        assert self.argv is not None
        ctx.runner.run(self.argv, changes=True, ok_codes=self.ok_codes, timeout=self.timeout)

    def undo(self, ctx: ExecContext) -> None:
        for argv in self.undo_argv:
            ctx.runner.run(argv, changes=True, check=False, timeout=self.timeout)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "summary": self.summary, "commands": self.commands(),
                "undo": self.undo_commands(), "destructive": self.destructive}


@dataclass
class EditFile(Action):
    """Rewrite a config file atomically; undo puts the previous content back."""

    path: Path = Path("/dev/null")
    transform: Callable[[str], str] | None = None
    # Run after writing; raising makes the executor undo (restore) the edit.
    validate: Callable[[ExecContext, Path, str], None] | None = None
    preview_from: str | None = None
    # Commands run after the old content is back (the initramfs after mdadm.conf).
    after_undo: list[list[str]] = field(default_factory=list)
    _old: str | None = None
    _existed: bool = True

    def new_text(self, old: str) -> str:
        assert self.transform is not None
        return self.transform(old)

    def commands(self) -> list[str]:
        from opsctl.storage.files import read_text

        old = self.preview_from if self.preview_from is not None else read_text(self.path)
        try:
            new = self.new_text(old)
        except OpsError as exc:
            return [f"edit {self.path}: {exc}"]
        diff = [ln for ln in difflib.unified_diff(old.splitlines(), new.splitlines(),
                                                   lineterm="", n=0)
                if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
        return [f"edit {self.path} (atomic, backup {self.path}.opsctl-backup)"] + \
            [f"  {ln}" for ln in diff]

    def execute(self, ctx: ExecContext) -> None:
        from opsctl.storage.files import atomic_write, read_text

        self._existed = self.path.exists()
        self._old = read_text(self.path)
        new = self.new_text(self._old)
        if ctx.runner.dry_run:
            return
        atomic_write(self.path, new)
        if self.validate is not None:
            self.validate(ctx, self.path, self._old)

    def undo(self, ctx: ExecContext) -> None:
        from opsctl.storage.files import atomic_write

        if self._old is None or ctx.runner.dry_run:
            return
        if not self._existed and not self._old:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        else:
            atomic_write(self.path, self._old, backup=False)
        for argv in self.after_undo:
            if ctx.runner.has(argv[0]) or os.path.isabs(argv[0]):
                ctx.runner.run(argv, changes=True, check=False, timeout=600)


@dataclass
class OptionalCommand(Action):
    """A step that is skipped, with a warning, when its tool is not installed
    (``update-initramfs`` on a system without initramfs-tools)."""

    def execute(self, ctx: ExecContext) -> None:
        assert self.argv is not None
        if not ctx.runner.has(self.argv[0]) and not os.path.isabs(self.argv[0]):
            ctx.warn(f"{self.argv[0]} not found: skipped ({self.summary}); do it by hand "
                     "before the next reboot")
            return
        ctx.runner.run(self.argv, changes=True, ok_codes=self.ok_codes, timeout=self.timeout)


@dataclass
class Check(Action):
    """A guard evaluated at execution time (read-only); failing stops the plan."""

    check: Callable[[ExecContext], None] | None = None
    shown: list[str] = field(default_factory=list)

    def commands(self) -> list[str]:
        return list(self.shown)

    def execute(self, ctx: ExecContext) -> None:
        if self.check is not None:
            self.check(ctx)


def run_quiet(runner: Runner, argv: list[str]) -> str:
    try:
        return runner.run(argv).stdout
    except CommandError:
        return ""
