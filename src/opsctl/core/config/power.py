"""Power rules and ordered shutdown / restore plans."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from opsctl.core.config.base import Section
from opsctl.core.config.devices import SensorRange, UpsThresholds


class WaitCondition(Section):
    type: Literal["host_down", "port_open", "port_closed", "ups_charging", "sleep"]
    host: str | None = Field(None, description="address to probe; defaults to the step's host")
    port: int | None = Field(None, ge=1, le=65535)
    timeout: float = Field(300.0, gt=0)
    interval: float = Field(5.0, gt=0)


class PlanStep(Section):
    name: str
    host: str | None = Field(None, description="a name from hosts:, or null for a local wait")
    command: list[str] | str | None = None
    timeout: float = Field(120.0, gt=0)
    wait: WaitCondition | None = None
    continue_on_error: bool = False


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
    plans: list[PowerPlan] = Field(default_factory=list)
