"""Profiles defined in the config (``power.profiles``), turned into :class:`Profile` data.

Checked in :mod:`opsctl.power.validate` (bad OIDs are reported as ``file:line: field``)
before they are built here; a custom profile may ``extends:`` a built-in one, keeping its
tables, post-processing and the fields it does not redefine.
"""

from __future__ import annotations

import dataclasses
import re

from opsctl.power.profiles.base import Field, Profile, Source

OID_RE = re.compile(r"^\.?[0-2](\.(0|[1-9][0-9]{0,9}))+$")


def valid_oid(text: str) -> bool:
    return bool(OID_RE.match(text)) and all(int(p) < 2**32 for p in text.strip(".").split("."))


def _scales(spec) -> list[float]:
    if isinstance(spec.scale, list):
        return list(spec.scale)
    return [float(spec.scale)] * len(spec.oids)


def build(spec, base: Profile | None) -> Profile:
    fields = tuple(
        Field(name, tuple(Source(o, sc, spec_f.enum) for o, sc in zip(spec_f.oids,
                                                                      _scales(spec_f),
                                                                      strict=True)),
              spec_f.type, spec_f.unit, spec_f.minimum, spec_f.maximum,
              description="custom")
        for name, spec_f in spec.fields.items())
    if base is None:
        return Profile(name=spec.name, kind=spec.kind,
                       description=spec.description or "custom profile (config)",
                       sys_object_ids=tuple(spec.sys_object_ids),
                       probe_oids=tuple(spec.probe_oids), fields=fields,
                       tested_with=("defined in the config",))
    redefined = set(spec.fields)
    kept = tuple(f for f in base.fields if f.name not in redefined)
    return dataclasses.replace(
        base, name=spec.name,
        description=spec.description or f"{base.description} (customised: {spec.name})",
        sys_object_ids=tuple(spec.sys_object_ids),
        probe_oids=tuple(spec.probe_oids) or base.probe_oids,
        fields=kept + fields, priority=base.priority + 1,
        tested_with=("defined in the config",))
