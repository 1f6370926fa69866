"""The whole configuration file as one schema."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PrivateAttr, model_validator

from opsctl.core.config.alerts import AlertSettings
from opsctl.core.config.base import Section
from opsctl.core.config.daemon import DaemonSettings
from opsctl.core.config.devices import Device
from opsctl.core.config.duty import DutySettings
from opsctl.core.config.hosts import Host
from opsctl.core.config.inspection import InspectionSettings
from opsctl.core.config.people import Person, RequiredRoles, Site
from opsctl.core.config.power import PowerSettings
from opsctl.core.config.store import StoreSettings


class StorageSettings(Section):
    mdadm_conf: Path = Field(Path("/etc/mdadm/mdadm.conf"),
                             description="ARRAY lines are kept in an opsctl block here")
    fstab: Path = Field(Path("/etc/fstab"), description="mounts are kept in an opsctl block here")
    initramfs_update: list[str] = Field(
        default_factory=lambda: ["update-initramfs", "-u"],
        description="run after mdadm.conf changes (argv; [] to skip)")
    device_timeout: str = Field("30s", pattern=r"^\d+(ms|s|min|h)?$",
                                description="x-systemd.device-timeout for data volumes")


def _unique(items, what: str) -> None:
    seen: set[str] = set()
    for it in items:
        if it.name in seen:
            raise ValueError(f"duplicate {what} name {it.name!r}")
        seen.add(it.name)


class OpsConfig(Section):
    site: Site
    state_dir: Path = Field(Path("/var/lib/opsctl"), description="relative: to the config file")
    store: StoreSettings = Field(default_factory=StoreSettings,
                                 description="SQLite in state_dir, or a shared PostgreSQL")
    people: list[Person] = Field(default_factory=list)
    required_roles: RequiredRoles = Field(default_factory=RequiredRoles)
    hosts: list[Host] = Field(default_factory=list)
    devices: list[Device] = Field(default_factory=list)
    power: PowerSettings = Field(default_factory=PowerSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    inspection: InspectionSettings = Field(default_factory=InspectionSettings)
    duty: DutySettings = Field(default_factory=DutySettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)

    _source: Path | None = PrivateAttr(None)
    _doc = PrivateAttr(None)

    @model_validator(mode="after")
    def _names_unique(self) -> OpsConfig:
        _unique(self.people, "person")
        _unique(self.hosts, "host")
        _unique(self.devices, "device")
        _unique(self.inspection.profiles, "inspection profile")
        _unique(self.power.plans, "power plan")
        _unique(self.alerts.targets, "alert target")
        return self

    # -- lookups used across the domains -------------------------------------------------
    @property
    def source(self) -> Path | None:
        return self._source

    def line_for(self, loc: tuple) -> int | None:
        return self._doc.line_for(loc) if self._doc is not None else None

    def where(self, loc: tuple) -> str:
        """``file:line: field`` prefix for an error found after loading."""
        from opsctl.core.config.yamlsource import format_loc

        line = self.line_for(loc)
        src = str(self._source) if self._source else "<config>"
        return f"{src}:{line}: {format_loc(loc)}" if line else f"{src}: {format_loc(loc)}"

    def person(self, name: str) -> Person:
        from opsctl.core.errors import NotFoundError

        for p in self.people:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.people) or "none configured"
        raise NotFoundError(f"unknown person {name!r} (known: {known})")

    def device(self, name: str) -> Device:
        from opsctl.core.errors import NotFoundError

        for d in self.devices:
            if d.name == name:
                return d
        known = ", ".join(d.name for d in self.devices) or "none configured"
        raise NotFoundError(f"unknown device {name!r} (known: {known})")

    def host(self, name: str) -> Host:
        from opsctl.core.errors import NotFoundError

        for h in self.hosts:
            if h.name == name:
                return h
        known = ", ".join(h.name for h in self.hosts) or "none configured"
        raise NotFoundError(f"unknown host {name!r} (known: {known})")

    def profile(self, name: str):
        from opsctl.core.errors import NotFoundError

        for p in self.inspection.profiles:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.inspection.profiles) or "none configured"
        raise NotFoundError(f"unknown inspection profile {name!r} (known: {known})")

    def state_path(self) -> Path:
        return self.state_dir
