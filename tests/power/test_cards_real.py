"""The three real UPS cards (tests/fixtures/snmp-quirks/real: Minuteman RFC 1628, Eaton XUPS,
CyberPower CPS-MIB) served by snmpsim and read through the profiles.

Expected values come from reading the MIBs, not from running the code:
- RFC 1628: upsEstimatedMinutesRemaining in minutes, upsBatteryVoltage in 0.1 V DC,
  upsBatteryCurrent 0.1 A, frequencies 0.1 Hz, output current 0.1 A, the rest in units.
- XUPS-MIB (rev. 2014 UNITS clauses): xupsBatVoltage "Volts DC", frequencies
  "0.1 Hertz", voltages "RMS Volts", currents "RMS Amps", watts "Watts".
- CPS-MIB 2.9: line/output voltage and frequency in tenths, runtime as TimeTicks,
  battery temperature in °C, output current 0.1 A, envirTemperature 1/10 °F.
Each number is also cross-checked against net-snmp's snmpget reading the same agent.
"""

from __future__ import annotations

import pytest
from snmp_agents import snmpget_values
from test_cards_common import (
    REAL_CARDS,
    cli_json,
    read,
    run_cli,
    sim_available,
    start_sim,
    write_config,
)

pytestmark = [pytest.mark.snmp,
              pytest.mark.skipif(not sim_available(), reason="snmpsim venv not installed")]


@pytest.fixture(scope="module")
def sim():
    s = start_sim()
    yield s
    s.stop()


# -- Minuteman E1500RTXL2U: RFC 1628 with quirks -------------------------------------------------
def test_minuteman_values_scales_and_quirks(sim):
    r = read(sim.port, "minuteman-e1500")
    # sysObjectID 1.3.6.1.4.1.2254.2.4 (Minuteman/Para Systems) is no profile's prefix:
    # chosen by probing, where all five RFC 1628 probe objects answer.
    assert r.profile.name == "ietf"
    assert r.profile_reason.startswith("probe")
    assert r.values == {
        "device.mfr": "Minuteman",     # upsIdentManufacturer served WITHOUT .0
        "ups.status": "OL",            # upsOutputSource normal(3); upsBatteryStatus normal(2)
        "battery.runtime": 22 * 60,    # upsEstimatedMinutesRemaining 22 (minutes)
        "battery.charge": 100,         # upsEstimatedChargeRemaining %
        "battery.voltage": 41.2,       # upsBatteryVoltage 412 (0.1 V DC)
        "battery.temperature": 23,     # upsBatteryTemperature °C
        "input.frequency": 59.9,       # upsInputFrequency.1 599 (0.1 Hz)
        "input.voltage": 121,          # upsInputVoltage.1 (RMS V)
        "output.frequency": 60,        # upsOutputFrequency 600 (0.1 Hz)
        "output.voltage": 121,         # upsOutputVoltage.1
        "output.current": 8.1,         # upsOutputCurrent.1 81 (0.1 A)
        "ups.realpower": 951,          # upsOutputPower.1 W
        "ups.load": 79,                # upsOutputPercentLoad.1 %
        "battery.runtime.elapsed": 0,  # upsSecondsOnBattery
    }
    codes = {(n.code, n.field) for n in r.notes}
    assert ("missing-instance", "device.mfr") in codes
    assert "battery.current" in r.missing and "battery.current" not in r.values
    assert "device.model" in r.missing                     # upsIdentModel not sent at all


def test_eaton_connectups_xups(sim):
    r = read(sim.port, "eaton-connectups")
    assert r.profile.name == "xups"
    assert r.profile_reason == "sysObjectID 1.3.6.1.4.1.534.1"
    assert r.values == {
        "battery.voltage": 78,          # xupsBatVoltage (Volts DC)
        "battery.charge": 100,          # xupsBatCapacity %
        "input.frequency": 50,          # xupsInputFrequency 500 (0.1 Hz)
        "input.voltage": 228,           # xupsInputVoltage.1
        "output.frequency": 50,         # xupsOutputFrequency 500
        "output.voltage": 230,          # xupsOutputVoltage.1
        "output.current": 1,            # xupsOutputCurrent.1 (RMS Amps)
        "ups.realpower": 231,           # xupsOutputWatts.1
        "input.bypass.frequency": 50,   # xupsBypassFrequency 500
        "input.bypass.voltage": 228,    # xupsBypassVoltage.1
    }
    # The card sends no identity, no runtime, no load and no status object: absent, listed
    # as missing, never invented (NUT's pw would default ups.status to "OFF").
    for name in ("ups.status", "ups.load", "battery.runtime", "device.model", "device.mfr"):
        assert name in r.missing
    assert not r.notes


def test_cyberpower_ol2200_cps_mib(sim):
    r = read(sim.port, "cyberpower-ol2200")
    assert r.profile.name == "cyberpower"
    assert r.profile_reason == "sysObjectID 1.3.6.1.4.1.3808.1.1.3"
    assert r.values == {
        "device.mfr": "CPS",               # RFC 1628 upsIdentManufacturer, the one it sends
        "device.model": "OL2200RTXL2U",    # upsBaseIdentModel
        "ups.firmware": "S1A17",           # upsAdvanceIdentFirmwareRevision
        "device.serial": "ABCFT1000001",   # upsAdvanceIdentSerialNumber
        "ups.status": "OL",                # upsBaseOutputStatus onLine(2), battery normal(2),
                                           # replace indicator no(1)
        "battery.charge": 100,             # upsAdvanceBatteryCapacity %
        "battery.temperature": 36,         # upsAdvanceBatteryTemperature °C
        "battery.runtime": 1740,           # RunTimeRemaining 174000 TimeTicks = 29 min
        "input.voltage": 119.5,            # upsAdvanceInputLineVoltage 1195 (0.1 V)
        "input.frequency": 60,             # upsAdvanceInputFrequency 600 (0.1 Hz)
        "input.transfer.reason": "noTransfer",   # upsAdvanceInputLineFailCause 1
        "output.voltage": 120.2,           # upsAdvanceOutputVoltage 1202
        "output.frequency": 60,            # upsAdvanceOutputFrequency 600
        "output.current": 6.5,             # upsAdvanceOutputCurrent 65 (0.1 A)
        "ambient.temperature": 20.2,       # envirTemperature 683 = 68.3 °F = 20.17 °C
        "ambient.humidity": 56,            # envirHumidity %
    }
    assert "ups.load" in r.missing   # upsAdvanceOutputLoad is not in this card's answer
    assert not r.notes


@pytest.mark.parametrize("card", REAL_CARDS)
def test_numbers_match_net_snmp_snmpget_times_the_mib_scale(sim, card):
    """Independent check of every numeric value: net-snmp's raw value x the source's scale
    (first source that answers a number in range, as the profile's fallback order says)."""
    from opsctl.power.profiles.base import tidy

    r = read(sim.port, card)
    converted = {("cyberpower", "ambient.temperature")}  # °F -> °C, checked above
    checked = 0
    for f in r.profile.fields:
        if f.type != "number" or f.name not in r.values or (r.profile.name, f.name) in converted:
            continue
        raw = snmpget_values(sim.port, card, *[s.oid for s in f.sources])
        for s in f.sources:
            try:
                n = int(raw.get(s.oid, ""))
            except ValueError:
                continue
            want = tidy(n * s.scale)
            if (f.minimum is None or want >= f.minimum) and (f.maximum is None
                                                             or want <= f.maximum):
                assert r.values[f.name] == want, (f.name, s.oid, raw.get(s.oid))
                checked += 1
                break
        else:
            pytest.fail(f"{card}: {f.name}={r.values[f.name]} but snmpget found no source")
    assert checked >= 8


# -- status derivation from vendor objects only --------------------------------------------
@pytest.mark.parametrize("community, status", [
    ("cyberpower-statusonly", "OL"),        # only upsBaseOutputStatus onLine(2)
    ("eaton-sourceonly", "OL"),             # only xupsOutputSource normal(3)
    ("cyberpower-onbattery", "OB LB RB"),   # onBattery(3), batteryLow(3), replace(2)
    ("eaton-onbattery", "OB DISCHRG"),      # battery(5), ABM discharging(2), alarm OnBattery
])
def test_ups_status_from_vendor_objects(sim, community, status):
    r = read(sim.port, community)
    assert r.values["ups.status"] == status
    assert "ups.status" not in r.missing


def test_eaton_on_battery_alarms_and_values(sim):
    r = read(sim.port, "eaton-onbattery")
    v = r.values
    assert v["ups.alarm"] == "OnBattery InputFailure"  # xupsAlarmDescr -> 534.1.7.3 / .14
    assert v["ups.alarms.count"] == 2
    assert v["battery.current"] == -25           # Amps DC, negative while discharging
    assert v["battery.runtime"] == 420           # xupsBatTimeRemaining, seconds
    assert v["battery.charger.status"] == "discharging"
    assert v["ups.test.result"] == "Done and passed"
    assert v["ups.load"] == 64 and v["ups.realpower"] == 1720
    assert v["input.voltage"] == 0 and v["input.frequency"] == 0   # mains gone: real zeros
    assert v["device.model"] == "Powerware 9130 3000"


# -- auto never depends on one identity object -----------------------------------------------
def test_auto_finds_xups_behind_a_generic_sysobjectid(sim):
    r = read(sim.port, "xups-generic-oid")     # net-snmp Linux sysObjectID, XUPS objects
    assert r.profile.name == "xups"
    assert r.profile_reason == "probe: 4 of 7 objects answered"
    assert r.values["ups.status"] == "OL" and r.values["ups.load"] == 22


def test_wrong_profile_reads_nothing_and_says_so(sim):
    r = read(sim.port, "eaton-connectups", profile="cyberpower")
    assert set(r.values) == {"device.mfr"}    # only the constant: CPS-MIB absent
    assert "ups.status" in r.missing and "battery.charge" in r.missing


# -- through the config and the CLI: rules, health, missing ---------------------------------
@pytest.fixture(scope="module")
def cards_config(sim, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cards")
    return write_config(tmp, sim.port, [{"name": c} for c in REAL_CARDS])


def test_power_status_reads_all_three_cards(cards_config):
    rc, data = cli_json("-c", str(cards_config), "power", "status")
    by = {d["name"]: d for d in data}
    assert set(by) == set(REAL_CARDS)
    assert all(d["reachable"] for d in data)
    assert {n: by[n]["profile"] for n in by} == {
        "minuteman-e1500": "ietf", "eaton-connectups": "xups",
        "cyberpower-ol2200": "cyberpower"}

    mm = by["minuteman-e1500"]
    rules = {f["rule"]: f["status"] for f in mm["findings"]}
    # The Minuteman breaks both of the room's rules: load 79 % >= 60 % and runtime
    # 22 min < 6 h; neither reaches CRITICAL (80 %, 15 min).
    assert rules["ups.load >= 60"] == "WARNING"
    assert rules["battery.runtime < 360 min"] == "WARNING"
    assert mm["status"] == "WARNING"
    assert {n["code"] for n in mm["notes"]} >= {"missing-instance"}

    cp = by["cyberpower-ol2200"]
    cp_rules = {f["rule"] for f in cp["findings"]}
    assert "battery.runtime < 360 min" in cp_rules     # 29 min
    assert "battery.temperature > 35" in cp_rules      # 36 °C
    assert cp["status"] == "WARNING"
    assert "ups.load" in cp["missing"]

    assert "rule values present" in cp_rules            # no ups.load: 60 % rule unchecked

    et = by["eaton-connectups"]
    assert et["values"]["battery.charge"] == 100
    assert "ups.status" in et["missing"]
    # No status, load or runtime object: never "ok" -- on battery would go unnoticed.
    lacking = [f for f in et["findings"] if f["rule"] == "rule values present"]
    assert lacking and lacking[0]["value"] == ["ups.status", "ups.load", "battery.runtime"]
    assert et["status"] == "WARNING"
    # Exit code = the worst health (monitoring-plugin convention).
    from opsctl.core.errors import Status, worst
    assert rc == int(worst(Status[d["status"]] for d in data))


def test_power_ups_lists_missing_values_and_notes(cards_config):
    res = run_cli("-c", str(cards_config), "power", "ups", "minuteman-e1500")
    assert res.returncode == 1, res.stderr      # WARNING
    assert "not provided by this device:" in res.stdout
    assert "device.model" in res.stdout.split("not provided by this device:")[1]
    assert "without its .0 instance" in res.stdout
    res = run_cli("-c", str(cards_config), "power", "ups", "eaton-connectups")
    missing = res.stdout.split("not provided by this device:")[1]
    for name in ("ups.status", "ups.load", "battery.runtime"):
        assert name in missing


def test_power_status_verbose_shows_notes(cards_config):
    res = run_cli("-c", str(cards_config), "-v", "power", "status", "minuteman-e1500")
    assert "object served without its .0 instance" in res.stdout
    assert "Traceback" not in res.stderr
