"""SNMP values as plain, typed Python objects.

pysnmp hands back ASN.1 objects; everything above the client works on :class:`Raw`, a
small tagged value, so profile decoding and tests never touch pysnmp types and a
recording can be replayed without an agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RawKind = Literal[
    "integer", "string", "oid", "ipaddress", "counter32", "gauge32", "timeticks",
    "counter64", "opaque", "null", "missing",
]

# Kinds that carry an integer.
NUMERIC_KINDS = frozenset({"integer", "counter32", "gauge32", "timeticks", "counter64"})


@dataclass(frozen=True)
class Raw:
    """One SNMP value. ``missing`` stands for noSuchObject/noSuchInstance/endOfMibView."""

    kind: RawKind
    value: int | str | bytes | None = None

    @property
    def missing(self) -> bool:
        return self.kind == "missing"

    @property
    def is_number(self) -> bool:
        return self.kind in NUMERIC_KINDS

    def text(self) -> str:
        """The value as text (strings decoded leniently, since cards send Latin-1 too)."""
        v = self.value
        if isinstance(v, bytes):
            try:
                return v.decode("utf-8")
            except UnicodeDecodeError:
                return v.decode("latin-1")
        return "" if v is None else str(v)

    def __str__(self) -> str:
        if self.kind in ("missing", "null"):
            return self.kind.upper()
        return f"{self.kind}:{self.text()}"


MISSING = Raw("missing")

# snmprec type codes (snmpsim) and pysnmp class names -> our kinds.
_PYSNMP_KINDS: dict[str, RawKind] = {
    "Integer": "integer", "Integer32": "integer", "Unsigned32": "gauge32",
    "OctetString": "string", "DisplayString": "string", "Bits": "string",
    "ObjectIdentifier": "oid", "ObjectName": "oid", "IpAddress": "ipaddress",
    "Counter32": "counter32", "Gauge32": "gauge32", "TimeTicks": "timeticks",
    "Counter64": "counter64", "Opaque": "opaque", "Null": "null",
}


def from_pysnmp(obj) -> Raw:
    """Convert a pysnmp value object to :class:`Raw` (kept here so nothing else imports
    pysnmp types)."""
    name = type(obj).__name__
    if name in ("NoSuchObject", "NoSuchInstance", "EndOfMibView"):
        return MISSING
    kind = _PYSNMP_KINDS.get(name)
    if kind is None:
        # Subclasses (textual conventions) resolve to their base ASN.1 type.
        for base in type(obj).__mro__:
            kind = _PYSNMP_KINDS.get(base.__name__)
            if kind:
                break
    if kind is None:
        return Raw("opaque", bytes(obj.asOctets()) if hasattr(obj, "asOctets") else str(obj))
    if kind == "null":
        return Raw("null")
    if kind in NUMERIC_KINDS:
        return Raw(kind, int(obj))
    if kind == "oid":
        return Raw("oid", ".".join(str(x) for x in obj.asTuple()))
    if kind == "ipaddress":
        return Raw("ipaddress", ".".join(str(b) for b in obj.asOctets()))
    return Raw(kind, bytes(obj.asOctets()))


def oid_tuple(oid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in oid.strip(".").split("."))


def oid_str(oid) -> str:
    return ".".join(str(p) for p in oid)


def is_under(oid: str, base: str) -> bool:
    return oid == base or oid.startswith(base + ".")
