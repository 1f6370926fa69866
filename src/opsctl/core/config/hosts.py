"""Remote hosts reached over SSH (remote checks, ordered shutdown / restore)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from opsctl.core.config.base import Section


class Host(Section):
    name: str = Field(min_length=1)
    address: str = Field(
        min_length=1, pattern=r"^\S+$",
        description="DNS name or IP; known_hosts entries must be for this name"
    )
    port: int = Field(22, ge=1, le=65535)
    user: str = "root"
    key_file: Path | None = Field(
        None, description="private key (unencrypted); unset: ~/.ssh/id_* and the ssh-agent"
    )
    known_hosts: Path | None = Field(
        None, description="known_hosts file; host keys are verified, never auto-accepted "
        "(unset: ~/.ssh/known_hosts)"
    )
    connect_timeout: float = Field(10.0, gt=0, le=600,
                                   description="TCP connect, banner and auth, each")
