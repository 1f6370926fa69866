"""The profile table format: vendor knowledge as data (see docs/power.md, "Writing a profile").

A :class:`Profile` maps *fields* (NUT variable names such as ``battery.charge``) to SNMP
objects. Each :class:`Field` lists its :class:`Source` objects in fallback order (APC:
the high-precision OID first, the integer one second); the first source that yields a
valid value wins. A :class:`Table` describes a conceptual table (IF-MIB ports, sensors,
alarms) by its columns. Profiles never run code to read a device; the reader
(:mod:`opsctl.power.reader`) interprets these tables, and :func:`decode` turns one raw
SNMP value into a field value or a data-quality :class:`Note`.

Status flags: fields of type ``flags`` map an enum to NUT ``ups.status`` tokens
("OL", "OB LB", ...); every flags field is read (no fallback between fields) and the
tokens of all of them are merged into ``ups.status``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from opsctl.power.snmp.values import Raw

FieldType = Literal["number", "string", "enum", "flags", "oid", "counter"]
DeviceKind = Literal["ups", "switch", "sensor", "inverter", "pdu"]

# NUT's order of ups.status tokens, used to print them the way upsc does.
STATUS_ORDER = ("OL", "OB", "LB", "HB", "RB", "CHRG", "DISCHRG", "BYPASS", "CAL", "OFF",
                "OVER", "TRIM", "BOOST", "FSD")


@dataclass(frozen=True)
class Source:
    """One SNMP object a field may come from.

    ``oid``: the full OID *with* its instance (``….0`` for scalars, ``….1`` for the
    first row of a table such as upsOutputTable). ``scale`` multiplies numbers
    (tenths: 0.1; TimeTicks to seconds: 0.01; minutes to seconds: 60). ``enum`` maps
    integers to values (strings; for ``flags`` fields space-separated NUT tokens).
    """

    oid: str
    scale: float = 1.0
    enum: Mapping[int, str] | None = None
    note: str | None = None  # why this source exists (shown by `power probe`)

    def __post_init__(self) -> None:
        object.__setattr__(self, "oid", self.oid.strip().lstrip("."))


@dataclass(frozen=True)
class Field:
    """One output variable (a NUT name), read from the first source that answers.

    ``minimum``/``maximum`` bound the *scaled* value: outside, the value is dropped and
    a note says why (a charge of 255 % is a broken card, not a fact).
    """

    name: str
    sources: tuple[Source, ...]
    type: FieldType = "number"
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    description: str = ""
    # An enum value that means "the device does not know" (e.g. upsBatteryStatus
    # unknown(1)) gives no value and no note.
    unknown_values: tuple[int, ...] = ()
    # Raw numbers that mean "not available" on real cards (see :data:`SENTINELS`); a
    # field may add its own (a temperature of -273 °C).
    sentinels: tuple[int, ...] = ()
    # Not listed as "missing" when absent: objects only some models have (lines 2-3 of a
    # 3-phase UPS, nominal values), whose absence says nothing about the card.
    optional: bool = False


@dataclass(frozen=True)
class Column:
    """One column of a :class:`Table`: ``oid`` is the column OID *without* the index."""

    name: str
    oid: str
    type: FieldType = "number"
    scale: float = 1.0
    enum: Mapping[int, str] | None = None
    # What the column measures when its table lists readings (see Table.group):
    # current, power, apparent_power, voltage, frequency, energy, temperature, humidity,
    # load (%), or a state (leak, door, smoke, source, state); "rating" is the row's
    # breaker/maximum current, "name" its label. None: not a reading.
    quantity: str | None = None
    unit: str | None = None
    # Raw values that mean "no value" for this column (e.g. -1).
    sentinels: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "oid", self.oid.strip().lstrip("."))


@dataclass(frozen=True)
class Table:
    """Rows keyed by the OID index suffix (``"3"`` for ifIndex 3, ``"1.2"`` for two)."""

    name: str
    columns: tuple[Column, ...]
    max_rows: int = 2048
    description: str = ""
    # Walk only when this field's value is a positive number or absent (e.g. RFC 1628's
    # alarm table only when upsAlarmsPresent is not 0): saves a GETBULK per healthy UPS.
    only_if: str | None = None
    # Rows of this table are *readings* (a PDU's outlets, a sensor unit's probes): each
    # column with a ``quantity`` becomes one entry of ``values["readings"]`` naming its
    # group, row, name, value, unit and OID (see :func:`table_readings`). Scalars are
    # one-row tables (index "0").
    group: str | None = None
    # Rows whose column ``present`` (if any) is not in ``present_values`` are skipped
    # (empty outlet slots, unplugged probes).
    present: str | None = None
    present_values: tuple[int, ...] = ()


# A hook for what a table cannot say (e.g. RFC 1628's alarm table -> ups.alarm and
# status tokens). Gets the decoded values, tables and a note sink; mutates values.
PostProcess = Callable[[dict[str, Any], dict[str, list[dict[str, Any]]], "Notes"], None]


@dataclass(frozen=True)
class Profile:
    name: str
    kind: DeviceKind
    description: str
    # sysObjectID prefixes that select this profile under ``profile: auto``.
    sys_object_ids: tuple[str, ...] = ()
    # OIDs whose presence identifies the profile when probing (GET, with instance).
    probe_oids: tuple[str, ...] = ()
    fields: tuple[Field, ...] = ()
    tables: tuple[Table, ...] = ()
    # Constant values (e.g. device.mfr "APC" on cards that do not say it).
    constants: Mapping[str, Any] = field(default_factory=dict)
    # Other profiles read together with this one (a switch = IF-MIB + ENTITY-SENSOR).
    includes: tuple[str, ...] = ()
    postprocess: PostProcess | None = None
    # Vendors/models this profile was tested against (docs, `power probe`).
    tested_with: tuple[str, ...] = ()
    priority: int = 0  # tie-break when probing: higher wins

    def field_names(self) -> list[str]:
        return list(dict.fromkeys(f.name for f in self.fields))


# -- data-quality notes ----------------------------------------------------------------------
@dataclass(frozen=True)
class Note:
    """A data-quality remark about one device: ``code`` is stable (tests, JSON consumers),
    ``message`` is for people."""

    code: str  # missing-instance | null | string-number | out-of-range | bad-type |
    # unknown-enum | counter-wrap | discontinuity | absent | sentinel | scale
    field: str
    message: str
    oid: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "field": self.field, "message": self.message,
                "oid": self.oid}


class Notes(list):
    """A list of :class:`Note` with a helper; deduplicated by (code, field, oid)."""

    def add(self, code: str, field: str, message: str, oid: str | None = None) -> None:
        if any(n.code == code and n.field == field and n.oid == oid for n in self):
            return
        self.append(Note(code, field, message, oid))


# Raw numbers real cards send for "not available": all bits of a 16/32-bit field set
# (Socomec's runtime 65535, 4294967295 on Gauge32 objects) or the signed extremes. A
# number field never takes them as a reading (the corpus README, issue 13).
SENTINELS = frozenset({65535, 4294967295, 2147483647, -2147483648, -32768, 32767})
# Temperatures that mean "no probe" (absolute zero, in °C and 0.1 °C).
TEMPERATURE_SENTINELS = (-273, -2730)


# -- decoding one value ---------------------------------------------------------------------------
_NO_VALUE = object()


def _number(raw: Raw, fname: str, oid: str, notes: Notes) -> float | int | None:
    if raw.is_number:
        return int(raw.value)  # type: ignore[arg-type]
    if raw.kind == "null":
        notes.add("null", fname, f"{fname}: agent returned NULL for {oid}", oid)
        return None
    if raw.kind in ("string", "opaque"):
        text = raw.text().strip().rstrip("\x00")
        try:
            num = float(text)
        except ValueError:
            notes.add("bad-type", fname, f"{fname}: expected a number at {oid}, "
                                         f"got string {text[:40]!r}", oid)
            return None
        if not math.isfinite(num):
            notes.add("bad-type", fname, f"{fname}: non-finite number {text!r} at {oid}", oid)
            return None
        notes.add("string-number", fname, f"{fname}: number sent as a string at {oid}", oid)
        return num
    notes.add("bad-type", fname, f"{fname}: expected a number at {oid}, got {raw.kind}", oid)
    return None


def tidy(num: float) -> float | int:
    """Round away float noise from scaling (0.1 * 2301 = 230.10000000000002)."""
    r = round(num, 3)
    return int(r) if r == int(r) else r


def decode(f: Field, src: Source, raw: Raw, notes: Notes) -> Any:
    """Decode ``raw`` read from ``src`` for field ``f``.

    Returns the value, or ``None`` when this source gives nothing usable (the caller then
    tries the next source). Problems are recorded in ``notes``, never raised.
    """
    oid = src.oid
    if raw.missing:
        return None
    if f.type == "string":
        if raw.kind == "null":
            notes.add("null", f.name, f"{f.name}: agent returned NULL for {oid}", oid)
            return None
        text = raw.text().replace("\x00", "").strip()
        return text or None
    if f.type == "oid":
        if raw.kind != "oid":
            notes.add("bad-type", f.name, f"{f.name}: expected an OID at {oid}, got {raw.kind}",
                      oid)
            return None
        return raw.value
    num = _number(raw, f.name, oid, notes)
    if num is None:
        return None
    if f.type in ("enum", "flags"):
        if src.enum is None:
            return None
        if num != int(num):
            notes.add("bad-type", f.name, f"{f.name}: enum value {num} is not an integer", oid)
            return None
        if int(num) in f.unknown_values:
            return None
        if int(num) not in src.enum:
            notes.add("unknown-enum", f.name, f"{f.name}: unknown value {int(num)} at {oid}",
                      oid)
            return None
        return src.enum[int(num)]
    if f.type == "number" and (num in SENTINELS or num in f.sentinels):
        notes.add("sentinel", f.name, f"{f.name}: {int(num)} at {oid} means "
                                      f"\"not available\"; ignored", oid)
        return None
    value = tidy(num * src.scale)
    if (f.minimum is not None and value < f.minimum) or (f.maximum is not None
                                                         and value > f.maximum):
        notes.add("out-of-range", f.name,
                  f"{f.name}: value {value} out of range "
                  f"[{_fmt(f.minimum)}, {_fmt(f.maximum)}] at {oid}; ignored", oid)
        return None
    return value


def decode_column(col: Column, raw: Raw, notes: Notes, row: str) -> Any:
    """Decode one table cell (no range checks: table consumers judge their values)."""
    f = Field(f"{col.name}[{row}]", (Source(col.oid + "." + row, col.scale, col.enum),),
              type="number" if col.type == "counter" else col.type,
              sentinels=col.sentinels)
    # A counter column's number is a counter whatever its wire type (the v2c engine does
    # not keep INTEGER and Counter32 apart): never a "not available" sentinel.
    if col.type == "counter" and raw.is_number:
        return int(raw.value)  # type: ignore[arg-type]
    return decode(f, f.sources[0], raw, notes)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:g}"


def merge_status(tokens: list[str]) -> str | None:
    """Merge ``flags`` values into one NUT ``ups.status`` string in NUT's order."""
    seen: list[str] = []
    for chunk in tokens:
        for t in chunk.split():
            if t not in seen:
                seen.append(t)
    if not seen:
        return None
    # OB wins over OL: a UPS cannot be both; vendor objects may disagree briefly.
    if "OB" in seen and "OL" in seen:
        seen.remove("OL")
    order = {t: i for i, t in enumerate(STATUS_ORDER)}
    return " ".join(sorted(seen, key=lambda t: order.get(t, len(order))))


# Reading values that mean an alarm, by state quantity (enum texts of Column.enum).
ALARM_STATES = {"alarm", "open", "leak", "smoke", "fault", "critical", "failed", "lost",
                "triggered"}


def table_readings(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The readings of one reading table (``Table.group``): one dict per measured cell,
    with the row's name and, for currents, the row's rating."""
    out: list[dict[str, Any]] = []
    cols = {c.name: c for c in table.columns}
    for row in rows:
        if table.present is not None and row.get(table.present) not in table.present_values:
            continue
        idx = row["index"]
        name = next((str(row[c.name]) for c in table.columns
                     if c.quantity == "name" and row.get(c.name) not in (None, "")),
                    f"{table.group} {idx}")
        rating = next((row[c.name] for c in table.columns if c.quantity == "rating"
                       and isinstance(row.get(c.name), int | float) and row[c.name] > 0),
                      None)
        for cname, col in cols.items():
            if col.quantity in (None, "name", "rating") or cname not in row:
                continue
            entry: dict[str, Any] = {"group": table.group, "index": idx, "name": name,
                                     "quantity": col.quantity, "value": row[cname],
                                     "unit": col.unit, "oid": f"{col.oid}.{idx}"}
            if col.quantity == "current" and rating is not None:
                entry["rating"] = rating
            out.append(entry)
    return out


def derive_status(values: dict[str, Any], notes: Notes) -> None:
    """``ups.status`` from measurements, for a card whose status objects are absent or
    unknown: a clearly loaded output while the battery current is exactly 0 means the
    load is fed from mains (on battery, the battery carries the whole load). Nothing is
    derived from anything weaker; a UPS without this evidence keeps no status."""
    if values.get("ups.status"):
        return
    bat = values.get("battery.current")
    load, out = values.get("ups.load"), values.get("output.current")
    loaded = (isinstance(load, int | float) and load >= 5) or \
        (isinstance(out, int | float) and out >= 1)
    if isinstance(bat, int | float) and bat == 0 and loaded:
        values["ups.status"] = "OL"
        notes.add("derived", "ups.status", "ups.status: OL derived from measurements "
                  "(loaded output, battery current 0); the card sends no status")


# -- device health: the status of a card that does not say where its power comes from --------
# A profile may declare a field named HEALTH_FIELD: the device's own summary of its state
# (DELL-SNMP-UPS-MIB productStatusGlobalStatus, VERTIV-ITA2-MIB systemStatus), an enum
# mapped to one of HEALTH_LEVELS. When no power-source object is readable, the UPS's
# status is that health state, shown as such (``status_source`` names the object) --
# never turned into OL or OB, which would be a guess.
HEALTH_FIELD = "device.health"
HEALTH_LEVELS = ("OK", "WARNING", "CRITICAL")


def health_field(oid: str, levels: Mapping[int, str], description: str,
                 unknown: tuple[int, ...] = ()) -> Field:
    """The :data:`HEALTH_FIELD` of a profile: ``levels`` maps the MIB's enum to OK /
    WARNING / CRITICAL; ``unknown`` lists the values that mean "the device does not
    know" (no value, no note)."""
    bad = set(levels.values()) - set(HEALTH_LEVELS)
    if bad:
        raise ValueError(f"health levels must be one of {HEALTH_LEVELS}, not {sorted(bad)}")
    return Field(HEALTH_FIELD, (Source(oid, enum=dict(levels)),), "enum",
                 unknown_values=unknown, description=description)


def oid_join(prefix: str, *parts: str | int) -> str:
    """``oid_join("1.3.6.1.2.1.33.1", "2.4.0")`` -> "1.3.6.1.2.1.33.1.2.4.0"."""
    return ".".join([prefix.strip(".")] + [str(p).strip(".") for p in parts])
