"""SNMP devices: UPSes, switches, environment sensors."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, model_validator

from opsctl.core.config.base import Section, with_secrets


class SnmpCredentials(Section):
    version: Literal["1", "2c", "3"] = "2c"
    community: SecretStr | None = None
    user: str | None = None
    security_level: Literal["noAuthNoPriv", "authNoPriv", "authPriv"] = "authPriv"
    auth_protocol: Literal["MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"] = "SHA"
    auth_key: SecretStr | None = None
    priv_protocol: Literal["DES", "3DES", "AES", "AES128", "AES192", "AES256"] = "AES"
    priv_key: SecretStr | None = None
    context: str = ""

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and isinstance(data.get("version"), int | float):
            data = {**data, "version": {1: "1", 2: "2c", 3: "3"}.get(int(data["version"]),
                                                                     str(data["version"]))}
        return with_secrets(data, info, "community", "auth_key", "priv_key")

    @model_validator(mode="after")
    def _complete(self) -> SnmpCredentials:
        if self.version in ("1", "2c"):
            if self.community is None:
                self.community = SecretStr("public")
        else:
            if not self.user:
                raise ValueError("SNMPv3 needs user")
            if self.security_level != "noAuthNoPriv" and self.auth_key is None:
                raise ValueError(f"SNMPv3 {self.security_level} needs auth_key")
            if self.security_level == "authPriv" and self.priv_key is None:
                raise ValueError("SNMPv3 authPriv needs priv_key")
        return self


class UpsThresholds(Section):
    """The room's rules; defaults come from the machine-room regulations."""

    load_warn: float = Field(60.0, description="ups.load % at or above which WARNING")
    load_crit: float = Field(80.0, description="ups.load % at or above which CRITICAL")
    runtime_warn_min: float = Field(360.0, description="battery.runtime below this (min): WARNING")
    runtime_crit_min: float = Field(15.0, description="battery.runtime below this (min): CRITICAL")
    charge_warn: float = Field(80.0, description="battery.charge % below which WARNING")
    charge_crit: float = Field(30.0, description="battery.charge % below which CRITICAL")
    temperature_warn: float = Field(35.0, description="battery.temperature °C above: WARNING")
    temperature_crit: float = Field(45.0, description="battery.temperature °C above: CRITICAL")


class SensorRange(Section):
    warn_low: float | None = None
    warn_high: float | None = None
    crit_low: float | None = None
    crit_high: float | None = None


class Device(Section):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    kind: Literal["ups", "switch", "sensor", "pdu"]
    host: str
    port: int = Field(161, ge=1, le=65535)
    snmp: SnmpCredentials = Field(default_factory=SnmpCredentials)
    timeout: float = Field(2.0, gt=0, le=60)
    retries: int = Field(1, ge=0, le=10)
    profile: str = "auto"
    location: str | None = None
    thresholds: UpsThresholds | None = Field(
        None, description="per-device override of power.ups_thresholds"
    )
    expected_up_ports: list[str] = Field(
        default_factory=list,
        description="switch ports (ifName or index) that must be up; empty: any admin-up port",
    )
    temperature: SensorRange | None = None
    humidity: SensorRange | None = None


class ProfileFieldSpec(Section):
    """One field of a custom profile (see docs/power.md, "Writing a profile")."""

    oids: list[str] = Field(min_length=1, description="OIDs with instance, tried in order")
    scale: float | list[float] = Field(1.0, description="one factor for all OIDs, or one each")
    type: Literal["number", "string", "enum", "flags", "oid"] = "number"
    enum: dict[int, str] | None = Field(None, description="integer -> text (flags: NUT tokens)")
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None


class CustomProfile(Section):
    """A profile defined in the config: a new MIB mapping or a variant of a built-in one."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    kind: Literal["ups", "switch", "sensor", "pdu"]
    extends: str | None = Field(None, description="built-in profile whose fields are kept")
    description: str = ""
    sys_object_ids: list[str] = Field(default_factory=list)
    probe_oids: list[str] = Field(default_factory=list)
    fields: dict[str, ProfileFieldSpec] = Field(default_factory=dict)
