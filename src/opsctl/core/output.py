"""Rendering: rich tables for people, JSON for machines.

rich is imported lazily: ``opsctl --help`` must start fast.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from opsctl.core.errors import Status

_STATUS_STYLE = {
    Status.OK: "green",
    Status.WARNING: "yellow",
    Status.CRITICAL: "bold red",
    Status.UNKNOWN: "magenta",
}


def to_jsonable(obj: Any) -> Any:
    if isinstance(obj, Status):
        return obj.name
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dt.datetime | dt.date | dt.time):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if hasattr(obj, "to_dict"):
            return to_jsonable(obj.to_dict())
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if hasattr(obj, "model_dump"):
        return to_jsonable(obj.model_dump(mode="json"))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    return obj


def dumps(obj: Any, *, indent: int | None = 2) -> str:
    return json.dumps(to_jsonable(obj), indent=indent, ensure_ascii=False, sort_keys=False)


class Output:
    """One per CLI invocation; knows whether to print JSON and whether colour is allowed."""

    def __init__(self, *, json_mode: bool = False, color: bool | None = None, verbose: int = 0):
        self.json_mode = json_mode
        self.verbose = verbose
        if color is None:
            color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        self.color = color
        self._console = None
        self._err_console = None

    @property
    def console(self):
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                no_color=not self.color,
                highlight=False,
                force_terminal=True if self.color else None,
                soft_wrap=False,
                width=None if sys.stdout.isatty() else 200,
            )
        return self._console

    @property
    def err_console(self):
        if self._err_console is None:
            from rich.console import Console

            self._err_console = Console(stderr=True, no_color=not self.color, highlight=False)
        return self._err_console

    def json(self, obj: Any) -> None:
        sys.stdout.write(dumps(obj) + "\n")

    def print(self, *args: Any, **kw: Any) -> None:
        self.console.print(*args, **kw)

    def info(self, message: str) -> None:
        """A status line for people; suppressed in JSON mode so stdout stays parseable."""
        if self.json_mode:
            self.err_console.print(message, markup=False)
        else:
            self.console.print(message, markup=False)

    def warn(self, message: str) -> None:
        self.err_console.print(f"warning: {message}", markup=False, style="yellow")

    def status_text(self, status: Status):
        from rich.text import Text

        return Text(status.name, style=_STATUS_STYLE[status])

    def table(
        self,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        title: str | None = None,
        caption: str | None = None,
    ) -> None:
        from rich.table import Table

        t = Table(title=title, caption=caption, show_lines=False, header_style="bold")
        for c in columns:
            t.add_column(c, overflow="fold")
        for row in rows:
            t.add_row(*[self._cell(v) for v in row])
        self.console.print(t)

    def kv(self, pairs: Iterable[tuple[str, Any]], *, title: str | None = None) -> None:
        self.table(["field", "value"], pairs, title=title)

    def _cell(self, value: Any):
        if isinstance(value, Status):
            return self.status_text(value)
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            return f"{value:g}"
        if isinstance(value, dt.datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S")
        if hasattr(value, "__rich__") or hasattr(value, "__rich_console__"):
            return value
        from rich.text import Text

        return Text(str(value))  # user and device text is data: "[x]" is not markup

    def progress(self, *, transient: bool = True):
        """A rich Progress on stderr, so JSON on stdout stays clean."""
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeRemainingColumn(),
            console=self.err_console,
            transient=transient,
            disable=not sys.stderr.isatty(),
        )
