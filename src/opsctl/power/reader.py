"""Read one device through its profile tables: choose the profile, GET the fields with
their fallbacks, walk the tables, decode everything into NUT-named values plus notes.

Round trips are few on purpose (the 200-device benchmark depends on it): ``auto`` asks
for sysObjectID and every candidate's probe objects in one GET; the fields' first
sources go in one GET; only fields still without a value cost a second GET (next
source), and a last one tries scalars without their ``.0`` instance (a real-card quirk).

Repeated polls of the same device (the daemon) pass the :class:`ReadPlan` of the
previous read: the chosen profile, the objects the agent lacked and the size of its
tables. A planned read is then one GET (sysUpTime, sysObjectID under ``auto``, and for
every field the first object that can answer: its first source, or the fallback or
bare OID that answered last time) plus, only when a table is due, one GETBULK sized to
the rows seen last time. It decodes through exactly the same code as a full read, so
values, notes and ``missing`` are the same. A full read is made again when sysUpTime
went backwards (agent restarted, maybe with new firmware), sysObjectID changed, an
object that answered is gone, any error, or the plan is older than
:data:`PLAN_MAX_AGE` (an object that starts to answer without a restart shows up then).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any

from opsctl.power.profiles import registry
from opsctl.power.profiles.base import (
    HEALTH_FIELD,
    Field,
    Notes,
    Profile,
    Source,
    decode,
    decode_column,
    derive_status,
    merge_status,
    table_readings,
)
from opsctl.power.snmp.client import Session
from opsctl.power.snmp.values import Raw

SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_UP_TIME = "1.3.6.1.2.1.1.3.0"
# Seconds a read plan is trusted before the next full read (see the module docstring).
PLAN_MAX_AGE = 600.0


@dataclass(frozen=True)
class ReadPlan:
    """What a full read learned about one device, to make the next reads cheap."""

    kind: str
    profile_name: str          # as configured ("auto" or a name)
    profile: Profile
    profile_reason: str
    sys_object_id: str | None
    probe_scores: dict[str, int]
    generation: int            # registry.generation() the profile was chosen under
    absent: frozenset[str]     # objects the agent answered noSuch*/endOfMibView for
    present: frozenset[str]    # objects that answered
    prefetch: tuple[str, ...]  # per field, the first object that can answer
    table_rows: int | None     # most rows of a walked table last time (None: not walked)
    uptime: int | None         # sysUpTime (ticks) at the last read
    created: float             # time.monotonic() of the full read

    def usable(self, kind: str, profile_name: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return (self.kind == kind and self.profile_name == profile_name
                and now - self.created < PLAN_MAX_AGE
                and self.generation == registry.generation())


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
    # Where the UPS's status comes from (see :func:`status_source`); None: no status.
    status_source: dict[str, Any] | None = None
    # The plan for the next read of this device (None: read it fully next time).
    plan: ReadPlan | None = None


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
    """The other instance a real card may serve an object under: a scalar without its
    ``.0`` (Minuteman), a table cell with an extra ``.0`` (MGE Galaxy's
    upsOutputPercentLoad.1.0)."""
    return oid[:-2] if oid.endswith(".0") else oid + ".0"


async def read_fields(session: Session, fields: list[Field], notes: Notes,
                      answered: dict[int, str] | None = None) -> dict[int, Any]:
    """Values per field position (flags fields may share a name, so index by position).
    ``answered`` (if given) gets the OID each value came from."""
    result: dict[int, Any] = {}
    answered = {} if answered is None else answered
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
                how = "without its .0 instance" if len(oid) < len(src.oid) else \
                    "with an extra .0 instance"
                notes.add("missing-instance", f.name, f"{f.name}: object served {how} ({oid})",
                          oid)
            if value is not None or (f.type == "flags" and not raw.missing
                                     and raw.kind != "null" and _known(f, src, raw)):
                result[i] = value
                answered[i] = oid
                queue[i] = []
        # Sources exhausted without a value: one more try under the other instance.
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
                      values: dict[str, Any] | None = None, *,
                      rows_hint: int | None = None) -> dict[str, list[dict[str, Any]]]:
    tables = [t for p in profile_list for t in p.tables if _wanted(t, values or {})]
    if not tables:
        return {}
    if rows_hint is None and all(t.only_if for t in tables):
        # Conditional tables (RFC 1628's alarms) are small and usually empty: size the
        # first GETBULK by the count when the agent gave it, else ask one row -- not 25
        # rows of whatever follows an empty table.
        counts = [(values or {}).get(t.only_if) for t in tables]
        rows_hint = max(int(c) if isinstance(c, int | float) else 0 for c in counts)
    columns = [c.oid for t in tables for c in t.columns]
    walked = await session.walk(columns, max_rows=max(t.max_rows for t in tables),
                                first_reps=None if rows_hint is None else rows_hint + 1)
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


async def read_device(session: Session, kind: str, profile_name: str,
                      plan: ReadPlan | None = None) -> ReadResult:
    """Read one device. With the ``plan`` of the previous read (``ReadResult.plan``) and
    the same kind and profile setting, a planned read (see the module docstring)."""
    if plan is not None and plan.usable(kind, profile_name):
        res = await _read_planned(session, plan)
        if res is not None:
            return res
        # The device changed under the plan: forget everything and read it fully.
        session.answers.clear()
        session.assume_absent = frozenset()
        session.reuse_answers = False
    return await _read_full(session, kind, profile_name)


async def _read_full(session: Session, kind: str, profile_name: str) -> ReadResult:
    # sysUpTime rides along in the first GET: a planned read compares it to spot a restart.
    session.piggyback = [SYS_UP_TIME]
    profile, reason, soid, scores = await choose_profile(session, kind, profile_name)
    res = ReadResult(profile=profile, profile_reason=reason, sys_object_id=soid,
                     probe_scores=scores)
    rows = await _read_profile(session, res, None)
    if profile_name == "auto" and profile.kind == kind and not _worth(res)[0]:
        res, rows = await _look_back(session, res, rows, kind)
        profile = res.profile
        reason = res.profile_reason
    head = {SYS_UP_TIME, SYS_OBJECT_ID}
    # Interned: a hundred devices' plans share one copy of each OID string.
    answers = {sys.intern(o): r for o, r in session.answers.items() if o not in head}
    absent = frozenset(o for o, r in answers.items() if r.missing)
    fields = [f for p in registry.expand(profile) for f in p.fields]
    res.plan = ReadPlan(
        kind=kind, profile_name=profile_name, profile=profile, profile_reason=reason,
        sys_object_id=soid, probe_scores=scores, generation=registry.generation(),
        absent=absent,
        present=frozenset(o for o, r in answers.items() if not r.missing),
        prefetch=tuple(dict.fromkeys(sys.intern(o) for f in fields
                                     if (o := _first_candidate(f, absent)))),
        table_rows=rows, uptime=_ticks(session.answers.get(SYS_UP_TIME)),
        created=time.monotonic())
    return res


# What a UPS reading must have to be useful: the rules need these (see power.rules).
CORE = ("ups.status", "ups.load", "battery.charge", "battery.runtime")


def _worth(res: ReadResult) -> tuple[bool, int, int]:
    """How much a reading says. A UPS: status or not, core values, all values. A sensor
    unit or PDU: any measurement or not, how many, all values."""
    v = res.values
    if res.profile.kind == "ups":
        return ("ups.status" in v, sum(1 for k in CORE if k in v), len(v))
    if res.profile.kind == "switch":
        return (True, 0, len(v))  # a switch is read whatever it answers: no look-back
    n = len(v.get("readings") or []) + len(v.get("sensors") or []) + sum(
        1 for k in ("ambient.temperature", "ambient.humidity", "ats.source") if k in v)
    return (n > 0, n, len(v))


async def _look_back(session: Session, first: ReadResult, rows: int | None, kind: str
                     ) -> tuple[ReadResult, int | None]:
    """``auto`` chose by sysObjectID or probing, but the profile read no status (Eaton
    Network-M2 cards send Eaton's sysObjectID and keep their data in RFC 1628; a
    PowerWalker card sends CyberPower's), or a sensor unit's profile read no
    measurement. Read the other profiles of the kind whose probe objects answered, and
    the kind's default, and keep the one that reads most; the first choice wins ties.
    Only failing readings pay for this."""
    tried = {first.profile.name}
    order = sorted((n for n, hits in first.probe_scores.items() if hits > 0),
                   key=lambda n: -first.probe_scores[n])
    order.append(registry.DEFAULT_FOR_KIND[kind])
    best, best_rows = first, rows
    session.reuse_answers = True  # the probe GET already fetched many of these objects
    try:
        for name in order:
            if name in tried or name not in registry.all_profiles() \
                    or registry.get(name).kind != first.profile.kind:
                continue
            tried.add(name)
            alt = ReadResult(profile=registry.get(name), profile_reason="",
                             sys_object_id=first.sys_object_id,
                             probe_scores=first.probe_scores)
            alt_rows = await _read_profile(session, alt, None)
            if _worth(alt) > _worth(best):
                best, best_rows = alt, alt_rows
    finally:
        session.reuse_answers = False
    if best is first:
        return first, rows
    if best.profile.kind == "ups":
        got = ", ".join(k for k in CORE if k in best.values)
        lacked = "no status"
    else:
        got, lacked = f"{_worth(best)[1]} measurements", "no measurement"
    best.profile_reason = (f"{first.profile_reason}, but {first.profile.name} read "
                           f"{lacked}; {best.profile.name} reads {got} (look-back)")
    return best, best_rows


async def _read_planned(session: Session, plan: ReadPlan) -> ReadResult | None:
    """One planned read; None when the device no longer matches the plan."""
    head = [SYS_UP_TIME] + ([SYS_OBJECT_ID] if plan.profile_name == "auto" else [])
    session.assume_absent = plan.absent
    session.reuse_answers = True
    answers = await session.get([*head, *plan.prefetch])
    uptime = _ticks(answers.get(SYS_UP_TIME))
    if plan.uptime is not None and (uptime is None or uptime < plan.uptime):
        return None  # restarted (or sysUpTime gone): maybe new firmware, new objects
    if plan.profile_name == "auto":
        raw = answers.get(SYS_OBJECT_ID)
        soid = str(raw.value) if raw is not None and raw.kind == "oid" else None
        if soid != plan.sys_object_id:
            return None
    res = ReadResult(profile=plan.profile, profile_reason=plan.profile_reason,
                     sys_object_id=plan.sys_object_id, probe_scores=plan.probe_scores)
    rows = await _read_profile(session, res, plan.table_rows)
    if any(session.answers[o].missing for o in plan.present if o in session.answers):
        return None  # an object that answered is gone: the agent changed
    res.plan = replace(plan, uptime=uptime,
                       table_rows=plan.table_rows if rows is None else rows)
    return res


def status_source(res: ReadResult, merged: str | None, flag_oids: list[str],
                  fields: list[Field], oids: dict[int, str]) -> dict[str, Any] | None:
    """Where ``ups.status`` comes from: the card's power-source objects (their OIDs), a
    derivation from measurements, the profile's own logic over its objects -- or, with no
    status at all, the device's health summary (:data:`HEALTH_FIELD`), which is shown as
    health and never turned into OL/OB. None: the UPS shows no status."""
    v = res.values
    if v.get("ups.status"):
        if any(n.code == "derived" and n.field == "ups.status" for n in res.notes):
            return {"kind": "derived", "field": "ups.status",
                    "detail": "derived from measurements (see notes)"}
        if merged and flag_oids:
            return {"kind": "power-source", "field": "ups.status",
                    "oids": list(dict.fromkeys(flag_oids))}
        return {"kind": "profile", "field": "ups.status",
                "detail": f"set by profile {res.profile.name} from its status objects"}
    if v.get(HEALTH_FIELD):
        i = next(i for i, f in enumerate(fields) if f.name == HEALTH_FIELD and i in oids)
        return {"kind": "device-health", "field": HEALTH_FIELD, "oid": oids[i],
                "object": fields[i].description, "value": v[HEALTH_FIELD],
                "detail": "device health; mains state not reported"}
    return None


def _first_candidate(f: Field, absent: frozenset[str]) -> str | None:
    """The first object :func:`read_fields` would get an answer from for ``f``."""
    oids = [s.oid for s in f.sources]
    oids += [b for s in f.sources if (b := _strip_instance(s.oid))]
    return next((o for o in oids if o not in absent), None)


def _ticks(raw: Raw | None) -> int | None:
    return int(raw.value) if raw is not None and raw.is_number else None  # type: ignore[arg-type]


async def _read_profile(session: Session, res: ReadResult, rows_hint: int | None
                        ) -> int | None:
    """Fields, tables and postprocessing of ``res.profile`` into ``res``. Returns the
    most rows of a walked table (None when no table was walked)."""
    plist = registry.expand(res.profile)
    fields = [f for p in plist for f in p.fields]
    oids: dict[int, str] = {}
    got = await read_fields(session, fields, res.notes, oids)
    flags: list[str] = []
    flag_oids: list[str] = []
    for i, f in enumerate(fields):
        if i not in got:
            continue
        if f.type == "flags":
            flags.append(got[i] or "")
            if got[i]:
                flag_oids.append(oids[i])
        elif got[i] is not None and f.name not in res.values:
            res.values[f.name] = got[i]
    status = merge_status(flags)
    if status:
        res.values["ups.status"] = status
    for p in plist:
        for k, v in p.constants.items():
            res.values.setdefault(k, v)
    res.tables = await read_tables(session, plist, res.notes, res.values, rows_hint=rows_hint)
    for p in plist:
        if p.postprocess is not None:
            p.postprocess(res.values, res.tables, res.notes)
    if res.profile.kind == "ups":
        derive_status(res.values, res.notes)
        res.status_source = status_source(res, status, flag_oids, fields, oids)
    groups = {t.name: t for p in plist for t in p.tables if t.group}
    # A postprocess may have made readings itself (Raritan's sensor-type rows).
    readings: list[dict[str, Any]] = list(res.values.pop("readings", None) or [])
    for name, rows in res.tables.items():
        if name in groups:
            readings += table_readings(groups[name], rows)
        elif rows:
            res.values[name] = rows
    if readings:
        res.values["readings"] = readings
    # Missing = asked for and never answered (a postprocess may consume a field, e.g. a
    # unit, so what was read counts as present).
    answered = {fields[i].name for i in got} | set(res.values)
    res.missing = [n for n in dict.fromkeys(f.name for f in fields if not f.optional)
                   if n not in answered]
    return max((len(r) for r in res.tables.values()), default=None) if res.tables else None
