"""APC PowerNet-MIB (NUT: ``apcc``): high-precision objects first, integer ones second."""

from __future__ import annotations

from typing import Any

from opsctl.power.profiles.base import (
    Column,
    Field,
    Notes,
    Profile,
    Source,
    Table,
    oid_join,
    tidy,
)

APC = "1.3.6.1.4.1.318"
UPS = "1.3.6.1.4.1.318.1.1.1"


def o(suffix: str) -> str:
    return oid_join(UPS, suffix)


# upsBasicOutputStatus (PowerNet-MIB) -> NUT tokens (NUT apc-mib.c: apcc_pwr_info)
OUTPUT_STATUS = {
    1: "", 2: "OL", 3: "OB", 4: "OL BOOST", 5: "OFF", 6: "BYPASS", 7: "OFF", 8: "OFF",
    9: "BYPASS", 10: "BYPASS", 11: "OFF", 12: "OL TRIM", 13: "OL", 14: "OL", 15: "OL",
    16: "BYPASS", 17: "OL", 18: "OL", 19: "OL",
}
# upsBasicBatteryStatus: unknown(1), batteryNormal(2), batteryLow(3),
# batteryInFaultCondition(4)
BATTERY_STATUS = {2: "", 3: "LB", 4: "RB"}
# upsAdvBatteryReplaceIndicator: noBatteryNeedsReplacing(1), batteryNeedsReplacing(2)
REPLACE = {1: "", 2: "RB"}
# upsAdvTestDiagnosticsResults
TEST_RESULT = {1: "Ok", 2: "Failed", 3: "Invalid test", 4: "Test in progress"}

FIELDS = (
    Field("device.model", (Source(o("1.1.1.0")),), "string", description="upsBasicIdentModel"),
    Field("ups.id", (Source(o("1.1.2.0")),), "string", description="upsBasicIdentName"),
    Field("ups.firmware", (Source(o("1.2.1.0")),), "string"),
    Field("device.serial", (Source(o("1.2.3.0")),), "string"),
    Field("ups.status", (Source(o("4.1.1.0"), enum=OUTPUT_STATUS),), "flags",
          unknown_values=(1,), description="upsBasicOutputStatus"),
    Field("ups.status", (Source(o("2.1.1.0"), enum=BATTERY_STATUS),), "flags",
          unknown_values=(1,), description="upsBasicBatteryStatus"),
    Field("ups.status", (Source(o("2.2.4.0"), enum=REPLACE),), "flags",
          description="upsAdvBatteryReplaceIndicator"),
    Field("battery.charge", (Source(o("2.3.1.0"), 0.1, note="upsHighPrecBatteryCapacity"),
                             Source(o("2.2.1.0"), note="upsAdvBatteryCapacity")),
          unit="%", minimum=0, maximum=100),
    Field("battery.temperature", (Source(o("2.3.2.0"), 0.1), Source(o("2.2.2.0"))),
          unit="°C", minimum=-40, maximum=100),
    Field("battery.runtime", (Source(o("2.2.3.0"), 0.01, note="TimeTicks"),), unit="s",
          minimum=0, maximum=60 * 60 * 24 * 7, description="upsAdvBatteryRunTimeRemaining"),
    Field("battery.voltage", (Source(o("2.3.4.0"), 0.1), Source(o("2.2.8.0"))), unit="V",
          minimum=0, maximum=1000),
    Field("input.voltage", (Source(o("3.3.1.0"), 0.1), Source(o("3.2.1.0"))), unit="V",
          minimum=0, maximum=1000),
    Field("input.frequency", (Source(o("3.3.4.0"), 0.1), Source(o("3.2.4.0"))), unit="Hz",
          minimum=0, maximum=100),
    Field("output.voltage", (Source(o("4.3.1.0"), 0.1), Source(o("4.2.1.0"))), unit="V",
          minimum=0, maximum=1000),
    Field("output.frequency", (Source(o("4.3.2.0"), 0.1), Source(o("4.2.2.0"))), unit="Hz",
          minimum=0, maximum=100),
    Field("ups.load", (Source(o("4.3.3.0"), 0.1), Source(o("4.2.3.0"))), unit="%",
          minimum=0, maximum=250),
    Field("output.current", (Source(o("4.3.4.0"), 0.1), Source(o("4.2.4.0"))), unit="A",
          minimum=0, maximum=10000),
    Field("ups.test.result", (Source(o("7.2.3.0"), enum=TEST_RESULT),), "enum"),
    Field("ups.realpower", (Source(o("4.2.8.0")),), unit="W", minimum=0, maximum=10**7,
          optional=True, description="upsAdvOutputActivePower (W)"),
)

# Probes on the card's universal I/O ports (uioSensorStatusTable, index port.sensor):
# temperature in °C, humidity in %RH, -1 where the probe has no humidity sensor.
UIO = oid_join(APC, "1.1.25.1.2.1")
IEM = oid_join(APC, "1.1.10.2.3.2.1")
TABLES = (
    Table("uio_probes", (
        Column("name", f"{UIO}.3", "string", quantity="name"),
        Column("temperature", f"{UIO}.6", quantity="temperature", unit="°C"),
        Column("humidity", f"{UIO}.7", quantity="humidity", unit="%", sentinels=(-1,)),
    ), group="probe", max_rows=16, description="uioSensorStatusTable"),
    # The older cards' Integrated Environmental Monitor probes (iemStatusProbesTable):
    # status disconnected(1)/connected(2), temperature in the unit of column 5
    # (celsius(1), fahrenheit(2)), humidity in %RH or -1 without a humidity sensor.
    Table("iem_probes", (
        Column("name", f"{IEM}.2", "string"),
        Column("status", f"{IEM}.3"),
        Column("temperature", f"{IEM}.4"),
        Column("units", f"{IEM}.5"),
        Column("humidity", f"{IEM}.6", sentinels=(-1,)),
    ), max_rows=16, description="iemStatusProbesTable"),
)


def apc_postprocess(values: dict[str, Any], tables: dict[str, list[dict[str, Any]]],
                    notes: Notes) -> None:
    """Connected IEM probes as readings, temperatures in °C whatever unit the card uses."""
    out = list(values.get("readings") or [])
    for r in tables.pop("iem_probes", []):
        if r.get("status") != 2:
            continue
        idx, name = r["index"], r.get("name") or f"probe {r['index']}"
        t, unit = r.get("temperature"), r.get("units")
        if isinstance(t, int | float) and unit in (1, 2):
            out.append({"group": "probe", "index": idx, "name": name,
                        "quantity": "temperature", "unit": "°C",
                        "value": t if unit == 1 else tidy((t - 32) * 5 / 9),
                        "oid": f"{IEM}.4.{idx}"})
        h = r.get("humidity")
        if isinstance(h, int | float) and 0 <= h <= 100:
            out.append({"group": "probe", "index": idx, "name": name, "quantity": "humidity",
                        "unit": "%", "value": h, "oid": f"{IEM}.6.{idx}"})
    if out:
        values["readings"] = out

PROFILES = [
    Profile(
        name="apc",
        kind="ups",
        description="APC PowerNet-MIB (Smart-UPS, Symmetra with AP96xx cards)",
        # Product OIDs (318.1.3.x: Smart-UPS, Symmetra...) and the UPS MIB subtree.
        sys_object_ids=(oid_join(APC, "1.3"), oid_join(APC, "1.1.1")),
        probe_oids=(o("1.1.1.0"), o("4.1.1.0"), o("2.2.1.0"), o("2.3.1.0")),
        fields=FIELDS,
        tables=TABLES,
        postprocess=apc_postprocess,
        constants={"device.mfr": "APC"},
        priority=10,
        tested_with=("snmpsim recording of a Smart-UPS 3000 (tests/fixtures/snmp/apc-smartups)",),
    ),
]
