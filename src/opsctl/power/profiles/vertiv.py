"""Vertiv (Emerson Network Power China) UPS MIB, enterprise 13400.2.54: ITA2 and similar
single-phase on-line UPSes with the Vertiv/Emerson CN web card.

Units and enumerations from VERTIV-ITA2-MIB 1.2 (as shipped in LibreNMS's mibs/vertiv),
checked against the recording: voltages and currents in 0.1, frequencies in 0.01 Hz,
load in 0.1 %, active power in 0.01 kW, battery currents in 0.01 A, runtime
(batteryRemainsTime) in **0.1 minute** -- LibreNMS's vertiv-ita2.yaml reads whole
minutes, 10x the MIB's value (347 -> 5.8 h on a 29 % loaded ITA2; the MIB's 34.7 min).

``ups.status`` comes from upsOutputSource; the card's systemStatus (highest alarm) is its
``device.health``. A card without upsOutputSource gets a status derived from
measurements (:func:`vertiv_postprocess`): a discharging battery means on battery;
mains present, a loaded output and no battery discharge mean on line. Nothing else is
inferred.
"""

from __future__ import annotations

from typing import Any

from opsctl.power.profiles.base import (
    Field,
    Notes,
    Profile,
    Source,
    health_field,
    oid_join,
    tidy,
)

ITA2 = "1.3.6.1.4.1.13400.2.54"


def o(suffix: str) -> str:
    return oid_join(ITA2, suffix)


_V = {"unit": "V", "minimum": 0, "maximum": 1000}
_HZ = {"unit": "Hz", "minimum": 0, "maximum": 100}
_A = {"unit": "A", "minimum": 0, "maximum": 10000}

# upsOutputSource: UPSNoOutput(0), UPSOnMain(1), UPSOnBattery(2), UPSOnBypass(3),
# UPSonUtilityandBattery(4) (mains and battery share the load: on line, discharging).
OUTPUT_SOURCE = {0: "OFF", 1: "OL", 2: "OB", 3: "OL BYPASS", 4: "OL DISCHRG"}

FIELDS = (
    Field("device.model", (Source(o("1.2.0")),), "string"),
    Field("ups.status", (Source(o("2.1.2.0"), enum=OUTPUT_SOURCE),), "flags",
          description="upsOutputSource"),
    # systemStatus: "Status of the complete plant (highest alarm)": normal(0),
    # warning(1), critical(2).
    health_field(o("2.1.1.0"), {0: "OK", 1: "WARNING", 2: "CRITICAL"}, "systemStatus"),
    Field("device.serial", (Source(o("1.3.0")),), "string"),
    Field("input.voltage", (Source(o("2.2.1.0"), 0.1),), **_V,
          description="input phase A voltage (0.1 V)"),
    Field("input.frequency", (Source(o("2.2.4.0"), 0.01),), **_HZ,
          description="input frequency (0.01 Hz)"),
    Field("input.current", (Source(o("2.2.5.0"), 0.1),), **_A,
          description="input phase A current (0.1 A)"),
    Field("output.voltage", (Source(o("2.3.1.0"), 0.1),), **_V,
          description="output phase A voltage (0.1 V)"),
    Field("output.current", (Source(o("2.3.4.0"), 0.1),), **_A,
          description="output phase A current (0.1 A)"),
    Field("output.frequency", (Source(o("2.3.7.0"), 0.01),), **_HZ,
          description="output frequency (0.01 Hz)"),
    Field("ups.realpower", (Source(o("2.3.8.0"), 10),), unit="W", minimum=0,
          maximum=10**7, description="output active power phase A (0.01 kW)"),
    Field("ups.load", (Source(o("2.3.14.0"), 0.1),), unit="%", minimum=0, maximum=250,
          description="output load phase A (0.1 %)"),
    Field("input.bypass.frequency", (Source(o("2.4.4.0"), 0.01),), **_HZ, optional=True,
          description="bypass frequency (0.01 Hz)"),
    Field("battery.voltage", (Source(o("2.5.1.0"), 0.1),), **_V,
          description="positive battery voltage (0.1 V)"),
    Field("battery.charge.current", (Source(o("2.5.3.0"), 0.01),), **_A, optional=True,
          description="positive battery charging current (0.01 A)"),
    Field("battery.discharge.current", (Source(o("2.5.4.0"), 0.01),), **_A, optional=True,
          description="positive battery discharging current (0.01 A)"),
    Field("battery.negative.discharge.current", (Source(o("2.5.6.0"), 0.01),), **_A,
          optional=True, description="negative battery discharging current (0.01 A)"),
    Field("battery.runtime", (Source(o("2.5.7.0"), 6),), unit="s", minimum=0,
          maximum=60 * 60 * 24 * 7, description="batteryRemainsTime (0.1 minute)"),
    Field("battery.charge", (Source(o("2.5.10.0")),), unit="%", minimum=0, maximum=100,
          description="battery capacity"),
)


def vertiv_postprocess(values: dict[str, Any], tables: dict[str, list[dict[str, Any]]],
                       notes: Notes) -> None:
    """battery.current as charging minus discharging current of the positive string, and
    for a card without upsOutputSource a status from measurements (module docstring)."""
    charge = values.get("battery.charge.current")
    dis = values.get("battery.discharge.current")
    neg = values.get("battery.negative.discharge.current")
    if isinstance(charge, int | float) and isinstance(dis, int | float):
        values["battery.current"] = tidy(charge - dis)
    if values.get("ups.status"):
        return
    discharging = [v for v in (dis, neg) if isinstance(v, int | float)]
    vin, vout = values.get("input.voltage"), values.get("output.voltage")
    if any(v > 0 for v in discharging):
        values["ups.status"] = "OB DISCHRG"
    elif discharging and isinstance(vin, int | float) and vin > 0 \
            and isinstance(vout, int | float) and vout > 0:
        values["ups.status"] = "OL"


PROFILES = [
    Profile(
        name="vertiv-ita2",
        kind="ups",
        description="Vertiv/Emerson CN UPS MIB (enterprise 13400.2.54; ITA2)",
        sys_object_ids=(ITA2,),
        probe_oids=(o("2.5.10.0"), o("2.3.14.0")),
        fields=FIELDS,
        postprocess=vertiv_postprocess,
        priority=10,
        tested_with=("Vertiv ITA2 (tests/fixtures/ups-corpus vertiv-ita2)",),
    ),
]
