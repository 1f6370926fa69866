"""Environment monitoring units (kind ``sensor``): temperature, humidity, leak, door, smoke
probes as *readings* (:func:`opsctl.power.profiles.base.table_readings`), judged against
the room's limits (``power.temperature`` / ``power.humidity``, SPEC: 15-27 °C, 30-60 %).

Units as each MIB states them, checked against the recordings in
tests/fixtures/ups-corpus: APC Environmental Manager (memSensorsStatusTable) whole °C and
%RH, -1 = no humidity sensor; AVTECH Room Alert °C and %RH × 100 (humidity only from a
sensor that proves it is a Temp/Humidity one); HW group STE2 value × 10 with a
unit column; APC NetBotz 750 whole °C / %RH; AKCP sensorProbe temperature raw × 10 and
humidity in % (column 3; column 13 holds no humidity on the recorded unit), offline probes
skipped.
"""

from __future__ import annotations

import re
from typing import Any

from opsctl.power.profiles.base import Column, Notes, Profile, Table, tidy

C, RH = "°C", "%"


def col(name: str, oid: str, quantity: str | None, unit: str | None = None,
        scale: float = 1.0, **kw: Any) -> Column:
    return Column(name, oid, "string" if quantity == "name" else kw.pop("type", "number"),
                  scale=scale, quantity=quantity, unit=unit, **kw)


MEM = "1.3.6.1.4.1.318.1.1.10.4.2.3.1"   # APC memSensorsStatusEntry
APC_EMU = (
    Table("emu_sensors", (
        col("name", f"{MEM}.3", "name"),
        col("temperature", f"{MEM}.5", "temperature", C),
        col("humidity", f"{MEM}.6", "humidity", RH, sentinels=(-1,)),
    ), group="probe", max_rows=64),
)

AV = "1.3.6.1.4.1.20916.1.10.1"          # AVTECH Room Alert 12E
# ROOMALERT12E-MIB: digital-senN (sensors 2-4) columns 1 temperature °C, 3 "relative
# humidity IF a Temp/Humidity sensor" (a voltage or power state on other sensor types),
# 6/7 dew point °C/°F "IF a Temp/Humidity sensor", 8 label; all × 100 like the
# temperatures. Column 3 is read as humidity only on that evidence (avtech_postprocess).
AVTECH = (
    Table("av_internal", (col("temperature", f"{AV}.1.1", "temperature", C, 0.01),),
          group="internal", max_rows=1),
    *(Table(f"av_digital{n}", (
        col("temperature", f"{AV}.{n + 1}.1", "temperature", C, 0.01),
        col("name", f"{AV}.{n + 1}.8", "name"),
        col("sen3", f"{AV}.{n + 1}.3", None, scale=0.01),
        col("dew_c", f"{AV}.{n + 1}.6", None, scale=0.01),
        col("dew_f", f"{AV}.{n + 1}.7", None, scale=0.01),
    ), group=f"external {n}", max_rows=1) for n in (1, 2, 3)),
)


def avtech_postprocess(values: dict[str, Any], tables: dict[str, list[dict[str, Any]]],
                       notes: Notes) -> None:
    """Humidity of a digital sensor only when the sensor shows it is a Temp/Humidity
    sensor: it sends a dew point in °C and °F that agree (only that type has one).
    Otherwise column 3 is a voltage or a power state, not a humidity."""
    out = list(values.get("readings") or [])
    for n in (1, 2, 3):
        for r in tables.get(f"av_digital{n}", []):
            rh, dc, df = r.get("sen3"), r.get("dew_c"), r.get("dew_f")
            if not all(isinstance(x, int | float) for x in (rh, dc, df)):
                continue
            if abs(dc * 9 / 5 + 32 - df) > 0.5 or not 0 <= rh <= 100:
                notes.add("unproven", f"external {n} humidity",
                          f"external {n}: column 3 ({rh}) not read as humidity: no "
                          "consistent dew point shows a Temp/Humidity sensor",
                          f"{AV}.{n + 1}.3.{r['index']}")
                continue
            out.append({"group": f"external {n}", "index": r["index"],
                        "name": r.get("name") or f"external {n} {r['index']}",
                        "quantity": "humidity", "value": rh, "unit": RH,
                        "oid": f"{AV}.{n + 1}.3.{r['index']}"})
    if out:
        values["readings"] = out

HW = "1.3.6.1.4.1.21796.4.9.3.1"         # HWg-STE2 sensTable
HWG = (
    Table("hwg_sensors", (
        Column("name", f"{HW}.2", "string"),
        Column("state", f"{HW}.3"),
        Column("value", f"{HW}.5"),
        Column("unit", f"{HW}.7"),
    ), max_rows=64),
)
# sensUnit: 0 none, 1 °C, 2 °F, 3 K, 4 %RH; sensState: 0 invalid, 1 normal, 2-5 out of
# range / alarm low/high.
HWG_UNITS = {1: ("temperature", C), 4: ("humidity", RH)}
_LEAK = re.compile(r"flood|leak|water", re.I)


def hwg_postprocess(values: dict[str, Any], tables: dict[str, list[dict[str, Any]]],
                    notes: Notes) -> None:
    out = list(values.get("readings") or [])
    for r in tables.pop("hwg_sensors", []):
        name = r.get("name") or f"sensor {r['index']}"
        unit = r.get("unit")
        if unit in HWG_UNITS and isinstance(r.get("value"), int | float) and r.get("state"):
            q, u = HWG_UNITS[unit]
            out.append({"group": "sensor", "index": r["index"], "name": name, "quantity": q,
                        "value": tidy(r["value"] / 10), "unit": u,
                        "oid": f"{HW}.5.{r['index']}"})
        elif isinstance(r.get("state"), int) and r["state"] > 0:
            out.append({"group": "sensor", "index": r["index"], "name": name,
                        "quantity": "leak" if _LEAK.search(name) else "state",
                        "value": "ok" if r["state"] == 1 else "alarm", "unit": None,
                        "oid": f"{HW}.3.{r['index']}"})
    if out:
        values["readings"] = out


NB = "1.3.6.1.4.1.52674.500.4"           # NetBotz 750
NETBOTZ = (
    Table("nb_temp", (col("name", f"{NB}.1.1.1.4", "name"),
                      col("temperature", f"{NB}.1.1.1.8", "temperature", C)),
          group="probe", max_rows=256),
    Table("nb_humidity", (col("name", f"{NB}.1.2.1.4", "name"),
                          col("humidity", f"{NB}.1.2.1.8", "humidity", RH)),
          group="probe", max_rows=256),
    Table("nb_smoke", (Column("name", f"{NB}.2.12.1.4", "string"),
                       Column("text", f"{NB}.2.12.1.7", "string")), max_rows=64),
)


def netbotz_postprocess(values: dict[str, Any], tables: dict[str, list[dict[str, Any]]],
                        notes: Notes) -> None:
    """Smoke detectors state themselves as text (sensor.state.smoke.no-smoke)."""
    out = list(values.get("readings") or [])
    for r in tables.pop("nb_smoke", []):
        text = str(r.get("text") or "")
        if not text.startswith("sensor.state.smoke."):
            continue
        out.append({"group": "detector", "index": r["index"],
                    "name": r.get("name") or f"smoke {r['index']}", "quantity": "smoke",
                    "value": "ok" if text.endswith(".no-smoke") else "smoke", "unit": None,
                    "oid": f"{NB}.2.12.1.7.{r['index']}"})
    if out:
        values["readings"] = out


AK = "1.3.6.1.4.1.3854.1.2.2.1"          # AKCP sensorProbe
AKCP = (
    Table("ak_temp", (col("name", f"{AK}.16.1.1", "name"),
                      col("online", f"{AK}.16.1.5", None),
                      col("temperature", f"{AK}.16.1.14", "temperature", C, 0.1)),
          group="probe", present="online", present_values=(1,), max_rows=128),
    Table("ak_humidity", (col("name", f"{AK}.17.1.1", "name"),
                          col("online", f"{AK}.17.1.5", None),
                          col("humidity", f"{AK}.17.1.3", "humidity", RH)),
          group="probe", present="online", present_values=(1,), max_rows=128),
)


def _env(name: str, descr: str, soid: tuple[str, ...], tables: tuple[Table, ...],
         probe: tuple[str, ...], tested: str, **kw: Any) -> Profile:
    return Profile(name=name, kind="sensor", description=descr, sys_object_ids=soid,
                   probe_oids=probe, tables=tables, priority=6,
                   tested_with=(f"{tested} (tests/fixtures/ups-corpus)",), **kw)


PROFILES = [
    _env("apc-emu", "APC Environmental Manager / EMU (PowerNet-MIB memSensors)",
         ("1.3.6.1.4.1.318.1.3.8.4",), APC_EMU, (f"{MEM}.5.0.1",),
         "APC Environmental Manager"),
    _env("avtech", "AVTECH Room Alert", ("1.3.6.1.4.1.20916.1",), AVTECH, (f"{AV}.1.1.0",),
         "AVTECH Room Alert 12E", postprocess=avtech_postprocess),
    _env("hwg", "HW group STE/STE2/Poseidon (sensTable)", ("1.3.6.1.4.1.21796.4",), HWG,
         (f"{HW}.5.1",), "HW group STE2 r2", postprocess=hwg_postprocess),
    _env("netbotz", "APC NetBotz 750 (NETBOTZ410-MIB)", ("1.3.6.1.4.1.52674.500",),
         NETBOTZ, (), "APC NetBotz 750", postprocess=netbotz_postprocess),
    _env("akcp", "AKCP sensorProbe / securityProbe", ("1.3.6.1.4.1.3854.1",), AKCP,
         (f"{AK}.16.1.14.0",), "AKCP sensorProbe8"),
]
