"""Sizes as people type them (``10G``, ``+512M``, ``-1G``, ``100%FREE``) and as we print them.

Units are binary (K = 1024), as LVM and mdadm read them; a trailing ``iB``/``B`` is accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from opsctl.core.errors import UsageError

_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:I?B)?\s*$", re.IGNORECASE)
_PCT_RE = re.compile(r"^\s*(\d{1,3})%(FREE|VG)\s*$", re.IGNORECASE)


def parse_size(text: str | int, what: str = "size") -> int:
    """Bytes for ``text``; a bare number means bytes only when it is an int from YAML."""
    if isinstance(text, bool):
        raise UsageError(f"bad {what} {text!r}: expected e.g. 512M, 10G, 1.5T")
    if isinstance(text, int):
        if text <= 0:
            raise UsageError(f"bad {what} {text!r}: must be positive")
        return text
    m = _SIZE_RE.match(str(text))
    if not m or (m.group(2) == "" and not str(text).strip().upper().endswith("B")):
        raise UsageError(f"bad {what} {text!r}: expected a number with a unit, e.g. 512M, 10G, "
                         "1.5T (binary units)")
    value = float(m.group(1)) * _UNITS[m.group(2).upper()]
    if value < 1:
        raise UsageError(f"bad {what} {text!r}: must be positive")
    return int(value)


@dataclass(frozen=True)
class SizeSpec:
    """A requested LV size: absolute, relative (+/-) or a percentage of the VG."""

    bytes: int = 0
    sign: str = ""          # "", "+" or "-"
    percent: int | None = None
    of: str = "FREE"        # FREE or VG, for percentages

    @property
    def is_percent(self) -> bool:
        return self.percent is not None

    def resolve(self, current: int, vg_free: int, vg_size: int) -> int:
        """The target size in bytes given the LV's current size and its VG."""
        if self.percent is not None:
            base = vg_free + current if self.of == "FREE" else vg_size
            return base * self.percent // 100
        if self.sign == "+":
            return current + self.bytes
        if self.sign == "-":
            return current - self.bytes
        return self.bytes

    def __str__(self) -> str:
        if self.percent is not None:
            return f"{self.percent}%{self.of}"
        return f"{self.sign}{human(self.bytes)}"


def parse_size_spec(text: str | int, *, allow_relative: bool = True) -> SizeSpec:
    if isinstance(text, int) and not isinstance(text, bool):
        return SizeSpec(parse_size(text))
    s = str(text).strip()
    m = _PCT_RE.match(s)
    if m:
        pct = int(m.group(1))
        if not 0 < pct <= 100:
            raise UsageError(f"bad size {text!r}: percentage must be 1..100")
        return SizeSpec(percent=pct, of=m.group(2).upper())
    sign = ""
    if s[:1] in "+-":
        if not allow_relative:
            raise UsageError(f"bad size {text!r}: a relative size (+/-) is not allowed here")
        sign, s = s[0], s[1:]
    return SizeSpec(parse_size(s), sign=sign)


def human(n: int | float | None) -> str:
    """1.5G style, binary, at most one decimal; exact for whole units."""
    if n is None:
        return "-"
    n = float(n)
    for unit in ("B", "K", "M", "G", "T", "P"):
        if abs(n) < 1024 or unit == "P":
            if unit == "B":
                return f"{int(n)}B"
            text = f"{n:.1f}".removesuffix(".0")
            return f"{text}{unit}"
        n /= 1024
    return f"{n}P"


def round_up(n: int, step: int) -> int:
    return -(-n // step) * step
