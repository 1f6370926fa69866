"""Config checks that need the profile tables (called by the config loader)."""

from __future__ import annotations

from opsctl.core.errors import ConfigError


def validate_config(cfg) -> None:
    from opsctl.power.profiles import registry

    profiles = registry.all_profiles()
    for i, dev in enumerate(cfg.devices):
        name = dev.profile
        if name == "auto":
            continue
        if name not in profiles:
            known = ", ".join(["auto", *sorted(profiles)])
            raise ConfigError(f"{cfg.where(('devices', i, 'profile'))}: unknown profile "
                              f"{name!r} (known: {known})")
        kind = profiles[name].kind
        # A switch profile may include sensor tables, and a sensor may be read with the
        # entity-sensor profile; anything else across kinds is a mistake.
        if kind != dev.kind and not (dev.kind == "switch" and kind == "sensor"):
            raise ConfigError(f"{cfg.where(('devices', i, 'profile'))}: profile {name!r} "
                              f"reads a {kind}, but device {dev.name!r} is a {dev.kind}")
