"""Port rates from two samples of the interface counters.

Rules (as MRTG/Prometheus do it): the time base is the agent's sysUpTime, not our clock;
a 32-bit counter that went down wrapped once (add 2^32, note it); a 64-bit counter that
went down was reset, and so was every counter when sysUpTime went backwards (agent
restart) or ifCounterDiscontinuityTime changed — then there is no rate, only a note.
"""

from __future__ import annotations

from typing import Any

from opsctl.power.profiles.base import Notes

WRAP32 = 1 << 32
# ifInOctets / ifOutOctets (IF-MIB), the only 32-bit octet counters.
IF_OCTETS32 = {"in": "1.3.6.1.2.1.2.2.1.10", "out": "1.3.6.1.2.1.2.2.1.16"}


def _delta(cur: int, prev: int, bits: int) -> tuple[int | None, bool]:
    if cur >= prev:
        return cur - prev, False
    if bits == 32:
        return cur + WRAP32 - prev, True
    return None, False


def apply_rates(values: dict[str, Any], prev_values: dict[str, Any] | None,
                notes: Notes) -> None:
    """Add ``in_bps``/``out_bps`` to each port in ``values['ports']`` when ``prev_values``
    (the previous reading's values) allows a sound rate."""
    ports = values.get("ports")
    if not ports or not prev_values:
        return
    up_now, up_prev = values.get("device.uptime"), prev_values.get("device.uptime")
    if not isinstance(up_now, int | float) or not isinstance(up_prev, int | float):
        return
    elapsed = up_now - up_prev
    if elapsed < 0:
        notes.add("discontinuity", "ports", "agent restarted (sysUpTime went back): "
                  "no rates this time")
        return
    if elapsed == 0:
        return
    before = {str(p.get("index")): p for p in prev_values.get("ports") or []}
    for port in ports:
        old = before.get(str(port.get("index")))
        if old is None:
            continue
        pname = port.get("name") or port.get("descr") or port.get("index")
        if port.get("discontinuity") != old.get("discontinuity"):
            notes.add("discontinuity", f"port {pname}",
                      f"port {pname}: ifCounterDiscontinuityTime changed; no rate")
            continue
        for direction in ("in", "out"):
            for key, bits in ((f"{direction}_octets", 64), (f"{direction}_octets32", 32)):
                c, p = port.get(key), old.get(key)
                if isinstance(c, int) and isinstance(p, int):
                    d, wrapped = _delta(c, p, bits)
                    if wrapped:
                        # The OID keeps in and out apart (notes dedupe on it).
                        notes.add("counter-wrap", f"port {pname}",
                                  f"port {pname}: {key} wrapped (32-bit)",
                                  f"{IF_OCTETS32[direction]}.{port.get('index')}")
                    if d is None:
                        notes.add("discontinuity", f"port {pname}",
                                  f"port {pname}: 64-bit {key} went down (reset); no rate")
                    else:
                        port[f"{direction}_bps"] = round(d * 8 / elapsed, 1)
                    break
        port["rate_interval"] = round(elapsed, 2)
