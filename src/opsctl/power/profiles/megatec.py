"""Megatec/PPC NetAgent cards, enterprise 935: sold inside UPSes of INVT, PowerWalker,
and many other OEMs. Two MIBs, each a profile:

- ``netagent`` — the PPC "UPS-MIB" under 935.1.1.1 (NetAgent II / 9), laid out like APC's
  PowerNet (upsBase*/upsSmart*): voltages and frequencies in 0.1, battery temperature in
  0.1 °C, load and capacity in %.
- ``eppc`` — the EPPC-MIB under 935.10.1 (NetAgent for PowerWalker and other on-line
  UPSes): input/output tables per line, 0.1 V, 0.1 Hz; -1 where the UPS has no value.

Sources: the objects as LibreNMS reads them (includes/definitions/netagent2.yaml,
powerwalker.yaml) and the recordings in tests/fixtures/ups-corpus; where the MIB's unit
or enumeration is not certain an object is left out rather than guessed. EPPC's
battery time remaining is upsEBatteryEstimatedMinutesRemaining: minutes, by its name in
the EPPC-MIB (as LibreNMS's eppc-mib discovery reads it).

Not everything under 935.10 is a UPS: 935.10.2 is the same card family in a DC telecom
power system (see :mod:`opsctl.power.profiles.dcpower`).
"""

from __future__ import annotations

from opsctl.power.profiles.base import Field, Profile, Source, oid_join

NETAGENT = "1.3.6.1.4.1.935.1.1.1"
EPPC = "1.3.6.1.4.1.935.10.1.1"


def n(suffix: str) -> str:
    return oid_join(NETAGENT, suffix)


def e(suffix: str) -> str:
    return oid_join(EPPC, suffix)


# upsBaseOutputStatus: unknown(1), onLine(2), onBattery(3), onBoost(4), sleeping(5),
# onBypass(6), rebooting(7), standBy(8), onBuck(9). standBy is an off-line (standby)
# UPS passing mains through with its inverter idle: on line.
NA_OUTPUT = {2: "OL", 3: "OB", 4: "OL BOOST", 5: "OFF", 6: "OL BYPASS", 7: "OFF",
             8: "OL", 9: "OL TRIM"}
# upsBaseBatteryStatus: unknown(1), batteryNormal(2), batteryLow(3)
NA_BATTERY = {2: "", 3: "LB"}
# upsSmartBatteryReplaceIndicator: noBatteryNeedsReplacing(1), batteryNeedsReplacing(2);
# cards send 0 for "no" as well.
NA_REPLACE = {0: "", 1: "", 2: "RB"}

NETAGENT_FIELDS = (
    Field("device.model", (Source(n("1.1.1.0")),), "string", description="upsBaseIdentModel"),
    Field("ups.firmware", (Source(n("1.2.1.0")),), "string"),
    Field("ups.status", (Source(n("4.1.1.0"), enum=NA_OUTPUT),), "flags", unknown_values=(1,),
          description="upsBaseOutputStatus"),
    Field("ups.status", (Source(n("2.1.1.0"), enum=NA_BATTERY),), "flags",
          unknown_values=(1,), description="upsBaseBatteryStatus"),
    Field("ups.status", (Source(n("2.2.5.0"), enum=NA_REPLACE),), "flags",
          description="upsSmartBatteryReplaceIndicator"),
    Field("battery.charge", (Source(n("2.2.1.0")),), unit="%", minimum=0, maximum=100,
          description="upsSmartBatteryCapacity"),
    Field("battery.voltage", (Source(n("2.2.2.0"), 0.1),), unit="V", minimum=0,
          maximum=1000, description="upsSmartBatteryVoltage (0.1 V)"),
    Field("ups.temperature", (Source(n("2.2.3.0"), 0.1),), unit="°C", minimum=-40,
          maximum=100, description="upsSmartBatteryTemperature (0.1 °C; the UPS's)"),
    Field("battery.current", (Source(n("2.2.7.0"), 0.1),), unit="A", minimum=-10000,
          maximum=10000, description="upsSmartBatteryCurrent (0.1 A)"),
    Field("input.voltage", (Source(n("3.2.1.0"), 0.1),), unit="V", minimum=0, maximum=1000,
          description="upsSmartInputLineVoltage (0.1 V)"),
    Field("input.frequency", (Source(n("3.2.4.0"), 0.1),), unit="Hz", minimum=0,
          maximum=100, description="upsSmartInputFrequency (0.1 Hz)"),
    Field("output.voltage", (Source(n("4.2.1.0"), 0.1),), unit="V", minimum=0, maximum=1000,
          description="upsSmartOutputVoltage (0.1 V)"),
    Field("output.frequency", (Source(n("4.2.2.0"), 0.1),), unit="Hz", minimum=0,
          maximum=100, description="upsSmartOutputFrequency (0.1 Hz)"),
    Field("ups.load", (Source(n("4.2.3.0")),), unit="%", minimum=0, maximum=250,
          description="upsSmartOutputLoad"),
)

# upsESystemStatus (EPPC-MIB): power-on(1), stand-by(2), by-pass(3), line(4), battery(5),
# battery-test(6), fault(7), converter(8), eco(9), shutdown(10), on-booster(11),
# on-reducer(12), other(13). Power-on/stand-by/fault/other say nothing about the source.
EPPC_STATUS = {3: "OL BYPASS", 4: "OL", 5: "OB", 6: "OB CAL", 8: "OL", 9: "OL",
               10: "OFF", 11: "OL BOOST", 12: "OL TRIM"}
EPPC_BATTERY = {2: "", 3: "LB", 4: "LB"}
_NA = (-1,)  # EPPC's "no such value"

EPPC_FIELDS = (
    Field("ups.firmware", (Source(e("1.6.0")),), "string", description="upsEIdentFirmware"),
    Field("ups.status", (Source(e("2.1.0"), enum=EPPC_STATUS),), "flags",
          unknown_values=(1, 2, 7, 13), description="upsESystemStatus"),
    Field("ups.status", (Source(e("3.1.0"), enum=EPPC_BATTERY),), "flags",
          unknown_values=(1,), description="upsEBatteryStatus"),
    Field("ups.temperature", (Source(e("2.2.0"), 0.1),), unit="°C", minimum=-40,
          maximum=100, sentinels=_NA, description="upsESystemTemperature (0.1 °C)"),
    Field("input.frequency", (Source(e("2.16.1.2.1"), 0.1),), unit="Hz", minimum=0,
          maximum=100, sentinels=_NA, description="upsESystemInputFrequency.1 (0.1 Hz)"),
    Field("input.voltage", (Source(e("2.16.1.3.1"), 0.1),), unit="V", minimum=0,
          maximum=1000, sentinels=_NA, description="upsESystemInputVoltage.1 (0.1 V)"),
    Field("output.frequency", (Source(e("2.18.1.2.1"), 0.1),), unit="Hz", minimum=0,
          maximum=100, sentinels=_NA, description="upsESystemOutputFrequency.1 (0.1 Hz)"),
    Field("output.voltage", (Source(e("2.18.1.3.1"), 0.1),), unit="V", minimum=0,
          maximum=1000, sentinels=_NA, description="upsESystemOutputVoltage.1 (0.1 V)"),
    Field("ups.load", (Source(e("2.18.1.7.1")),), unit="%", minimum=0, maximum=250,
          sentinels=_NA, description="upsESystemOutputLoad.1"),
    Field("battery.charge", (Source(e("3.4.0")),), unit="%", minimum=0, maximum=100,
          sentinels=_NA, description="upsEBatteryCapacity"),
    Field("battery.runtime", (Source(e("3.3.0"), 60),), unit="s", minimum=0,
          maximum=60 * 60 * 24 * 7, sentinels=_NA,
          description="upsEBatteryEstimatedMinutesRemaining (minutes)"),
    Field("battery.voltage", (Source(e("3.5.0"), 0.1),), unit="V", minimum=0, maximum=1000,
          sentinels=_NA, description="upsEPositiveBatteryVoltage (0.1 V)"),
)

PROFILES = [
    Profile(
        name="netagent",
        kind="ups",
        description="Megatec/PPC NetAgent UPS-MIB (enterprise 935.1; INVT, PowerWalker and "
                    "other OEM UPSes)",
        sys_object_ids=("1.3.6.1.4.1.935.1",),
        probe_oids=(n("2.2.1.0"), n("4.1.1.0"), n("4.2.3.0")),
        fields=NETAGENT_FIELDS,
        priority=10,
        tested_with=("NetAgent II firmware 3.7.CY504 (tests/fixtures/ups-corpus netagent2_1)",),
    ),
    Profile(
        name="eppc",
        kind="ups",
        description="Megatec/PPC EPPC-MIB (enterprise 935.10.1; PowerWalker on-line UPSes)",
        sys_object_ids=("1.3.6.1.4.1.935.10.1",),
        probe_oids=(e("2.1.0"), e("3.4.0"), e("2.18.1.7.1")),
        fields=EPPC_FIELDS,
        priority=10,
        tested_with=("PowerWalker NMC (tests/fixtures/ups-corpus powerwalker)",),
    ),
]
