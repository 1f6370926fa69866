"""Read one device through its profile tables: choose the profile, GET the fields with
their fallbacks, walk the tables, decode everything into NUT-named values plus notes.

Round trips are few on purpose (the 200-device benchmark depends on it): ``auto`` asks
for sysObjectID and every candidate's probe objects in one GET; the fields' first
sources go in one GET; only fields still without a value cost a second GET (next
source), and a last one tries scalars without their ``.0`` instance (a real-card quirk).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opsctl.power.profiles import registry
from opsctl.power.profiles.base import (
    Field,
    Notes,
    Profile,
    Source,
    decode,
    decode_column,
    merge_status,
)
from opsctl.power.snmp.client import Session
from opsctl.power.snmp.values import Raw

SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"


@dataclass
class ReadResult:
    profile: Profile
    profile_reason: str
    values: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: Notes = field(default_factory=Notes)
    missing: list[str] = field(default_factory=list)
    sys_object_id: str | None = None
    probe_scores: dict[str, int] = field(default_factory=dict)


async def choose_profile(session: Session, kind: str, name: str
                         ) -> tuple[Profile, str, str | None, dict[str, int]]:
    """Resolve ``profile: auto`` (sysObjectID first, then probing, then the kind's
    default). Returns (profile, how it was chosen, sysObjectID, probe scores)."""
    if name != "auto":
        return registry.get(name), "configured", None, {}
    probes = registry.probe_oids(kind)
    answers = await session.get([SYS_OBJECT_ID, *probes])
    raw = answers.get(SYS_OBJECT_ID)
    soid = str(raw.value) if raw is not None and raw.kind == "oid" else None
    by_id = registry.by_sys_object_id(kind, soid)
    best, scores = registry.by_probe(kind, answers)
    if by_id is not None:
        return by_id, f"sysObjectID {soid}", soid, scores
    if best is not None:
        return (best, f"probe: {scores[best.name]} of {len(best.probe_oids)} objects "
                      f"answered", soid, scores)
    default = registry.get(registry.DEFAULT_FOR_KIND[kind])
    return default, "default for kind (nothing matched)", soid, scores


def _strip_instance(oid: str) -> str | None:
    return oid[:-2] if oid.endswith(".0") else None


async def read_fields(session: Session, fields: list[Field], notes: Notes
                      ) -> dict[int, Any]:
    """Values per field position (flags fields may share a name, so index by position)."""
    result: dict[int, Any] = {}
    # Per field: the list of (source, oid) still to try, in order.
    queue: dict[int, list[tuple[Source, str]]] = {
        i: [(s, s.oid) for s in f.sources] for i, f in enumerate(fields)}
    bare_tried: set[int] = set()
    while queue:
        asks = {i: q[0] for i, q in queue.items() if q}
        if not asks:
            break
        answers = await session.get([oid for _, oid in asks.values()])
        for i, (src, oid) in asks.items():
            queue[i].pop(0)
            raw = answers.get(oid)
            if raw is None:
                continue
            f = fields[i]
            src_eff = Source(oid, src.scale, src.enum, src.note) if oid != src.oid else src
            value = decode(f, src_eff, raw, notes)
            if oid != src.oid and not raw.missing:
                notes.add("missing-instance", f.name,
                          f"{f.name}: object served without its .0 instance ({oid})", oid)
            if value is not None or (f.type == "flags" and not raw.missing
                                     and raw.kind != "null" and _known(f, src, raw)):
                result[i] = value
                queue[i] = []
        # Sources exhausted without a value: one more try without the .0 instance.
        for i, q in list(queue.items()):
            if q or i in result:
                if not q:
                    del queue[i]
                continue
            if i in bare_tried:
                del queue[i]
                continue
            bare_tried.add(i)
            bare = [(s, b) for s in fields[i].sources if (b := _strip_instance(s.oid))]
            if bare:
                queue[i] = bare
            else:
                del queue[i]
    return result


def _known(f: Field, src: Source, raw: Raw) -> bool:
    # A flags field whose enum maps to "" (e.g. batteryNormal) is an answer, not a miss.
    return raw.is_number and src.enum is not None and int(raw.value) in src.enum  # type: ignore[arg-type]


def _wanted(t, values: dict[str, Any]) -> bool:
    if t.only_if is None or t.only_if not in values:
        return True
    v = values[t.only_if]
    return not isinstance(v, int | float) or v > 0


async def read_tables(session: Session, profile_list: list[Profile], notes: Notes,
                      values: dict[str, Any] | None = None) -> dict[str, list[dict[str, Any]]]:
    tables = [t for p in profile_list for t in p.tables if _wanted(t, values or {})]
    if not tables:
        return {}
    columns = [c.oid for t in tables for c in t.columns]
    walked = await session.walk(columns, max_rows=max(t.max_rows for t in tables))
    out: dict[str, list[dict[str, Any]]] = {}
    for t in tables:
        rows: dict[str, dict[str, Any]] = {}
        for col in t.columns:
            for index, raw in walked.get(col.oid, {}).items():
                value = decode_column(col, raw, notes, index)
                row = rows.setdefault(index, {"index": index})
                if value is not None:
                    row[col.name] = value
        out[t.name] = [rows[k] for k in sorted(rows, key=_index_key)]
    return out


def _index_key(index: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in index.split("."))
    except ValueError:
        return (1 << 62,)


async def read_device(session: Session, kind: str, profile_name: str) -> ReadResult:
    profile, reason, soid, scores = await choose_profile(session, kind, profile_name)
    plist = registry.expand(profile)
    res = ReadResult(profile=profile, profile_reason=reason, sys_object_id=soid,
                     probe_scores=scores)
    fields = [f for p in plist for f in p.fields]
    got = await read_fields(session, fields, res.notes)
    flags: list[str] = []
    for i, f in enumerate(fields):
        if i not in got:
            continue
        if f.type == "flags":
            flags.append(got[i] or "")
        elif got[i] is not None and f.name not in res.values:
            res.values[f.name] = got[i]
    status = merge_status(flags)
    if status:
        res.values["ups.status"] = status
    for p in plist:
        for k, v in p.constants.items():
            res.values.setdefault(k, v)
    res.tables = await read_tables(session, plist, res.notes, res.values)
    for p in plist:
        if p.postprocess is not None:
            p.postprocess(res.values, res.tables, res.notes)
    for name, rows in res.tables.items():
        if rows:
            res.values[name] = rows
    # Missing = asked for and never answered (a postprocess may consume a field, e.g. a
    # unit, so what was read counts as present).
    answered = {fields[i].name for i in got} | set(res.values)
    res.missing = [n for n in dict.fromkeys(f.name for f in fields) if n not in answered]
    return res
