"""Poll many devices concurrently on the one SNMP engine, each bounded by its own timeout.

A dead or misbehaving agent costs only its own timeout x tries: every device runs as its
own task under a semaphore (``power.max_concurrency``), errors are caught per device and
turned into an unreachable reading, and a hard per-device deadline guards against an
agent that answers slowly forever (e.g. a walk that never ends).

Each device's :class:`~opsctl.power.reader.ReadPlan` is kept between polls in this
process (the daemon polls every ``poll_interval``), keyed by the device's name and
checked against its target, kind and profile setting: the next poll of an unchanged
device is one GET (plus a GETBULK only when a table is due). A failed read drops the
plan, so the device is read fully (profile chosen again) the next time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Sequence

from opsctl.core.errors import NotFoundError
from opsctl.power.model import DeviceReading
from opsctl.power.snmp.client import Session, SnmpError, Target, run

log = logging.getLogger("opsctl.power.poller")

# device name -> (target, plan); only touched on the SNMP loop thread.
_plans: dict[str, tuple[Target, object]] = {}


def forget_plans() -> None:
    """Drop every cached read plan (the next poll reads each device fully)."""
    _plans.clear()


def _deadline(dev) -> float:
    # Enough for profile choice, two GET rounds and a table walk of a big switch, even
    # when every request needs its retries; an agent slower than this is broken.
    return dev.timeout * (dev.retries + 1) * 4 + 20.0


async def read_one(dev, *, sem: asyncio.Semaphore | None = None) -> DeviceReading:
    """Read one configured device (no rules applied yet). Never raises."""
    from opsctl.power.reader import read_device

    r = DeviceReading(name=dev.name, kind=dev.kind, reachable=False,
                      address=f"{dev.host}:{dev.port}")
    r.polled_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    session = None
    try:
        if sem is not None:
            await sem.acquire()
        try:
            target = Target.from_device(dev)
            session = Session(target)
            cached = _plans.pop(dev.name, None)
            plan = cached[1] if cached is not None and cached[0] == target else None
            res = await asyncio.wait_for(read_device(session, dev.kind, dev.profile, plan),
                                         _deadline(dev))
            if res.plan is not None:
                _plans[dev.name] = (target, res.plan)
        finally:
            if sem is not None:
                sem.release()
        r.reachable = True
        r.values = res.values
        r.notes = [n.to_dict() for n in res.notes]
        r.missing = res.missing
        r.profile = res.profile.name
        if res.profile.kind != dev.kind:
            r.kind = res.profile.kind  # an inverter system configured as a UPS
        r.profile_reason = res.profile_reason
        r.status_source = res.status_source
    except SnmpError as exc:
        r.error, r.error_kind = exc.message, exc.kind
    except NotFoundError as exc:  # unknown profile name (validate_config catches it first)
        r.error, r.error_kind = exc.message, "config"
    except TimeoutError:
        r.error, r.error_kind = (f"{r.address}: gave no complete answer within "
                                 f"{_deadline(dev):g}s"), "timeout"
    except Exception as exc:  # noqa: BLE001 - one broken agent must never break the poll
        log.debug("reading %s failed", dev.name, exc_info=True)
        r.error, r.error_kind = f"{r.address}: {type(exc).__name__}: {exc}", "protocol"
    r.duration = time.monotonic() - t0
    if session is not None:
        r.requests = session.requests
    return r


async def read_many(devices: Sequence, max_concurrency: int) -> list[DeviceReading]:
    from opsctl.power.snmp.client import preconfigure, register

    targets = []
    for d in devices:
        try:
            targets.append(Target.from_device(d))
        except Exception:  # noqa: BLE001, S112 - read_one reports a broken target itself
            continue
    register(targets)
    await preconfigure(targets)
    sem = asyncio.Semaphore(max_concurrency)
    return list(await asyncio.gather(*(read_one(d, sem=sem) for d in devices)))


def select_devices(cfg, names: Sequence[str] | None = None, kind: str | None = None) -> list:
    # cfg.device() raises NotFoundError (exit 2) for an unknown name.
    devices = [cfg.device(n) for n in names] if names else list(cfg.devices)
    if kind:
        devices = [d for d in devices if d.kind == kind]
    return devices


def poll_devices(cfg, devices: Sequence) -> list[DeviceReading]:
    """Read ``devices`` and apply the rules; synchronous (runs on the SNMP loop)."""
    from opsctl.power import rules

    if not devices:
        return []
    readings = run(read_many(devices, cfg.power.max_concurrency))
    by_name = {d.name: d for d in devices}
    for r in readings:
        rules.evaluate(r, by_name[r.name], cfg)
    return readings
