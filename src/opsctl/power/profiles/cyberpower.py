"""CyberPower CPS-MIB, enterprise 3808 (NUT: ``cyberpower``): RMCARD 2xx/3xx cards.

CPS-MIB (v2.9) units: voltages and frequencies in tenths (upsAdvanceInputLineVoltage
1195 = 119.5 V), runtime and time on battery as TimeTicks (1/100 s), battery
temperature in °C, output current in 0.1 A, load in %. The optional ENVIROSENSOR probe
(3808.1.1.4) reports temperature in 1/10 °F, converted here to °C.

The cards answer RFC 1628's upsIdentManufacturer ("CPS") and nothing else from it, so
this profile reads that one object for ``device.mfr`` and everything else from CPS-MIB.
"""

from __future__ import annotations

from typing import Any

from opsctl.power.profiles.base import Field, Notes, Profile, Source, oid_join, tidy

CPS = "1.3.6.1.4.1.3808"
UPS = "1.3.6.1.4.1.3808.1.1.1"
ENVIR = "1.3.6.1.4.1.3808.1.1.4"


def o(suffix: str) -> str:
    return oid_join(UPS, suffix)


# upsBaseOutputStatus (CPS-MIB 2.9) -> NUT tokens (NUT cyberpower-mib.c 0.55);
# unknown(1) says nothing.
OUTPUT_STATUS = {
    2: "OL", 3: "OB", 4: "OL BOOST", 5: "OFF", 6: "OFF", 7: "OL", 8: "OL",
    9: "OL BYPASS", 10: "OL TRIM", 11: "OL OVER",
}
# upsBaseBatteryStatus: unknown(1), batteryNormal(2), batteryLow(3)
BATTERY_STATUS = {2: "", 3: "LB"}
# upsAdvanceBatteryReplaceIndicator: noBatteryNeedsReplacing(1), batteryNeedsReplacing(2)
REPLACE = {1: "", 2: "RB"}
# upsAdvanceTestCalibrationResults: successful(1), invalid(2), inProgress(3)
CALIBRATION = {1: "", 2: "", 3: "CAL"}
# upsAdvanceInputLineFailCause (NUT: input.transfer.reason)
TRANSFER_REASON = {1: "noTransfer", 2: "highLineVoltage", 3: "brownout", 4: "selfTest"}
# upsAdvanceTestDiagnosticsResults (NUT cyberpower_testdiag_results)
TEST_RESULT = {1: "Ok", 2: "Failed", 3: "InvalidTest", 4: "TestInProgress"}

_FAHRENHEIT_FIELD = "ambient.temperature"


def envir_postprocess(values: dict[str, Any], tables: dict[str, list[dict[str, Any]]],
                      notes: Notes) -> None:
    """envirTemperature is in 1/10 °F; the field reads it in °F (scale 0.1) and this
    converts it to °C, the unit every other profile and the room's rules use."""
    f = values.get(_FAHRENHEIT_FIELD)
    if isinstance(f, int | float):
        values[_FAHRENHEIT_FIELD] = round(tidy((f - 32) * 5 / 9), 1)


_V = {"minimum": 0, "maximum": 1000}
_HZ = {"minimum": 0, "maximum": 100}

FIELDS = (
    Field("device.mfr", (Source("1.3.6.1.2.1.33.1.1.1.0", note="UPS-MIB upsIdentManufacturer"),),
          "string"),
    Field("device.model", (Source(o("1.1.1.0")),), "string", description="upsBaseIdentModel"),
    Field("ups.id", (Source(o("1.1.2.0")),), "string", description="upsBaseIdentName"),
    Field("ups.firmware", (Source(o("1.2.1.0")),), "string",
          description="upsAdvanceIdentFirmwareRevision"),
    Field("ups.mfr.date", (Source(o("1.2.2.0")),), "string",
          description="upsAdvanceIdentDateOfManufacture"),
    Field("device.serial", (Source(o("1.2.3.0")),), "string",
          description="upsAdvanceIdentSerialNumber"),
    Field("ups.status", (Source(o("4.1.1.0"), enum=OUTPUT_STATUS),), "flags",
          unknown_values=(1,), description="upsBaseOutputStatus"),
    Field("ups.status", (Source(o("2.1.1.0"), enum=BATTERY_STATUS),), "flags",
          unknown_values=(1,), description="upsBaseBatteryStatus"),
    Field("ups.status", (Source(o("2.2.5.0"), enum=REPLACE),), "flags",
          description="upsAdvanceBatteryReplaceIndicator"),
    Field("ups.status", (Source(o("7.2.7.0"), enum=CALIBRATION),), "flags",
          description="upsAdvanceTestCalibrationResults"),
    Field("battery.charge", (Source(o("2.2.1.0")),), unit="%", minimum=0, maximum=100,
          description="upsAdvanceBatteryCapacity"),
    Field("battery.voltage", (Source(o("2.2.2.0"), 0.1),), unit="V", **_V,
          description="upsAdvanceBatteryVoltage (0.1 V)"),
    Field("battery.temperature", (Source(o("2.2.3.0")),), unit="°C", minimum=-40,
          maximum=100, description="upsAdvanceBatteryTemperature"),
    Field("battery.runtime", (Source(o("2.2.4.0"), 0.01, note="TimeTicks"),), unit="s",
          minimum=0, maximum=60 * 60 * 24 * 7,
          description="upsAdvanceBatteryRunTimeRemaining (TimeTicks)"),
    Field("battery.runtime.elapsed", (Source(o("2.1.2.0"), 0.01, note="TimeTicks"),),
          unit="s", minimum=0, maximum=60 * 60 * 24 * 365,
          description="upsBaseBatteryTimeOnBattery (TimeTicks)"),
    Field("input.voltage", (Source(o("3.2.1.0"), 0.1),), unit="V", **_V,
          description="upsAdvanceInputLineVoltage (0.1 V)"),
    Field("input.frequency", (Source(o("3.2.4.0"), 0.1),), unit="Hz", **_HZ,
          description="upsAdvanceInputFrequency (0.1 Hz)"),
    Field("input.transfer.reason", (Source(o("3.2.5.0"), enum=TRANSFER_REASON),), "enum",
          description="upsAdvanceInputLineFailCause"),
    Field("output.voltage", (Source(o("4.2.1.0"), 0.1),), unit="V", **_V,
          description="upsAdvanceOutputVoltage (0.1 V)"),
    Field("output.frequency", (Source(o("4.2.2.0"), 0.1),), unit="Hz", **_HZ,
          description="upsAdvanceOutputFrequency (0.1 Hz)"),
    Field("ups.load", (Source(o("4.2.3.0")),), unit="%", minimum=0, maximum=200,
          description="upsAdvanceOutputLoad"),
    Field("output.current", (Source(o("4.2.4.0"), 0.1),), unit="A", minimum=0, maximum=10000,
          description="upsAdvanceOutputCurrent (0.1 A)"),
    Field("ups.test.result", (Source(o("7.2.3.0"), enum=TEST_RESULT),), "enum",
          description="upsAdvanceTestDiagnosticsResults"),
    # Read in °F (-58..212 °F is -50..100 °C); envir_postprocess converts to °C.
    Field(_FAHRENHEIT_FIELD, (Source(oid_join(ENVIR, "2.1.0"), 0.1,
                                     note="envirTemperature (1/10 °F)"),),
          unit="°C", minimum=-58, maximum=212),
    Field("ambient.humidity", (Source(oid_join(ENVIR, "3.1.0")),), unit="%", minimum=0,
          maximum=100, description="envirHumidity"),
)

PROFILES = [
    Profile(
        name="cyberpower",
        kind="ups",
        description="CyberPower CPS-MIB (RMCARD 2xx/3xx; NUT: cyberpower)",
        # NUT matches the short vendor prefix too: OL-series cards send 3808.1.1.3.
        sys_object_ids=(CPS,),
        probe_oids=(o("1.1.1.0"), o("2.2.1.0"), o("2.2.4.0"), o("3.2.1.0"), o("4.1.1.0"),
                    o("4.2.1.0")),
        fields=FIELDS,
        constants={"device.mfr": "CYBERPOWER"},
        postprocess=envir_postprocess,
        priority=10,
        tested_with=(
            "CyberPower OL2200RTXL2U, RMCARD firmware S1A17 (real recording, shared/snmp-real)",
            "CPS card on battery, low and replace battery "
            "(tests/fixtures/snmp-quirks/cyberpower-onbattery)",
        ),
    ),
]
