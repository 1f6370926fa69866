"""A shutdown / restore plan as typed actions, resolved against the config.

The config says *what* (step ``stop app1`` on host ``app1``: ``systemctl poweroff``, then
wait for ``host_down``); this module turns it into actions that carry everything needed to
run or print them (address, port, user, exact argv, timeouts), so the dry-run shows
exactly what the real run will do, and unknown hosts or UPSes are refused before any step
runs.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from opsctl.core.errors import ConfigError, NotFoundError, UsageError

if TYPE_CHECKING:
    from opsctl.core.config.hosts import Host
    from opsctl.core.config.models import OpsConfig
    from opsctl.core.config.power import PowerPlan


@dataclass(frozen=True)
class RemoteCommand:
    host: Host
    argv: list[str]
    timeout: float
    disconnect_ok: bool

    def describe(self) -> str:
        return f"ssh {self.host.user}@{self.host.address}:{self.host.port} {shlex.join(self.argv)}"


@dataclass(frozen=True)
class LocalCommand:
    argv: list[str]
    timeout: float

    def describe(self) -> str:
        return f"local: {shlex.join(self.argv)}"


@dataclass(frozen=True)
class WakeOnLanAction:
    mac: str
    address: str
    port: int
    count: int

    def describe(self) -> str:
        return (f"wake-on-lan {self.mac}: magic packet to {self.address}:{self.port} "
                f"(x{self.count})")


@dataclass(frozen=True)
class WaitPort:
    """TCP probe: ``host_down`` / ``port_closed`` want it to fail, ``port_open`` to answer."""

    kind: Literal["host_down", "port_open", "port_closed"]
    address: str
    port: int
    timeout: float
    interval: float

    @property
    def want_open(self) -> bool:
        return self.kind == "port_open"

    def describe(self) -> str:
        what = {"host_down": "stops answering (host down)", "port_closed": "is closed",
                "port_open": "accepts connections"}[self.kind]
        return (f"wait until {self.address}:{self.port} {what}; "
                f"every {self.interval:g}s, at most {self.timeout:g}s")


@dataclass(frozen=True)
class WaitUpsCharging:
    ups: str
    accept: tuple[str, ...]
    timeout: float
    interval: float

    def describe(self) -> str:
        return (f"wait until UPS {self.ups} reports ups.status with "
                f"{' or '.join(self.accept)} (or on line with a full battery); "
                f"every {self.interval:g}s, at most {self.timeout:g}s")


@dataclass(frozen=True)
class Sleep:
    seconds: float

    def describe(self) -> str:
        return f"sleep {self.seconds:g}s"


Command = RemoteCommand | LocalCommand | WakeOnLanAction
Wait = WaitPort | WaitUpsCharging | Sleep


@dataclass(frozen=True)
class Step:
    index: int  # 1-based, as people count steps
    name: str
    command: Command | None
    wait: Wait | None
    continue_on_error: bool
    host: Host | None = None  # the step's host (its command runs there, its waits probe it)
    group: str | None = None  # neighbours with the same group run in parallel

    @property
    def where(self) -> str:
        return self.host.name if self.host is not None else "local"

    def to_dict(self) -> dict:
        out: dict = {"index": self.index, "name": self.name, "where": self.where,
                     "group": self.group, "continue_on_error": self.continue_on_error}
        if isinstance(self.command, RemoteCommand):
            h = self.command.host
            out["command"] = {"type": "ssh", "host": h.name, "user": h.user,
                              "address": h.address, "port": h.port,
                              "argv": self.command.argv, "timeout": self.command.timeout,
                              "disconnect_ok": self.command.disconnect_ok,
                              "text": self.command.describe()}
        elif isinstance(self.command, LocalCommand):
            out["command"] = {"type": "local", "argv": self.command.argv,
                              "timeout": self.command.timeout,
                              "text": self.command.describe()}
        elif isinstance(self.command, WakeOnLanAction):
            c = self.command
            out["command"] = {"type": "wake_on_lan", "mac": c.mac, "address": c.address,
                              "port": c.port, "count": c.count, "text": c.describe()}
        else:
            out["command"] = None
        if self.wait is None:
            out["wait"] = None
        else:
            w = self.wait
            out["wait"] = {"type": w.kind if isinstance(w, WaitPort) else
                           ("ups_charging" if isinstance(w, WaitUpsCharging) else "sleep"),
                           "text": w.describe()}
            if isinstance(w, WaitPort):
                out["wait"].update(address=w.address, port=w.port, timeout=w.timeout)
            elif isinstance(w, WaitUpsCharging):
                out["wait"].update(ups=w.ups, accept=list(w.accept), timeout=w.timeout)
            else:
                out["wait"].update(seconds=w.seconds)
        return out


@dataclass(frozen=True)
class Plan:
    name: str
    kind: Literal["shutdown", "restore"]
    description: str | None
    ups: str | None
    steps: list[Step] = field(default_factory=list)
    best_effort: bool = False  # a failed step does not stop the steps after it
    final_delay: float = 0.0

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "description": self.description,
                "ups": self.ups, "best_effort": self.best_effort,
                "final_delay": self.final_delay, "steps": [s.to_dict() for s in self.steps]}

    def batches(self) -> list[list[Step]]:
        """Steps in the order they run: neighbours sharing a group form one parallel batch."""
        out: list[list[Step]] = []
        for s in self.steps:
            if s.group is not None and out and out[-1][0].group == s.group:
                out[-1].append(s)
            else:
                out.append([s])
        return out

    def final_steps(self) -> list[Step]:
        """A shutdown plan's trailing local commands (this host's own poweroff): they run
        last, ``final_delay`` after the others (NUT's FINALDELAY)."""
        if self.kind != "shutdown":
            return []
        tail: list[Step] = []
        for s in reversed(self.steps):
            if s.host is None and isinstance(s.command, LocalCommand):
                tail.insert(0, s)
            else:
                break
        return tail if len(tail) < len(self.steps) else []


def find_plan(cfg: OpsConfig, name: str) -> tuple[int, PowerPlan]:
    for i, p in enumerate(cfg.power.plans):
        if p.name == name:
            return i, p
    known = ", ".join(p.name for p in cfg.power.plans) or "none configured"
    raise NotFoundError(f"unknown power plan {name!r} (known: {known})")


def build_plan(cfg: OpsConfig, name: str, kind: str | None = None) -> Plan:
    """Resolve plan ``name``; ``kind`` (shutdown/restore) must match when given."""
    pi, p = find_plan(cfg, name)
    if kind is not None and p.kind != kind:
        raise UsageError(f"plan {name!r} is a {p.kind} plan, not a {kind} plan "
                         f"(run: opsctl power {p.kind} --plan {name})")
    return _resolve(cfg, pi, p)


def _resolve(cfg: OpsConfig, pi: int, p: PowerPlan) -> Plan:
    hosts = {h.name: h for h in cfg.hosts}
    upses = {d.name for d in cfg.devices if d.kind == "ups"}
    if p.ups is not None and p.ups not in upses:
        known = ", ".join(sorted(upses)) or "none configured"
        raise ConfigError(f"{cfg.where(('power', 'plans', pi, 'ups'))}: unknown UPS {p.ups!r} "
                          f"(known UPS devices: {known})")
    steps: list[Step] = []
    for si, s in enumerate(p.steps):
        loc = ("power", "plans", pi, "steps", si)
        host = None
        if s.host is not None:
            host = hosts.get(s.host)
            if host is None:
                known = ", ".join(hosts) or "none configured"
                raise ConfigError(f"{cfg.where(loc + ('host',))}: unknown host {s.host!r} "
                                  f"(known: {known})")
        command: Command | None = None
        argv = s.argv
        if argv is not None:
            command = (RemoteCommand(host, argv, s.timeout, s.disconnect_expected)
                       if host is not None else LocalCommand(argv, s.timeout))
        elif s.wake_on_lan is not None:
            w = s.wake_on_lan
            command = WakeOnLanAction(w.mac.lower().replace("-", ":"), w.address, w.port,
                                      w.count)
        wait: Wait | None = None
        w = s.wait
        if w is not None:
            if w.type == "sleep":
                wait = Sleep(float(w.seconds or 0))
            elif w.type == "ups_charging":
                ups = w.ups or p.ups
                if ups is None:
                    raise ConfigError(f"{cfg.where(loc + ('wait',))}: ups_charging needs "
                                      "wait.ups or the plan's ups")
                if ups not in upses:
                    known = ", ".join(sorted(upses)) or "none configured"
                    where = loc + ("wait", "ups") if w.ups else ("power", "plans", pi, "ups")
                    raise ConfigError(f"{cfg.where(where)}: unknown UPS {ups!r} "
                                      f"(known UPS devices: {known})")
                wait = WaitUpsCharging(ups, tuple(t.upper() for t in w.accept), w.timeout,
                                       w.interval)
            else:
                address = w.host or (host.address if host is not None else None)
                port = w.port or (host.port if host is not None else None)
                if address is None or port is None:
                    raise ConfigError(f"{cfg.where(loc + ('wait',))}: {w.type} needs "
                                      "a port (wait.port) and an address (step host or "
                                      "wait.host)")
                wait = WaitPort(w.type, address, port, w.timeout, w.interval)
        steps.append(Step(si + 1, s.name, command, wait, s.continue_on_error, host, s.group))
    on_error = p.on_error or ("continue" if p.kind == "shutdown" else "stop")
    return Plan(p.name, p.kind, p.description, p.ups, steps, on_error == "continue",
                p.final_delay)


def validate_plans(cfg: OpsConfig) -> list[Plan]:
    """Resolve every plan (raises ConfigError naming file:line on the first bad one)."""
    return [_resolve(cfg, i, p) for i, p in enumerate(cfg.power.plans)]
