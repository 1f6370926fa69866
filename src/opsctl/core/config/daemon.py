"""The scheduler daemon."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from opsctl.core.config.base import Section

# Bounds keep every value inside what the scheduler and datetime arithmetic can take
# (a 1e-9 s poll interval is a busy loop; 1e300 s overflows a timedelta at run time).
WEEK = 7 * 86400


class ExportJob(Section):
    schedule: str = Field("30 0 * * *", description="cron expression")
    directory: Path = Path("exports")
    formats: list[str] = Field(default_factory=lambda: ["csv", "json"])
    days: int = Field(1, ge=1, le=3660, description="days covered by each export")


class DaemonSettings(Section):
    poll_interval: float = Field(60.0, ge=1, le=WEEK, description="seconds between SNMP polls")
    raid_interval: float = Field(300.0, ge=1, le=WEEK,
                                 description="seconds between RAID health checks")
    smart_interval: float = Field(
        3600.0, ge=0, le=WEEK, description="seconds between SMART readings of the disks (0: "
                                           "off); rising failure counters are alerts")
    smart_devices: list[str] = Field(
        default_factory=list, description="disks to read; empty: every disk smartctl --scan finds")
    watchdog: bool = Field(True, description="send WATCHDOG=1 when systemd asks for it")
    udev: bool = Field(True, description="watch block-device events with pyudev")
    udev_ignore: list[str] = Field(
        default_factory=lambda: ["loop*", "ram*", "zram*", "sr*", "dm-*"],
        description="device names (glob) whose add/remove events are not alerts")
    housekeeping_interval: float = Field(
        60.0, ge=1, le=WEEK,
        description="seconds between escalation and handover-reminder checks")
    heartbeat_interval: float = Field(10.0, ge=1, le=3600,
                                      description="seconds between heartbeats")
    stop_timeout: float = Field(10.0, gt=0, le=3600,
                                description="seconds a stop waits for running jobs")
    inspector: str = Field("opsctl-daemon", description="inspector name on scheduled records")
    run_retention_days: int = Field(90, ge=1, le=36500,
                                    description="daemon run history kept this long")
    retention_schedule: str = Field("15 3 * * *", description="cron expression")
    roster_reminder_schedule: str = Field("0 9 * * *", description="cron expression")
    patrol_check_schedule: str | None = Field(
        "10 0 * * *", description="cron expression: check the day before for missed patrols "
                                  "(fewer walked runs than runs_per_day) and alert")
    not_relieved_schedule: str | None = Field(
        "*/5 * * * *", description="cron expression: check for shift changes nobody was "
                                   "relieved at (duty.not_relieved_after); null: off")
    export: ExportJob | None = Field(default_factory=ExportJob)
    metrics_listen: str | None = Field(None, description="e.g. 127.0.0.1:9817 for /metrics")
    room: str | None = Field(
        None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$",
        description="this daemon polls only the devices of this room (devices[].room); "
        "several daemons on one shared store: one per room")
    misfire_grace_seconds: int = Field(3600, ge=1, le=WEEK)
    schedule_overrides: dict[str, str] = Field(
        default_factory=dict,
        description="cron job id -> cron expression used by the daemon instead "
                    "(e.g. inspection:daily-room; 6 fields = with leading seconds)")

    @field_validator("smart_interval")
    @classmethod
    def _off_or_seconds(cls, value: float) -> float:
        if 0 < value < 1:
            raise ValueError(f"0 (off) or at least 1 second, got {value!r}")
        return value

    @field_validator("metrics_listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return value
        host, sep, port = value.rpartition(":")
        if not sep or not host.strip("[]") or not port.isdigit() or int(port) > 65535 \
                or any(c.isspace() for c in value):
            raise ValueError(f"expected HOST:PORT (e.g. 127.0.0.1:9817), got {value!r}")
        return value
