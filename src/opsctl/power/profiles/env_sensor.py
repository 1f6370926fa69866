"""A simple environment sensor: APC environmental monitoring (PowerNet-MIB ``iem``), probe 1.

Covers the stand-alone APC NetBotz/EMU-lite probes and the temperature/humidity probe
plugged into a UPS network card. Fields use NUT's ``ambient.*`` names.
"""

from __future__ import annotations

from typing import Any

from opsctl.power.profiles.base import Field, Notes, Profile, Source, tidy

IEM = "1.3.6.1.4.1.318.1.1.10.2.3.2.1"  # iemStatusProbesEntry
UNITS = {1: "C", 2: "F"}


def _units(values: dict[str, Any], tables: dict, notes: Notes) -> None:
    # The probe reports in the unit set on the card; the room's rules are in °C.
    if values.pop("ambient.temperature.unit", "C") == "F" and "ambient.temperature" in values:
        values["ambient.temperature"] = tidy((values["ambient.temperature"] - 32) * 5 / 9)


PROFILES = [
    Profile(
        name="env-sensor",
        kind="sensor",
        description="APC environmental probe (PowerNet-MIB iemStatusProbesTable, probe 1)",
        sys_object_ids=("1.3.6.1.4.1.318.1.3.8",),
        probe_oids=(f"{IEM}.4.1", f"{IEM}.6.1"),
        fields=(
            Field("ambient.name", (Source(f"{IEM}.2.1"),), "string"),
            Field("ambient.temperature", (Source(f"{IEM}.4.1"),), unit="°C", minimum=-60,
                  maximum=200),
            Field("ambient.temperature.unit", (Source(f"{IEM}.5.1", enum=UNITS),), "enum"),
            Field("ambient.humidity", (Source(f"{IEM}.6.1"),), unit="%", minimum=0,
                  maximum=100),
        ),
        postprocess=_units,
        priority=5,
        tested_with=("snmpsim recording (tests/fixtures/snmp/env1.snmprec)",),
    ),
]
