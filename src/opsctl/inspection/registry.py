"""The check registry: every automatic check, by name.

Check modules register their classes with ``@register`` when imported; ``load()``
imports the modules listed in ``CHECK_MODULES`` (all cheap: heavy libraries such as
pysnmp are imported inside ``run``).
"""

from __future__ import annotations

import importlib

from opsctl.core.errors import NotFoundError

CHECK_MODULES = (
    "opsctl.inspection.checks.host",
    "opsctl.inspection.checks.filesystems",
    "opsctl.inspection.checks.storage",
    "opsctl.inspection.checks.smart",
    "opsctl.inspection.checks.power",
    "opsctl.inspection.checks.clock",
    "opsctl.inspection.checks.network",
    "opsctl.inspection.checks.backup",
)

_CHECKS: dict[str, type] = {}
_loaded = False


def register(cls: type) -> type:
    if cls.name in _CHECKS and _CHECKS[cls.name] is not cls:
        raise RuntimeError(f"two checks named {cls.name!r}")
    _CHECKS[cls.name] = cls
    return cls


def load() -> dict[str, type]:
    global _loaded
    if not _loaded:
        for mod in CHECK_MODULES:
            importlib.import_module(mod)
        _loaded = True
    return _CHECKS


def all_checks() -> list[type]:
    return [load()[n] for n in sorted(load())]


def get(name: str) -> type:
    checks = load()
    if name not in checks:
        raise NotFoundError(f"unknown check {name!r} (known: {', '.join(sorted(checks))})")
    return checks[name]
