"""The scheduler daemon."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from opsctl.core.config.base import Section


class ExportJob(Section):
    schedule: str = Field("30 0 * * *", description="cron expression")
    directory: Path = Path("exports")
    formats: list[str] = Field(default_factory=lambda: ["csv", "json"])
    days: int = Field(1, ge=1, description="days covered by each export")


class DaemonSettings(Section):
    poll_interval: float = Field(60.0, gt=0, description="seconds between SNMP polls")
    watchdog: bool = True
    udev: bool = Field(True, description="watch block-device events with pyudev")
    retention_schedule: str = Field("15 3 * * *", description="cron expression")
    roster_reminder_schedule: str = Field("0 9 * * *", description="cron expression")
    export: ExportJob | None = Field(default_factory=ExportJob)
    metrics_listen: str | None = Field(None, description="e.g. 127.0.0.1:9817 for /metrics")
    misfire_grace_seconds: int = Field(3600, ge=1)
