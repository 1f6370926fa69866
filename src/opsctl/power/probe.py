"""``opsctl power probe``: point opsctl at an unknown SNMP agent and learn what it is.

The first thing one does with a new UPS card or switch: which profile matches, why,
which values it reads and which the profile expects but the device does not send.

Evidence per profile, weakest identity assumption first:
- sysObjectID under one of the profile's prefixes (longest prefix wins);
- its probe objects that answer with a real value (system-group objects do not count:
  every agent answers those, they say nothing about the device);
- its tables that have at least one row (one GETNEXT per table, so a switch that only
  shows itself through ifTable is still recognised).
No single identity object decides: a card without sysObjectID or ident objects is still
matched by the data objects it answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opsctl.power.profiles import registry
from opsctl.power.profiles.base import Profile
from opsctl.power.snmp.client import Session, Target
from opsctl.power.snmp.values import Raw, is_under

SYSTEM = "1.3.6.1.2.1.1"
SYS = {"descr": f"{SYSTEM}.1.0", "object_id": f"{SYSTEM}.2.0", "uptime": f"{SYSTEM}.3.0",
       "name": f"{SYSTEM}.5.0"}
KINDS = ("ups", "pdu", "sensor", "switch")  # tie-break order: the most specific kind first


@dataclass
class Candidate:
    profile: str
    kind: str
    description: str
    sys_object_id_match: str | None = None  # the matching prefix
    probe_hits: list[str] = field(default_factory=list)
    probe_total: int = 0
    tables_present: list[str] = field(default_factory=list)
    priority: int = 0

    @property
    def evidence(self) -> int:
        return len(self.probe_hits) + len(self.tables_present)

    @property
    def matches(self) -> bool:
        return self.sys_object_id_match is not None or self.evidence > 0

    def rank(self) -> tuple:
        share = len(self.probe_hits) / self.probe_total if self.probe_total else 0.0
        return (len(self.sys_object_id_match or ""), self.evidence, share, self.priority,
                -KINDS.index(self.kind) if self.kind in KINDS else -len(KINDS))

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "kind": self.kind, "description": self.description,
                "sys_object_id_match": self.sys_object_id_match,
                "probe_hits": len(self.probe_hits), "probe_total": self.probe_total,
                "tables_present": self.tables_present, "matches": self.matches}


@dataclass
class ProbeReport:
    address: str
    system: dict[str, Any] = field(default_factory=dict)
    candidates: list[Candidate] = field(default_factory=list)
    profile: str | None = None
    kind: str | None = None
    reason: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0

    def config_snippet(self, host: str, port: int) -> dict[str, Any] | None:
        """A ``devices:`` entry that reads this device (without secrets)."""
        if self.profile is None:
            return None
        import re

        name = str(self.system.get("name") or "")
        if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
            name = "CHANGE-ME"
        entry: dict[str, Any] = {"name": name, "kind": self.kind, "host": host}
        if port != 161:
            entry["port"] = port
        entry["profile"] = self.profile
        return entry

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "system": self.system,
                "profile": self.profile, "kind": self.kind, "reason": self.reason,
                "candidates": [c.to_dict() for c in self.candidates],
                "values": self.values, "missing": self.missing, "notes": self.notes,
                "requests": self.requests}


def _answered(raw: Raw | None) -> bool:
    return raw is not None and not raw.missing and raw.kind != "null"


def _system(answers: dict[str, Raw]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, oid in SYS.items():
        raw = answers.get(oid)
        if not _answered(raw):
            continue
        if key == "uptime" and raw.is_number:
            out["uptime_s"] = int(raw.value) // 100  # type: ignore[arg-type]
        elif key == "object_id":
            out[key] = str(raw.value) if raw.kind == "oid" else raw.text()
        else:
            out[key] = raw.text().replace("\x00", "").strip()
    return out


def _profiles(kinds: Sequence[str]) -> list[Profile]:
    return [p for p in registry.all_profiles().values() if p.kind in kinds]


async def _tables_present(session: Session, profiles: list[Profile]) -> set[str]:
    """Names of tables (``profile/table``) whose first column has at least one row."""
    firsts = {t.columns[0].oid: f"{p.name}/{t.name}"
              for p in profiles for t in p.tables if t.columns}
    if not firsts:
        return set()
    walked = await session.walk(list(firsts), max_rows=1)
    return {firsts[base] for base, rows in walked.items() if rows}


async def probe(target: Target, kinds: Sequence[str] = KINDS) -> ProbeReport:
    """Identify and read the agent at ``target``. Raises ``SnmpError`` when it does not
    answer at all (timeout, DNS, authentication)."""
    from opsctl.power.reader import read_device

    session = Session(target)
    report = ProbeReport(address=target.label)
    profiles = _profiles(kinds)
    probe_oids = list(dict.fromkeys(o for p in profiles for o in p.probe_oids
                                    if not is_under(o, SYSTEM)))
    answers = await session.get([*SYS.values(), *probe_oids])
    report.system = _system(answers)
    soid = report.system.get("object_id")
    tables = await _tables_present(session, profiles)

    for p in profiles:
        c = Candidate(p.name, p.kind, p.description, priority=p.priority)
        if soid:
            prefixes = [x.strip(".") for x in p.sys_object_ids if is_under(soid, x.strip("."))]
            c.sys_object_id_match = max(prefixes, key=len) if prefixes else None
        specific = [o for o in p.probe_oids if not is_under(o, SYSTEM)]
        c.probe_total = len(specific)
        c.probe_hits = [o for o in specific if _answered(answers.get(o))]
        for member in registry.expand(p):
            c.tables_present += sorted(t.split("/", 1)[1] for t in tables
                                       if t.startswith(member.name + "/"))
        report.candidates.append(c)
    report.candidates.sort(key=Candidate.rank, reverse=True)

    best = next((c for c in report.candidates if c.matches), None)
    if best is not None:
        report.profile, report.kind = best.profile, best.kind
        report.reason = _why(best)
        res = await read_device(session, best.kind, best.profile)
        report.values = res.values
        report.missing = res.missing
        report.notes = [n.to_dict() for n in res.notes]
    else:
        report.reason = ("no profile matches: sysObjectID "
                         f"{soid or 'not sent'} is not a known vendor prefix and none of "
                         "the profiles' objects or tables answered")
    report.requests = session.requests
    return report


def _why(c: Candidate) -> str:
    parts = []
    if c.sys_object_id_match:
        parts.append(f"sysObjectID under {c.sys_object_id_match}")
    if c.probe_total:
        parts.append(f"{len(c.probe_hits)} of {c.probe_total} probe objects answered")
    if c.tables_present:
        parts.append("tables present: " + ", ".join(c.tables_present))
    return "; ".join(parts)


def secret_from(env: str | None, path: str | None, what: str) -> str | None:
    """A secret from ``$env`` or a file (first line, stripped); never from argv."""
    import os
    from pathlib import Path

    from opsctl.core.errors import UsageError

    if env:
        if env not in os.environ:
            raise UsageError(f"{what}-env: environment variable {env} is not set")
        return os.environ[env]
    if path:
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{what}-file: cannot read {path}: {exc.strerror}") from None
        lines = text.splitlines()
        return lines[0].strip() if lines else ""
    return None


def probe_target(*, host: str, port: int = 161, version: str = "2c",
                 community: str | None = "public", user: str | None = None,
                 security_level: str = "authPriv", auth_protocol: str = "SHA",
                 auth_key: str | None = None, priv_protocol: str = "AES",
                 priv_key: str | None = None, kinds: Sequence[str] = KINDS,
                 timeout: float = 2.0, retries: int = 1
                 ) -> tuple[ProbeReport, dict[str, Any] | None]:
    """Synchronous probe for the CLI: returns the report and a ``devices:`` entry.

    Raises ``UsageError`` for incomplete v3 credentials and ``DeviceError`` (exit 1)
    when the agent does not answer, with the reason (timeout, DNS, authentication)."""
    from opsctl.core.errors import DeviceError, UsageError
    from opsctl.power.snmp.client import SnmpError, run

    if version == "3":
        if security_level != "noAuthNoPriv" and not auth_key:
            raise UsageError(f"SNMPv3 {security_level} needs an auth key "
                             "(--auth-key-file or --auth-key-env)")
        if security_level == "authPriv" and not priv_key:
            raise UsageError("SNMPv3 authPriv needs a privacy key "
                             "(--priv-key-file or --priv-key-env)")
        for what, key in (("auth", auth_key), ("priv", priv_key)):
            if key is not None and len(key) < 8:
                raise UsageError(f"SNMPv3 {what} key must be at least 8 characters")
    target = Target(host=host, port=port, version=version, community=community, user=user,
                    security_level=security_level, auth_protocol=auth_protocol,
                    auth_key=auth_key, priv_protocol=priv_protocol, priv_key=priv_key,
                    timeout=timeout, retries=retries)
    try:
        report = run(probe(target, kinds))
    except SnmpError as exc:
        raise DeviceError(f"probe {target.label}: {exc.message}") from None
    snippet = report.config_snippet(host, port)
    if snippet is not None:
        if version == "3":
            snippet["snmp"] = {"version": "3", "user": user, "security_level": security_level,
                               "auth_protocol": auth_protocol, "auth_key_file": "CHANGE-ME",
                               "priv_protocol": priv_protocol, "priv_key_file": "CHANGE-ME"}
        else:
            snippet["snmp"] = {"version": version, "community_env": "CHANGE-ME"}
        snippet["timeout"] = timeout
        snippet["retries"] = retries
    return report, snippet
