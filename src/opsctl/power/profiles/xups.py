"""Powerware/Eaton XUPS-MIB, enterprise 534 (NUT: ``pw``): ConnectUPS, Network-MS and
other X-Slot/BD-Slot cards.

Scales follow the MIB's UNITS clauses (XUPS-MIB rev. 2014): frequencies in 0.1 Hz,
voltages in V, currents in A, power in W, runtime in seconds. Two of NUT's ``pw``
scales differ from the MIB (battery.current and input.current x0.1, where the MIB says
"Amps DC" / "RMS Amps"); we follow the MIB, see tests/power/test_cards_nut.py.

Real cards answer only parts of this MIB (the ConnectUPS V4.38 recording has no identity,
no runtime, no load and no output source): every field is optional, and ``ups.status``
is merged from whatever status objects answer (output source, ABM charger state,
battery failure flags, the alarm table).
"""

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

XUPS = "1.3.6.1.4.1.534.1"


def o(suffix: str) -> str:
    return oid_join(XUPS, suffix)


# xupsOutputSource -> NUT tokens (NUT powerware-mib.c pw_pwr_info, extended with the
# 2014 MIB's maintenanceBypass(11) and essMode(12)). other(1) says nothing.
OUTPUT_SOURCE = {
    1: "", 2: "OFF", 3: "OL", 4: "BYPASS", 5: "OB", 6: "OL BOOST", 7: "OL TRIM",
    8: "OL", 9: "OL", 10: "OL", 11: "BYPASS", 12: "OL",
}
# xupsBatteryAbmStatus: batteryCharging(1), batteryDischarging(2), batteryFloating(3),
# batteryResting(4), unknown(5), batteryDisconnected(6), batteryUnderTest(7),
# checkBattery(8). Only charging/discharging are status tokens (as in NUT).
ABM_STATUS = {1: "CHRG", 2: "DISCHRG", 3: "", 4: "", 6: "", 7: "", 8: ""}
ABM_TEXT = {1: "charging", 2: "discharging", 3: "floating", 4: "resting",
            6: "disconnected", 7: "under test", 8: "check battery"}
# xupsBatteryFailure / xupsBatteryLowCapacity: yes(1), no(2)
FAILURE = {1: "RB", 2: ""}
LOW_CAPACITY = {1: "LB", 2: ""}
# xupsTestBatteryStatus (NUT pw_batt_test_info); unknown(1) gives no value.
TEST_RESULT = {2: "Done and passed", 3: "Done and error", 4: "In progress",
               5: "Not supported", 6: "Inhibited", 7: "Scheduled"}

# Well-known alarms (xupsAlarms subtree, 534.1.7.N) named by xupsAlarmDescr, with the
# status token NUT derives from each (powerware-mib.c pw_alarms).
ALARM_BASE = o("7")
ALARMS: dict[int, tuple[str, str]] = {
    3: ("OnBattery", "OB"), 4: ("LowBattery", "LB"), 5: ("UtilityPowerRestored", ""),
    6: ("ReturnFromLowBattery", ""), 7: ("OutputOverload", "OVER"),
    8: ("InternalFailure", ""), 9: ("BatteryDischarged", ""), 10: ("InverterFailure", ""),
    11: ("OnBypass", "BYPASS"), 12: ("BypassNotAvailable", ""), 13: ("OutputOff", "OFF"),
    14: ("InputFailure", ""), 15: ("BuildingAlarm", ""), 16: ("ShutdownImminent", ""),
    17: ("OnInverter", ""), 20: ("BreakerOpen", ""), 21: ("AlarmEntryAdded", ""),
    22: ("AlarmEntryRemoved", ""), 23: ("AlarmBatteryBad", "RB"),
    24: ("OutputOffAsRequested", "OFF"), 25: ("DiagnosticTestFailed", ""),
    26: ("CommunicationsLost", ""), 27: ("UpsShutdownPending", ""),
    28: ("AlarmTestInProgress", ""), 29: ("AmbientTempBad", ""), 30: ("LossOfRedundancy", ""),
    31: ("AlarmTempBad", ""), 32: ("AlarmChargerFailed", ""), 33: ("AlarmFanFailure", ""),
    34: ("AlarmFuseFailure", ""), 35: ("PowerSwitchBad", ""), 36: ("ModuleFailure", ""),
    37: ("OnAlternatePowerSource", ""), 38: ("AltPowerNotAvailable", ""),
    39: ("NoticeCondition", ""), 40: ("RemoteTempBad", ""), 41: ("RemoteHumidityBad", ""),
    42: ("AlarmOutputBad", ""), 43: ("AlarmAwaitingPower", ""),
    44: ("OnMaintenanceBypass", "BYPASS"),
}
# Informational entries the card lists in its alarm table that are not faults.
NOT_AN_ALARM = {5, 6, 17, 21, 22, 28, 39}


def alarms_postprocess(values: dict[str, Any], tables: dict[str, list[dict[str, Any]]],
                       notes: Notes) -> None:
    """xupsAlarmTable rows point at well-known alarm OIDs: turn them into ``ups.alarm``
    text and ``ups.status`` tokens."""
    names: list[str] = []
    tokens: list[str] = []
    for row in tables.get("alarms") or []:
        descr = row.get("descr")
        if not isinstance(descr, str):
            continue
        if descr.startswith(ALARM_BASE + "."):
            num = int(descr[len(ALARM_BASE) + 1:].split(".")[0])
            if num in NOT_AN_ALARM:
                continue
            name, token = ALARMS.get(num, (f"alarm {num}", ""))
        else:
            name, token = f"vendor alarm {descr}", ""
        if name not in names:
            names.append(name)
        if token:
            tokens.append(token)
    if names:
        values["ups.alarm"] = " ".join(names)
    if tokens:
        values["ups.status"] = merge_status([values.get("ups.status") or "", *tokens])


_V = {"minimum": 0, "maximum": 1000}  # volts
_HZ = {"minimum": 0, "maximum": 100}  # hertz (0 is real: mains gone)

FIELDS = (
    Field("device.mfr", (Source(o("1.1.0")),), "string", description="xupsIdentManufacturer"),
    Field("device.model", (Source(o("1.2.0")),), "string", description="xupsIdentModel"),
    Field("ups.firmware", (Source(o("1.3.0")),), "string",
          description="xupsIdentSoftwareVersion"),
    Field("device.serial", (Source(o("1.6.0")),), "string",
          description="xupsIdentSerialNumber"),
    Field("ups.status", (Source(o("4.5.0"), enum=OUTPUT_SOURCE),), "flags",
          unknown_values=(1,), description="xupsOutputSource"),
    Field("ups.status", (Source(o("2.5.0"), enum=ABM_STATUS),), "flags",
          unknown_values=(5,), description="xupsBatteryAbmStatus"),
    Field("ups.status", (Source(o("2.7.0"), enum=FAILURE),), "flags",
          description="xupsBatteryFailure"),
    Field("ups.status", (Source(o("2.10.0"), enum=LOW_CAPACITY),), "flags",
          description="xupsBatteryLowCapacity"),
    Field("battery.charger.status", (Source(o("2.5.0"), enum=ABM_TEXT),), "enum",
          unknown_values=(5,), description="xupsBatteryAbmStatus"),
    Field("battery.runtime", (Source(o("2.1.0")),), unit="s", minimum=0,
          maximum=60 * 60 * 24 * 7, description="xupsBatTimeRemaining (seconds)"),
    Field("battery.voltage", (Source(o("2.2.0")),), unit="V", **_V,
          description="xupsBatVoltage (Volts DC)"),
    Field("battery.current", (Source(o("2.3.0")),), unit="A", minimum=-10000, maximum=10000,
          description="xupsBatCurrent (Amps DC; negative while discharging)"),
    Field("battery.charge", (Source(o("2.4.0")),), unit="%", minimum=0, maximum=100,
          description="xupsBatCapacity"),
    Field("input.frequency", (Source(o("3.1.0"), 0.1),), unit="Hz", **_HZ,
          description="xupsInputFrequency (0.1 Hz)"),
    Field("input.voltage", (Source(o("3.4.1.2.1")),), unit="V", **_V,
          description="xupsInputVoltage, phase 1"),
    Field("input.current", (Source(o("3.4.1.7.1"), 0.1, note="xupsInputCurrentHighPrecision"),
                            Source(o("3.4.1.3.1"), note="xupsInputCurrent")),
          unit="A", minimum=0, maximum=10000),
    Field("input.realpower", (Source(o("3.8.3.0"), note="xupsInputTotalWatts"),
                              Source(o("3.4.1.4.1"), note="xupsInputWatts, phase 1")),
          unit="W", minimum=0, maximum=10**7),
    Field("ups.load", (Source(o("4.1.0"), note="xupsOutputLoad"),
                       Source(o("4.4.1.8.1"), note="xupsOutputPercentLoad, phase 1")),
          unit="%", minimum=0, maximum=200),
    Field("output.frequency", (Source(o("4.2.0"), 0.1),), unit="Hz", **_HZ,
          description="xupsOutputFrequency (0.1 Hz)"),
    Field("output.voltage", (Source(o("4.4.1.2.1")),), unit="V", **_V,
          description="xupsOutputVoltage, phase 1"),
    Field("output.current",
          (Source(o("4.4.1.7.1"), 0.1, note="xupsOutputCurrentHighPrecision"),
           Source(o("4.4.1.3.1"), note="xupsOutputCurrent")),
          unit="A", minimum=0, maximum=10000),
    Field("ups.realpower", (Source(o("4.9.3.0"), note="xupsOutputTotalWatts"),
                            Source(o("4.4.1.4.1"), note="xupsOutputWatts, phase 1")),
          unit="W", minimum=0, maximum=10**7),
    Field("input.bypass.frequency", (Source(o("5.1.0"), 0.1),), unit="Hz", **_HZ,
          description="xupsBypassFrequency (0.1 Hz)"),
    Field("input.bypass.voltage", (Source(o("5.3.1.2.1")),), unit="V", **_V,
          description="xupsBypassVoltage, phase 1"),
    Field("ups.temperature", (Source(o("6.1.0")),), unit="°C", minimum=-100, maximum=200,
          description="xupsEnvAmbientTemp"),
    Field("ambient.temperature", (Source(o("6.5.0")),), unit="°C", minimum=-100,
          maximum=200, description="xupsEnvRemoteTemp (EMP probe)"),
    Field("ambient.humidity", (Source(o("6.6.0")),), unit="%", minimum=0, maximum=100,
          description="xupsEnvRemoteHumidity (EMP probe)"),
    Field("ups.alarms.count", (Source(o("7.1.0")),), minimum=0, maximum=1000,
          description="xupsAlarms"),
    Field("ups.test.result", (Source(o("8.2.0"), enum=TEST_RESULT),), "enum",
          unknown_values=(1,), description="xupsTestBatteryStatus"),
)

def _lines() -> tuple[Field, ...]:
    """Per-phase rows 1-3 of the input, output and bypass tables (3-phase Powerware
    UPSes); kept only when the phase counts say more than one (see ietf.phases_postprocess)."""
    out = [Field("input.lines", (Source(o("3.3.0")),), minimum=1, maximum=3, optional=True,
                 description="xupsInputNumPhases"),
           Field("output.lines", (Source(o("4.3.0")),), minimum=1, maximum=3, optional=True,
                 description="xupsOutputNumPhases"),
           Field("input.bypass.lines", (Source(o("5.2.0")),), minimum=1, maximum=3,
                 optional=True, description="xupsBypassNumPhases")]
    for n in (1, 2, 3):
        out += [
            Field(f"input.L{n}-N.voltage", (Source(o(f"3.4.1.2.{n}")),), unit="V", **_V,
                  optional=True, description="xupsInputVoltage"),
            Field(f"input.L{n}.current", (Source(o(f"3.4.1.3.{n}")),), unit="A", minimum=0,
                  maximum=10000, optional=True, description="xupsInputCurrent"),
            Field(f"output.L{n}-N.voltage", (Source(o(f"4.4.1.2.{n}")),), unit="V", **_V,
                  optional=True, description="xupsOutputVoltage"),
            Field(f"output.L{n}.current", (Source(o(f"4.4.1.3.{n}")),), unit="A", minimum=0,
                  maximum=10000, optional=True, description="xupsOutputCurrent"),
            Field(f"output.L{n}.realpower", (Source(o(f"4.4.1.4.{n}")),), unit="W",
                  minimum=0, maximum=10**7, optional=True, description="xupsOutputWatts"),
            Field(f"input.bypass.L{n}-N.voltage", (Source(o(f"5.3.1.2.{n}")),), unit="V",
                  **_V, optional=True, description="xupsBypassVoltage"),
        ]
    return tuple(out)


FIELDS = FIELDS + _lines()


def xups_postprocess(values: dict[str, Any], tables: dict[str, list[dict[str, Any]]],
                     notes: Notes) -> None:
    from opsctl.power.profiles.ietf import phases_postprocess

    phases_postprocess(values, tables, notes)
    alarms_postprocess(values, tables, notes)


TABLES = (
    Table("alarms", (Column("descr", o("7.2.1.2"), "oid"), Column("time", o("7.2.1.3"))),
          max_rows=64, description="xupsAlarmTable"),
)

PROFILES = [
    Profile(
        name="xups",
        kind="ups",
        description="Powerware/Eaton XUPS-MIB (ConnectUPS, Network-MS cards; NUT: pw)",
        sys_object_ids=(XUPS,),
        probe_oids=(o("1.2.0"), o("2.2.0"), o("2.4.0"), o("3.1.0"), o("4.1.0"), o("4.2.0"),
                    o("4.5.0")),
        fields=FIELDS,
        tables=TABLES,
        postprocess=xups_postprocess,
        priority=10,
        tested_with=(
            "Eaton ConnectUPS Web/SNMP card V4.38 (real recording, shared/snmp-real)",
            "XUPS card on battery with alarms (tests/fixtures/snmp-quirks/eaton-onbattery)",
        ),
    ),
]
