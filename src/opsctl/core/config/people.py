"""Site identity and the people who work the room."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from opsctl.core.config.base import Section

Role = Literal["operator", "engineer", "supervisor", "manager"]


class Site(Section):
    name: str = Field(min_length=1)
    room: str | None = None
    timezone: str = "UTC"
    address: str | None = None
    language: str | None = Field(
        None, description="the interface language, e.g. zh_CN (messages, tables, help, "
                          "reports, alerts and the duty-log text opsctl writes itself; "
                          "--json and CSV stay English); default: the locale's "
                          "(LANGUAGE, LC_ALL, LC_MESSAGES, LANG), else English")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        # Checked at load so `config check` names file:line, not a duty command later.
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (expected an IANA name such as "
                             "Europe/Berlin or UTC; see /usr/share/zoneinfo)") from None
        return v

    @field_validator("language")
    @classmethod
    def _known_language(cls, v: str | None) -> str | None:
        from opsctl.core import i18n

        if v is None:
            return v
        if not i18n.is_known(v):
            have = ", ".join(["en", *i18n.available()])
            raise ValueError(f"no catalog for language {v!r} (available: {have})")
        return i18n.normalize(v)


class Person(Section):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$",
                      description="login-style short name used on the command line")
    full_name: str | None = None
    team: str | None = None
    roles: list[Role] = Field(default_factory=lambda: ["operator"])
    lead: bool = Field(False, description="may lead a shift")
    email: str | None = None
    phone: str | None = None
    login: str | None = Field(None, description="the OS login of this person (through sudo: "
                                                "the invoking user); default: the name")
    unix_user: str | None = Field(None, description="older name of login")
    ssh_key: str | None = Field(
        None, description="the person's SSH public key (one line, e.g. ssh-ed25519 AAAA...): "
                          "their signatures (handover, roster approval) are made with it "
                          "through their ssh-agent")

    @field_validator("ssh_key")
    @classmethod
    def _public_key(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = v.split()
        if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
            raise ValueError("expected an SSH public key line: TYPE BASE64 [COMMENT], e.g. "
                             "the content of ~/.ssh/id_ed25519.pub")
        if "PRIVATE KEY" in v:
            raise ValueError("this is a private key: give the public key (.pub)")
        return " ".join(parts[:2])


class RequiredRoles(Section):
    """The role each kind of change needs (SPEC §6). A refusal names the missing role and
    who holds it. Roster approval and request decisions always need a supervisor."""

    storage: Role = Field("engineer", description="storage changes (arrays, volumes, mounts)")
    power_plans: Role = Field("engineer", description="running a power plan by hand")
    silences: Role = Field("engineer", description="adding and removing alert silences")
