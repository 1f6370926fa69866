"""The general mechanisms behind the corpus score (issue 13), each on its own: auto's
look-back, 0.1 V only on evidence, sentinels, status derived from measurements, table
readings and their rules. Expected values come from the MIBs and the recordings."""

from __future__ import annotations

import pytest
from snmp_agents import Snmpsim
from test_cards_common import QUIRKS, read, sim_available

from opsctl.core.errors import Status
from opsctl.power.profiles import ietf
from opsctl.power.profiles.base import (
    Column,
    Field,
    Notes,
    Source,
    Table,
    decode,
    derive_status,
    table_readings,
)
from opsctl.power.snmp.values import Raw


def _scaled(values: dict) -> tuple[dict, set]:
    notes = Notes()
    ietf.scale_postprocess(values, {}, notes)
    return values, {(n.code, n.field) for n in notes}


def test_voltage_rescaled_only_on_nominal_evidence():
    # Nominal 230 V, reading 2300: the card sends 0.1 V.
    v, codes = _scaled({"input.voltage.nominal": 230, "input.voltage": 2360,
                        "output.voltage.nominal": 230, "output.voltage": 2300})
    assert (v["input.voltage"], v["output.voltage"]) == (236, 230)
    assert ("scale", "input.voltage") in codes
    # A nominal itself in 0.1 V is rescaled with its readings.
    v, _ = _scaled({"output.voltage.nominal": 2300, "output.voltage": 2290})
    assert (v["output.voltage.nominal"], v["output.voltage"]) == (230, 229)
    # No nominal: 2300 V is no mains voltage, and nothing says its scale -> dropped.
    v, codes = _scaled({"input.voltage": 2300, "output.voltage": 229})
    assert "input.voltage" not in v and v["output.voltage"] == 229
    assert ("out-of-range", "input.voltage") in codes
    # Whole volts with a matching nominal stay as they are.
    v, codes = _scaled({"input.voltage.nominal": 120, "input.voltage": 122})
    assert v["input.voltage"] == 122 and not codes


@pytest.mark.parametrize("raw", [65535, 4294967295, 2147483647, -32768])
def test_sentinels_give_no_value(raw):
    notes = Notes()
    f = Field("battery.runtime", (Source("1.2.3.0", 60),), minimum=0)
    assert decode(f, f.sources[0], Raw("integer", raw), notes) is None
    assert [n.code for n in notes] == ["sentinel"]


def test_field_sentinels_and_null():
    notes = Notes()
    t = Field("battery.temperature", (Source("1.2.3.0"),), sentinels=(-273,))
    assert decode(t, t.sources[0], Raw("integer", -273), notes) is None
    assert decode(t, t.sources[0], Raw("null"), notes) is None
    assert decode(t, t.sources[0], Raw("integer", -3), notes) == -3
    assert [n.code for n in notes] == ["sentinel", "null"]


@pytest.mark.parametrize(("values", "status"), [
    ({"battery.current": 0, "ups.load": 30}, "OL"),
    ({"battery.current": 0, "output.current": 2}, "OL"),
    ({"battery.current": 0, "ups.load": 2}, None),          # too little load to tell
    ({"battery.current": -4.2, "ups.load": 30}, None),      # sign conventions differ
    ({"ups.load": 30}, None),                               # no battery current
    ({"ups.status": "OB", "battery.current": 0, "ups.load": 30}, "OB"),  # never overridden
])
def test_status_derived_only_from_clear_measurements(values, status):
    notes = Notes()
    derive_status(values, notes)
    assert values.get("ups.status") == status


def test_table_readings_names_ratings_and_absent_rows():
    t = Table("outlets", (Column("name", "1.2.1", "string", quantity="name"),
                          Column("on", "1.2.2"),
                          Column("amps", "1.2.3", scale=0.001, quantity="current", unit="A"),
                          Column("max", "1.2.4", scale=0.001, quantity="rating", unit="A")),
              group="outlet", present="on", present_values=(1,))
    rows = [{"index": "1", "name": "web1", "on": 1, "amps": 12.8, "max": 16},
            {"index": "2", "on": 2, "amps": 0},                       # empty slot: skipped
            {"index": "3", "on": 1, "amps": 0.5}]
    out = table_readings(t, rows)
    assert out == [
        {"group": "outlet", "index": "1", "name": "web1", "quantity": "current",
         "value": 12.8, "unit": "A", "oid": "1.2.3.1", "rating": 16},
        {"group": "outlet", "index": "3", "name": "outlet 3", "quantity": "current",
         "value": 0.5, "unit": "A", "oid": "1.2.3.3"},
    ]


def test_readings_rules():
    from opsctl.core.config.devices import SensorRange
    from opsctl.power.rules import readings_findings

    temp = SensorRange(warn_low=15, warn_high=27, crit_low=10, crit_high=32)
    hum = SensorRange(warn_low=30, warn_high=60, crit_low=20, crit_high=80)
    rd = [
        {"group": "inlet", "name": "L1", "quantity": "current", "value": 12.8, "rating": 16},
        {"group": "branch", "name": "B2", "quantity": "current", "value": 16.5, "rating": 16},
        {"group": "outlet", "name": "o3", "quantity": "current", "value": 3.0},  # no rating
        {"group": "probe", "name": "rack", "quantity": "temperature", "value": 29},
        {"group": "probe", "name": "floor", "quantity": "leak", "value": "alarm"},
        {"group": "probe", "name": "room", "quantity": "humidity", "value": 45},
        {"group": "detector", "name": "s1", "quantity": "smoke", "value": "ok"},
    ]
    got = [(f.status, f.message) for f in readings_findings(rd, temp, hum)]
    assert got == [
        (Status.WARNING, "inlet L1: 12.8 A is 80 % of its 16 A rating (>= 80 %)"),
        (Status.CRITICAL, "branch B2: 16.5 A is 103 % of its 16 A rating (>= 100 %)"),
        (Status.WARNING, "temperature probe rack 29 °C > 27 °C"),
        (Status.CRITICAL, "leak probe floor: alarm"),
    ]


@pytest.mark.snmp
@pytest.mark.skipif(not sim_available(), reason="snmpsim venv not installed")
def test_auto_looks_back_when_the_sysobjectid_profile_reads_no_status():
    sim = Snmpsim([QUIRKS / "lookback-xups-id.snmprec"]).start()
    try:
        r = read(sim.port, "lookback-xups-id")
    finally:
        sim.stop()
    assert r.profile.name == "ietf"
    assert r.profile_reason.startswith("sysObjectID 1.3.6.1.4.1.534.1, but xups read no "
                                       "status; ietf reads ups.status")
    assert "(look-back)" in r.profile_reason
    assert r.values["ups.status"] == "OL" and r.values["ups.load"] == 79
