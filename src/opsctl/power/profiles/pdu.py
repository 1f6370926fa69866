"""PDUs and transfer switches (kind ``pdu``): per inlet/phase/bank/outlet current, power
and voltage as *readings* (see :func:`opsctl.power.profiles.base.table_readings`), with
the row's rated current where the MIB gives one (the rules compare current with it), and
an ATS's selected source and source health.

Scales are each MIB's (and LibreNMS's reading of it, the recordings in
tests/fixtures/ups-corpus checked against them): APC rPDU2 power in 0.01 kW and current
in 0.1 A; Eaton ePDU in mA/mV; Server Technology Sentry4 current in 0.01 A, voltage in
0.1 V; Tripp Lite PDU current 0.01 A, voltage 0.1 V; Vertiv/Geist current 0.01 A,
voltage 0.1 V, energy Wh; Liebert MPH2 per object (see the columns); Raritan PX2 by the
decimal digits the PDU itself states per sensor.
"""

from __future__ import annotations

from typing import Any

from opsctl.power.profiles.base import Column, Field, Notes, Profile, Source, Table, tidy

A, W, V, HZ = "A", "W", "V", "Hz"


def col(name: str, oid: str, quantity: str, unit: str | None = None, scale: float = 1.0,
        **kw: Any) -> Column:
    return Column(name, oid, "string" if quantity == "name" else kw.pop("type", "number"),
                  scale=scale, quantity=quantity, unit=unit, **kw)


# -- APC Rack PDU 2G (PowerNet-MIB rPDU2) -----------------------------------------------------
R2 = "1.3.6.1.4.1.318.1.1.26"
APC_PDU_TABLES = (
    Table("apc_device", (
        col("name", f"{R2}.4.3.1.3", "name"),
        col("power", f"{R2}.4.3.1.5", "power", W, 10),          # 0.01 kW
        col("energy", f"{R2}.4.3.1.9", "energy", "kWh", 0.1),
    ), group="pdu", max_rows=8),
    Table("apc_phase", (
        col("current", f"{R2}.6.3.1.5", "current", A, 0.1),
        col("voltage", f"{R2}.6.3.1.6", "voltage", V),
        col("power", f"{R2}.6.3.1.7", "power", W, 10),
    ), group="phase", max_rows=8),
)

# -- APC ATS (PowerNet-MIB atsStatus) and its transfer-switch / generator objects ------------
ATS = "1.3.6.1.4.1.318.1.1.8.5.1"
SOURCE = {1: "A", 2: "B"}
OK_FAIL = {1: "fail", 2: "ok"}
ATS_FIELDS = (
    Field("ats.source", (Source(f"{ATS}.2.0", enum=SOURCE),), "enum",
          description="atsStatusSelectedSource"),
    Field("ats.redundancy", (Source(f"{ATS}.3.0", enum={1: "lost", 2: "full"}),), "enum",
          description="atsStatusRedundancyState"),
    Field("ats.switch.status", (Source(f"{ATS}.10.0", enum=OK_FAIL),), "enum",
          description="atsStatusSwitchStatus"),
    Field("ats.source.a.status", (Source(f"{ATS}.12.0", enum=OK_FAIL),), "enum",
          description="atsStatusSourceAStatus"),
    Field("ats.source.b.status", (Source(f"{ATS}.13.0", enum=OK_FAIL),), "enum",
          description="atsStatusSourceBStatus"),
    Field("ats.phase.sync", (Source(f"{ATS}.14.0", enum={1: "in sync", 2: "out of sync"}),),
          "enum", description="atsStatusPhaseSyncStatus"),
)
XFER = "1.3.6.1.4.1.318.1.1.17.4"
ATS_TABLES = (
    Table("xfer_source1", (col("voltage", f"{XFER}.1.7.1.2", "voltage", V, 0.1),),
          group="source 1 (L-L)", max_rows=4),
    Table("xfer_source2", (col("voltage", f"{XFER}.2.7.1.2", "voltage", V, 0.1),),
          group="source 2 (L-L)", max_rows=4),
    Table("xfer_output", (col("voltage", f"{XFER}.3.12.1.2", "voltage", V, 0.1),),
          group="output (L-L)", max_rows=4),
    Table("generator", (col("battery", "1.3.6.1.4.1.318.1.1.18.1.3.1", "voltage", V, 0.1),),
          group="generator battery", max_rows=2),
)

# -- Eaton ePDU (EATON-EPDU-MIB, NUT eaton-pdu-marlin) ------------------------------------------
EP = "1.3.6.1.4.1.534.6.6.7"
EATON_TABLES = (
    Table("eaton_inlet", (
        col("name", f"{EP}.3.3.1.12", "name"),
        col("rating", f"{EP}.3.3.1.3", "rating", A, 0.001),     # inputCurrentCapacity (mA)
        col("current", f"{EP}.3.3.1.4", "current", A, 0.001),   # inputCurrent (mA)
    ), group="inlet", max_rows=16),
    Table("eaton_inlet_v", (col("voltage", f"{EP}.3.2.1.3", "voltage", V, 0.001),),
          group="inlet voltage", max_rows=16),
    Table("eaton_inlet_p", (col("power", f"{EP}.3.4.1.4", "power", W),),
          group="inlet power", max_rows=16),
    Table("eaton_outlet", (
        col("name", f"{EP}.6.1.1.3", "name"),
        col("current", f"{EP}.6.4.1.3", "current", A, 0.001),
        col("power", f"{EP}.6.5.1.3", "power", W),
    ), group="outlet", max_rows=128),
)

# -- Server Technology Sentry4 ------------------------------------------------------------------
ST = "1.3.6.1.4.1.1718.4.1"
SENTRY_TABLES = (
    Table("st_cord", (
        col("name", f"{ST}.3.2.1.3", "name"),
        col("power", f"{ST}.3.3.1.3", "power", W),
        col("frequency", f"{ST}.3.3.1.11", "frequency", HZ, 0.1),
    ), group="cord", max_rows=16),
    Table("st_line", (
        col("name", f"{ST}.4.2.1.4", "name"),
        col("current", f"{ST}.4.3.1.3", "current", A, 0.01),
    ), group="line", max_rows=32),
    Table("st_phase", (
        col("name", f"{ST}.5.2.1.4", "name"),
        col("voltage", f"{ST}.5.3.1.3", "voltage", V, 0.1),
        col("current", f"{ST}.5.3.1.6", "current", A, 0.01),
        col("power", f"{ST}.5.3.1.8", "power", W),
    ), group="phase", max_rows=32),
)

# -- Tripp Lite PDU (TRIPPLITE-PRODUCTS) -------------------------------------------------------
TL = "1.3.6.1.4.1.850.1.1.3.2.3"
TRIPP_TABLES = (
    Table("tl_input", (
        col("frequency", f"{TL}.1.2.1.3", "frequency", HZ, 0.1),
        col("voltage", f"{TL}.1.2.1.4", "voltage", V, 0.1),
    ), group="input", max_rows=8),
    Table("tl_output", (
        col("voltage", f"{TL}.2.1.1.4", "voltage", V, 0.1),
        col("current", f"{TL}.2.1.1.5", "current", A, 0.01),
        col("power", f"{TL}.2.1.1.8", "power", W),
        col("frequency", f"{TL}.2.1.1.11", "frequency", HZ, 0.1),
    ), group="output", max_rows=8),
    Table("tl_circuit", (col("current", f"{TL}.4.1.1.4", "current", A, 0.01),),
          group="circuit", max_rows=32),
)

# -- Vertiv/Geist rPDU (GEIST-V5-MIB) ----------------------------------------------------------
GE = "1.3.6.1.4.1.21239.5.2.3"
GEIST_TABLES = (
    Table("geist_total", (
        col("name", f"{GE}.1.1.3", "name"),
        col("power", f"{GE}.1.1.9", "power", W),
        col("energy", f"{GE}.1.1.12", "energy", "kWh", 0.001),
    ), group="pdu", max_rows=4),
    Table("geist_phase", (
        col("name", f"{GE}.2.1.2", "name"),
        col("voltage", f"{GE}.2.1.4", "voltage", V, 0.1),
        col("current", f"{GE}.2.1.8", "current", A, 0.01),
    ), group="phase", max_rows=8),
    Table("geist_circuit", (
        col("name", f"{GE}.3.1.2", "name"),
        col("current", f"{GE}.3.1.4", "current", A, 0.01),
    ), group="circuit", max_rows=32),
    Table("geist_line", (col("current", f"{GE}.4.1.4", "current", A, 0.01),),
          group="line", max_rows=8),
)

# -- Liebert/Vertiv MPH2 (LIEBERT-GP-PDU-MIB) --------------------------------------------------
LP = "1.3.6.1.4.1.476.1.42.3.8"
LIEBERT_TABLES = (
    Table("lgp_pdu", (
        col("name", f"{LP}.30.20.1.20", "name"),
        col("power", f"{LP}.30.20.1.65", "power", W),
        col("neutral", f"{LP}.30.20.1.70", "current", A, 0.1),
        col("apparent", f"{LP}.30.20.1.90", "apparent_power", "VA"),
    ), group="pdu", max_rows=8),
    Table("lgp_line", (
        col("voltage", f"{LP}.30.40.1.19", "voltage", V, 0.1),
        col("current", f"{LP}.30.40.1.22", "current", A, 0.01),
    ), group="input line", max_rows=16),
    Table("lgp_branch", (
        col("name", f"{LP}.40.20.1.8", "name"),
        col("current", f"{LP}.40.20.1.130", "current", A, 0.01),
        col("load", f"{LP}.40.20.1.160", "load", "%", 0.1),
    ), group="branch", max_rows=32),
    Table("lgp_receptacle", (
        col("name", f"{LP}.50.20.1.10", "name"),
        col("voltage", f"{LP}.50.20.1.55", "voltage", V),
        col("current", f"{LP}.50.20.1.60", "current", A, 0.1),
        col("power", f"{LP}.50.20.1.65", "power", W),
        col("apparent", f"{LP}.50.20.1.70", "apparent_power", "VA"),
    ), group="outlet", max_rows=128),
)

# -- Raritan PX2 (PDU2-MIB): one value column per sensor type, decimals stated per sensor ---
RX = "1.3.6.1.4.1.13742.6"
RARITAN_TYPES = {1: ("current", A), 4: ("voltage", V), 5: ("power", W),
                 6: ("apparent_power", "VA"), 23: ("frequency", HZ)}
RARITAN_TABLES = (
    Table("rx_inlet_value", (Column("value", f"{RX}.5.2.3.1.4"),), max_rows=64),
    Table("rx_inlet_digits", (Column("digits", f"{RX}.3.3.4.1.7"),), max_rows=64),
    Table("rx_inlet_name", (Column("label", f"{RX}.3.3.3.1.2", "string"),), max_rows=8),
    Table("rx_outlet_value", (Column("value", f"{RX}.5.4.3.1.4"),), max_rows=1024),
    Table("rx_outlet_digits", (Column("digits", f"{RX}.3.5.4.1.7"),), max_rows=1024),
    Table("rx_outlet_name", (Column("label", f"{RX}.3.5.3.1.2", "string"),
                             Column("name", f"{RX}.3.5.3.1.3", "string")), max_rows=128),
)


def raritan_postprocess(values: dict[str, Any], tables: dict[str, list[dict[str, Any]]],
                        notes: Notes) -> None:
    """Rows are pdu.inlet|outlet.sensorType; a value is raw / 10^digits, where the PDU
    states the digits for that very sensor (a value without its digits is not read)."""
    out = list(values.get("readings") or [])
    for kind, group in (("inlet", "inlet"), ("outlet", "outlet")):
        digits = {r["index"]: r.get("digits") for r in tables.pop(f"rx_{kind}_digits", [])}
        names = {}
        for r in tables.pop(f"rx_{kind}_name", []):
            label, name = r.get("label"), r.get("name")
            names[r["index"]] = " ".join(str(x) for x in (label, name) if x) or r["index"]
        column = f"{RX}.5.2.3.1.4" if kind == "inlet" else f"{RX}.5.4.3.1.4"
        for r in tables.pop(f"rx_{kind}_value", []):
            parts = r["index"].split(".")
            if len(parts) != 3 or not parts[2].isdigit():
                continue
            stype = int(parts[2])
            d = digits.get(r["index"])
            if stype not in RARITAN_TYPES or not isinstance(r.get("value"), int | float) \
                    or not isinstance(d, int):
                continue
            quantity, unit = RARITAN_TYPES[stype]
            row = ".".join(parts[:2])
            out.append({"group": group, "index": row, "name": names.get(row, row),
                        "quantity": quantity, "value": tidy(r["value"] / 10 ** d),
                        "unit": unit, "oid": f"{column}.{r['index']}"})
    if out:
        values["readings"] = out


def _pdu(name: str, descr: str, soid: tuple[str, ...], tables: tuple[Table, ...],
         probe: tuple[str, ...], tested: str, **kw: Any) -> Profile:
    return Profile(name=name, kind="pdu", description=descr, sys_object_ids=soid,
                   probe_oids=probe, tables=tables, priority=10,
                   tested_with=(f"{tested} (tests/fixtures/ups-corpus)",), **kw)


PROFILES = [
    _pdu("apc-pdu", "APC Rack PDU 2G (PowerNet-MIB rPDU2)", ("1.3.6.1.4.1.318.1.3.4",),
         APC_PDU_TABLES, (f"{R2}.4.3.1.5.1",), "APC AP8959EU3"),
    _pdu("apc-ats", "APC automatic transfer switch (PowerNet-MIB atsStatus)",
         ("1.3.6.1.4.1.318.1.3.11", "1.3.6.1.4.1.318.1.3.32"), ATS_TABLES,
         (f"{ATS}.2.0",), "APC ATS AP4423", fields=ATS_FIELDS),
    _pdu("eaton-epdu", "Eaton ePDU (EATON-EPDU-MIB; NUT eaton-pdu-marlin)",
         ("1.3.6.1.4.1.534.6.6.7",), EATON_TABLES, (f"{EP}.3.3.1.4.0.1.1",),
         "Eaton ePDU EMA114-10"),
    _pdu("sentry4", "Server Technology Sentry4 (Sentry4-MIB)", ("1.3.6.1.4.1.1718.4",),
         SENTRY_TABLES, (f"{ST}.3.3.1.3.1.1",), "Sentry4 C2S42CE"),
    _pdu("tripplite-pdu", "Tripp Lite PDU (TRIPPLITE-PRODUCTS)", ("1.3.6.1.4.1.850.1.1",),
         TRIPP_TABLES, (f"{TL}.2.1.1.4.1.1",), "Tripp Lite PDUMV30HVNETLX"),
    _pdu("geist-pdu", "Vertiv/Geist rPDU (GEIST-V5-MIB)", ("1.3.6.1.4.1.21239",),
         GEIST_TABLES, (f"{GE}.1.1.9.1",), "Vertiv MG02E4W1"),
    _pdu("liebert-pdu", "Liebert/Vertiv MPH2 rack PDU (LIEBERT-GP-PDU-MIB)",
         ("1.3.6.1.4.1.476.1.42",),
         LIEBERT_TABLES, (f"{LP}.30.20.1.65.1.1",), "Liebert MPH2"),
    _pdu("raritan-pdu", "Raritan PX2/PX3 (PDU2-MIB)", ("1.3.6.1.4.1.13742.6",),
         RARITAN_TABLES, (f"{RX}.3.3.3.1.2.1.1",), "Raritan PX2",
         postprocess=raritan_postprocess),
]
