"""Power rules and ordered shutdown / restore plans."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from opsctl.core.config.base import Section
from opsctl.core.config.devices import CustomProfile, SensorRange, UpsThresholds

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|d)?\s*$")
_UNIT = {None: 1.0, "ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0,
         "d": 86400.0}


def parse_duration(value: object) -> float:
    """``5m`` / ``90s`` / ``1h`` / ``300`` (seconds) -> seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration like 90s, 5m or 1h")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration must not be negative")
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a duration (like 90s, 5m or 1h)")
    return float(m.group(1)) * _UNIT[m.group(2)]


# Seconds, written in the config as 90s / 5m / 1h or a plain number of seconds.
Duration = Annotated[float, BeforeValidator(parse_duration)]

WaitType = Literal["host_down", "port_open", "port_closed", "ups_charging", "sleep"]


class WaitCondition(Section):
    """What a plan step waits for after its command (or instead of one)."""

    type: WaitType
    host: str | None = Field(
        None, description="address to probe; defaults to the step's host address"
    )
    port: int | None = Field(
        None, ge=1, le=65535, description="TCP port to probe; defaults to the host's SSH port"
    )
    ups: str | None = Field(None, description="ups_charging: UPS device; defaults to the plan's")
    accept: list[str] = Field(
        default_factory=lambda: ["CHRG"],
        description="ups_charging: ups.status tokens that count as charging (any of them); "
        "a UPS on line with a full battery counts too",
    )
    seconds: float | None = Field(None, gt=0, le=86400, description="sleep: how long")
    timeout: float = Field(300.0, gt=0, le=86400,
                           description="give up (step fails) after this long")
    interval: float = Field(5.0, gt=0, le=3600, description="seconds between probes")

    @model_validator(mode="after")
    def _complete(self) -> WaitCondition:
        if self.type == "sleep" and self.seconds is None:
            raise ValueError("a sleep wait needs seconds")
        if self.type == "port_closed" and self.port is None:
            raise ValueError("a port_closed wait needs port")
        if self.type == "ups_charging" and not self.accept:
            raise ValueError("accept must name at least one ups.status token")
        return self


class WakeOnLan(Section):
    """A Wake-on-LAN magic packet: how a restore plan switches a server on."""

    mac: str = Field(pattern=r"^[0-9A-Fa-f]{2}([:-]?[0-9A-Fa-f]{2}){5}$",
                     description="the server's NIC MAC address")
    address: str = Field("255.255.255.255", description="broadcast address to send to")
    port: int = Field(9, ge=1, le=65535)
    count: int = Field(3, ge=1, le=10, description="packets sent (UDP may drop one)")


class PlanStep(Section):
    """One step: an action (a command over SSH on ``host`` or local, or a Wake-on-LAN
    packet), then an optional wait."""

    name: str = Field(min_length=1)
    host: str | None = Field(None, description="a name from hosts:, or null for a local step")
    command: list[str] | str | None = Field(
        None, description="argv (a string is split like a shell would, without shell features)"
    )
    timeout: float = Field(120.0, gt=0, le=86400, description="seconds the command may take")
    wake_on_lan: WakeOnLan | None = None
    wait: WaitCondition | None = None
    expect_disconnect: bool | None = Field(
        None, description="the connection may drop after the command was sent (poweroff); "
        "default: true when the step waits for host_down",
    )
    continue_on_error: bool = False
    group: str | None = Field(
        None, description="steps next to each other with the same group run in parallel; "
        "groups run in order")

    @model_validator(mode="after")
    def _complete(self) -> PlanStep:
        if self.command is None and self.wake_on_lan is None and self.wait is None:
            raise ValueError("a step needs a command, a wake_on_lan, a wait, or an action "
                             "and a wait")
        if self.command is not None and self.wake_on_lan is not None:
            raise ValueError("a step runs one action: command or wake_on_lan, not both")
        if isinstance(self.command, list) and not self.command:
            raise ValueError("command must not be empty")
        if isinstance(self.command, str):
            import shlex

            try:
                words = shlex.split(self.command)
            except ValueError as exc:
                raise ValueError(f"command: {exc}") from None
            if not words:
                raise ValueError("command must not be empty")
        if self.wait is not None and self.host is None and self.wait.type in (
            "host_down", "port_open", "port_closed"
        ) and self.wait.host is None:
            raise ValueError(f"a {self.wait.type} wait needs the step's host or wait.host")
        return self

    @property
    def argv(self) -> list[str] | None:
        if self.command is None:
            return None
        if isinstance(self.command, str):
            import shlex

            return shlex.split(self.command)
        return [str(a) for a in self.command]

    @property
    def disconnect_expected(self) -> bool:
        if self.expect_disconnect is not None:
            return self.expect_disconnect
        return self.wait is not None and self.wait.type == "host_down"


class PowerPlan(Section):
    name: str = Field(min_length=1)
    kind: Literal["shutdown", "restore"]
    ups: str | None = Field(None, description="UPS whose charging restore waits for")
    description: str | None = None
    on_error: Literal["continue", "stop"] | None = Field(
        None, description="after a failed step: continue (best effort, the default for "
        "shutdown plans: one dead host must not keep the others running) or stop (the "
        "default for restore plans, whose later steps need the earlier ones)")
    final_delay: Duration = Field(
        5.0, ge=0, description="shutdown plans ending with local steps (this host's own "
        "poweroff): wait this long before them, like NUT's FINALDELAY")
    steps: list[PlanStep] = Field(min_length=1)


class PowerPolicy(Section):
    """When the daemon starts a shutdown plan by itself, and when the restore plan."""

    name: str = Field(min_length=1)
    ups: list[str] = Field(min_length=1, description="the UPSes this room hangs on")
    when: Literal["all", "any"] = Field(
        "all", description="the policy counts as on battery when all / any of them are")
    on_battery_for: Duration = Field(300.0, ge=0, description="start the plan after this "
                                     "long on battery (shorter outages are blips)")
    runtime_below: Duration | None = Field(
        None, ge=0, description="...or at once when a UPS's runtime drops below this")
    low_battery: bool = Field(True, description="...or at once on LB, or when a UPS last "
                              "seen on battery goes silent")
    plan: str = Field(description="the shutdown plan (power.plans)")
    restore_plan: str | None = Field(None, description="the restore plan (power.plans)")
    restore_after: Duration = Field(180.0, ge=0, description="mains back and stable this long")
    restore_min_charge: float | None = Field(
        None, ge=0, le=100, description="and every UPS's battery charged to this (%)")

    @model_validator(mode="after")
    def _unique_ups(self) -> PowerPolicy:
        if len(set(self.ups)) != len(self.ups):
            raise ValueError("ups lists a UPS twice")
        return self


class PowerSettings(Section):
    ups_thresholds: UpsThresholds = Field(default_factory=UpsThresholds)
    temperature: SensorRange = Field(
        default_factory=lambda: SensorRange(warn_low=15, warn_high=27, crit_low=10, crit_high=32)
    )
    humidity: SensorRange = Field(
        default_factory=lambda: SensorRange(warn_low=30, warn_high=60, crit_low=20, crit_high=80)
    )
    max_concurrency: int = Field(64, ge=1, le=1024, description="devices polled at once")
    profiles: list[CustomProfile] = Field(
        default_factory=list, description="custom SNMP profiles (docs/power.md)")
    plans: list[PowerPlan] = Field(default_factory=list)
    policies: list[PowerPolicy] = Field(
        default_factory=list, description="unattended shutdown / restore (docs/power.md)")
