"""What a poll produces: one :class:`DeviceReading` per device, :class:`Finding` per broken
rule, :class:`Event` per change between two polls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opsctl.core.errors import Status


@dataclass
class Finding:
    """One rule a value breaks (or a fact that makes the device unhealthy)."""

    status: Status
    message: str
    field: str | None = None
    value: Any = None
    rule: str | None = None  # e.g. "ups.load >= 60" (the threshold that fired)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.name, "message": self.message, "field": self.field,
                "value": self.value, "rule": self.rule}


@dataclass
class DeviceReading:
    name: str
    kind: str
    reachable: bool
    status: Status = Status.UNKNOWN
    reason: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)  # data-quality notes
    missing: list[str] = field(default_factory=list)  # profile fields the device lacks
    profile: str | None = None
    profile_reason: str | None = None  # how `auto` chose (sysObjectID / probe / default)
    # A UPS's status origin: power-source objects (their OIDs), derived, or the device's
    # health summary when no source is reported (opsctl.power.reader.status_source).
    status_source: dict[str, Any] | None = None
    error: str | None = None
    error_kind: str | None = None  # timeout | dns | unreachable | auth | protocol | config
    address: str = ""
    polled_at: str = ""
    duration: float = 0.0
    requests: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "reachable": self.reachable,
            "status": self.status.name, "reason": self.reason, "values": self.values,
            "findings": [f.to_dict() for f in self.findings], "notes": self.notes,
            "missing": self.missing, "profile": self.profile,
            "profile_reason": self.profile_reason, "status_source": self.status_source,
            "error": self.error,
            "error_kind": self.error_kind, "address": self.address,
            "polled_at": self.polled_at, "duration": round(self.duration, 3),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DeviceReading:
        r = cls(name=d["name"], kind=d["kind"], reachable=bool(d["reachable"]))
        r.status = Status[d.get("status", "UNKNOWN")]
        r.reason = d.get("reason", "")
        r.values = d.get("values") or {}
        r.findings = [Finding(Status[f["status"]], f["message"], f.get("field"),
                              f.get("value"), f.get("rule")) for f in d.get("findings") or []]
        r.notes = d.get("notes") or []
        r.missing = d.get("missing") or []
        r.profile = d.get("profile")
        r.profile_reason = d.get("profile_reason")
        r.status_source = d.get("status_source")
        r.error = d.get("error")
        r.error_kind = d.get("error_kind")
        r.address = d.get("address", "")
        r.polled_at = d.get("polled_at", "")
        r.duration = float(d.get("duration") or 0.0)
        return r

    @property
    def ups_status(self) -> list[str]:
        return str(self.values.get("ups.status") or "").split()

    def shown_status(self) -> str | None:
        """The UPS status as people read it: the NUT tokens, else the device's own health
        summary marked as such (mains state unknown), else None."""
        if self.values.get("ups.status"):
            return str(self.values["ups.status"])
        src = self.status_source or {}
        if src.get("kind") == "device-health" and self.values.get("device.health"):
            return f"{self.values['device.health']} (device health; mains state not reported)"
        return None


@dataclass
class Event:
    """A change between two polls (kind: on_battery, online, low_battery, overload,
    replace_battery, device_health, comms_lost, comms_restored, port_down, port_up)."""

    kind: str
    device: str
    severity: str  # minor | major | critical (the duty log's severities)
    message: str
    at: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "device": self.device, "severity": self.severity,
                "message": self.message, "at": self.at, "details": self.details}
