"""Config hook (called by the config loader): plan steps name existing hosts and UPSes,
policies name existing UPSes and plans of the right kind."""

from __future__ import annotations

from opsctl.core.errors import ConfigError


def validate_config(cfg) -> None:
    from opsctl.power.plans.model import validate_plans

    validate_plans(cfg)
    validate_policies(cfg)


def validate_policies(cfg) -> None:
    upses = {d.name for d in cfg.devices if d.kind == "ups"}
    plans = {p.name: p.kind for p in cfg.power.plans}
    seen: set[str] = set()
    for i, pol in enumerate(cfg.power.policies):
        loc = ("power", "policies", i)
        if pol.name in seen:
            raise ConfigError(f"{cfg.where(loc + ('name',))}: policy {pol.name!r} is "
                              "defined twice")
        seen.add(pol.name)
        for j, u in enumerate(pol.ups):
            if u not in upses:
                known = ", ".join(sorted(upses)) or "none configured"
                raise ConfigError(f"{cfg.where(loc + ('ups', j))}: unknown UPS {u!r} "
                                  f"(known UPS devices: {known})")
        for key, want in (("plan", "shutdown"), ("restore_plan", "restore")):
            name = getattr(pol, key)
            if name is None:
                continue
            if name not in plans:
                known = ", ".join(plans) or "none configured"
                raise ConfigError(f"{cfg.where(loc + (key,))}: unknown power plan {name!r} "
                                  f"(known: {known})")
            if plans[name] != want:
                raise ConfigError(f"{cfg.where(loc + (key,))}: plan {name!r} is a "
                                  f"{plans[name]} plan; {key} needs a {want} plan")
