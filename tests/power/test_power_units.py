"""Unit layer of the power domain: decoding quirks, status merging, rules, rates, events.

Pure functions fed with :class:`Raw` values (exactly what the client produces); the same
code paths run against real agents in test_power_agents.py.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from opsctl.core.config.devices import Device, UpsThresholds
from opsctl.core.config.power import PowerSettings
from opsctl.core.errors import Status
from opsctl.power import events, rules
from opsctl.power.model import DeviceReading
from opsctl.power.profiles import registry
from opsctl.power.profiles.base import Field, Notes, Source, decode, merge_status
from opsctl.power.rates import apply_rates
from opsctl.power.snmp.values import MISSING, Raw


def _dec(raw: Raw, **kw):
    f = Field("battery.charge", (Source("1.2.3.0", kw.pop("scale", 1.0)),), **kw)
    notes = Notes()
    return decode(f, f.sources[0], raw, notes), [n.code for n in notes]


def test_decode_number_scaled_and_tidied():
    assert _dec(Raw("gauge32", 2301), scale=0.1) == (230.1, [])
    assert _dec(Raw("timeticks", 2700000), scale=0.01) == (27000, [])


@pytest.mark.parametrize("raw,value,codes", [
    (Raw("null"), None, ["null"]),
    (Raw("string", b"97"), 97, ["string-number"]),
    (Raw("string", b"n/a"), None, ["bad-type"]),
    (Raw("string", b"nan"), None, ["bad-type"]),
    (Raw("integer", 255), None, ["out-of-range"]),
    (Raw("integer", -3), None, ["out-of-range"]),
    (Raw("oid", "1.3.6"), None, ["bad-type"]),
    (MISSING, None, []),
])
def test_decode_quirks_become_notes_not_crashes(raw, value, codes):
    assert _dec(raw, minimum=0, maximum=100) == (value, codes)


def test_decode_enum_unknown_and_unknown_values():
    f = Field("ups.status", (Source("1.0", enum={3: "OL", 5: "OB"}),), "flags",
              unknown_values=(1,))
    n = Notes()
    assert decode(f, f.sources[0], Raw("integer", 5), n) == "OB"
    assert decode(f, f.sources[0], Raw("integer", 1), n) is None and not n
    assert decode(f, f.sources[0], Raw("integer", 42), n) is None
    assert [x.code for x in n] == ["unknown-enum"]


def test_decode_string_strips_nul_and_empty_is_absent():
    f = Field("device.model", (Source("1.0"),), "string")
    assert decode(f, f.sources[0], Raw("string", b"Smart-UPS\x00 "), Notes()) == "Smart-UPS"
    assert decode(f, f.sources[0], Raw("string", b"  "), Notes()) is None
    assert decode(f, f.sources[0], Raw("string", "Gerät".encode("latin-1")), Notes()) == "Gerät"


def test_merge_status_nut_order_and_ob_beats_ol():
    assert merge_status(["OL", "", "RB"]) == "OL RB"
    assert merge_status(["LB", "OB"]) == "OB LB"
    assert merge_status(["OL", "OB"]) == "OB"
    assert merge_status(["", ""]) is None


def test_registry_auto_selection_by_sysobjectid_and_probe():
    assert registry.by_sys_object_id("ups", "1.3.6.1.4.1.318.1.3.27").name == "apc"
    assert registry.by_sys_object_id("ups", "1.3.6.1.4.1.99999.1") is None
    ietf = registry.get("ietf")
    answers = {o: Raw("integer", 1) for o in ietf.probe_oids}
    best, scores = registry.by_probe("ups", answers)
    assert best.name == "ietf" and scores["ietf"] == len(ietf.probe_oids)
    assert registry.by_probe("ups", {})[0] is None
    assert [p.name for p in registry.expand(registry.get("switch"))] == [
        "switch", "if-mib", "entity-sensor"]


def _cfg(**power):
    return SimpleNamespace(power=PowerSettings(**power))


def _ups(values, **dev):
    d = Device(name="u", kind="ups", host="h", **dev)
    r = DeviceReading("u", "ups", True, values=values, profile="ietf")
    return r, d


def test_rules_regulation_thresholds():
    r, d = _ups({"ups.status": "OL", "ups.load": 59.9, "battery.runtime": 360 * 60,
                 "battery.charge": 100})
    rules.evaluate(r, d, _cfg())
    assert r.status == Status.OK and r.reason == "ok"
    r, d = _ups({"ups.status": "OL", "ups.load": 60, "battery.runtime": 359 * 60,
                 "battery.charge": 100})
    rules.evaluate(r, d, _cfg())
    assert r.status == Status.WARNING
    assert {f.field for f in r.findings} == {"ups.load", "battery.runtime"}
    r, d = _ups({"ups.status": "OB LB", "ups.load": 80, "battery.runtime": 600})
    rules.evaluate(r, d, _cfg())
    assert r.status == Status.CRITICAL
    assert "on battery" in r.reason and "low battery" in r.reason


def test_rules_per_device_override_and_unreachable():
    r, d = _ups({"ups.status": "OL", "ups.load": 55, "battery.runtime": 30000},
                thresholds=UpsThresholds(load_warn=50))
    rules.evaluate(r, d, _cfg())
    assert r.status == Status.WARNING and "55 % >= 50 %" in r.reason
    r = DeviceReading("u", "ups", False, error="no response from h:161")
    rules.evaluate(r, d, _cfg())
    assert r.status == Status.UNKNOWN and r.reason == "no response from h:161"


def test_rules_switch_ports_expected_and_admin_up_oper_down():
    ports = [{"index": "1", "name": "Gi1", "admin": "up", "oper": "up"},
             {"index": "2", "name": "Gi2", "admin": "up", "oper": "down"},
             {"index": "3", "name": "Gi3", "admin": "down", "oper": "down"}]
    d = Device(name="s", kind="switch", host="h")
    r = DeviceReading("s", "switch", True, values={"ports": ports})
    rules.evaluate(r, d, _cfg())
    assert r.status == Status.WARNING and "Gi2" in r.reason and "Gi3" not in r.reason
    d = Device(name="s", kind="switch", host="h", expected_up_ports=["Gi1", "Gi9"])
    rules.evaluate(r, d, _cfg())
    assert "Gi9 not found" in r.reason and "Gi2" not in r.reason
    # Outside the expected list, admin up / oper down still shows, without changing health.
    assert [(f.status, f.value) for f in r.findings if f.value == "Gi2"] == [(Status.OK, "Gi2")]


def test_rules_psu_failed_is_critical():
    d = Device(name="s", kind="switch", host="h")
    r = DeviceReading("s", "switch", True, values={"sensors": [
        {"name": "PSU 2", "kind": "psu", "value": False, "oper": "ok"}]})
    rules.evaluate(r, d, _cfg())
    assert r.status == Status.CRITICAL and "psu PSU 2 failed" in r.reason


def test_rates_wrap_discontinuity_and_restart():
    prev = {"device.uptime": 100.0, "ports": [
        {"index": "1", "in_octets": 1000, "out_octets": 0, "discontinuity": 0},
        {"index": "2", "in_octets32": 4294967000, "out_octets32": 0, "discontinuity": 0},
        {"index": "3", "in_octets": 5000, "out_octets": 0, "discontinuity": 0},
        {"index": "4", "in_octets": 5000, "out_octets": 0, "discontinuity": 0}]}
    cur = {"device.uptime": 110.0, "ports": [
        {"index": "1", "in_octets": 1000 + 1250, "out_octets": 0, "discontinuity": 0},
        {"index": "2", "in_octets32": 954, "out_octets32": 0, "discontinuity": 0},
        {"index": "3", "in_octets": 10, "out_octets": 0, "discontinuity": 0},
        {"index": "4", "in_octets": 9000, "out_octets": 0, "discontinuity": 10500}]}
    notes = Notes()
    apply_rates(cur, prev, notes)
    p = {x["index"]: x for x in cur["ports"]}
    assert p["1"]["in_bps"] == 1000.0                 # 1250 octets * 8 / 10 s
    assert p["2"]["in_bps"] == 1000.0                 # (954 + 2^32 - 4294967000) * 8 / 10
    assert "in_bps" not in p["3"] and "in_bps" not in p["4"]
    codes = sorted(n.code for n in notes)
    assert codes == ["counter-wrap", "discontinuity", "discontinuity"]
    restarted = {"device.uptime": 5.0, "ports": [{"index": "1", "in_octets": 1}]}
    notes = Notes()
    apply_rates(restarted, prev, notes)
    assert "in_bps" not in restarted["ports"][0] and notes[0].code == "discontinuity"


def _prev(reachable=True, status="OL", ports=None):
    return {"name": "u", "kind": "ups", "reachable": reachable,
            "values": {"ups.status": status, **({"ports": ports} if ports else {})}}


def test_events_power_cut_sequence():
    ob = DeviceReading("u", "ups", True, values={"ups.status": "OB"})
    assert [e.kind for e in events.detect({"u": _prev()}, [ob])] == ["on_battery"]
    ob_lb = DeviceReading("u", "ups", True, values={"ups.status": "OB LB"})
    assert [e.kind for e in events.detect({"u": _prev(status="OB")}, [ob_lb])] == [
        "low_battery"]
    ol = DeviceReading("u", "ups", True, values={"ups.status": "OL"})
    assert [e.kind for e in events.detect({"u": _prev(status="OB LB")}, [ol])] == ["online"]
    silent = DeviceReading("u", "ups", False, error="no response", error_kind="timeout")
    evs = events.detect({"u": _prev(status="OB")}, [silent])
    assert [(e.kind, e.severity) for e in evs] == [("comms_lost", "major"),
                                                   ("low_battery", "critical")]
    assert [e.kind for e in events.detect({"u": _prev(reachable=False)}, [ol])] == [
        "comms_restored"]
    # First poll: only conditions worth waking someone for.
    assert [e.kind for e in events.detect({}, [ob_lb])] == ["on_battery", "low_battery"]
    assert events.detect({}, [ol]) == []
    # A device dead from the start is reported once (its next polls have a previous one).
    (dead,) = events.detect({}, [silent])
    assert dead.kind == "comms_lost" and dead.details["never_answered"] is True
    assert events.detect({"u": _prev(reachable=False)}, [silent]) == []


def test_events_device_health():
    """A card's own health summary going WARNING/CRITICAL is an event (the only sign of
    trouble on a card without a power-source object); OK again clears it."""
    from opsctl.power.api import cleared

    src = {"kind": "device-health", "object": "productStatusGlobalStatus"}

    def rd(level):
        return DeviceReading("u", "ups", True, values={"device.health": level},
                             status_source=src)

    def prev(level):
        return {"name": "u", "kind": "ups", "reachable": True,
                "values": {"device.health": level}}

    evs = events.detect({"u": prev("OK")}, [rd("WARNING")])
    assert [(e.kind, e.severity, e.message) for e in evs] == [
        ("device_health", "major", "u: device reports warning health "
                                   "(productStatusGlobalStatus)")]
    assert [e.severity for e in events.detect({"u": prev("WARNING")}, [rd("CRITICAL")])] \
        == ["critical"]
    assert events.detect({"u": prev("WARNING")}, [rd("WARNING")]) == []
    assert [e.kind for e in events.detect({}, [rd("CRITICAL")])] == ["device_health"]
    assert events.detect({"u": prev("CRITICAL")}, [rd("OK")]) == []
    assert ("device_health", "u", "u reports OK health again") in cleared([rd("OK")])
    assert not [c for c in cleared([rd("WARNING")]) if c[0] == "device_health"]


def test_events_ports_down_and_up():
    before = [{"index": "1", "name": "Gi1", "admin": "up", "oper": "up"},
              {"index": "2", "name": "Gi2", "admin": "up", "oper": "down"}]
    after = [{"index": "1", "name": "Gi1", "admin": "up", "oper": "down"},
             {"index": "2", "name": "Gi2", "admin": "up", "oper": "up"}]
    prev = {"s": {"name": "s", "kind": "switch", "reachable": True,
                  "values": {"ports": before}}}
    cur = DeviceReading("s", "switch", True, values={"ports": after})
    assert [(e.kind, e.details["port"]) for e in events.detect(prev, [cur])] == [
        ("port_down", "Gi1"), ("port_up", "Gi2")]


def test_ietf_charger_state_derived_only_when_unambiguous():
    from opsctl.power.profiles.ietf import alarms_postprocess

    def status(values):
        alarms_postprocess(values, {}, Notes())
        return values["ups.status"]

    assert status({"ups.status": "OB LB"}) == "OB LB DISCHRG"
    assert status({"ups.status": "OL", "battery.current": 2.5, "battery.charge": 64}) == \
        "OL CHRG"
    assert status({"ups.status": "OL", "battery.current": 0, "battery.charge": 64}) == "OL"
    assert status({"ups.status": "OL", "battery.current": 1, "battery.charge": 100}) == "OL"
    alarms = {"alarms": [{"index": "1", "descr": "1.3.6.1.2.1.33.1.6.3.8"},
                         {"index": "2", "descr": "1.3.6.1.2.1.33.1.6.3.1"}]}
    values = {"ups.status": "OL"}
    alarms_postprocess(values, alarms, Notes())
    assert values["ups.status"] == "OL RB OVER"
    assert values["ups.alarm"] == "OutputOverload BatteryBad"

