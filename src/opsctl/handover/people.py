"""Who may do what in the duty domain (SPEC §6): supervisors approve, review, sign off."""

from __future__ import annotations

from opsctl.core.errors import SafetyError, UsageError
from opsctl.core.identity import current_user, person_for_user


def person(cfg, name: str | None):
    if not name or not name.strip():
        raise UsageError("a person's name is required")
    return cfg.person(name)


def acting_person(cfg, name: str | None) -> str:
    """The person an action is recorded for: --by NAME, else the caller's mapped person,
    else the unix login (so automatic entries still say who)."""
    if name:
        p = person(cfg, name)
        _caller_may_act_as(cfg, p.name)
        return p.name
    p = person_for_user(cfg)
    return p.name if p is not None else current_user()


def holders(cfg, role: str) -> str:
    """Who holds ``role``, for a refusal to point at."""
    names = [p.name for p in cfg.people if role in p.roles]
    return ", ".join(names) if names else f"nobody: give someone the {role} role in people:"


def require_role(cfg, name: str | None, role: str, action: str) -> str:
    if not name:
        raise UsageError(f"{action} needs --by NAME (a {role}: {holders(cfg, role)})")
    p = person(cfg, name)
    if role not in p.roles:
        raise SafetyError(f"{p.name} may not {action}: needs the {role} role "
                          f"(has {', '.join(p.roles)}; the {role} role: {holders(cfg, role)})")
    _caller_may_act_as(cfg, p.name)
    return p.name


def acting_with_role(cfg, name: str | None, role: str, action: str) -> str:
    """The person doing ``action`` — ``--by NAME``, else the login's person — who must hold
    ``role`` (SPEC §6: power plans and silences need an engineer)."""
    if name is None:
        me = person_for_user(cfg)
        if me is None:
            raise UsageError(f"to {action}, say who you are: --by NAME (the {role} role: "
                             f"{holders(cfg, role)})")
        name = me.name
    return require_role(cfg, name, role, action)


def _caller_may_act_as(cfg, name: str) -> None:
    # A configured person cannot act (or sign) as someone else; root and service accounts
    # that map to no person are trusted to name the person at the console.
    me = person_for_user(cfg)
    if me is not None and me.name != name:
        raise SafetyError(f"you are {me.name}; you cannot act as {name}")


def full_names(cfg, logins) -> dict[str, str]:
    """login -> configured full name, for the logins that have one (unknown logins, such
    as a unix user recorded for an automatic entry, are simply left out)."""
    known = {p.name: p.full_name for p in cfg.people if p.full_name}
    return {n: known[n] for n in dict.fromkeys(logins) if n in known}


def label(cfg_or_names, login: str | None) -> str:
    """``login (Full Name)`` where a full name is configured, else the login."""
    if not login:
        return login or ""
    names = (cfg_or_names if isinstance(cfg_or_names, dict)
             else full_names(cfg_or_names, [login]))
    full = names.get(login)
    return f"{login} ({full})" if full else login
