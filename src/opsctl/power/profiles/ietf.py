"""RFC 1628 UPS-MIB (NUT: ``ietf``) — the standard every UPS card is supposed to speak."""

from __future__ import annotations

from typing import Any

from opsctl.power.profiles.base import (
    Column,
    Field,
    Notes,
    Profile,
    Source,
    Table,
    merge_status,
    oid_join,
)

UPS = "1.3.6.1.2.1.33.1"


def o(suffix: str) -> str:
    return oid_join(UPS, suffix)


# upsOutputSource -> NUT tokens (NUT ietf-mib.c: ietf_power_source_info)
OUTPUT_SOURCE = {1: "", 2: "OFF", 3: "OL", 4: "OL BYPASS", 5: "OB", 6: "OL BOOST",
                 7: "OL TRIM"}
# upsBatteryStatus: unknown(1), batteryNormal(2), batteryLow(3), batteryDepleted(4)
BATTERY_STATUS = {2: "", 3: "LB", 4: "LB"}
# upsTestResultsSummary, worded as NUT's ietf-mib.c does (upsc shows these strings)
TEST_RESULT = {1: "done and passed", 2: "done and warning", 3: "done and error",
               4: "aborted", 5: "in progress", 6: "no test initiated"}

# upsWellKnownAlarms (upsAlarm OBJECT IDENTIFIER ::= { upsObjects 6 }; .3.N)
ALARMS = {
    1: ("BatteryBad", "RB"), 2: ("OnBattery", "OB"), 3: ("LowBattery", "LB"),
    4: ("DepletedBattery", "LB"), 5: ("TempBad", ""), 6: ("InputBad", ""),
    7: ("OutputBad", ""), 8: ("OutputOverload", "OVER"), 9: ("OnBypass", "BYPASS"),
    10: ("BypassBad", ""), 11: ("OutputOffAsRequested", "OFF"),
    12: ("UpsOffAsRequested", "OFF"), 13: ("ChargerFailed", ""), 14: ("UpsOutputOff", "OFF"),
    15: ("UpsSystemOff", "OFF"), 16: ("FanFailure", ""), 17: ("FuseFailure", ""),
    18: ("GeneralFault", ""), 19: ("DiagnosticTestFailed", ""),
    20: ("CommunicationsLost", ""), 21: ("AwaitingPower", ""), 22: ("ShutdownPending", ""),
    23: ("ShutdownImminent", ""), 24: ("TestInProgress", ""),
}
ALARM_BASE = o("6.3")


def alarms_postprocess(values: dict[str, Any], tables: dict[str, list[dict[str, Any]]],
                       notes: Notes) -> None:
    """upsAlarmTable rows name well-known alarms by OID: turn them into ``ups.alarm``
    text and status tokens (BatteryBad -> RB, OutputOverload -> OVER, ...)."""
    rows = tables.get("alarms") or []
    names: list[str] = []
    tokens: list[str] = []
    for row in rows:
        descr = row.get("descr")
        if not isinstance(descr, str):
            continue
        if descr.startswith(ALARM_BASE + "."):
            num = int(descr[len(ALARM_BASE) + 1:].split(".")[0])
            name, token = ALARMS.get(num, (f"alarm {num}", ""))
        else:
            name, token = f"vendor alarm {descr}", ""
        names.append(name)
        if token:
            tokens.append(token)
    if names:
        values["ups.alarm"] = " ".join(names)
    status = set(str(values.get("ups.status") or "").split()) | set(tokens)
    # Charger state is not an RFC 1628 object; derive it only where the data is
    # unambiguous: on battery means discharging, and on line with a positive battery
    # current (into the battery) and a charge below 100 % means charging.
    current, charge = values.get("battery.current"), values.get("battery.charge")
    if "OB" in status:
        tokens.append("DISCHRG")
    elif "OL" in status and isinstance(current, int | float) and current > 0 \
            and isinstance(charge, int | float) and charge < 100:
        tokens.append("CHRG")
    if tokens:
        values["ups.status"] = merge_status([values.get("ups.status") or "", *tokens])


FIELDS = (
    Field("device.mfr", (Source(o("1.1.0")),), "string"),
    Field("device.model", (Source(o("1.2.0")),), "string"),
    Field("ups.firmware", (Source(o("1.3.0")),), "string"),
    Field("ups.id", (Source(o("1.5.0")),), "string"),
    Field("ups.status", (Source(o("4.1.0"), enum=OUTPUT_SOURCE),), "flags",
          unknown_values=(1,), description="upsOutputSource"),
    Field("ups.status", (Source(o("2.1.0"), enum=BATTERY_STATUS),), "flags",
          unknown_values=(1,), description="upsBatteryStatus"),
    Field("battery.runtime", (Source(o("2.3.0"), 60),), unit="s", minimum=0,
          maximum=60 * 60 * 24 * 7, description="upsEstimatedMinutesRemaining"),
    Field("battery.charge", (Source(o("2.4.0")),), unit="%", minimum=0, maximum=100),
    Field("battery.voltage", (Source(o("2.5.0"), 0.1),), unit="V", minimum=0, maximum=1000),
    Field("battery.current", (Source(o("2.6.0"), 0.1),), unit="A", minimum=-1000,
          maximum=1000),
    Field("battery.temperature", (Source(o("2.7.0")),), unit="°C", minimum=-40, maximum=100),
    Field("input.frequency", (Source(o("3.3.1.2.1"), 0.1),), unit="Hz", minimum=0,
          maximum=100),
    Field("input.voltage", (Source(o("3.3.1.3.1")),), unit="V", minimum=0, maximum=1000),
    Field("output.frequency", (Source(o("4.2.0"), 0.1),), unit="Hz", minimum=0, maximum=100),
    Field("output.voltage", (Source(o("4.4.1.2.1")),), unit="V", minimum=0, maximum=1000),
    Field("output.current", (Source(o("4.4.1.3.1"), 0.1),), unit="A", minimum=0,
          maximum=10000),
    Field("ups.realpower", (Source(o("4.4.1.4.1")),), unit="W", minimum=0, maximum=10**7),
    Field("ups.load", (Source(o("4.4.1.5.1")),), unit="%", minimum=0, maximum=250),
    Field("ups.alarms.count", (Source(o("6.1.0")),), minimum=0, maximum=1000,
          description="upsAlarmsPresent"),
    Field("ups.test.result", (Source(o("7.3.0"), enum=TEST_RESULT),), "enum"),
)

TABLES = (
    Table("alarms", (Column("descr", o("6.2.1.2"), "oid"), Column("time", o("6.2.1.3"))),
          max_rows=64, description="upsAlarmTable", only_if="ups.alarms.count"),
)

PROFILES = [
    Profile(
        name="ietf",
        kind="ups",
        description="RFC 1628 UPS-MIB (generic UPS cards)",
        sys_object_ids=(UPS.rsplit(".", 1)[0],),
        probe_oids=(o("2.1.0"), o("2.4.0"), o("4.1.0"), o("4.4.1.5.1"), o("3.3.1.3.1")),
        fields=FIELDS,
        tables=TABLES,
        postprocess=alarms_postprocess,
        tested_with=("snmpsim recordings (tests/fixtures/snmp)", "Minuteman E1500RTXL2U"),
    ),
]
