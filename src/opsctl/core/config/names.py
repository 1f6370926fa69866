"""The names a config defines (devices, people, profiles, plans), for shell completion.

Read straight from the YAML without validation: completion must be fast and must still
offer names while the config has an unrelated mistake (``config check`` reports those).
Never raises: an unreadable or odd file simply offers nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Name:
    name: str
    kind: str = ""          # device kind, plan kind; "" when the entry has none
    roles: tuple[str, ...] = ()
    about: str = ""         # a short description shown by zsh and fish


def _entries(section: Any) -> list[dict]:
    return [e for e in section if isinstance(e, dict)] if isinstance(section, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def config_names(path: Path) -> dict[str, list[Name]]:
    """``{"device": [...], "person": [...], "profile": [...], "plan": [...], "host": [...]}``"""
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    if not isinstance(doc, dict):
        return {}
    power = doc.get("power") if isinstance(doc.get("power"), dict) else {}
    inspection = doc.get("inspection") if isinstance(doc.get("inspection"), dict) else {}
    out: dict[str, list[Name]] = {
        "device": [Name(str(e["name"]), _str(e.get("kind")),
                        about=" ".join(filter(None, (_str(e.get("kind")),
                                                     _str(e.get("location"))))))
                   for e in _entries(doc.get("devices")) if "name" in e],
        "person": [Name(str(e["name"]),
                        roles=tuple(r for r in (e.get("roles") or ["operator"])
                                    if isinstance(r, str)),
                        about=_str(e.get("full_name")))
                   for e in _entries(doc.get("people")) if "name" in e],
        "profile": [Name(str(e["name"]), about=_str(e.get("description")))
                    for e in _entries(inspection.get("profiles")) if "name" in e],
        "plan": [Name(str(e["name"]), _str(e.get("kind")), about=_str(e.get("description")))
                 for e in _entries(power.get("plans")) if "name" in e],
        "host": [Name(str(e["name"]), about=_str(e.get("address")))
                 for e in _entries(doc.get("hosts")) if "name" in e],
    }
    return out
