"""Inverter systems: DC-fed inverter shelves with a static transfer switch (STS), sold as
"UPS" but on battery (the DC plant) *by design*. They are kind ``inverter``: their
status is module health and the STS's source, never "on battery, CRITICAL"
(:func:`opsctl.power.rules.inverter_findings`).

- ``matrix`` — Eaton Matrix / "Telecom Power" (Megatec/PPC card, 935.10.2): inverter
  table 935.10.2.1.2.2.1 (output 0.1 V, output current 0.1 A, input DC 0.1 V, output
  power W, temperature 0.1 °C) and STS table 935.10.2.1.3.2.1 (mains input, inverter
  input, output, 0.1 V).
- ``cet`` — CE+T Power TSI inverter systems (T2S-ETH, 12551.4): system power in use and
  installed (W), modules' AC/DC/output voltages (0.1 V); the card also sends RFC 1628.

Sources: the objects as LibreNMS reads them (eaton-matrix.yaml, cetpower.yaml) and the
recordings in tests/fixtures/ups-corpus.
"""

from __future__ import annotations

from typing import Any

from opsctl.power.profiles.base import Column, Field, Notes, Profile, Source, Table, tidy

MATRIX = "1.3.6.1.4.1.935.10.2.1"
INV = f"{MATRIX}.2.2.1"
STS = f"{MATRIX}.3.2.1"
CET = "1.3.6.1.4.1.12551.4.1"

MATRIX_TABLES = (
    Table("modules", (
        Column("output_voltage", f"{INV}.6", scale=0.1, quantity="voltage", unit="V"),
        Column("output_current", f"{INV}.7", scale=0.1, quantity="current", unit="A"),
        Column("input_voltage", f"{INV}.8", scale=0.1, quantity="voltage", unit="V"),
        Column("output_frequency", f"{INV}.9", scale=0.1, quantity="frequency", unit="Hz"),
        Column("output_power", f"{INV}.10", quantity="power", unit="W"),
        Column("temperature", f"{INV}.13", scale=0.1, quantity="temperature", unit="°C"),
    ), max_rows=64, description="inverter modules", group="inverter"),
    Table("sts", (
        Column("mains_voltage", f"{STS}.7", scale=0.1),
        Column("inverter_voltage", f"{STS}.9", scale=0.1),
        Column("output_voltage", f"{STS}.11", scale=0.1),
        Column("output_current", f"{STS}.12", scale=0.1),
        Column("output_power", f"{STS}.13"),
        Column("temperature", f"{STS}.16", scale=0.1),
    ), max_rows=8, description="static transfer switch"),
)


def matrix_postprocess(values: dict[str, Any], tables: dict[str, list[dict[str, Any]]],
                       notes: Notes) -> None:
    """System values from the modules and the STS: output from the STS, DC input from the
    modules, per-module values kept under ``modules``."""
    mods = tables.get("modules") or []
    sts = (tables.get("sts") or [{}])[0]
    for key, name in (("output_voltage", "output.voltage"), ("output_current",
                      "output.current"), ("output_power", "ups.realpower"),
                      ("mains_voltage", "input.voltage"),
                      ("inverter_voltage", "inverter.voltage"),
                      ("temperature", "ups.temperature")):
        if isinstance(sts.get(key), int | float):
            values[name] = sts[key]
    dc = [m["input_voltage"] for m in mods if isinstance(m.get("input_voltage"), int | float)]
    if dc:
        values["input.dc.voltage"] = tidy(round(sum(dc) / len(dc), 1))
    values["inverter.modules"] = len(mods)
    values["inverter.modules.running"] = sum(
        1 for m in mods if isinstance(m.get("output_voltage"), int | float)
        and m["output_voltage"] > 0)


CET_FIELDS = (
    Field("ups.realpower", (Source(f"{CET}.2.2.1.12.1"),), unit="W", minimum=0,
          maximum=10**7, description="current power (W)"),
    Field("ups.realpower.nominal", (Source(f"{CET}.2.2.1.14.1"),), unit="W", minimum=1,
          maximum=10**7, description="installed power (W)"),
    Field("inverter.power.percent", (Source(f"{CET}.2.2.1.2.1"),), unit="%", minimum=0,
          maximum=250, description="share of installed power in use"),
)

CET_TABLES = (
    Table("modules", (
        # 1 for an occupied slot: the recording's 32 slots have values only where it is 1.
        Column("present", f"{CET}.1.1.1.2"),
        Column("output_voltage", f"{CET}.1.1.1.16", scale=0.1, quantity="voltage", unit="V"),
        Column("input_ac_voltage", f"{CET}.1.1.1.20", scale=0.1, quantity="voltage",
               unit="V"),
        Column("input_dc_voltage", f"{CET}.1.1.1.25", scale=0.1, quantity="voltage",
               unit="V"),
        Column("temperature", f"{CET}.1.1.1.28", quantity="temperature", unit="°C"),
    ), max_rows=64, description="inverter modules", group="module", present="present",
        present_values=(1,)),
)


def cet_postprocess(values: dict[str, Any], tables: dict[str, list[dict[str, Any]]],
                    notes: Notes) -> None:
    mods = [m for m in tables.get("modules") or [] if m.get("present") == 1]
    values["inverter.modules"] = len(mods)
    values["inverter.modules.running"] = sum(
        1 for m in mods if isinstance(m.get("output_voltage"), int | float)
        and m["output_voltage"] > 0)
    # A system on its DC plant by design: RFC 1628's "on battery" is no alarm here.
    values.pop("ups.status", None)


PROFILES = [
    Profile(
        name="matrix",
        kind="inverter",
        description="Eaton Matrix inverter system with STS (Megatec/PPC card, 935.10.2)",
        sys_object_ids=("1.3.6.1.4.1.935.10.2",),
        probe_oids=(f"{STS}.11.1", f"{INV}.6.1"),
        tables=MATRIX_TABLES,
        postprocess=matrix_postprocess,
        priority=10,
        tested_with=("Eaton Matrix 'Telecom Power' (tests/fixtures/ups-corpus eaton-matrix)",),
    ),
    Profile(
        name="cet",
        kind="inverter",
        description="CE+T Power TSI inverter system (T2S-ETH, 12551.4) + RFC 1628",
        sys_object_ids=("1.3.6.1.4.1.12551.4",),
        probe_oids=(f"{CET}.2.2.1.12.1",),
        fields=CET_FIELDS,
        tables=CET_TABLES,
        includes=("ietf",),
        postprocess=cet_postprocess,
        priority=10,
        tested_with=("CE+T TSI, T2S-ETH card (tests/fixtures/ups-corpus cetpower)",),
    ),
]
