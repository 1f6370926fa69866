"""Config checks that need the check registry: check names, parameters, hosts.

Called by the config loader after the schema is valid; every problem is reported as
``file:line: inspection.profiles[0].items[3].params.warn: …``.
"""

from __future__ import annotations

from opsctl.core.errors import ConfigError


def problems(cfg) -> list[str]:
    from opsctl.core.config.inspection import ManualItem
    from opsctl.inspection import registry
    from opsctl.inspection.checks.base import ParamError

    checks = registry.load()
    out: list[str] = []
    insp = cfg.inspection
    names = [p.name for p in insp.profiles]
    if insp.default_profile is not None and insp.default_profile not in names:
        out.append(f"{cfg.where(('inspection', 'default_profile'))}: unknown profile "
                   f"{insp.default_profile!r} (profiles: {', '.join(names) or 'none'})")
    hosts = {h.name for h in cfg.hosts}
    for pi, prof in enumerate(insp.profiles):
        base = ("inspection", "profiles", pi)
        if prof.schedule is not None and len(prof.schedule.split()) != 5:
            out.append(f"{cfg.where(base + ('schedule',))}: expected a 5-field cron "
                       f"expression (got {prof.schedule!r})")
        seen: set[str] = set()
        for ii, item in enumerate(prof.items):
            loc = base + ("items", ii)
            if item.id in seen:
                out.append(f"{cfg.where(loc + ('id',))}: duplicate item id {item.id!r} in "
                           f"profile {prof.name!r}")
            seen.add(item.id)
            if isinstance(item, ManualItem):
                out.extend(_manual_problems(cfg, loc, item))
                continue
            cls = checks.get(item.check)
            if cls is None:
                out.append(f"{cfg.where(loc + ('check',))}: unknown check {item.check!r} "
                           f"(known: {', '.join(sorted(checks))})")
                continue
            if item.host is not None:
                if item.host not in hosts:
                    out.append(f"{cfg.where(loc + ('host',))}: unknown host {item.host!r} "
                               f"(hosts: {', '.join(sorted(hosts)) or 'none configured'})")
                elif not cls.remote:
                    out.append(f"{cfg.where(loc + ('host',))}: check {item.check!r} runs "
                               "only on this machine (no remote form)")
            try:
                params = cls.resolve(item.params)
                cls.check_config(params, cfg)
            except ParamError as exc:
                sub = exc.param if isinstance(exc.param, tuple) else (
                    (exc.param,) if exc.param else ())
                where = cfg.where(loc + ("params", *sub))
                out.append(f"{where}: {exc.message}")
    return out


def _manual_problems(cfg, loc: tuple, item) -> list[str]:
    out = []
    if item.type == "number" and item.min is not None and item.max is not None \
            and item.min > item.max:
        out.append(f"{cfg.where(loc + ('min',))}: min ({item.min:g}) is above max "
                   f"({item.max:g})")
    if item.type == "choice" and item.expect is not None and item.expect not in item.choices:
        out.append(f"{cfg.where(loc + ('expect',))}: {item.expect!r} is not one of the "
                   f"choices ({', '.join(item.choices)})")
    if item.type == "yesno" and not isinstance(item.expect, bool):
        out.append(f"{cfg.where(loc + ('expect',))}: a yes/no item expects true or false")
    if item.type in ("number", "text") and item.expect is not None:
        out.append(f"{cfg.where(loc + ('expect',))}: expect applies to yesno and choice items "
                   f"only")
    return out


def validate_config(cfg) -> None:
    found = problems(cfg)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        err = ConfigError(found[0] + more)
        err.all_messages = found  # type: ignore[attr-defined]
        raise err
