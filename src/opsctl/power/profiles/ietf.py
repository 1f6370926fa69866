"""RFC 1628 UPS-MIB (NUT: ``ietf``) — the standard every UPS card is supposed to speak."""

from __future__ import annotations

import dataclasses
from typing import Any

from opsctl.power.profiles.base import (
    TEMPERATURE_SENTINELS,
    Column,
    Field,
    Notes,
    Profile,
    Source,
    Table,
    merge_status,
    oid_join,
    tidy,
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


_V = {"minimum": 0, "maximum": 10000}  # volts: 0.1 V cards are rescaled or dropped later


def _phase_fields() -> tuple[Field, ...]:
    """Per-line objects of the input, output and bypass tables, lines 1-3 (NUT's 3-phase
    names). Single-line UPSes keep only the plain names (see :func:`phases_postprocess`)."""
    out: list[Field] = []
    for n in (1, 2, 3):
        out += [
            Field(f"input.L{n}.frequency", (Source(o(f"3.3.1.2.{n}"), 0.1),), unit="Hz",
                  minimum=0, maximum=100, description="upsInputFrequency (0.1 Hz)"),
            Field(f"input.L{n}-N.voltage", (Source(o(f"3.3.1.3.{n}")),), unit="V", **_V,
                  description="upsInputVoltage (RMS V)"),
            Field(f"input.L{n}.current", (Source(o(f"3.3.1.4.{n}"), 0.1),), unit="A",
                  minimum=-10000, maximum=10000, description="upsInputCurrent (0.1 A)"),
            Field(f"input.L{n}.realpower", (Source(o(f"3.3.1.5.{n}")),), unit="W",
                  minimum=-10**7, maximum=10**7, description="upsInputTruePower (W)"),
            Field(f"output.L{n}-N.voltage", (Source(o(f"4.4.1.2.{n}")),), unit="V", **_V,
                  description="upsOutputVoltage (RMS V)"),
            Field(f"output.L{n}.current", (Source(o(f"4.4.1.3.{n}"), 0.1),), unit="A",
                  minimum=-10000, maximum=10000, description="upsOutputCurrent (0.1 A)"),
            Field(f"output.L{n}.realpower", (Source(o(f"4.4.1.4.{n}")),), unit="W",
                  minimum=-10**7, maximum=10**7, description="upsOutputPower (W)"),
            Field(f"output.L{n}.power.percent", (Source(o(f"4.4.1.5.{n}")),), unit="%",
                  minimum=0, maximum=250, description="upsOutputPercentLoad"),
            Field(f"input.bypass.L{n}-N.voltage", (Source(o(f"5.3.1.2.{n}")),), unit="V", **_V,
                  description="upsBypassVoltage (RMS V)"),
            Field(f"input.bypass.L{n}.current", (Source(o(f"5.3.1.3.{n}"), 0.1),), unit="A",
                  minimum=-10000, maximum=10000, description="upsBypassCurrent (0.1 A)"),
            Field(f"input.bypass.L{n}.realpower", (Source(o(f"5.3.1.4.{n}")),), unit="W",
                  minimum=-10**7, maximum=10**7, description="upsBypassPower (W)"),
        ]
    return tuple(dataclasses.replace(f, optional=True) for f in out)


# Mains voltages a UPS reports, grouped with the nominal value that vouches for their scale.
_GROUPS = (("input.voltage.nominal", "input."), ("output.voltage.nominal", "output."),
           ("output.voltage.nominal", "input.bypass."))
PLAUSIBLE_MAINS = 1000.0  # V: above this an AC reading is in another unit, not a fact


def _voltages(values: dict[str, Any], prefix: str) -> list[str]:
    return [k for k in values if k.startswith(prefix) and k.endswith("voltage")
            and (prefix != "input." or not k.startswith("input.bypass."))]


def scale_postprocess(values: dict[str, Any], tables: dict[str, list[dict[str, Any]]],
                      notes: Notes) -> None:
    """Some cards send RFC 1628 voltages in 0.1 V (2300 for 230 V) though the MIB says
    volts. Rescale only on evidence: the nominal voltage on the same card
    (upsConfigInputVoltage / upsConfigOutputVoltage) is about a tenth of the reading. A
    nominal sent in 0.1 V itself (2300) is rescaled with its readings. Without a nominal,
    a reading above 1000 V is dropped -- a missing value is better than a guessed one."""
    for key in ("input.voltage.nominal", "output.voltage.nominal"):
        nom = values.get(key)
        if isinstance(nom, int | float) and nom > PLAUSIBLE_MAINS / 2:
            values[key] = tidy(nom * 0.1)
            notes.add("scale", key, f"{key}: {nom:g} read as 0.1 V ({values[key]:g} V)")
    for nominal_key, prefix in _GROUPS:
        nom = values.get(nominal_key)
        for name in _voltages(values, prefix):
            v = values[name]
            if not isinstance(v, int | float) or v <= 0:
                continue
            if isinstance(nom, int | float) and nom > 0 and 7 <= v / nom <= 13:
                values[name] = tidy(v * 0.1)
                notes.add("scale", name, f"{name}: {v:g} read as 0.1 V, since the "
                                         f"nominal {nominal_key} is {nom:g} V")
            elif v > PLAUSIBLE_MAINS:
                del values[name]
                notes.add("out-of-range", name,
                          f"{name}: {v:g} V is not a mains voltage and no nominal value on "
                          "the card shows its scale; ignored")


def _line_pairs(values: dict[str, Any], a: str, b: str) -> list[tuple[str, str]]:
    """(``a`` name, ``b`` name) of lines 1-3 (and the plain line-1 name) both sides have."""
    names = [("input.current", "output.current")] + [
        (f"input.L{n}.current", f"output.L{n}.current") for n in (1, 2, 3)]
    if a == "input.voltage":
        names = [("input.voltage", "output.voltage")] + [
            (f"input.L{n}-N.voltage", f"output.L{n}-N.voltage") for n in (1, 2, 3)]
    return [(i, o) for i, o in names
            if isinstance(values.get(i), int | float) and values[i] > 0
            and isinstance(values.get(o), int | float) and values[o] > 0]


def current_balance_postprocess(values: dict[str, Any], tables: dict[str, list[dict[str, Any]]],
                                notes: Notes) -> None:
    """Some cards send upsOutputCurrent in 0.01 A though the MIB says 0.1 A (Sinetica: 1780
    for 17.8 A). Rescale only on evidence: the UPS is on line (its load is fed from the
    mains), input and output voltages match line by line, and on every line the output
    current reads about ten times the input current -- which the power balance rules
    out (a UPS cannot deliver ten times the power it draws). Nothing else is changed."""
    tokens = str(values.get("ups.status") or "").split()
    if "OL" not in tokens or "OB" in tokens:
        return
    volts = _line_pairs(values, "input.voltage", "output.voltage")
    if not volts or any(not 0.8 <= values[o] / values[i] <= 1.25 for i, o in volts):
        return
    amps = _line_pairs(values, "input.current", "output.current")
    if not amps or any(not 7 <= values[o] / values[i] <= 13 for i, o in amps):
        return
    for name in ["output.current"] + [f"output.L{n}.current" for n in (1, 2, 3)]:
        v = values.get(name)
        if isinstance(v, int | float):
            values[name] = tidy(v * 0.1)
            notes.add("scale", name, f"{name}: {v:g} A is ten times the input current on "
                                     f"line; read as 0.01 A ({values[name]:g} A)")


def phases_postprocess(values: dict[str, Any], tables: dict[str, list[dict[str, Any]]],
                       notes: Notes) -> None:
    """Keep the per-line names (input.L2-N.voltage ...) only for a multi-line UPS (the
    line counts, or lines 2-3 answering), so a single-phase UPS reads as before; on a
    3-phase UPS ``ups.load`` is the most loaded line (the room's load rule is about the
    weakest link, not line 1)."""
    for group in ("input", "output", "input.bypass"):
        count = values.pop(f"{group}.lines", None)
        lines = {int(m) for k in values if k.startswith(group + ".L")
                 and not (group == "input" and k.startswith("input.bypass."))
                 and (m := k[len(group) + 2:].split(".")[0].split("-")[0]).isdigit()}
        multi = (isinstance(count, int | float) and count > 1) or bool(lines - {1}) \
            and not (isinstance(count, int | float) and count == 1)
        if multi:
            values[f"{group}.phases"] = int(count) if isinstance(count, int | float) \
                else max(lines)
            continue
        for k in [k for k in values if k.startswith(group + ".L")]:
            del values[k]
    loads = [v for n in (1, 2, 3)
             if isinstance(v := values.get(f"output.L{n}.power.percent"), int | float)]
    if len(loads) > 1:
        values["ups.load"] = max(loads)


def ietf_postprocess(values: dict[str, Any], tables: dict[str, list[dict[str, Any]]],
                     notes: Notes) -> None:
    scale_postprocess(values, tables, notes)
    current_balance_postprocess(values, tables, notes)
    phases_postprocess(values, tables, notes)
    alarms_postprocess(values, tables, notes)


FIELDS = (
    Field("device.mfr", (Source(o("1.1.0")),), "string"),
    Field("device.model", (Source(o("1.2.0")),), "string"),
    Field("ups.firmware", (Source(o("1.3.0")),), "string"),
    Field("ups.id", (Source(o("1.5.0")),), "string"),
    Field("ups.status", (Source(o("4.1.0"), enum=OUTPUT_SOURCE),), "flags",
          unknown_values=(1,), description="upsOutputSource"),
    Field("ups.status", (Source(o("2.1.0"), enum=BATTERY_STATUS),), "flags",
          unknown_values=(1,), description="upsBatteryStatus"),
    Field("battery.runtime.elapsed", (Source(o("2.2.0")),), unit="s", minimum=0,
          maximum=60 * 60 * 24 * 365, description="upsSecondsOnBattery"),
    Field("battery.runtime", (Source(o("2.3.0"), 60),), unit="s", minimum=0,
          maximum=60 * 60 * 24 * 7, description="upsEstimatedMinutesRemaining"),
    Field("battery.charge", (Source(o("2.4.0")),), unit="%", minimum=0, maximum=100),
    Field("battery.voltage", (Source(o("2.5.0"), 0.1),), unit="V", minimum=0, maximum=1000),
    Field("battery.current", (Source(o("2.6.0"), 0.1),), unit="A", minimum=-1000,
          maximum=1000),
    Field("battery.temperature", (Source(o("2.7.0")),), unit="°C", minimum=-40, maximum=100,
          sentinels=TEMPERATURE_SENTINELS),
    Field("input.lines", (Source(o("3.2.0")),), minimum=1, maximum=3,
          description="upsInputNumLines"),
    Field("input.frequency", (Source(o("3.3.1.2.1"), 0.1),), unit="Hz", minimum=0,
          maximum=100),
    Field("input.voltage", (Source(o("3.3.1.3.1")),), unit="V", **_V),
    Field("input.current", (Source(o("3.3.1.4.1"), 0.1),), unit="A", minimum=-10000,
          maximum=10000, description="upsInputCurrent.1 (0.1 A)"),
    Field("input.realpower", (Source(o("3.3.1.5.1")),), unit="W", minimum=-10**7,
          maximum=10**7, description="upsInputTruePower.1"),
    Field("output.frequency", (Source(o("4.2.0"), 0.1),), unit="Hz", minimum=0, maximum=100),
    Field("output.lines", (Source(o("4.3.0")),), minimum=1, maximum=3,
          description="upsOutputNumLines"),
    Field("output.voltage", (Source(o("4.4.1.2.1")),), unit="V", **_V),
    Field("output.current", (Source(o("4.4.1.3.1"), 0.1),), unit="A", minimum=0,
          maximum=10000),
    Field("ups.realpower", (Source(o("4.4.1.4.1")),), unit="W", minimum=0, maximum=10**7),
    Field("ups.load", (Source(o("4.4.1.5.1")),), unit="%", minimum=0, maximum=250),
    Field("input.bypass.frequency", (Source(o("5.1.0"), 0.1),), unit="Hz", minimum=0,
          maximum=100, description="upsBypassFrequency (0.1 Hz)"),
    Field("input.bypass.lines", (Source(o("5.2.0")),), minimum=1, maximum=3,
          description="upsBypassNumLines"),
    Field("input.bypass.voltage", (Source(o("5.3.1.2.1")),), unit="V", **_V,
          description="upsBypassVoltage.1"),
    Field("input.bypass.current", (Source(o("5.3.1.3.1"), 0.1),), unit="A", minimum=-10000,
          maximum=10000, description="upsBypassCurrent.1 (0.1 A)"),
    Field("input.bypass.realpower", (Source(o("5.3.1.4.1")),), unit="W", minimum=-10**7,
          maximum=10**7, description="upsBypassPower.1"),
    *_phase_fields(),
    Field("ups.alarms.count", (Source(o("6.1.0")),), minimum=0, maximum=1000,
          description="upsAlarmsPresent"),
    Field("ups.test.result", (Source(o("7.3.0"), enum=TEST_RESULT),), "enum"),
    # Nominal values: the evidence for a card's voltage scale (see scale_postprocess).
    Field("input.voltage.nominal", (Source(o("9.1.0")),), unit="V", **_V,
          description="upsConfigInputVoltage"),
    Field("input.frequency.nominal", (Source(o("9.2.0"), 0.1),), unit="Hz", minimum=1,
          maximum=100, description="upsConfigInputFreq (0.1 Hz)"),
    Field("output.voltage.nominal", (Source(o("9.3.0")),), unit="V", **_V,
          description="upsConfigOutputVoltage"),
    Field("output.frequency.nominal", (Source(o("9.4.0"), 0.1),), unit="Hz", minimum=1,
          maximum=100, description="upsConfigOutputFreq (0.1 Hz)"),
    Field("ups.power.nominal", (Source(o("9.5.0")),), unit="VA", minimum=1, maximum=10**7,
          description="upsConfigOutputVA"),
    Field("ups.realpower.nominal", (Source(o("9.6.0")),), unit="W", minimum=1,
          maximum=10**7, description="upsConfigOutputPower"),
)

# Objects many cards lack for good reason (no bypass, no input meter, no nominal values):
# never listed as missing.
_OPTIONAL = {"battery.runtime.elapsed", "input.lines", "output.lines", "input.bypass.lines",
             "input.current", "input.realpower", "input.bypass.frequency",
             "input.bypass.voltage", "input.bypass.current", "input.bypass.realpower",
             "input.voltage.nominal", "input.frequency.nominal", "output.voltage.nominal",
             "output.frequency.nominal", "ups.power.nominal", "ups.realpower.nominal"}
FIELDS = tuple(dataclasses.replace(f, optional=True) if f.name in _OPTIONAL else f
               for f in FIELDS)

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
        postprocess=ietf_postprocess,
        tested_with=("snmpsim recordings (tests/fixtures/snmp)", "Minuteman E1500RTXL2U"),
    ),
]
