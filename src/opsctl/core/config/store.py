"""Where the records live: SQLite under ``state_dir`` (the default) or a PostgreSQL
server shared by every console, workstation and daemon of a site."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from opsctl.core.config.base import Section

SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


class StoreSettings(Section):
    url: str | None = Field(
        None, description="postgresql://USER@HOST[:PORT]/DB (or ?host=/socket/dir); "
        "unset: SQLite in state_dir. The password never goes here (password_file)")
    password_file: Path | None = Field(
        None, description="file holding the database password (first line); keep it 0600")
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] \
        | None = Field(None, description="libpq sslmode; verify-full across a network")
    sslrootcert: Path | None = Field(None, description="CA certificate for verify-ca/-full")
    connect_timeout: int = Field(5, ge=1, le=300,
                                 description="seconds; a database that is down fails fast")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            parts = urlsplit(v)
            parts.port  # noqa: B018 — raises on a port that is not a number
        except ValueError as exc:
            raise ValueError(f"not a database URL: {exc}") from None
        if parts.scheme not in SCHEMES:
            raise ValueError(f"scheme {parts.scheme or '(none)'!r} is not supported: use "
                             "postgresql://USER@HOST/DB (leave store.url unset for SQLite "
                             "in state_dir)")
        if parts.password is not None:
            raise ValueError("the URL holds a password; put it in a file named by "
                             "store.password_file (mode 0600) instead")
        if not parts.path.strip("/"):
            raise ValueError("the URL names no database: postgresql://USER@HOST/DB")
        return v

    @property
    def postgresql(self) -> bool:
        return self.url is not None
