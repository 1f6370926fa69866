"""Alert targets and routing."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from opsctl.core.config.base import Section, with_secrets
from opsctl.core.config.power import Duration

Severity = Literal["minor", "major", "critical"]


class EmailTarget(Section):
    name: str
    type: Literal["email"]
    smtp_host: str = Field(pattern=r"^\S+$")
    smtp_port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    ssl: bool = False
    username: str | None = None
    password: SecretStr | None = None
    sender: str
    to: list[str] = Field(min_length=1)
    timeout: float = Field(10.0, gt=0, le=600)
    ca_file: str | None = Field(None, description="CA bundle for TLS (default: the system's)")

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any, info: ValidationInfo) -> Any:
        return with_secrets(data, info, "password")


class WebhookTarget(Section):
    name: str
    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    headers: dict[str, str] = Field(default_factory=dict)
    token: SecretStr | None = Field(None, description="sent as Authorization: Bearer")
    timeout: float = Field(10.0, gt=0, le=600)

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any, info: ValidationInfo) -> Any:
        return with_secrets(data, info, "token")

    # Header values are usually credentials (API keys, basic auth) and a URL may carry
    # user:password@: `config show` and any other dump print them masked.
    @field_serializer("headers")
    def _mask_headers(self, headers: dict[str, str]) -> dict[str, str]:
        return {k: "**********" for k in headers}

    @field_serializer("url")
    def _mask_userinfo(self, url: str) -> str:
        scheme, sep, rest = url.partition("://")
        netloc, slash, path = rest.partition("/")
        if "@" not in netloc:
            return url
        return f"{scheme}{sep}***@{netloc.rpartition('@')[2]}{slash}{path}"


class CommandTarget(Section):
    name: str
    type: Literal["command"]
    command: list[str] = Field(min_length=1, description="argv; the event arrives as JSON on stdin")
    timeout: float = Field(30.0, gt=0, le=3600)


AlertTarget = Annotated[EmailTarget | WebhookTarget | CommandTarget, Field(discriminator="type")]


class Route(Section):
    severity: Severity
    targets: list[str] = Field(default_factory=list)
    after_hours_targets: list[str] = Field(default_factory=list)
    escalate_after_minutes: int | None = Field(None, ge=1, le=525600)
    escalate_to: list[str] = Field(default_factory=list)


class EscalationStep(Section):
    to: Literal["on_duty", "lead", "supervisor", "manager"] = Field(
        description="on_duty: the people on duty now (roster); lead: the shift lead on "
        "duty; supervisor / manager: the people with that role")
    after: Duration = Field(ge=0, description="this long after the event, if nobody "
                            "acknowledged it (90s, 15m, 1h)")


def _default_steps() -> list[EscalationStep]:
    return [EscalationStep(to="on_duty", after=0), EscalationStep(to="lead", after=900),
            EscalationStep(to="supervisor", after=1800),
            EscalationStep(to="manager", after=3600)]


class RosterEscalation(Section):
    """Escalation along the roster: each step goes to people, not to a fixed address."""

    target: str = Field(description="alert target the steps are sent through; an email "
                        "target mails each person's own address (people[].email)")
    severities: list[Severity] = Field(default_factory=lambda: ["major", "critical"])
    steps: list[EscalationStep] = Field(default_factory=_default_steps, min_length=1)


class AlertSettings(Section):
    targets: list[AlertTarget] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    after_hours: tuple[str, str] = Field(("18:00", "08:00"), description="start, end (HH:MM)")
    # Upper bounds: a longer window overflows the date arithmetic of every later alert.
    dedup_minutes: int = Field(30, ge=0, le=525600, description="at most a year")
    rate_limit_per_hour: int = Field(30, ge=1)
    retries: int = Field(3, ge=0, le=20)
    retry_delay: float = Field(2.0, ge=0, le=3600,
                               description="seconds before the first retry (doubles)")
    reminder_targets: list[str] = Field(
        default_factory=list,
        description="targets for shift-change and roster reminders (email goes to the people)")
    escalation: RosterEscalation | None = Field(
        None, description="escalation along the roster while unacknowledged (docs/daemon.md)")

    @field_validator("after_hours")
    @classmethod
    def _hhmm(cls, value: tuple[str, str]) -> tuple[str, str]:
        for v in value:
            if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", v):
                raise ValueError(f"expected HH:MM, got {v!r}")
        return value
