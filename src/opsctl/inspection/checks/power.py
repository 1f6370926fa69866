"""UPS, switch and environment-sensor state, polled through the power domain's API.

The power domain applies the room's rules (UPS load < 60 %, runtime ≥ 6 h, sensor ranges);
an item's status is the worst of its devices' statuses.
"""

from __future__ import annotations

from typing import Any, ClassVar

from opsctl.core.errors import OpsError, Status, worst
from opsctl.core.i18n import _
from opsctl.inspection.checks.base import Check, CheckResult, Param, ParamError
from opsctl.inspection.registry import register

# Values worth showing in a record, per device kind (NUT-style names from the power domain).
KEY_VALUES = {
    "ups": ("ups.status", "battery.charge", "ups.load", "battery.runtime",
            "battery.temperature", "input.voltage"),
    "switch": ("ports.up", "ports.down", "uptime"),
    "sensor": ("temperature", "humidity", "water"),
    "pdu": ("ats.source", "ats.redundancy"),
}


class _PowerCheck(Check):
    kind: ClassVar[str]
    params = (
        Param("devices", "list[str]", [], "device names from devices: (empty: every device of "
                                          "this kind)"),
    )

    @classmethod
    def check_config(cls, params: dict[str, Any], cfg) -> None:
        for i, name in enumerate(params["devices"]):
            dev = next((d for d in cfg.devices if d.name == name), None)
            if dev is None:
                known = ", ".join(d.name for d in cfg.devices if d.kind == cls.kind) or "none"
                raise ParamError(("devices", i), f"unknown device {name!r} (known {cls.kind} "
                                                 f"devices: {known})")
            if dev.kind != cls.kind:
                raise ParamError(("devices", i), f"device {name!r} is a {dev.kind}, not a "
                                                 f"{cls.kind}")

    def run(self, ctx, p: dict[str, Any]) -> CheckResult:
        names = p["devices"] or [d.name for d in ctx.cfg.devices if d.kind == self.kind]
        if not names:
            return CheckResult.unknown(_("no {kind} devices configured").format(kind=self.kind))
        try:
            from opsctl.power import api
        except ImportError as exc:
            return CheckResult.unknown(
                _("the power module is not available ({error})").format(error=exc))
        try:
            readings = api.poll(ctx.cfg, names, store=ctx.store)
        except OpsError as exc:
            return CheckResult.unknown(_("polling failed: {error}").format(error=exc))
        statuses: list[Status] = []
        parts: list[str] = []
        values: dict[str, Any] = {}
        for r in readings:
            statuses.append(r.status)
            reason = r.reason or (_("unreachable") if not r.reachable else r.status.name)
            parts.append(f"{r.name}: {reason}")
            values[r.name] = {k: r.values[k] for k in KEY_VALUES.get(self.kind, ())
                              if r.values.get(k) is not None}
        missing = [n for n in names if n not in {r.name for r in readings}]
        for n in missing:
            statuses.append(Status.UNKNOWN)
            parts.append(_("{device}: no reading").format(device=n))
        value: Any = values[readings[0].name] if len(readings) == 1 and not missing else values
        return CheckResult(worst(statuses), "; ".join(parts), value,
                           {"readings": [r.to_dict() if hasattr(r, "to_dict") else vars(r)
                                         for r in readings]})


@register
class UpsCheck(_PowerCheck):
    name = "ups"
    kind = "ups"
    summary = "UPS state over SNMP: on line, charge, load < 60 %, runtime ≥ 6 h, alarms."


@register
class SwitchCheck(_PowerCheck):
    name = "switch"
    kind = "switch"
    summary = "Switch state over SNMP: expected ports up, errors, temperatures, fans, PSUs."


@register
class SensorCheck(_PowerCheck):
    name = "sensor"
    kind = "sensor"
    summary = "Room temperature / humidity / water-leak sensors over SNMP against ranges."


@register
class PduCheck(_PowerCheck):
    name = "pdu"
    kind = "pdu"
    summary = ("PDU / ATS state over SNMP: branch currents below 80 % of their rating, "
               "selected source healthy, redundancy kept.")
