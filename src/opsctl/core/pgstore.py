"""PostgreSQL as the store: the engine from ``store:`` in the config, and its errors in
words a sysadmin can act on.

The password is never in the config file: ``store.password_file`` names a file that only
its owner may read (refused otherwise, as for the duty log key). Every connection has a
``connect_timeout`` so a database that is down fails a command within seconds.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from opsctl.core.errors import StoreError, StoreUnavailable

DRIVER = "postgresql+psycopg"
INSTALL_HINT = ("install the PostgreSQL driver into opsctl's environment: "
                "pip install 'psycopg[binary]>=3.1' "
                "(from a source tree: pip install '.[postgresql]')")


def _read_password(path: Path, where: str) -> str:
    try:
        st = path.stat()
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"{where}: cannot read the database password file {path}: "
                         f"{exc.strerror}") from None
    except UnicodeDecodeError:
        raise StoreError(f"{where}: the database password file {path} is not UTF-8 text")\
            from None
    if st.st_mode & 0o004:
        raise StoreError(f"{where}: the database password file {path} is readable by every "
                         f"user (mode {st.st_mode & 0o777:04o}); refusing to use it",
                         hint=f"chmod 0600 {path}")
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise StoreError(f"{where}: the database password file {path} is empty")
    return lines[0]


def pg_engine(settings, where: Callable[[tuple], str]) -> Engine:
    """The engine for ``store.url``; ``where(loc)`` gives ``file:line: field``."""
    try:
        import psycopg  # noqa: F401 — only to say clearly that it is missing
    except ImportError:
        raise StoreError(f"{where(('store', 'url'))}: a PostgreSQL store needs the psycopg "
                         "driver, which is not installed", hint=INSTALL_HINT) from None
    url = sa.engine.make_url(settings.url).set(drivername=DRIVER)
    if settings.password_file is not None:
        url = url.set(password=_read_password(settings.password_file,
                                              where(("store", "password_file"))))
    args: dict = {"connect_timeout": settings.connect_timeout, "application_name": "opsctl"}
    if settings.sslmode is not None:
        args["sslmode"] = settings.sslmode
    if settings.sslrootcert is not None:
        if not os.access(settings.sslrootcert, os.R_OK):
            raise StoreError(f"{where(('store', 'sslrootcert'))}: cannot read the CA "
                             f"certificate {settings.sslrootcert}")
        args["sslrootcert"] = str(settings.sslrootcert)
    # A small pool: the CLI uses one connection, the daemon a few threads' worth.
    return sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=6,
                            connect_args=args)


# SQLSTATE classes that mean "the server is not there for us": connection exceptions,
# operator intervention (shutdown, restart), insufficient resources, auth failures.
_UNREACHABLE = ("08", "57", "53", "28")


def pg_error(store, exc: Exception, doing: str) -> StoreError | None:
    """A StoreError for a server that is down, unreachable or refuses us; None for errors
    that belong to the caller (constraint violations, SQL mistakes)."""
    orig = getattr(exc, "orig", None) or exc
    state = getattr(orig, "sqlstate", None) or ""
    msg = " ".join(str(orig).split()) or type(orig).__name__
    if isinstance(exc, sa.exc.InterfaceError | sa.exc.OperationalError) and (
            not state or state.startswith(_UNREACHABLE)):
        return StoreUnavailable(
            f"cannot {doing} the store {store.describe()}: {msg}",
            hint="is the database server up and reachable (`pg_isready`)? check store.url, "
                 "store.password_file and the server's pg_hba.conf")
    if isinstance(exc, sa.exc.OperationalError):
        return StoreError(f"store {doing} failed on {store.describe()}: {msg}")
    return None
