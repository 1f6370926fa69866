"""All known profiles, and how ``profile: auto`` chooses one.

Each profile module exposes ``PROFILES`` (a list of :class:`Profile`). Adding a vendor
is adding a module here and its name to :data:`PROFILE_MODULES` (missing modules are
skipped, so a half-merged tree still imports).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping

from opsctl.core.errors import NotFoundError
from opsctl.power.profiles.base import Profile
from opsctl.power.snmp.values import Raw, is_under

PROFILE_MODULES = (
    "opsctl.power.profiles.ietf",
    "opsctl.power.profiles.apc",
    "opsctl.power.profiles.xups",
    "opsctl.power.profiles.cyberpower",
    "opsctl.power.profiles.mge",
    "opsctl.power.profiles.megatec",
    "opsctl.power.profiles.rfc1628_like",
    "opsctl.power.profiles.vertiv",
    "opsctl.power.profiles.dc_ups",
    "opsctl.power.profiles.inverter",
    "opsctl.power.profiles.ups_extras",
    "opsctl.power.profiles.pdu",
    "opsctl.power.profiles.env_units",
    "opsctl.power.profiles.if_mib",
    "opsctl.power.profiles.entity_sensor",
    "opsctl.power.profiles.env_sensor",
)

# What ``auto`` falls back to per kind when neither sysObjectID nor probing decides.
DEFAULT_FOR_KIND = {"ups": "ietf", "switch": "switch", "sensor": "entity-sensor",
                    "pdu": "entity-sensor"}

_registry: dict[str, Profile] | None = None
_extra: dict[str, Profile] = {}
# Bumped whenever run-time profiles change: a device's cached read plan (which profile
# ``auto`` chose) is only trusted under the generation it was made in.
_generation = 0


def generation() -> int:
    return _generation


def _load() -> dict[str, Profile]:
    global _registry
    if _registry is None:
        reg: dict[str, Profile] = {}
        for mod in PROFILE_MODULES:
            if importlib.util.find_spec(mod) is None:
                continue
            for p in importlib.import_module(mod).PROFILES:
                reg[p.name] = p
        _registry = reg
    return _registry


def register(profile: Profile) -> None:
    """Add (or replace) a profile at run time, e.g. a custom profile from the config."""
    global _generation
    _extra[profile.name] = profile
    _generation += 1


def set_custom(profiles: list[Profile]) -> None:
    """Replace all run-time profiles (a config reload drops the old custom ones)."""
    global _generation
    if list(_extra.values()) == list(profiles):
        return  # the same profiles again (every config load sets them): plans stay valid
    _extra.clear()
    for p in profiles:
        _extra[p.name] = p
    _generation += 1


def builtin_profiles() -> dict[str, Profile]:
    return dict(_load())


def all_profiles() -> dict[str, Profile]:
    return {**_load(), **_extra}


def get(name: str) -> Profile:
    profiles = all_profiles()
    if name not in profiles:
        known = ", ".join(sorted(profiles))
        raise NotFoundError(f"unknown profile {name!r} (known: auto, {known})")
    return profiles[name]


def names() -> list[str]:
    return sorted(all_profiles())


def expand(profile: Profile) -> list[Profile]:
    """The profile and everything it includes, in reading order, each once."""
    out: list[Profile] = []

    def visit(p: Profile) -> None:
        if p in out:
            return
        out.append(p)
        for inc in p.includes:
            visit(get(inc))

    visit(profile)
    return out


# Kinds a device configured as ``kind`` may turn out to be: an inverter system sold as a
# "UPS" is configured as a UPS, and its profile says what it is.
KIND_FAMILY = {"ups": ("ups", "inverter"), "pdu": ("pdu", "sensor")}


def candidates(kind: str) -> list[Profile]:
    kinds = KIND_FAMILY.get(kind, (kind,))
    return [p for p in all_profiles().values() if p.kind in kinds]


def by_sys_object_id(kind: str, sys_object_id: str | None) -> Profile | None:
    """The candidate whose sysObjectID prefix matches longest, if any."""
    if not sys_object_id:
        return None
    best: tuple[int, Profile] | None = None
    for p in candidates(kind):
        for prefix in p.sys_object_ids:
            pre = prefix.strip(".")
            if is_under(sys_object_id, pre) and (best is None or len(pre) > best[0]):
                best = (len(pre), p)
    return best[1] if best else None


def probe_oids(kind: str) -> list[str]:
    return list(dict.fromkeys(o for p in candidates(kind) for o in p.probe_oids))


def by_probe(kind: str, answers: Mapping[str, Raw]) -> tuple[Profile | None, dict[str, int]]:
    """Score each candidate by how many of its probe OIDs answered with a real value.

    Returns the best (None if nothing answered) and all scores (for ``power probe``).
    A profile is scored by the share of its probe objects present, so a card answering
    one RFC 1628 identity object but fifteen vendor objects picks the vendor profile.
    """
    scores: dict[str, int] = {}
    best: tuple[float, int, Profile] | None = None
    for p in candidates(kind):
        if not p.probe_oids:
            continue
        hits = sum(1 for o in p.probe_oids
                   if o in answers and not answers[o].missing and answers[o].kind != "null")
        scores[p.name] = hits
        if hits == 0:
            continue
        key = (hits / len(p.probe_oids) + 0.001 * hits, p.priority, p)
        if best is None or key[:2] > best[:2]:
            best = key
    return (best[2] if best else None), scores
