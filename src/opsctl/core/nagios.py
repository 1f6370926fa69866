"""The monitoring-plugin output format (Nagios, Icinga, Naemon, Checkmk's classic checks).

    STATUS - summary | 'label'=value[UOM];[warn];[crit];[min];[max] ...
    detail line
    detail line

The first line is what the monitoring system shows and alerts on; detail lines are the
"long output". The exit code is the status (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), so
a check command prints this instead of its table and exits as it always does.
Reference: the Monitoring Plugins development guidelines, "Plugin Output" and
"Performance data".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from opsctl.core.errors import Status

# Units the guidelines define; anything else (°C, rpm, …) is given without a unit.
UNITS = frozenset({"", "s", "ms", "us", "%", "B", "KB", "MB", "GB", "TB", "c"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


@dataclass(frozen=True)
class Perf:
    """One performance value. ``warn``/``crit`` are plugin ranges: ``"80"`` alerts above
    80, ``"80:"`` below 80, ``"10:30"`` outside 10..30 (as the guidelines define them)."""

    label: str
    value: float | int
    uom: str = ""
    warn: str | float | None = None
    crit: str | float | None = None
    min: float | None = None
    max: float | None = None

    def __str__(self) -> str:
        label = self.label.replace("'", "''")
        if re.search(r"[\s=']", label):
            label = f"'{label}'"
        uom = self.uom if self.uom in UNITS else ""
        fields = [_num(self.value) + uom, _num(self.warn), _num(self.crit), _num(self.min),
                  _num(self.max)]
        while fields and fields[-1] == "":
            fields.pop()
        return f"{label}=" + ";".join(fields)


def _num(v: str | float | int | None) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    return f"{v:g}" if isinstance(v, float) else str(v)


def threshold_range(low: float | None, high: float | None) -> str | None:
    """A plugin range from the bounds of what is fine: ``15:27``, ``80:`` or ``60``."""
    if low is None and high is None:
        return None
    if low is None:
        return _num(high)
    return f"{_num(low)}:{_num(high)}"


def clean(text: str) -> str:
    """One line of plugin text: no line breaks, no control characters, and no "|" (the
    separator of performance data)."""
    return " ".join(_CONTROL.sub(" ", str(text)).replace("|", "/").split())


def render(status: Status, summary: str, perf: Iterable[Perf] = (),
           details: Iterable[str] = ()) -> str:
    line = f"{status.name} - {clean(summary)}"
    perfdata = " ".join(str(p) for p in perf)
    if perfdata:
        line += f" | {perfdata}"
    return "\n".join([line, *(clean(d) for d in details if clean(d))]) + "\n"
