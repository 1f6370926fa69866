"""Wait conditions of plan steps: TCP probes, the UPS charging check, sleep.

Each wait polls at its interval until the condition holds or its timeout passes; the
sleeping happens in ``time.sleep`` (no busy loop), and a probe never takes longer than
what is left of the timeout.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opsctl.power.plans.model import Sleep, Wait, WaitPort, WaitUpsCharging

# Longest single TCP connect attempt: a host that drops packets must not stall a probe.
_PROBE_TIMEOUT = 3.0

Poller = Callable[[Any, list[str]], list[Any]]


@dataclass
class WaitOutcome:
    satisfied: bool
    waited: float
    probes: int
    detail: str

    def to_dict(self) -> dict:
        return {"satisfied": self.satisfied, "waited": round(self.waited, 3),
                "probes": self.probes, "detail": self.detail}


def tcp_answers(address: str, port: int, timeout: float) -> bool:
    """True when a TCP connection to address:port is accepted within ``timeout``."""
    with contextlib.suppress(OSError), socket.create_connection((address, port),
                                                                timeout=timeout):
        return True
    return False


def ups_charging(reading: Any, accept: tuple[str, ...]) -> tuple[bool, str]:
    """Does one poll reading show the UPS charging again? Returns (ok, why)."""
    reachable = _get(reading, "reachable", False)
    values = _get(reading, "values", None) or {}
    if not reachable:
        reason = _get(reading, "reason", None) or "not reachable"
        return False, f"no answer ({reason})"
    status = str(values.get("ups.status") or "")
    tokens = set(status.upper().split())
    if not tokens:
        return False, "ups.status not reported"
    if "OB" in tokens:
        return False, f"on battery ({status})"
    hit = tokens & set(accept)
    if hit:
        return True, f"ups.status {status}"
    # NUT drops CHRG once the battery is full: on line and full counts as charged.
    charge = values.get("battery.charge")
    with contextlib.suppress(TypeError, ValueError):
        if "OL" in tokens and float(charge) >= 100:
            return True, f"ups.status {status}, battery.charge {charge}% (full)"
    more = f", battery.charge {charge}%" if charge is not None else ""
    return False, f"ups.status {status}{more}"


def _get(obj: Any, name: str, default: Any) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def default_poller() -> Poller:
    try:
        from opsctl.power.api import poll
    except ImportError as exc:  # the SNMP side is a separate part of the project
        raise RuntimeError(f"UPS polling is not available: {exc}") from exc
    return poll


def wait_for(wait: Wait, *, cfg: Any = None, poller: Poller | None = None,
             clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep) -> WaitOutcome:
    started = clock()
    if isinstance(wait, Sleep):
        sleep(wait.seconds)
        return WaitOutcome(True, clock() - started, 0, f"slept {wait.seconds:g}s")
    if isinstance(wait, WaitUpsCharging) and poller is None:
        try:
            poller = default_poller()
        except RuntimeError as exc:
            return WaitOutcome(False, 0.0, 0, str(exc))
    deadline = started + wait.timeout
    probes = 0
    last = ""
    while True:
        probes += 1
        left = max(deadline - clock(), 0.05)
        if isinstance(wait, WaitPort):
            answers = tcp_answers(wait.address, wait.port, min(_PROBE_TIMEOUT, left))
            ok = answers == wait.want_open
            last = f"{wait.address}:{wait.port} {'answers' if answers else 'does not answer'}"
        else:
            ok, last = _probe_ups(wait, cfg, poller)
        if ok:
            return WaitOutcome(True, clock() - started, probes, last)
        left = deadline - clock()
        if left <= 0:
            return WaitOutcome(False, clock() - started, probes,
                               f"timed out after {wait.timeout:g}s: {last}")
        sleep(min(wait.interval, left))


def _probe_ups(wait: WaitUpsCharging, cfg: Any, poller: Poller) -> tuple[bool, str]:
    try:
        readings = poller(cfg, [wait.ups])
    except Exception as exc:  # noqa: BLE001 - a failed poll is "not yet", reported as such
        return False, f"poll of {wait.ups} failed: {exc}"
    for r in readings or []:
        if _get(r, "name", wait.ups) == wait.ups:
            return ups_charging(r, wait.accept)
    return False, f"no reading for {wait.ups}"
