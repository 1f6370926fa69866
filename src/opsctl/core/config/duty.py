"""Shifts, roster patterns, handover rules, inventory and duty-log settings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from opsctl.core.config.base import Section
from opsctl.core.config.power import Duration


class ShiftDef(Section):
    name: str = Field(min_length=1)
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                     description="HH:MM (next day if <= start)")
    post: str = Field("console", description="staffed post this shift covers")
    kind: Literal["on-site", "on-call", "standby"] = "on-site"
    staff: int = Field(1, ge=1, description="people needed on this shift")


class RosterSettings(Section):
    pattern: Literal["two-shift", "3+2", "custom"] = "3+2"
    teams: dict[str, list[str]] = Field(default_factory=dict, description="team -> people")
    shifts: list[ShiftDef] = Field(default_factory=list)
    rotation: list[str] = Field(
        default_factory=list, description="custom pattern: shift names (or 'off') per day, cycled"
    )
    anchor_date: str = Field("2026-01-01", description="day 0 of the rotation (YYYY-MM-DD)")
    max_shift_hours: float = Field(8.0, gt=0, le=24)
    max_hours_per_month: float = Field(
        216.0, gt=0, le=744, description="27 eight-hour days: a 3+2 day worker's longest month")
    approval_deadline_day: int = Field(25, ge=1, le=28)
    reminder_days_before: int = Field(
        3, ge=0, le=27, description="start reminding this many days before the approval deadline")
    request_notice_days: int = Field(1, ge=0, le=366)
    staffed_posts: list[str] = Field(default_factory=lambda: ["console"])
    role_rotation_days: int = Field(
        30, ge=0, le=3660,
        description="3+2: teams move to the next position (A→B→…→E) every N days "
                    "(a 5-position cycle); 0 keeps positions fixed")
    day_shift: str | None = Field(
        None, description="3+2: the shift teams D and E join (default: 'day' or the first)")

    @field_validator("anchor_date")
    @classmethod
    def _date(cls, value: str) -> str:
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"expected a date YYYY-MM-DD, got {value!r}") from None
        if len(value) != 10:
            raise ValueError(f"expected a date YYYY-MM-DD, got {value!r}")
        return value


class InventoryItem(Section):
    name: str
    count: int = Field(ge=0)
    kind: Literal["equipment", "tool", "key", "document"] = "equipment"


class HandoverSettings(Section):
    arrive_early_minutes: int = Field(15, ge=0, le=720)
    inventory: list[InventoryItem] = Field(default_factory=list)
    snapshot_profile: str | None = Field(
        None, description="inspection profile run as the quick equipment snapshot"
    )
    reminder_minutes: int = Field(30, ge=0, le=1440,
                                  description="daemon reminder before a shift change")


class DutySettings(Section):
    retention_years: int = Field(3, ge=1, le=100)
    log_key_file: Path | None = Field(
        None, description="secret that keys the hash chain (HMAC); kept outside the store"
    )
    seal: bool = Field(True, description="forward-secure sealing of the duty log (the daemon "
                                         "seals every epoch; see docs/duty.md, Audit)")
    seal_key_file: Path | None = Field(
        None, description="the evolving sealing key (root-only); default STATE_DIR/duty-seal.key")
    seal_epoch_seconds: int = Field(900, ge=1, le=86400,
                                    description="one seal and one key per epoch (15 min)")
    export_dir: Path | None = None
    not_relieved_after: Duration = Field(
        1800.0, ge=60, le=86400,
        description="alert (and a duty-log entry) when no handover is completed this long "
                    "after a shift change of the approved roster (daemon job not-relieved)")
    export_excel: bool = Field(False, description="CSV exports for Excel by default: UTF-8 "
                               "with a BOM and CRLF line ends (duty export --excel/--no-excel)")
    roster: RosterSettings = Field(default_factory=RosterSettings)
    handover: HandoverSettings = Field(default_factory=HandoverSettings)
