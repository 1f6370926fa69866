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


@pytest.mark.snmp
@pytest.mark.skipif(not sim_available(), reason="snmpsim venv not installed")
def test_device_health_stands_in_for_a_status_the_card_does_not_send(tmp_path):
    """The Dell Rack 3750W card (corpus) sends productStatusGlobalStatus but no mains or
    battery object: its status is that health, shown as such with the OID it came from,
    never OL. The same card with its global status critical(5) or unknown(2) (the
    recording with that one value changed) is CRITICAL by its own word, or shows no
    status at all."""
    from corpus_score import CORPUS
    from test_cards_common import cli_json, run_cli, write_config

    real = (CORPUS / "recordings" / "dell-ups_rack3750w.snmprec").read_text()
    health = "1.3.6.1.4.1.674.10902.2.110.1.0"
    assert f"{health}|2|3\n" in real
    recs = [CORPUS / "recordings" / "dell-ups_rack3750w.snmprec"]
    for name, value in (("dell-critical", 5), ("dell-unknown", 2)):
        p = tmp_path / f"{name}.snmprec"
        p.write_text(real.replace(f"{health}|2|3\n", f"{health}|2|{value}\n"))
        recs.append(p)
    sim = Snmpsim(recs).start()
    try:
        cfg = write_config(tmp_path, sim.port, [
            {"name": "dell", "community": "dell-ups_rack3750w",
             "thresholds": {"runtime_warn_min": 60, "runtime_crit_min": 30}},
            {"name": "dellcrit", "community": "dell-critical"},
            {"name": "dellunk", "community": "dell-unknown"}])
        _, d = cli_json("--config", str(cfg), "power", "status")
        table = run_cli("--config", str(cfg), "power", "status", "dell")
        one = run_cli("--config", str(cfg), "power", "ups", "dell")
    finally:
        sim.stop()
    by = {r["name"]: r for r in d}
    dell = by["dell"]
    assert "ups.status" not in dell["values"]
    assert dell["values"]["device.health"] == "OK"
    assert dell["status_source"] == {
        "kind": "device-health", "field": "device.health", "oid": health,
        "object": "productStatusGlobalStatus", "value": "OK",
        "detail": "device health; mains state not reported"}
    # Load is still unreadable (a warning), the missing mains state is said, not alarmed.
    assert dell["status"] == "WARNING", dell
    assert "on battery cannot be detected" not in dell["reason"]
    said = [f for f in dell["findings"] if f["field"] == "ups.status"]
    assert said and said[0]["status"] == "OK" and "mains state not reported" in \
        said[0]["message"]
    assert "OK (device health; mains state not reported)" in table.stdout
    assert "OL" not in table.stdout.split("dell", 1)[1]
    assert f"device-health productStatusGlobalStatus: {health}" in one.stdout
    crit = by["dellcrit"]
    assert crit["status"] == "CRITICAL" and crit["values"]["device.health"] == "CRITICAL"
    assert "device reports critical health (productStatusGlobalStatus)" in crit["reason"]
    unk = by["dellunk"]
    assert "device.health" not in unk["values"] and unk["status_source"] is None
    assert "on battery cannot be detected" in unk["reason"]


def test_status_source_names_the_power_source_objects():
    """Every UPS says where its status comes from (the OIDs of the objects that set it)."""
    from opsctl.power.model import DeviceReading

    r = DeviceReading("u", "ups", True, values={"ups.status": "OL"},
                      status_source={"kind": "power-source", "field": "ups.status",
                                     "oids": ["1.3.6.1.2.1.33.1.4.1.0"]})
    back = DeviceReading.from_dict(r.to_dict())
    assert back.status_source == r.status_source and back.shown_status() == "OL"
    r = DeviceReading("u", "ups", True, values={"device.health": "WARNING"},
                      status_source={"kind": "device-health", "oid": "1.2.3.0"})
    assert r.shown_status() == "WARNING (device health; mains state not reported)"


def test_avtech_humidity_only_from_a_proven_temp_humidity_sensor():
    """ROOMALERT12E-MIB: column 3 of a digital sensor is a humidity only on a Temp/Humidity
    sensor, the only type with a dew point (°C and °F). The recorded unit: 27.6 %."""
    from opsctl.power.profiles.env_units import avtech_postprocess

    row = {"index": "0", "temperature": 27.62, "name": "Ext Sensor 1", "sen3": 27.6,
           "dew_c": 13.16, "dew_f": 55.68}
    values: dict = {}
    avtech_postprocess(values, {"av_digital1": [row]}, Notes())
    assert [(r["quantity"], r["value"], r["oid"]) for r in values["readings"]] == [
        ("humidity", 27.6, "1.3.6.1.4.1.20916.1.10.1.2.3.0")]
    # A Temp/Analog sensor: column 3 is a voltage, no dew point -> no humidity.
    values, notes = {}, Notes()
    avtech_postprocess(values, {"av_digital1": [{**row, "sen3": 4.2, "dew_c": None,
                                                 "dew_f": None}]}, notes)
    assert "readings" not in values
    # Dew points that disagree prove nothing either.
    avtech_postprocess(values, {"av_digital1": [{**row, "dew_f": 80.0}]}, notes)
    assert "readings" not in values and [n.code for n in notes] == ["unproven"]


def test_output_current_rescaled_only_on_power_balance_evidence():
    """An on-line UPS cannot deliver ten times the current it draws at the same voltage:
    then (and only then) the card's upsOutputCurrent is in 0.01 A (Sinetica)."""
    from opsctl.power.profiles.ietf import current_balance_postprocess

    def run(**kw):
        v = {"ups.status": "OL", "input.voltage": 206, "output.voltage": 208,
             "input.current": 17.7, "output.current": 178, **kw}
        notes = Notes()
        current_balance_postprocess(v, {}, notes)
        return v["output.current"], [n.code for n in notes]

    assert run() == (17.8, ["scale"])
    assert run(**{"input.L2.current": 17.6, "output.L2.current": 154}) == \
        (17.8, ["scale", "scale"])
    # One line that balances: no evidence for the others' scale either.
    assert run(**{"input.L2.current": 17.6, "output.L2.current": 15.4})[0] == 178
    assert run(**{"ups.status": "OB"})[0] == 178          # on battery: no input to compare
    assert run(**{"output.voltage": 120})[0] == 178       # another voltage: no balance test
    assert run(**{"output.current": 18.1})[0] == 18.1     # a plausible current stays


def test_apc_iem_probes_connected_only_in_celsius():
    """iemStatusProbesTable (older APC cards, corpus apc_sua1500rmi2u: AP9512T at 26 °C,
    humidity -1): connected probes only, °F converted, -1 humidity is no reading."""
    from opsctl.power.profiles.apc import apc_postprocess

    rows = [{"index": "1", "name": "AP9512T", "status": 2, "temperature": 26, "units": 1,
             "humidity": None},
            {"index": "2", "name": "rack", "status": 2, "temperature": 77, "units": 2,
             "humidity": 40},
            {"index": "3", "name": "gone", "status": 1, "temperature": 0, "units": 1}]
    values: dict = {}
    apc_postprocess(values, {"iem_probes": rows}, Notes())
    assert [(r["name"], r["quantity"], r["value"]) for r in values["readings"]] == [
        ("AP9512T", "temperature", 26), ("rack", "temperature", 25), ("rack", "humidity", 40)]
