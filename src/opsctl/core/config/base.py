"""Shared pydantic base for every config section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo

from opsctl.core.config.secrets import resolve_secret_fields


class Section(BaseModel):
    """Unknown keys are errors: a typo in a config must not be silently ignored."""

    # defer_build: a config from the compiled cache (cache.py) is unpickled, never
    # validated, so its schemas (~90 ms to build) are built only for a fresh load.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False,
                              defer_build=True)


def base_dir(info: ValidationInfo) -> Path | None:
    ctx = info.context or {}
    return ctx.get("base_dir")


def with_secrets(data: Any, info: ValidationInfo, *names: str) -> Any:
    return resolve_secret_fields(data, names, base_dir(info))
