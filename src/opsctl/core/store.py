"""The state store: SQLite (WAL) by default, through SQLAlchemy Core.

Each domain owns its tables and migrations in a ``schema`` module (listed in
``COMPONENTS``) exposing ``COMPONENT`` (a name) and ``MIGRATIONS`` (a list of callables
taking a Connection, applied in order inside one transaction each). The
``schema_versions`` table records how far each component got, so domains migrate
independently and an interrupted migration leaves the previous version in place.

Writes go through :meth:`Store.write`, which takes SQLite's write lock up front
(``BEGIN IMMEDIATE``) so two writers serialise instead of failing half-way.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from opsctl.core.errors import StoreError

log = logging.getLogger("opsctl.store")

COMPONENTS = (
    "opsctl.core.store_schema",
    "opsctl.storage.schema",
    "opsctl.power.schema",
    "opsctl.inspection.schema",
    "opsctl.handover.schema",
    "opsctl.handover.seal_schema",
    "opsctl.daemon.schema",
)

DB_NAME = "opsctl.db"

schema_versions = sa.Table(
    "schema_versions",
    sa.MetaData(),
    sa.Column("component", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("applied_at", sa.String(40), nullable=False),
)


def _on_connect(dbapi_conn, _record) -> None:
    # pysqlite's own transaction handling is turned off so BEGIN is ours to emit.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class Store:
    def __init__(self, engine: Engine, path: Path | None = None):
        self.engine = engine
        self.path = path
        self.is_sqlite = engine.dialect.name == "sqlite"
        if self.is_sqlite:
            sa.event.listen(engine, "begin", self._begin)
        self._immediate = False

    def _begin(self, conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("immediate") else "BEGIN")

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, state_dir: str | os.PathLike, *, url: str | None = None,
             migrate: bool = True) -> Store:
        if url is None:
            state = Path(state_dir)
            try:
                state.mkdir(parents=True, exist_ok=True, mode=0o750)
            except PermissionError:
                raise StoreError(f"cannot create state directory {state}: permission denied",
                                 hint="run as the opsctl user or root, or set state_dir") from None
            path = state / DB_NAME
            if not path.exists():
                # Created owner-only before SQLite opens it: duty records are confidential.
                old = os.umask(0o077)
                try:
                    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
                    os.close(fd)
                except PermissionError:
                    raise StoreError(f"cannot create {path}: permission denied") from None
                finally:
                    os.umask(old)
            if not os.access(path, os.R_OK):
                raise StoreError(f"cannot read {path}: permission denied")
            engine = sa.create_engine(f"sqlite+pysqlite:///{path}", poolclass=sa.pool.NullPool)
            sa.event.listen(engine, "connect", _on_connect)
        else:
            path = None
            engine = sa.create_engine(url, pool_pre_ping=True)
        store = cls(engine, path)
        if migrate:
            store.migrate()
        return store

    @classmethod
    def for_config(cls, cfg, *, migrate: bool = True) -> Store:
        return cls.open(cfg.state_dir, migrate=migrate)

    def close(self) -> None:
        self.engine.dispose()

    # -- transactions ----------------------------------------------------------------------
    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction holding the database write lock from the start."""
        try:
            with self.engine.connect() as conn:
                conn.info["immediate"] = True
                try:
                    with conn.begin():
                        yield conn
                finally:
                    conn.info["immediate"] = False
        except sa.exc.OperationalError as exc:
            raise StoreError(f"store write failed: {exc.orig}") from exc

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except sa.exc.OperationalError as exc:
            raise StoreError(f"store read failed: {exc.orig}") from exc

    # -- migrations ------------------------------------------------------------------------
    def versions(self) -> dict[str, int]:
        with self.read() as conn:
            schema_versions.create(conn, checkfirst=True)
            rows = conn.execute(sa.select(schema_versions.c.component, schema_versions.c.version))
            return {r.component: r.version for r in rows}

    def migrate(self) -> dict[str, int]:
        import datetime as dt

        with self.write() as conn:
            schema_versions.create(conn, checkfirst=True)
        applied: dict[str, int] = {}
        for modname in COMPONENTS:
            if importlib.util.find_spec(modname) is None:
                continue
            mod = importlib.import_module(modname)
            component: str = mod.COMPONENT
            migrations: list[Callable[[Connection], None]] = list(mod.MIGRATIONS)
            with self.write() as conn:
                row = conn.execute(
                    sa.select(schema_versions.c.version).where(
                        schema_versions.c.component == component)
                ).first()
                current = row.version if row else 0
                if current > len(migrations):
                    raise StoreError(
                        f"store schema for {component} is version {current}, newer than this "
                        f"opsctl knows ({len(migrations)}); upgrade opsctl"
                    )
                for version in range(current + 1, len(migrations) + 1):
                    migrations[version - 1](conn)
                    log.info("migrated %s to schema version %d", component, version)
                if len(migrations) > current:
                    now = dt.datetime.now(dt.UTC).isoformat()
                    if row:
                        conn.execute(schema_versions.update()
                                     .where(schema_versions.c.component == component)
                                     .values(version=len(migrations), applied_at=now))
                    else:
                        conn.execute(schema_versions.insert().values(
                            component=component, version=len(migrations), applied_at=now))
                applied[component] = len(migrations)
        return applied
