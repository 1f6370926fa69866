"""Secrets in the config: given inline, or as ``<name>_file`` / ``<name>_env``.

A secret resolves to a pydantic ``SecretStr`` so it is masked wherever the config is
printed, and its value is registered with the logging filter so it never reaches a log.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from opsctl.core.config.cache import note_env, note_file, note_secret
from opsctl.core.errors import ConfigError
from opsctl.core.logsetup import register_secret


class SecretUnavailable(ConfigError):
    """A secret the config names could not be read (file missing, variable unset)."""


class UnresolvedSecret(SecretStr):
    """A secret whose file or environment variable could not be read at load time.

    The config still loads — one device's missing SNMPv3 key file must not stop the duty
    log or the inspections. Using the secret (:func:`reveal`) raises SecretUnavailable
    naming file:line; ``config check`` reports every one (:func:`find_unresolved`).
    Its value reads as empty, so dumps and masks never fail on it.
    """

    def __init__(self, key: str, problem: str):
        super().__init__("")
        self.key = key            # the config key that named it, e.g. auth_key_file
        self.problem = problem
        self.where = key          # file:line: path, set by the loader

    @property
    def message(self) -> str:
        return f"{self.where}: {self.problem}"


def find_unresolved(node: Any, loc: tuple = ()) -> Iterator[tuple[tuple, UnresolvedSecret]]:
    """Every UnresolvedSecret in a loaded config, with the location of its key."""
    from pydantic import BaseModel

    if isinstance(node, UnresolvedSecret):
        yield loc[:-1] + (node.key,), node
    elif isinstance(node, BaseModel):
        for name, field in type(node).model_fields.items():
            yield from find_unresolved(getattr(node, name, None), loc + (field.alias or name,))
    elif isinstance(node, list | tuple):
        for i, v in enumerate(node):
            yield from find_unresolved(v, loc + (i,))
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from find_unresolved(v, loc + (k,))


def resolve_secret_fields(data: Any, names: tuple[str, ...], base_dir: Path | None = None) -> Any:
    """``model_validator(mode='before')`` helper: fold ``X_file``/``X_env`` into ``X``."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for name in names:
        given = [k for k in (name, f"{name}_file", f"{name}_env") if data.get(k) is not None]
        if len(given) > 1:
            raise ValueError(f"give only one of {', '.join(given)}")
        if f"{name}_file" in data:
            raw = data.pop(f"{name}_file")
            if raw is None:
                continue
            p = Path(os.path.expanduser(str(raw)))
            if not p.is_absolute() and base_dir is not None:
                p = base_dir / p
            try:
                value = p.read_text(encoding="utf-8").strip()
            except OSError as exc:
                # Resolved lazily: the error comes when the secret is used (and at
                # `config check`), not for every command on the site.
                note_file(p, None, f"cannot read {p}: {exc.strerror}")
                data[name] = UnresolvedSecret(f"{name}_file",
                                              f"cannot read {p}: {exc.strerror}")
                continue
            note_file(p, value, None)
            data[name] = value
        elif f"{name}_env" in data:
            var = data.pop(f"{name}_env")
            if var is None:
                continue
            value = os.environ.get(str(var))
            note_env(str(var), value)
            if value is None:
                data[name] = UnresolvedSecret(f"{name}_env",
                                              f"environment variable {var} is not set")
                continue
            data[name] = value
        if data.get(name) is not None:
            register_secret(str(data[name]))
            note_secret(str(data[name]))
    return data


def reveal(secret: SecretStr | None) -> str | None:
    """The secret's value; raises SecretUnavailable (file:line) for an unreadable one."""
    if isinstance(secret, UnresolvedSecret):
        raise SecretUnavailable(secret.message,
                                hint="fix the file or variable; `opsctl config check` lists "
                                     "every secret it cannot read")
    return None if secret is None else secret.get_secret_value()
