"""Config checks that need the profile tables (called by the config loader).

Also installs the config's custom profiles (``power.profiles``) into the registry, so
every command and the daemon see them after a (re)load.
"""

from __future__ import annotations

from opsctl.core.errors import ConfigError


def _check_custom(cfg) -> None:
    from opsctl.power.profiles import registry
    from opsctl.power.profiles.custom import valid_oid

    builtin = registry.builtin_profiles()
    seen: set[str] = set()
    for i, spec in enumerate(cfg.power.profiles):
        loc = ("power", "profiles", i)
        if spec.name in builtin or spec.name == "auto" or spec.name in seen:
            raise ConfigError(f"{cfg.where(loc + ('name',))}: profile name {spec.name!r} is "
                              "already taken (use extends: to build on a built-in profile)")
        seen.add(spec.name)
        if spec.extends is not None:
            if spec.extends not in builtin:
                raise ConfigError(f"{cfg.where(loc + ('extends',))}: unknown profile "
                                  f"{spec.extends!r} (built-in: {', '.join(sorted(builtin))})")
            if builtin[spec.extends].kind != spec.kind:
                raise ConfigError(f"{cfg.where(loc + ('extends',))}: {spec.extends!r} reads a "
                                  f"{builtin[spec.extends].kind}, this profile a {spec.kind}")
        elif not spec.fields:
            raise ConfigError(f"{cfg.where(loc + ('fields',))}: a profile without extends: "
                              "needs fields")
        for key in ("sys_object_ids", "probe_oids"):
            for j, oid in enumerate(getattr(spec, key)):
                if not valid_oid(oid):
                    raise ConfigError(f"{cfg.where(loc + (key, j))}: bad OID {oid!r} "
                                      "(numeric, e.g. 1.3.6.1.4.1.318)")
        for fname, f in spec.fields.items():
            floc = loc + ("fields", fname)
            for j, oid in enumerate(f.oids):
                if not valid_oid(oid):
                    raise ConfigError(f"{cfg.where(floc + ('oids', j))}: bad OID {oid!r} "
                                      "(numeric with instance, e.g. 1.3.6.1.2.1.33.1.2.4.0)")
            if isinstance(f.scale, list) and len(f.scale) != len(f.oids):
                raise ConfigError(f"{cfg.where(floc + ('scale',))}: {len(f.scale)} scales for "
                                  f"{len(f.oids)} OIDs (give one, or one per OID)")
            if f.type in ("enum", "flags") and not f.enum:
                raise ConfigError(f"{cfg.where(floc + ('enum',))}: type {f.type} needs enum")


def install_custom(cfg) -> None:
    from opsctl.power.profiles import custom, registry

    builtin = registry.builtin_profiles()
    registry.set_custom([custom.build(p, builtin.get(p.extends) if p.extends else None)
                         for p in cfg.power.profiles])


def validate_config(cfg) -> None:
    from opsctl.power.profiles import registry

    _check_custom(cfg)
    install_custom(cfg)
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
