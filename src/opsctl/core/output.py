"""Rendering: rich tables for people, JSON for machines.

rich is imported lazily: ``opsctl --help`` must start fast.

Every string that reaches the terminal goes through :mod:`opsctl.core.safetext`: rich
gets ``Text`` objects, never markup strings, and control characters are spelled out. So
a duty entry reading ``[/var/log]`` or ``\x1b[2J`` is shown exactly as recorded.
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
from opsctl.core.i18n import _
from opsctl.core.safetext import safe_text, visible

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


# A column whose widest cell is at most this wide (ids, times, states, names) keeps its
# width; wider columns are the text that wraps when the terminal is narrow.
SHORT_COLUMN = 20
MIN_WIDTH = 20


def console_width() -> int:
    """The width tables are laid out for, decided here rather than left to rich (which
    would look at whichever of stdin/stdout/stderr is a terminal): ``$COLUMNS`` when set,
    so piped output can be sized (``COLUMNS=160 opsctl duty log list | less``); else the
    terminal's width when stdout is one; else 80."""
    cols = os.environ.get("COLUMNS", "").strip()
    if cols.isdigit() and int(cols) > 0:
        return max(int(cols), MIN_WIDTH)
    if sys.stdout.isatty():
        try:
            return max(os.get_terminal_size(sys.stdout.fileno()).columns, MIN_WIDTH)
        except (OSError, ValueError):
            pass
    return 80


def _cell_width(cell: Any) -> int:
    from rich.cells import cell_len

    plain = getattr(cell, "plain", None)
    if plain is None:
        return SHORT_COLUMN + 1  # another renderable: let rich fit it
    return max((cell_len(line) for line in plain.split("\n")), default=0)


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
                width=console_width(),
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
        """Print; plain strings are data (shown as they are, controls spelled out)."""
        kw.pop("markup", None)
        self.console.print(*(safe_text(a) if isinstance(a, str) else a for a in args),
                           markup=False, **kw)

    def info(self, message: str) -> None:
        """A status line for people; suppressed in JSON mode so stdout stays parseable.
        Not wrapped (soft_wrap): paths and commands in it stay whole and copyable, and the
        terminal wraps it itself."""
        console = self.err_console if self.json_mode else self.console
        console.print(safe_text(message), markup=False, soft_wrap=True)

    def text(self, message: str) -> None:
        """A paragraph for people reading a view (a briefing's notes): wrapped at words to
        the width tables use, so the view stays readable at 80 columns."""
        self.console.print(safe_text(message), markup=False)

    def warn(self, message: str) -> None:
        self.err(_("warning: {message}").format(message=message), style="yellow")

    def err(self, message: str, *, style: str = "") -> None:
        """One line on stderr (not wrapped: one message, one line in logs and pipes)."""
        self.err_console.print(safe_text(message, style), markup=False, highlight=False,
                               soft_wrap=True)

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
        from rich import box
        from rich.table import Table

        cells = [[self._cell(v) for v in row] for row in rows]
        # Light rules and no outer frame: at 80 columns the frame alone would take a
        # fifth of the width of a nine-column table.
        t = Table(title=safe_text(title) if title is not None else None,
                  caption=safe_text(caption) if caption is not None else None,
                  show_lines=False, header_style="bold", box=box.SIMPLE_HEAD,
                  show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
        for i, c in enumerate(columns):
            header = safe_text(c)
            widest = max([_cell_width(r[i]) for r in cells if i < len(r)], default=0)
            if widest <= SHORT_COLUMN:
                # Short columns (ids, times, states) keep their width; text wraps instead.
                t.add_column(header, no_wrap=True, min_width=max(widest, len(header)))
            else:
                t.add_column(header, overflow="fold")
        for row in cells:
            t.add_row(*row)
        self.console.print(t)

    def kv(self, pairs: Iterable[tuple[str, Any]], *, title: str | None = None) -> None:
        self.table([_("field"), _("value")], pairs, title=title)

    def _cell(self, value: Any):
        """A table cell as rich ``Text``: user and device text is never read as markup."""
        from rich.text import Text

        if isinstance(value, Status):
            return self.status_text(value)
        if value is None:
            return Text("-")
        if isinstance(value, bool):
            return Text(_("yes") if value else _("no"))
        if isinstance(value, float):
            return Text(f"{value:g}")
        if isinstance(value, dt.datetime):
            from opsctl.core.i18n import format_datetime

            return Text(format_datetime(value, seconds=True))
        if isinstance(value, Text):
            shown = visible(value.plain)
            return value if shown == value.plain else Text(shown, style=value.style)
        if hasattr(value, "__rich__") or hasattr(value, "__rich_console__"):
            return value
        return safe_text(value)

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
