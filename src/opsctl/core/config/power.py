"""Power rules and ordered shutdown / restore plans."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from opsctl.core.config.base import Section
from opsctl.core.config.devices import CustomProfile, SensorRange, UpsThresholds

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
    seconds: float | None = Field(None, gt=0, description="sleep: how long")
    timeout: float = Field(300.0, gt=0, description="give up (step fails) after this long")
    interval: float = Field(5.0, gt=0, description="seconds between probes")

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
    timeout: float = Field(120.0, gt=0, description="seconds the command may take")
    wake_on_lan: WakeOnLan | None = None
    wait: WaitCondition | None = None
    expect_disconnect: bool | None = Field(
        None, description="the connection may drop after the command was sent (poweroff); "
        "default: true when the step waits for host_down",
    )
    continue_on_error: bool = False

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
    steps: list[PlanStep] = Field(min_length=1)


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
