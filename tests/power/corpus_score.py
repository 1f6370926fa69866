"""Score opsctl's reading of the real-device corpus (tests/fixtures/ups-corpus) against
LibreNMS's (``expected/NAME.json``), with LibreNMS's own mistakes corrected.

Used by tests/power/test_corpus.py (the gate) and benchmarks/corpus/nut_compare.py (the
docs table). Pure functions over plain data: a reading is ``{"kind", "profile",
"values"}`` as ``power status --json`` gives it.

How a LibreNMS sensor is compared:

- Only numeric classes opsctl has fields for are *comparable* (charge, runtime, delay,
  load, voltage, current, frequency, power, temperature, humidity); state/count/percent
  sensors are not values opsctl reports.
- The opsctl fields a sensor may land in are found by OID first: every profile names the
  OID of each source, so a LibreNMS sensor on the same object (``.0`` instance quirks
  ignored) is compared to every field reading it. A sensor on an object no profile reads
  is then matched by its class and description (an input voltage read from another MIB
  is still an input voltage); anything left is comparable and *missing*.
- ``match``: a candidate field holds the value (tolerance: 60 s for runtimes, whose
  sources count minutes; else 0.11 or 1 %, whichever is larger). ``wrong``: candidate
  fields hold values and none matches. ``missing``: no candidate field has a value.
- LibreNMS's mistakes (the corpus README, and those found while scoring, each with its
  reason) are in :data:`CORRECTIONS`: a corrected value, or ABSENT (the object means
  "not available": opsctl must show nothing) or NOT_A_VALUE (not comparable at all).
- Values opsctl reads that LibreNMS lacks (charge on Liebert APM ...) are checked
  against plausible ranges for what they are (:data:`PLAUSIBLE`); outside is ``wrong``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fixtures" / "ups-corpus"

COMPARABLE = {"charge", "runtime", "delay", "load", "voltage", "current", "frequency",
              "power", "temperature", "humidity"}

ABSENT = "absent"          # the object means "not available": opsctl must show no value
NOT_A_VALUE = "not-a-value"  # LibreNMS mislabels something that is no reading of this class

# (file, OID) -> corrected value | ABSENT | NOT_A_VALUE, with the reason.
CORRECTIONS: dict[tuple[str, str], tuple[Any, str]] = {
    **{("sinetica", f"1.3.6.1.4.1.13891.101.3.3.1.3.{n}"): (206, "corpus README: whole volts")
       for n in (1, 2, 3)},
    ("sinetica", "1.3.6.1.4.1.13891.101.4.4.1.2.1"): (208, "corpus README: whole volts"),
    ("sinetica", "1.3.6.1.4.1.13891.101.4.4.1.2.2"): (208, "corpus README: whole volts"),
    ("sinetica", "1.3.6.1.4.1.13891.101.4.4.1.2.3"): (209, "corpus README: whole volts"),
    # Output current per line 1780/1540/1630 while the input draws 17.7/17.6/17.4 A at the
    # same voltage, on line: LibreNMS's 178 A would be ten times the power drawn.
    **{("sinetica", f"1.3.6.1.4.1.13891.101.4.4.1.3.{n}"):
       (a, "power balance: 10x the input current is impossible on line; 0.01 A")
       for n, a in ((1, 17.8), (2, 15.4), (3, 16.3))},
    # Output power 58500 on line 1 (5850 W by LibreNMS: more than the line's 3.7 kVA) and
    # 0 W on lines 2-3 while 15-16 A flow there: no unit fits; showing none is right.
    **{("sinetica", f"1.3.6.1.4.1.13891.101.4.4.1.4.{n}"):
       (ABSENT, "no unit fits (5850 W > 17.8 A x 208 V; 0 W while 15 A flow)")
       for n in (1, 2, 3)},
    ("socomec-ups", "1.3.6.1.4.1.4555.1.1.7.1.2.3.0"):
        (ABSENT, "corpus README: 65535 = not available"),
    ("eatonupsm2_9px+empg2", "1.3.6.1.4.1.534.1.2.6.0"):
        (NOT_A_VALUE, "corpus README: last battery replacement is no runtime"),
    # Found while scoring (raw recording wins):
    **{("deltaups_rfc1628string", o): (NOT_A_VALUE, "2300/2360/2350 V: the card sends "
                                       "0.1 V but gives no nominal value to prove it; "
                                       "LibreNMS's 2300 V is wrong, 230 V would be a guess")
       for o in ("1.3.6.1.2.1.33.1.3.3.1.3.1", "1.3.6.1.2.1.33.1.4.4.1.2.1",
                 "1.3.6.1.2.1.33.1.5.3.1.2.1")},
    **{("liebert_weblbds", f"1.3.6.1.4.1.476.1.42.3.4.{o}"):
       (NOT_A_VALUE, "a set point (a setting of the cooling unit), not a measurement")
       for o in ("1.3.3.1.6.2", "1.3.3.1.6.3", "2.2.3.1.6.2")},
    ("liebert_mph2rg", "1.3.6.1.4.1.476.1.42.3.8.40.20.1.150.1.2"):
        (NOT_A_VALUE, "the branch's alarm threshold current, not a measurement"),
    **{("apc_environmental-manager", f"1.3.6.1.4.1.318.1.1.10.4.2.3.1.6.0.{n}"):
       (ABSENT, "humidity -1: the probe has no humidity sensor") for n in (1, 2)},
    **{("akcp_serverprobe8", f"1.3.6.1.4.1.3854.1.2.2.1.17.1.13.{n}"):
       (NOT_A_VALUE, "offline probes (sensorProbeHumidityOnline = offline(2)); column 13 is "
                     "not their humidity: the online probe has 42 % in column 3 and 0 there")
       for n in range(1, 6)},
    ("cetpower", "1.3.6.1.4.1.12551.4.1.2.2.1.2.1"):
        (NOT_A_VALUE, "the inverter system's share of installed module power (3411 of "
                      "12000 W), another quantity than the RFC 1628 output load (25 %)"),
    ("vertiv-ita2", "1.3.6.1.4.1.13400.2.54.2.5.7.0"):
        (347 / 10, "VERTIV-ITA2-MIB batteryRemainsTime is \"stored as 0.1 minute\": "
                   "34.7 min, not LibreNMS's 347 min (5.8 h)"),
    **{("apc-mgeups_galaxy7000", f"1.3.6.1.4.1.705.1.7.2.1.4.{n}.0"):
       (NOT_A_VALUE, "upsmgOutputLoadPerPhase is % of nominal (NUT mge-mib.c), not kVA: "
                     "9/7/11 average the UPS's 9 % load") for n in (1, 2, 3)},
}
# APC's "runtime" sensors that are dates/days, not minutes of runtime (corpus README).
NOT_RUNTIME = re.compile(r"recommended days|last battery replacement", re.I)


@dataclass
class Outcome:
    file: str
    klass: str
    descr: str
    oid: str
    expected: Any
    result: str               # match | wrong | missing | absent-ok | excluded
    fields: list[str] = field(default_factory=list)
    got: Any = None
    why: str = ""


def norm(oid: str) -> str:
    """OID without the leading dot and one trailing ``.0`` (cards add or drop it)."""
    oid = oid.strip().lstrip(".")
    return oid[:-2] if oid.endswith(".0") else oid


def field_index(profiles) -> dict[str, list[tuple[str, float]]]:
    """Normalised OID -> [(field name, scale)] over every profile's sources."""
    idx: dict[str, list[tuple[str, float]]] = {}
    for p in profiles:
        for f in p.fields:
            if f.type != "number":
                continue
            for s in f.sources:
                idx.setdefault(norm(s.oid), []).append((f.name, s.scale))
    return idx


_PHASE = re.compile(r"(?:phase|#|l)\s*([123])\b|\b([123])$", re.I)


def guess_fields(klass: str, descr: str) -> list[str]:
    """Where a sensor on an object no profile reads would land, by what it says it is."""
    d = descr.lower()
    m = _PHASE.search(d)
    n = (m.group(1) or m.group(2)) if m else None
    group = ("input.bypass" if "bypass" in d else "input" if "input" in d
             else "output" if "output" in d else "battery" if "batt" in d else None)
    if klass == "charge":
        return ["battery.charge"]
    if klass in ("runtime", "delay"):
        return [] if "on battery" in d else ["battery.runtime"]
    if klass == "load":
        return [f"output.L{n}.power.percent", "ups.load"] if n else ["ups.load"]
    if klass == "temperature":
        if group == "battery":
            return ["battery.temperature"]
        return ["ups.temperature", "ambient.temperature"]
    if klass == "humidity":
        return ["ambient.humidity"]
    if group is None:
        return []
    if klass == "voltage":
        if group == "battery":
            return ["battery.voltage"]
        plain = [f"{group}.voltage"] if n in (None, "1") else []
        return plain + ([f"{group}.L{n}-N.voltage"] if n else [])
    if klass == "current":
        if group == "battery":
            return ["battery.current"]
        plain = [f"{group}.current"] if n in (None, "1") else []
        return plain + ([f"{group}.L{n}.current"] if n else [])
    if klass == "frequency":
        if group == "battery":
            return []
        return ([f"{group}.frequency"] if n in (None, "1") else []) + (
            [f"{group}.L{n}.frequency"] if n else [])
    if klass == "power":
        plain = {"output": "ups.realpower", "input": "input.realpower",
                 "input.bypass": "input.bypass.realpower"}.get(group)
        return ([plain] if plain and n in (None, "1") else []) + (
            [f"{group}.L{n}.realpower"] if n and group != "battery" else [])
    return []


def _close(klass: str, a: Any, b: float) -> bool:
    if not isinstance(a, int | float) or isinstance(a, bool):
        return False
    if klass in ("runtime", "delay"):
        return abs(a - b) <= 60
    return abs(a - b) <= max(0.11, abs(b) * 0.01)


def _seconds(klass: str, value: float) -> float:
    # LibreNMS runtimes are minutes; "delay" (MGE remaining time) is seconds.
    return value * 60 if klass == "runtime" else value


def score_device(file: str, expected: list[dict[str, Any]], values: dict[str, Any],
                 index: dict[str, list[tuple[str, float]]]) -> list[Outcome]:
    out: list[Outcome] = []
    for s in expected:
        klass, descr, oid = s["class"], s.get("descr") or "", norm(s["oid"])
        value = s["value"]
        o = Outcome(file, klass, descr, oid, value, "excluded")
        corr = CORRECTIONS.get((file, oid)) or CORRECTIONS.get((file, oid + ".0"))
        if klass not in COMPARABLE:
            o.why = "class not compared"
            out.append(o)
            continue
        if klass == "runtime" and NOT_RUNTIME.search(descr):
            o.why = "corpus README: not a runtime"
            out.append(o)
            continue
        if corr is not None:
            fix, why = corr
            o.why = why
            if fix == NOT_A_VALUE:
                out.append(o)
                continue
            if fix != ABSENT:
                value = fix
                o.expected = fix
        # A table reading (PDU outlet, probe) names its own OID.
        by_oid = [r for r in values.get("readings") or [] if norm(str(r.get("oid"))) == oid]
        if by_oid:
            o.fields = [f"readings[{by_oid[0].get('group')} {by_oid[0].get('name')}]"]
            have = {o.fields[0]: by_oid[0].get("value")}
        else:
            cands = [name for name, _ in index.get(oid, [])] or guess_fields(klass, descr)
            o.fields = list(dict.fromkeys(cands))
            have = {c: values[c] for c in o.fields if c in values}
        if corr is not None and corr[0] == ABSENT:
            o.result = "absent-ok" if not have else "wrong"
            o.got = have or None
            out.append(o)
            continue
        if not isinstance(value, int | float):
            o.why = "no number"
            out.append(o)
            continue
        want = _seconds(klass, float(value))
        o.expected = want if klass == "runtime" else value
        if not have:
            o.result = "missing"
        elif any(_close(klass, v, want) for v in have.values()):
            o.result = "match"
            o.got = next(v for v in have.values() if _close(klass, v, want))
        else:
            o.result = "wrong"
            o.got = have
        out.append(o)
    return out


# Plausible ranges for values LibreNMS lacks (checked against the raw recording otherwise).
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "battery.charge": (0, 100), "battery.runtime": (0, 7 * 86400), "ups.load": (0, 200),
    "battery.voltage": (0, 1000), "battery.temperature": (-20, 80),
    "ups.temperature": (-20, 90), "ambient.temperature": (-30, 80),
    "ambient.humidity": (0, 100),
    "input.voltage": (0, 500), "output.voltage": (0, 500), "input.bypass.voltage": (0, 500),
    "input.frequency": (0, 70), "output.frequency": (0, 70), "input.bypass.frequency": (0, 70),
}


def implausible(values: dict[str, Any], compared: set[str]) -> list[tuple[str, Any]]:
    bad = []
    for k, (lo, hi) in PLAUSIBLE.items():
        v = values.get(k)
        if k in compared or not isinstance(v, int | float):
            continue
        if not lo <= v <= hi:
            bad.append((k, v))
    return bad


@dataclass
class Summary:
    files: int = 0
    comparable: int = 0
    match: int = 0
    wrong: int = 0
    missing: int = 0
    with_status: int = 0       # a status shown: ups.status, or the device's health
    wrong_items: list[str] = field(default_factory=list)
    no_status: list[str] = field(default_factory=list)
    # Shown as the device's health summary (mains state not reported), not OL/OB.
    health_only: list[str] = field(default_factory=list)

    @property
    def percent(self) -> float:
        return 100.0 * self.match / self.comparable if self.comparable else 0.0


def load_index() -> list[dict[str, Any]]:
    return json.loads((CORPUS / "index.json").read_text())


def load_expected(file: str) -> list[dict[str, Any]]:
    p = CORPUS / "expected" / f"{file}.json"
    return json.loads(p.read_text()) if p.exists() else []


def summarise(outcomes: dict[str, list[Outcome]], readings: dict[str, dict[str, Any]],
              status_files: list[str]) -> Summary:
    s = Summary(files=len(outcomes))
    for file, outs in outcomes.items():
        compared = {f for o in outs if o.result in ("match", "wrong") for f in o.fields}
        for o in outs:
            if o.result in ("match", "wrong", "missing", "absent-ok"):
                s.comparable += 1
            if o.result in ("match", "absent-ok"):
                s.match += 1
            elif o.result == "wrong":
                s.wrong += 1
                s.wrong_items.append(f"{file}: {o.descr} ({o.oid}) LibreNMS {o.expected} "
                                     f"opsctl {o.got}")
            elif o.result == "missing":
                s.missing += 1
        for k, v in implausible(readings.get(file, {}).get("values", {}), compared):
            s.wrong += 1
            s.wrong_items.append(f"{file}: {k} = {v} is implausible")
    for file in status_files:
        values = readings.get(file, {}).get("values", {})
        if values.get("ups.status"):
            s.with_status += 1
        elif values.get("device.health"):
            s.with_status += 1
            s.health_only.append(file)
        else:
            s.no_status.append(file)
    return s
