"""The one interface every automatic check implements, and its typed parameters.

A check is a small class: a name, a one-line summary, a tuple of typed parameters (with
defaults and descriptions, shown by ``opsctl inspect checks`` and enforced when the config
is loaded), and ``run(ctx, params) -> CheckResult``. Checks never raise for a broken
target: whatever cannot be measured is UNKNOWN with a message saying why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from opsctl.core.errors import Status

REQUIRED = object()  # sentinel: a parameter without a default must be given

# Parameter kinds: name shown to users -> how a config value is accepted.
KINDS = ("int", "number", "str", "bool", "list[str]")


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    default: Any = REQUIRED
    description: str = ""
    choices: tuple[Any, ...] = ()
    min: float | None = None
    max: float | None = None
    nullable: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def type_label(self) -> str:
        label = self.kind
        if self.choices:
            label = "one of " + "|".join(str(c) for c in self.choices)
        return label + (" or null" if self.nullable else "")

    @property
    def default_label(self) -> str:
        """The default as it would be written in the YAML config."""
        if self.required:
            return "(required)"
        v = self.default
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return f"{v:g}"
        if isinstance(v, list):
            return "[" + ", ".join(str(x) for x in v) + "]"
        return str(v)

    def coerce(self, value: Any) -> Any:
        """The value as this parameter's type, or ValueError saying what was expected."""
        if value is None:
            if self.nullable or self.default is None:
                return None
            raise ValueError(f"must be {self.type_label}, not null")
        out: Any
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"must be an integer (got {value!r})")
            out = value
        elif self.kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float) or (
                    isinstance(value, float) and not math.isfinite(value)):
                raise ValueError(f"must be a number (got {value!r})")
            out = float(value)
        elif self.kind == "str":
            if not isinstance(value, str) or not value:
                raise ValueError(f"must be a non-empty string (got {value!r})")
            out = value
        elif self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"must be true or false (got {value!r})")
            out = value
        elif self.kind == "list[str]":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ValueError(f"must be a list of strings (got {value!r})")
            out = list(value)
        else:  # pragma: no cover - a programming error in a check definition
            raise AssertionError(f"unknown parameter kind {self.kind}")
        if self.choices and out not in self.choices:
            raise ValueError("must be one of " + ", ".join(str(c) for c in self.choices)
                             + f" (got {value!r})")
        if self.min is not None and out < self.min:
            raise ValueError(f"must be >= {self.min:g} (got {value!r})")
        if self.max is not None and out > self.max:
            raise ValueError(f"must be <= {self.max:g} (got {value!r})")
        return out

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type_label,
                "default": None if self.required else self.default,
                "required": self.required, "description": self.description}


# Every check takes a timeout; it overrides inspection.check_timeout for that item.
TIMEOUT = Param("timeout", "number", None, "seconds before the item is UNKNOWN "
                "(default: inspection.check_timeout)", min=0.1, max=3600, nullable=True)


@dataclass
class CheckResult:
    status: Status
    message: str
    value: Any = None          # the measured value (number, string, or a small mapping)
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def unknown(cls, message: str, **details: Any) -> CheckResult:
        return cls(Status.UNKNOWN, message, None, dict(details))


class ParamError(ValueError):
    """A parameter problem found by a check's own cross-field validation."""

    def __init__(self, param: str | None, message: str):
        super().__init__(message)
        self.param = param
        self.message = message


class Check:
    """Base class: subclasses set the class attributes and implement ``run``."""

    name: ClassVar[str]
    summary: ClassVar[str]
    params: ClassVar[tuple[Param, ...]] = ()
    # May run on a remote host (item ``host:``) over SSH.
    remote: ClassVar[bool] = False

    @classmethod
    def all_params(cls) -> tuple[Param, ...]:
        return (*cls.params, TIMEOUT)

    @classmethod
    def resolve(cls, raw: dict[str, Any]) -> dict[str, Any]:
        """Typed parameters with defaults filled in; raises ParamError naming the param."""
        known = {p.name: p for p in cls.all_params()}
        for key in raw:
            if key not in known:
                names = ", ".join(sorted(known))
                raise ParamError(key, f"unknown parameter for check {cls.name!r} "
                                      f"(known: {names})")
        out: dict[str, Any] = {}
        for p in cls.all_params():
            if p.name in raw:
                try:
                    out[p.name] = p.coerce(raw[p.name])
                except ValueError as exc:
                    raise ParamError(p.name, str(exc)) from None
            elif p.required:
                raise ParamError(p.name, f"required parameter of check {cls.name!r} is missing")
            else:
                out[p.name] = p.default
        cls.check_params(out)
        return out

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        """Cross-parameter rules (warn below crit…); raise ParamError."""

    @classmethod
    def check_config(cls, params: dict[str, Any], cfg) -> None:
        """Rules that need the config (device names…); raise ParamError."""

    def run(self, ctx, params: dict[str, Any]) -> CheckResult:  # pragma: no cover
        raise NotImplementedError


def percent_thresholds(warn: float, crit: float, *, free: bool = False) -> tuple[Param, Param]:
    """The warn/crit pair of a percentage check ("% used", or "% free" where lower is worse)."""
    what, side = ("free", "at or below") if free else ("used", "at or above")
    return (Param("warn", "number", warn, f"% {what} {side} which the item is WARNING",
                  min=0, max=100),
            Param("crit", "number", crit, f"% {what} {side} which the item is CRITICAL",
                  min=0, max=100))


def thresholds_ascending(params: dict, warn: str = "warn", crit: str = "crit") -> None:
    """For 'higher is worse' thresholds: warn must not exceed crit."""
    w, c = params.get(warn), params.get(crit)
    if w is not None and c is not None and w > c:
        raise ParamError(warn, f"{warn} ({w:g}) must not be above {crit} ({c:g})")


def thresholds_descending(params: dict, warn: str = "warn", crit: str = "crit") -> None:
    """For 'lower is worse' thresholds (free space): warn must not be below crit."""
    w, c = params.get(warn), params.get(crit)
    if w is not None and c is not None and w < c:
        raise ParamError(warn, f"{warn} ({w:g}) must not be below {crit} ({c:g})")


def grade_high(value: float, warn: float | None, crit: float | None) -> Status:
    """Status for a value where higher is worse."""
    if crit is not None and value >= crit:
        return Status.CRITICAL
    if warn is not None and value >= warn:
        return Status.WARNING
    return Status.OK


def grade_low(value: float, warn: float | None, crit: float | None) -> Status:
    """Status for a value where lower is worse."""
    if crit is not None and value <= crit:
        return Status.CRITICAL
    if warn is not None and value <= warn:
        return Status.WARNING
    return Status.OK


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover
