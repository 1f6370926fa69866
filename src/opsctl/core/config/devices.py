"""SNMP devices: UPSes, switches, environment sensors."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, model_validator

from opsctl.core.config.base import Section, with_secrets
from opsctl.core.config.secrets import UnresolvedSecret


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
        version = data.get("version") if isinstance(data, dict) else None
        if isinstance(version, int | float) and not isinstance(version, bool):
            # YAML reads `version: 3` as a number; -inf/nan/1e400 must not reach int().
            known = {1: "1", 2: "2c", 3: "3"}
            data = {**data, "version": known.get(version, str(version))}
        return with_secrets(data, info, "community", "auth_key", "priv_key")

    @model_validator(mode="after")
    def _complete(self) -> SnmpCredentials:
        if self.version in ("1", "2c"):
            if self.community is None:
                self.community = SecretStr("public")
            elif not isinstance(self.community, UnresolvedSecret) \
                    and not self.community.get_secret_value().strip():
                raise ValueError("community must not be empty")
        else:
            if not self.user:
                raise ValueError("SNMPv3 needs user")
            if self.security_level != "noAuthNoPriv" and self.auth_key is None:
                raise ValueError(f"SNMPv3 {self.security_level} needs auth_key")
            if self.security_level == "authPriv" and self.priv_key is None:
                raise ValueError("SNMPv3 authPriv needs priv_key")
            # RFC 3414 (section 11.2) passphrases: at least 8 characters; shorter ones are
            # refused by agents and by pysnmp only when the first poll runs.
            for key in ("auth_key", "priv_key"):
                value = getattr(self, key)
                # An unreadable *_file is reported for its own device, later (lazy secrets).
                if value is not None and not isinstance(value, UnresolvedSecret) \
                        and len(value.get_secret_value()) < 8:
                    raise ValueError(f"SNMPv3 {key} must be at least 8 characters")
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

    @model_validator(mode="after")
    def _ordered(self) -> UpsThresholds:
        # Rising values (load, temperature) warn below critical; falling ones above it.
        for name, rising in (("load", True), ("runtime", False), ("charge", False),
                             ("temperature", True)):
            suffix = "_min" if name == "runtime" else ""
            warn = getattr(self, f"{name}_warn{suffix}")
            crit = getattr(self, f"{name}_crit{suffix}")
            if (warn > crit) if rising else (warn < crit):
                raise ValueError(f"{name}_warn{suffix} ({warn:g}) must be "
                                 f"{'at or below' if rising else 'at or above'} "
                                 f"{name}_crit{suffix} ({crit:g})")
        return self


class SensorRange(Section):
    warn_low: float | None = None
    warn_high: float | None = None
    crit_low: float | None = None
    crit_high: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> SensorRange:
        order = [(k, getattr(self, k)) for k in ("crit_low", "warn_low", "warn_high",
                                                 "crit_high")]
        known = [(k, v) for k, v in order if v is not None]
        for (k1, v1), (k2, v2) in zip(known, known[1:], strict=False):
            if v1 > v2:
                raise ValueError(f"{k1} ({v1:g}) must not be above {k2} ({v2:g})")
        return self


class Device(Section):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    kind: Literal["ups", "switch", "sensor", "pdu"]
    host: str = Field(pattern=r"^\S+$", description="DNS name or IP")
    room: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$",
                             description="polled by the daemon whose daemon.room this is")
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
