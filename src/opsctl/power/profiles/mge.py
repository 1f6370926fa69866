"""MGE UPS SYSTEMS MIB, enterprise 705 (NUT: ``mge``): MGE/Eaton Pulsar, Galaxy, 5PX/9PX
with the Network Management Proxy card. Read together with RFC 1628, which these cards
also serve (the vendor objects come first: upsmgBatteryRemainingTime is in seconds, RFC
1628 only in minutes).

Units from the MGE MIB (and NUT's mge-mib.c): voltages in 0.1 V, frequencies in 0.1 Hz,
currents in 0.1 A, remaining time in seconds, per-phase load in % of nominal; yes(1)/no(2)
flags. The phase tables have three rows on single-phase models too (copies of line 1, or
zeros): see :func:`mge_postprocess`. The Galaxy 7000 serves table cells with an extra
``.0`` instance (the reader tries it).
"""

from __future__ import annotations

from typing import Any

from opsctl.power.profiles.base import Field, Notes, Profile, Source, oid_join

MGE = "1.3.6.1.4.1.705.1"


def o(suffix: str) -> str:
    return oid_join(MGE, suffix)


YES_NO = {1: "yes", 2: "no"}
ON_BATTERY = {1: "OB", 2: "OL"}    # upsmgOutputOnBattery (NUT mge_onbatt_info)
ON_BYPASS = {1: "BYPASS", 2: ""}   # upsmgOutputOnBypass
LOW_BATTERY = {1: "LB", 2: ""}     # upsmgBatteryLowBattery
REPLACE = {1: "RB", 2: ""}         # upsmgBatteryReplacement / upsmgBatteryFaultBattery
OVERLOAD = {1: "OVER", 2: ""}      # upsmgOutputOverLoad


def _phase(prefix: str, column: int, name: str, scale: float, unit: str, lo: float,
           hi: float, what: str) -> tuple[Field, ...]:
    return tuple(Field(name.format(n=n), (Source(o(f"{prefix}.{column}.{n}"), scale),),
                       unit=unit, minimum=lo, maximum=hi, optional=True,
                       description=f"{what}, line {n}") for n in (1, 2, 3))


FIELDS = (
    Field("device.model", (Source(o("1.1.0")),), "string", description="upsmgIdentFamilyName"),
    Field("device.serial", (Source(o("1.7.0")),), "string",
          description="upsmgIdentSerialNumber"),
    Field("ups.status", (Source(o("7.3.0"), enum=ON_BATTERY),), "flags",
          description="upsmgOutputOnBattery"),
    Field("ups.status", (Source(o("7.4.0"), enum=ON_BYPASS),), "flags",
          description="upsmgOutputOnBypass"),
    Field("ups.status", (Source(o("5.14.0"), enum=LOW_BATTERY),), "flags",
          description="upsmgBatteryLowBattery"),
    Field("ups.status", (Source(o("5.11.0"), enum=REPLACE),), "flags",
          description="upsmgBatteryReplacement"),
    Field("ups.status", (Source(o("5.9.0"), enum=REPLACE),), "flags",
          description="upsmgBatteryFaultBattery"),
    Field("ups.status", (Source(o("7.10.0"), enum=OVERLOAD),), "flags",
          description="upsmgOutputOverLoad"),
    Field("battery.runtime", (Source(o("5.1.0")),), unit="s", minimum=0,
          maximum=60 * 60 * 24 * 7, description="upsmgBatteryRemainingTime (s)"),
    Field("battery.charge", (Source(o("5.2.0")),), unit="%", minimum=0, maximum=100,
          description="upsmgBatteryLevel"),
    Field("battery.voltage", (Source(o("5.5.0"), 0.1),), unit="V", minimum=0, maximum=1000,
          description="upsmgBatteryVoltage (0.1 V)"),
    Field("battery.current", (Source(o("5.6.0"), 0.1),), unit="A", minimum=-10000,
          maximum=10000, description="upsmgBatteryCurrent (0.1 A)"),
    Field("battery.temperature", (Source(o("5.7.0")),), unit="°C", minimum=-40, maximum=100,
          description="upsmgBatteryTemperature"),
    Field("input.phases", (Source(o("6.1.0")),), minimum=1, maximum=3, optional=True,
          description="upsmgInputPhaseNum"),
    Field("output.phases", (Source(o("7.1.0")),), minimum=1, maximum=3, optional=True,
          description="upsmgOutputPhaseNum"),
    # The NMC serves Eaton's XUPS environment objects too (EMP probe); 0 °C inside a
    # running UPS is the card's "no value".
    Field("ups.temperature", (Source("1.3.6.1.4.1.534.1.6.1.0"),), unit="°C", minimum=-40,
          maximum=100, sentinels=(0,), optional=True, description="xupsEnvAmbientTemp"),
    Field("ambient.temperature", (Source("1.3.6.1.4.1.534.1.6.5.0"),), unit="°C",
          minimum=-40, maximum=100, optional=True, description="xupsEnvRemoteTemp"),
    Field("ambient.humidity", (Source("1.3.6.1.4.1.534.1.6.6.0"),), unit="%", minimum=0,
          maximum=100, optional=True, description="xupsEnvRemoteHumidity"),
    *_phase("6.2.1", 2, "input.L{n}.voltage", 0.1, "V", 0, 1000, "upsmgInputVoltage (0.1 V)"),
    *_phase("6.2.1", 3, "input.L{n}.frequency", 0.1, "Hz", 0, 100,
            "upsmgInputFrequency (0.1 Hz)"),
    *_phase("6.2.1", 6, "input.L{n}.current", 0.1, "A", 0, 10000,
            "upsmgInputCurrent (0.1 A)"),
    *_phase("7.2.1", 2, "output.L{n}.voltage", 0.1, "V", 0, 1000,
            "upsmgOutputVoltage (0.1 V)"),
    *_phase("7.2.1", 3, "output.L{n}.frequency", 0.1, "Hz", 0, 100,
            "upsmgOutputFrequency (0.1 Hz)"),
    *_phase("7.2.1", 4, "output.L{n}.power.percent", 1, "%", 0, 250,
            "upsmgOutputLoadPerPhase (% of nominal)"),
    *_phase("7.2.1", 5, "output.L{n}.current", 0.1, "A", 0, 10000,
            "upsmgOutputCurrent (0.1 A)"),
)

_COLUMNS = ("voltage", "frequency", "current", "power.percent")


def mge_postprocess(values: dict[str, Any], tables: dict[str, list[dict[str, Any]]],
                    notes: Notes) -> None:
    """A single-phase MGE UPS fills lines 2-3 of its phase tables with zeros or copies
    of line 1: without the phase count, a table whose lines 2-3 add nothing is one line.
    Line 1 then gives the plain names (input.voltage ...) where RFC 1628 did not; lines
    are kept only for a multi-phase UPS."""
    for group in ("input", "output"):
        count = values.pop(f"{group}.phases", None)
        rows = {n: {c: values.get(f"{group}.L{n}.{c}") for c in _COLUMNS} for n in (1, 2, 3)}
        if isinstance(count, int | float):
            multi = count > 1
        else:
            multi = any(v not in (None, 0) and v != rows[1][c]
                        for line in (2, 3) for c, v in rows[line].items())
        if multi:
            # Frequency is one for all lines; voltages may be line-to-line (the Galaxy's
            # 409 V): only line 1's frequency becomes a plain value.
            if rows[1]["frequency"] is not None:
                values.setdefault(f"{group}.frequency", rows[1]["frequency"])
            continue
        plain = {"voltage": f"{group}.voltage", "frequency": f"{group}.frequency",
                 "current": f"{group}.current", "power.percent": "ups.load"}
        for c, v in rows[1].items():
            if v is not None:
                values.setdefault(plain[c], v)
        for n in (1, 2, 3):
            for c in _COLUMNS:
                values.pop(f"{group}.L{n}.{c}", None)


PROFILES = [
    Profile(
        name="mge",
        kind="ups",
        description="MGE UPS SYSTEMS MIB + RFC 1628 (MGE/Eaton Pulsar, Galaxy, 5PX/9PX with "
                    "NMC; NUT: mge)",
        sys_object_ids=(MGE,),
        probe_oids=(o("5.1.0"), o("5.2.0"), o("7.3.0")),
        fields=FIELDS,
        includes=("ietf",),
        postprocess=mge_postprocess,
        priority=10,
        tested_with=("MGE Galaxy 7000, Eaton 5PX 3000, 9PX 1000i (tests/fixtures/ups-corpus)",),
    ),
]
