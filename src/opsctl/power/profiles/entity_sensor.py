"""ENTITY-SENSOR-MIB (RFC 3433) with ENTITY-MIB names: temperatures, fans, PSUs, voltages.

Values are ``entPhySensorValue × 10^(3·(scale−9)) / 10^precision``; the sensor type says
what it measures. A truth-value sensor (PSU ok, door closed…) reads true(1)/false(2).
"""

from __future__ import annotations

import re
from typing import Any

from opsctl.power.profiles.base import Column, Notes, Profile, Table, tidy

SENSOR = "1.3.6.1.2.1.99.1.1.1"
ENTITY = "1.3.6.1.2.1.47.1.1.1.1"

TYPES = {1: "other", 2: "unknown", 3: "voltsAC", 4: "voltsDC", 5: "amperes", 6: "watts",
         7: "hertz", 8: "celsius", 9: "percentRH", 10: "rpm", 11: "cmm", 12: "truthvalue",
         13: "specialEnum", 14: "dBm"}
OPER = {1: "ok", 2: "unavailable", 3: "nonoperational"}
UNITS = {"voltsAC": "V", "voltsDC": "V", "amperes": "A", "watts": "W", "hertz": "Hz",
         "celsius": "°C", "percentRH": "%RH", "rpm": "rpm", "cmm": "m³/min", "dBm": "dBm"}
KIND = {"celsius": "temperature", "percentRH": "humidity", "rpm": "fan", "voltsAC": "voltage",
        "voltsDC": "voltage", "amperes": "current", "watts": "power", "truthvalue": "status"}
_PSU = re.compile(r"\b(psu|power ?supply|pwr)\b", re.I)
_FAN = re.compile(r"\bfan\b", re.I)

SENSORS = Table(
    "sensors",
    (
        Column("type", f"{SENSOR}.1", "enum", enum=TYPES),
        Column("scale", f"{SENSOR}.2"),
        Column("precision", f"{SENSOR}.3"),
        Column("raw", f"{SENSOR}.4"),
        Column("oper", f"{SENSOR}.5", "enum", enum=OPER),
        Column("units_display", f"{SENSOR}.6", "string"),
        Column("name", f"{ENTITY}.7", "string"),
        Column("descr", f"{ENTITY}.2", "string"),
    ),
    max_rows=512,
    description="entPhySensorTable joined with entPhysicalName/Descr",
)


def sensors_postprocess(values: dict[str, Any], tables: dict[str, list[dict[str, Any]]],
                        notes: Notes) -> None:
    """Scale raw sensor values and classify them (temperature, fan, psu, ...)."""
    out = []
    for row in tables.get("sensors", []):
        if "raw" not in row and "type" not in row:
            continue  # an entPhysical row that is not a sensor
        stype = row.get("type") or "unknown"
        raw = row.get("raw")
        scale = row.get("scale", 9)
        precision = row.get("precision", 0)
        value = None
        if isinstance(raw, int | float):
            try:
                value = tidy(raw * 10 ** (3 * (int(scale) - 9)) / 10 ** int(precision))
            except (TypeError, ValueError, OverflowError):
                notes.add("bad-type", f"sensor[{row['index']}]",
                          f"sensor {row['index']}: bad scale/precision {scale}/{precision}")
        name = row.get("name") or row.get("descr") or f"sensor {row['index']}"
        kind = KIND.get(stype, stype)
        if stype == "truthvalue":
            value = {1: True, 2: False}.get(raw) if isinstance(raw, int) else None
            if _PSU.search(name):
                kind = "psu"
            elif _FAN.search(name):
                kind = "fan"
        elif _PSU.search(name) and kind in ("status", "other", "specialEnum"):
            kind = "psu"
        out.append({"index": row["index"], "name": name, "kind": kind, "type": stype,
                    "value": value, "unit": UNITS.get(stype), "oper": row.get("oper")})
    values["sensors"] = out
    del tables["sensors"]


PROFILES = [
    Profile(
        name="entity-sensor",
        kind="sensor",
        description="ENTITY-SENSOR-MIB sensors (switch chassis, PDUs, environment units)",
        probe_oids=(),
        tables=(SENSORS,),
        postprocess=sensors_postprocess,
        tested_with=("snmpsim switch recording (tests/fixtures/snmp)",),
    ),
]
