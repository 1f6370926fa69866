"""Secrets in the config: given inline, or as ``<name>_file`` / ``<name>_env``.

A secret resolves to a pydantic ``SecretStr`` so it is masked wherever the config is
printed, and its value is registered with the logging filter so it never reaches a log.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from opsctl.core.logsetup import register_secret


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
                raise ValueError(f"{name}_file: cannot read {p}: {exc.strerror}") from None
            data[name] = value
        elif f"{name}_env" in data:
            var = data.pop(f"{name}_env")
            if var is None:
                continue
            value = os.environ.get(str(var))
            if value is None:
                raise ValueError(f"{name}_env: environment variable {var} is not set")
            data[name] = value
        if data.get(name) is not None:
            register_secret(str(data[name]))
    return data


def reveal(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()
