"""Inspection profiles: ordered checklists of automatic checks and manual questions.

Check names and their parameters are validated against the check registry by
``opsctl.inspection`` after loading (it reports file:line: field like any config error).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from opsctl.core.config.base import Section


class CheckItem(Section):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    check: str = Field(description="name of an automatic check (see `opsctl inspect checks`)")
    title: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    host: str | None = Field(None, description="run on this remote host (from hosts:) over SSH")


class ManualItem(Section):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    question: str
    type: Literal["yesno", "number", "choice", "text"] = "yesno"
    expect: bool | str | None = Field(None, description="yesno/choice answer that is OK")
    min: float | None = None
    max: float | None = None
    choices: list[str] = Field(default_factory=list)
    fail_status: Literal["warn", "crit"] = "warn"
    required: bool = True

    @model_validator(mode="after")
    def _shape(self) -> ManualItem:
        if self.type == "choice" and not self.choices:
            raise ValueError("a choice item needs choices")
        if self.type == "yesno" and self.expect is None:
            self.expect = True
        return self


def _item_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "manual" if "question" in value and "check" not in value else "check"
    return "manual" if isinstance(value, ManualItem) else "check"


# A callable discriminator keeps pydantic from reporting one bad item twice (once per arm).
Item = Annotated[
    Annotated[CheckItem, Tag("check")] | Annotated[ManualItem, Tag("manual")],
    Discriminator(_item_kind),
]


class InspectionProfile(Section):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    description: str | None = None
    schedule: str | None = Field(None, description="cron expression (5 fields) for the daemon")
    runs_per_day: int = Field(1, ge=0, description="fewer runs on a day is a missed patrol")
    items: list[Item] = Field(min_length=1)


class InspectionSettings(Section):
    default_profile: str | None = None
    concurrency: int = Field(8, ge=1, le=64)
    check_timeout: float = Field(10.0, gt=0, le=3600)
    ip_baseline_file: str | None = None
    profiles: list[InspectionProfile] = Field(default_factory=list)
