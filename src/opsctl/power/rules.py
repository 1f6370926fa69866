"""The room's rules applied to a reading: thresholds -> findings -> health.

Defaults come from the machine-room regulations (``power.ups_thresholds``: load below
60 %, runtime 6-8 h) and each device may override them (``devices[].thresholds``).
"""

from __future__ import annotations

from typing import Any

from opsctl.core.errors import Status, worst
from opsctl.power.model import DeviceReading, Finding

# ups.status tokens that make a UPS unhealthy by themselves.
STATUS_RULES: dict[str, tuple[Status, str]] = {
    "OB": (Status.CRITICAL, "on battery"),
    "LB": (Status.CRITICAL, "low battery"),
    "OVER": (Status.CRITICAL, "overload"),
    "OFF": (Status.CRITICAL, "output off"),
    "RB": (Status.WARNING, "replace battery"),
    "BYPASS": (Status.WARNING, "on bypass"),
}
FAILED_TESTS = ("fail", "error", "warning")


def thresholds_for(cfg, device) -> Any:
    return device.thresholds if device.thresholds is not None else cfg.power.ups_thresholds


def _fmt_min(seconds: float) -> str:
    return f"{seconds / 60:.0f} min"


def ups_findings(r: DeviceReading, th) -> list[Finding]:
    v = r.values
    out: list[Finding] = []
    for token in r.ups_status:
        if token in STATUS_RULES:
            st, text = STATUS_RULES[token]
            out.append(Finding(st, text, "ups.status", v.get("ups.status"),
                               f"ups.status has {token}"))
    alarm = v.get("ups.alarm")
    if alarm:
        out.append(Finding(Status.WARNING, f"alarms present: {alarm}", "ups.alarm", alarm,
                           "ups.alarm present"))
    load = v.get("ups.load")
    if isinstance(load, int | float):
        if load >= th.load_crit:
            out.append(Finding(Status.CRITICAL, f"load {load:g} % >= {th.load_crit:g} %",
                               "ups.load", load, f"ups.load >= {th.load_crit:g}"))
        elif load >= th.load_warn:
            out.append(Finding(Status.WARNING, f"load {load:g} % >= {th.load_warn:g} %",
                               "ups.load", load, f"ups.load >= {th.load_warn:g}"))
    rt = v.get("battery.runtime")
    if isinstance(rt, int | float):
        if rt < th.runtime_crit_min * 60:
            out.append(Finding(Status.CRITICAL, f"runtime {_fmt_min(rt)} < "
                               f"{th.runtime_crit_min:g} min", "battery.runtime", rt,
                               f"battery.runtime < {th.runtime_crit_min:g} min"))
        elif rt < th.runtime_warn_min * 60:
            out.append(Finding(Status.WARNING, f"runtime {_fmt_min(rt)} < "
                               f"{th.runtime_warn_min:g} min", "battery.runtime", rt,
                               f"battery.runtime < {th.runtime_warn_min:g} min"))
    ch = v.get("battery.charge")
    if isinstance(ch, int | float):
        if ch < th.charge_crit:
            out.append(Finding(Status.CRITICAL, f"charge {ch:g} % < {th.charge_crit:g} %",
                               "battery.charge", ch, f"battery.charge < {th.charge_crit:g}"))
        elif ch < th.charge_warn:
            out.append(Finding(Status.WARNING, f"charge {ch:g} % < {th.charge_warn:g} %",
                               "battery.charge", ch, f"battery.charge < {th.charge_warn:g}"))
    temp = v.get("battery.temperature")
    if isinstance(temp, int | float):
        if temp > th.temperature_crit:
            out.append(Finding(Status.CRITICAL, f"battery {temp:g} °C > "
                               f"{th.temperature_crit:g} °C", "battery.temperature", temp,
                               f"battery.temperature > {th.temperature_crit:g}"))
        elif temp > th.temperature_warn:
            out.append(Finding(Status.WARNING, f"battery {temp:g} °C > "
                               f"{th.temperature_warn:g} °C", "battery.temperature", temp,
                               f"battery.temperature > {th.temperature_warn:g}"))
    out.extend(health_findings(r))
    test = v.get("ups.test.result")
    if isinstance(test, str) and any(w in test.lower() for w in FAILED_TESTS):
        out.append(Finding(Status.WARNING, f"last self-test: {test}", "ups.test.result", test,
                           "ups.test.result failed"))
    if not any(k in v for k in ("ups.status", "ups.load", "battery.charge", "battery.runtime",
                                "device.health")):
        out.append(Finding(Status.UNKNOWN, "no UPS status, load, charge or runtime readable "
                           f"with profile {r.profile}", None, None, "UPS data present"))
    else:
        # Real cards send parts of their MIB (the Eaton ConnectUPS recording has no
        # status, load or runtime): a rule without its value cannot be checked, and a
        # UPS without ups.status could be on battery unnoticed. Say so, never "ok".
        lacking = [f"{k} ({why})" for k, why in UNCHECKABLE.items() if k not in v]
        if "ups.status" not in v and v.get("device.health"):
            # The card reports its health but not where its power comes from: its health
            # summary stands in for the status (shown as such), the gap is said, not alarmed.
            lacking.remove(f"ups.status ({UNCHECKABLE['ups.status']})")
            out.append(Finding(Status.OK, "mains state not reported; the device's health "
                               f"summary ({v['device.health']}) stands in", "ups.status", None,
                               "ups.status present"))
        if lacking:
            out.append(Finding(Status.WARNING, "no usable value for " + ", ".join(lacking),
                               None, [k for k in UNCHECKABLE if k not in v],
                               "rule values present"))
    return out


HEALTH_STATUS = {"WARNING": Status.WARNING, "CRITICAL": Status.CRITICAL}


def health_findings(r: DeviceReading) -> list[Finding]:
    """The device's own health summary (``device.health``, see
    opsctl.power.profiles.base.health_field) when it says something is wrong."""
    level = r.values.get("device.health")
    if level not in HEALTH_STATUS:
        return []
    src = r.status_source or {}
    what = src.get("object") or "health summary"
    return [Finding(HEALTH_STATUS[level], f"device reports {level.lower()} health ({what})",
                    "device.health", level, "device.health OK")]


# Values the room's rules need, and what is lost without each (power-cards work).
UNCHECKABLE = {
    "ups.status": "on battery cannot be detected",
    "ups.load": "load rule unchecked",
    "battery.runtime": "runtime rule unchecked",
}


def inverter_findings(r: DeviceReading, th) -> list[Finding]:
    """An inverter system runs from its DC plant by design: no "on battery" here. What
    matters is output present, every module delivering, and the load."""
    v = r.values
    out: list[Finding] = []
    if not any(k in v for k in ("output.voltage", "ups.realpower", "inverter.modules")):
        return [Finding(Status.UNKNOWN, "no inverter output, power or modules readable with "
                        f"profile {r.profile}", None, None, "inverter data present")]
    vout = v.get("output.voltage")
    if isinstance(vout, int | float) and vout <= 0:
        out.append(Finding(Status.CRITICAL, "no output voltage", "output.voltage", vout,
                           "output.voltage > 0"))
    mods, running = v.get("inverter.modules"), v.get("inverter.modules.running")
    if isinstance(mods, int) and isinstance(running, int) and running < mods:
        out.append(Finding(Status.WARNING, f"{mods - running} of {mods} inverter modules "
                           "deliver no output", "inverter.modules.running", running,
                           "every module delivers"))
    load = v.get("inverter.power.percent", v.get("ups.load"))
    if isinstance(load, int | float):
        if load >= th.load_crit:
            out.append(Finding(Status.CRITICAL, f"load {load:g} % >= {th.load_crit:g} %",
                               "ups.load", load, f"ups.load >= {th.load_crit:g}"))
        elif load >= th.load_warn:
            out.append(Finding(Status.WARNING, f"load {load:g} % >= {th.load_warn:g} %",
                               "ups.load", load, f"ups.load >= {th.load_warn:g}"))
    return out


def range_findings(label: str, fieldname: str, value: Any, rng, unit: str) -> list[Finding]:
    if rng is None or not isinstance(value, int | float):
        return []
    for bound, st, op in ((rng.crit_high, Status.CRITICAL, ">"), (rng.crit_low, Status.CRITICAL,
                                                                  "<"),
                          (rng.warn_high, Status.WARNING, ">"), (rng.warn_low, Status.WARNING,
                                                                 "<")):
        if bound is None:
            continue
        if (op == ">" and value > bound) or (op == "<" and value < bound):
            return [Finding(st, f"{label} {value:g}{unit} {op} {bound:g}{unit}", fieldname, value,
                            f"{fieldname} {op} {bound:g}")]
    return []


def _port_matches(port: dict[str, Any], wanted: str) -> bool:
    return wanted in (str(port.get("index")), port.get("name"), port.get("descr"),
                      port.get("alias"))


def switch_findings(r: DeviceReading, device, cfg) -> list[Finding]:
    out: list[Finding] = []
    ports = r.values.get("ports") or []
    expected = list(device.expected_up_ports)
    wanted_ports: list[dict[str, Any]] = []
    if expected:
        for want in expected:
            match = [p for p in ports if _port_matches(p, want)]
            if not match:
                out.append(Finding(Status.WARNING, f"expected port {want} not found",
                                   "ports", want, "expected_up_ports"))
                continue
            p = match[0]
            wanted_ports.append(p)
            if p.get("oper") != "up":
                out.append(Finding(Status.WARNING, f"port {_pname(p)} is {p.get('oper', '?')} "
                                   f"(admin {p.get('admin', '?')}), should be up", "ports",
                                   _pname(p), "expected_up_ports"))
    # Admin up and oper down is always a finding; with expected_up_ports it only informs
    # (status OK) for ports outside that list, since the room said which ones matter.
    for p in ports:
        if p.get("admin") == "up" and p.get("oper") in ("down", "lowerLayerDown") \
                and not any(p is w for w in wanted_ports):
            st = Status.OK if expected else Status.WARNING
            out.append(Finding(st, f"port {_pname(p)} admin up, oper {p.get('oper')}"
                               + (" (not in expected_up_ports)" if expected else ""), "ports",
                               _pname(p), "admin up => oper up"))
    out.extend(sensor_findings(r.values.get("sensors") or [], device.temperature,
                               device.humidity))
    return out


def _pname(p: dict[str, Any]) -> str:
    return str(p.get("name") or p.get("descr") or p.get("index"))


def sensor_findings(sensors: list[dict[str, Any]], temp_range, hum_range) -> list[Finding]:
    out: list[Finding] = []
    for s in sensors:
        name = s.get("name")
        if s.get("oper") == "nonoperational":
            st = Status.CRITICAL if s.get("kind") in ("psu", "fan") else Status.WARNING
            out.append(Finding(st, f"sensor {name} nonoperational", "sensors", name,
                               "sensor operational"))
            continue
        if s.get("kind") in ("psu", "fan", "status") and s.get("value") is False:
            out.append(Finding(Status.CRITICAL if s["kind"] != "status" else Status.WARNING,
                               f"{s['kind']} {name} failed", "sensors", name, f"{s['kind']} ok"))
        if s.get("kind") == "temperature":
            out.extend(range_findings(f"temperature {name}", "sensors", s.get("value"),
                                      temp_range, " °C"))
        if s.get("kind") == "humidity":
            out.extend(range_findings(f"humidity {name}", "sensors", s.get("value"),
                                      hum_range, " %"))
    return out


# Share of a breaker's rating a branch may carry continuously (the usual 80 % rule for
# continuous loads); at 100 % the breaker trips.
BREAKER_WARN = 80.0
BREAKER_CRIT = 100.0
# State readings: what is an alarm, and how bad.
STATE_SEVERITY = {"leak": Status.CRITICAL, "smoke": Status.CRITICAL, "door": Status.WARNING,
                  "state": Status.WARNING}


def readings_findings(readings: list[dict[str, Any]], temp_range, hum_range
                      ) -> list[Finding]:
    """Findings for table readings (PDU branches, probes): temperature and humidity
    against the room's ranges, current against the row's breaker rating, alarms."""
    out: list[Finding] = []
    for rd in readings:
        q, v = rd.get("quantity"), rd.get("value")
        label = f"{rd.get('group')} {rd.get('name')}".strip()
        if q == "temperature":
            out.extend(range_findings(f"temperature {label}", "readings", v, temp_range,
                                      " °C"))
        elif q == "humidity":
            out.extend(range_findings(f"humidity {label}", "readings", v, hum_range, " %"))
        elif q == "current" and isinstance(v, int | float) \
                and isinstance(rd.get("rating"), int | float) and rd["rating"] > 0:
            pct = 100.0 * v / rd["rating"]
            for bound, st in ((BREAKER_CRIT, Status.CRITICAL), (BREAKER_WARN, Status.WARNING)):
                if pct >= bound:
                    out.append(Finding(st, f"{label}: {v:g} A is {pct:.0f} % of its "
                                       f"{rd['rating']:g} A rating (>= {bound:g} %)",
                                       "readings", v, f"current < {bound:g} % of rating"))
                    break
        elif q in STATE_SEVERITY and isinstance(v, str) and v not in ("ok", "closed"):
            out.append(Finding(STATE_SEVERITY[q], f"{q} {label}: {v}", "readings", v,
                               f"{q} ok"))
    return out


def pdu_findings(r: DeviceReading, device, cfg) -> list[Finding]:
    """A PDU or ATS: branch currents against their ratings, probes, and for an ATS the
    selected source healthy, the switch healthy, redundancy kept."""
    v = r.values
    trange = device.temperature or cfg.power.temperature
    hrange = device.humidity or cfg.power.humidity
    out = readings_findings(v.get("readings") or [], trange, hrange)
    if v.get("ats.switch.status") == "fail":
        out.append(Finding(Status.CRITICAL, "transfer switch failed", "ats.switch.status",
                           "fail", "ats.switch.status ok"))
    src = v.get("ats.source")
    if src in ("A", "B"):
        mine = v.get(f"ats.source.{src.lower()}.status")
        other = v.get(f"ats.source.{'b' if src == 'A' else 'a'}.status")
        if mine == "fail":
            out.append(Finding(Status.CRITICAL, f"selected source {src} has failed",
                               "ats.source", src, "selected source ok"))
        if other == "fail" or v.get("ats.redundancy") == "lost":
            out.append(Finding(Status.WARNING, "redundancy lost: one source is down",
                               "ats.redundancy", v.get("ats.redundancy"), "both sources ok"))
    if not v.get("readings") and src is None:
        out.append(Finding(Status.UNKNOWN, f"no PDU readings with profile {r.profile}", None,
                           None, "PDU data present"))
    return out


def env_findings(r: DeviceReading, device, cfg) -> list[Finding]:
    trange = device.temperature or cfg.power.temperature
    hrange = device.humidity or cfg.power.humidity
    out = range_findings("temperature", "ambient.temperature",
                         r.values.get("ambient.temperature"), trange, " °C")
    out += range_findings("humidity", "ambient.humidity", r.values.get("ambient.humidity"),
                          hrange, " %")
    out += sensor_findings(r.values.get("sensors") or [], trange, hrange)
    out += readings_findings(r.values.get("readings") or [], trange, hrange)
    if not any(k in r.values for k in ("ambient.temperature", "ambient.humidity")) \
            and not r.values.get("sensors") and not r.values.get("readings"):
        out.append(Finding(Status.UNKNOWN, f"no sensor values readable with profile "
                           f"{r.profile}", None, None, "sensor data present"))
    return out


# Note codes that mean a value the device sent was unusable (not merely absent).
BAD_DATA = ("bad-type", "out-of-range", "unknown-enum")


def data_quality_findings(r: DeviceReading) -> list[Finding]:
    bad = [n for n in r.notes if n.get("code") in BAD_DATA]
    if not bad:
        return []
    fields = ", ".join(dict.fromkeys(str(n.get("field")) for n in bad))
    return [Finding(Status.WARNING, f"unusable values from the device: {fields}",
                    "data-quality", len(bad), "values well-formed")]


def evaluate(r: DeviceReading, device, cfg) -> None:
    """Fill ``findings``, ``status`` and ``reason`` of a reading in place."""
    if not r.reachable:
        r.findings = [Finding(Status.UNKNOWN, r.error or "not reachable", None, None,
                              "device answers")]
    elif r.kind == "ups":
        r.findings = ups_findings(r, thresholds_for(cfg, device))
    elif r.kind == "inverter":
        r.findings = inverter_findings(r, thresholds_for(cfg, device))
    elif r.kind == "pdu":
        r.findings = pdu_findings(r, device, cfg)
    elif r.kind == "switch":
        r.findings = switch_findings(r, device, cfg)
    else:
        r.findings = env_findings(r, device, cfg)
    if r.reachable:
        r.findings += data_quality_findings(r)
    r.status = worst(f.status for f in r.findings) if r.findings else Status.OK
    bad = [f for f in r.findings if f.status == r.status] if r.findings else []
    r.reason = "; ".join(f.message for f in bad) if bad else "ok"
