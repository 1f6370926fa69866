"""Remote hosts reached over SSH (remote checks, ordered shutdown / restore)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from opsctl.core.config.base import Section


class Host(Section):
    name: str = Field(min_length=1)
    address: str
    port: int = Field(22, ge=1, le=65535)
    user: str = "root"
    key_file: Path | None = None
    known_hosts: Path | None = Field(
        None, description="known_hosts file; host keys are verified, never auto-accepted"
    )
    connect_timeout: float = Field(10.0, gt=0)
