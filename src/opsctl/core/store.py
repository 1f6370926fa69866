"""The state store: SQLite (WAL) by default, through SQLAlchemy Core.

Each domain owns its tables and migrations in a ``schema`` module (listed in
``COMPONENTS``) exposing ``COMPONENT`` (a name) and ``MIGRATIONS`` (a list of callables
taking a Connection, applied in order inside one transaction each). The
``schema_versions`` table records how far each component got, so domains migrate
independently and an interrupted migration leaves the previous version in place.

Writes go through :meth:`Store.write`, which takes SQLite's write lock up front
(``BEGIN IMMEDIATE``) so two writers serialise instead of failing half-way. On
PostgreSQL (``store.url``) the same guarantee comes from a transaction-level advisory
lock (``pg_advisory_xact_lock``) taken first in every write transaction: writers on every
host queue on it, so "read the head, insert the next" (the duty chain, max+1 ids) stays
gap-free exactly as on SQLite, and the lock is released by COMMIT/ROLLBACK — or by the
server when a writer's connection dies.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from opsctl.core.errors import StoreError
from opsctl.core.interrupt import critical

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

# pg_advisory_xact_lock key of every write transaction ("opsctl" + "W"); leadership of
# the daemons uses another (opsctl.daemon.leader). Keys are per database.
PG_WRITE_LOCK = 0x6F707363746C57

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


def _on_connect_ro(dbapi_conn, _record) -> None:
    # Read-only: the journal mode is the writer's business (setting it would write).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _check_permissions(state: Path, db: Path) -> None:
    """Refuse or repair loose permissions, as PostgreSQL (data directory) and OpenSSH
    (private keys) do: the store holds confidential, tamper-evident records.

    A state directory every user may write to (0777) is repaired when it is ours and
    refused when it is not (anyone could have swapped the database); a database (and its
    WAL files) that every user may read is repaired when it is ours, reported when not.
    Group access is left alone (operators may share a group). Each repair is logged.
    """
    st = state.stat()
    if st.st_mode & 0o002:
        mode = st.st_mode & 0o777
        if st.st_uid != os.geteuid():
            raise StoreError(f"state directory {state} is writable by every user (mode "
                             f"{mode:04o}) and not owned by this user; refusing to use it",
                             hint=f"chmod o-rwx {state} (as its owner)")
        os.chmod(state, mode & 0o770)
        log.warning("state directory %s was writable by every user (mode %04o): now %04o",
                    state, mode, mode & 0o770)
    for f in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        try:
            fst = f.stat()
        except FileNotFoundError:
            continue
        mode = fst.st_mode & 0o777
        if mode & 0o007:
            if fst.st_uid != os.geteuid():
                log.warning("%s is readable by every user (mode %04o); its owner should "
                            "run: chmod o-rwx %s", f, mode, f)
                continue
            os.chmod(f, mode & 0o660)
            log.warning("%s was readable by every user (mode %04o): now %04o", f, mode,
                        mode & 0o660)


class Store:
    def __init__(self, engine: Engine, path: Path | None = None):
        self.engine = engine
        self.path = path
        self.readonly = False
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.backend = "sqlite" if self.is_sqlite else engine.dialect.name
        if self.is_sqlite:
            sa.event.listen(engine, "begin", self._begin)
        self._immediate = False
        self.url_text: str | None = None  # PostgreSQL: the URL without a password

    def describe(self) -> str:
        """The store in words for messages: its file, or user@host/db of the server."""
        if self.path is not None:
            return str(self.path)
        return f"PostgreSQL {self.url_text or self.engine.url.render_as_string()}"

    def _begin(self, conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("immediate") else "BEGIN")

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, state_dir: str | os.PathLike, *, url: str | None = None,
             migrate: bool = True, readonly: bool | None = False,
             where: str | None = None) -> Store:
        """Open (and create, migrate) the store in ``state_dir``.

        ``readonly``: False needs a writable store (the daemon), True opens read-only,
        None opens read-only only when the user may read but not write it (an auditor
        running ``duty log verify``). ``where`` is the config's ``file:line: state_dir``
        for messages.
        """
        if url is not None:
            engine = sa.create_engine(url, pool_pre_ping=True)
            store = cls(engine, None)
            store.url_text = engine.url.render_as_string(hide_password=True)
        else:
            store = cls._open_sqlite(Path(state_dir), readonly, where)
        if store.readonly:
            store.check_current()
        elif migrate:
            store.migrate()
        return store

    @classmethod
    def _open_sqlite(cls, state: Path, readonly: bool | None, where: str | None) -> Store:
        from urllib.parse import quote

        from opsctl.core import storeaccess as acc

        hint = acc.hint_for(state)
        path = state / DB_NAME
        if acc.blocked_dir(path) is not None:
            raise StoreError(acc.denied(path, os.R_OK, f"read the store {path}"), hint=hint)
        if state.exists() and not state.is_dir():
            raise StoreError(f"state_dir {state} is not a directory"
                             + (f" ({where})" if where else ""),
                             hint="point state_dir at a directory (it is created if missing)")
        if not path.exists() and readonly is not True:
            cls._create(state, path, where)
        if not os.access(path, os.R_OK):
            if not path.exists() and acc.blocked_dir(path) is None:
                raise StoreError(f"no store at {path} yet (nothing recorded)",
                                 hint="it is created by the first command that records "
                                 "something, run by a user who may write there")
            raise StoreError(acc.denied(path, os.R_OK, f"read the store {path}"), hint=hint)
        if path.is_dir():
            raise StoreError(f"{path} is a directory, expected the store's database file")
        _check_permissions(state, path)
        writable = acc.can_write_store(state, path)
        if not writable and readonly is False:
            target = path if not os.access(path, os.W_OK) else state
            raise StoreError(acc.denied(target, os.W_OK, f"write the store {path}"),
                             hint=hint)
        ro = readonly is True or not writable
        if ro:
            # mode=ro still uses the -wal/-shm files of a writer that has the store
            # open; with none there (and no right to create them) the file alone is the
            # whole database, which immutable=1 reads without creating anything.
            wal = path.with_name(path.name + "-wal").exists()
            flag = "mode=ro" if wal or os.access(state, os.W_OK) else "immutable=1"
            url = f"sqlite+pysqlite:///file:{quote(str(path))}?{flag}&uri=true"
        else:
            url = f"sqlite+pysqlite:///{path}"
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        sa.event.listen(engine, "connect", _on_connect_ro if ro else _on_connect)
        store = cls(engine, path)
        store.readonly = ro
        if ro and readonly is None:
            log.info("store %s is read-only for %s: opened read-only", path, acc.whoami())
        return store

    @staticmethod
    def _create(state: Path, path: Path, where: str | None) -> None:
        from opsctl.core import storeaccess as acc

        try:
            state.mkdir(parents=True, exist_ok=True, mode=0o750)
        except FileExistsError:
            raise StoreError(f"state_dir {state} is not a directory"
                             + (f" ({where})" if where else "")) from None
        except PermissionError:
            parent = next((p for p in state.parents if p.exists()), state.parent)
            raise StoreError(acc.denied(parent, os.W_OK, f"create the state directory {state}"),
                             hint="run as the store's owner, or set state_dir"
                             + (f" ({where})" if where else "")) from None
        except OSError as exc:
            raise StoreError(f"cannot create the state directory {state}: {exc.strerror}")\
                from None
        # Owner-only unless the directory is a team's setgid one (docs/deployment.md):
        # duty records are confidential, but the team's group must be able to write.
        mode = 0o660 if acc.shared_dir(state) else 0o600
        old = os.umask(0o007 if mode == 0o660 else 0o077)
        try:
            fd = os.open(path, os.O_CREAT | os.O_RDWR, mode)
            os.close(fd)
        except PermissionError:
            raise StoreError(acc.denied(state, os.W_OK, f"create the store {path}"),
                             hint=acc.hint_for(state)) from None
        except OSError as exc:
            raise StoreError(f"cannot create {path}: {exc.strerror}") from None
        finally:
            os.umask(old)

    @classmethod
    def for_config(cls, cfg, *, migrate: bool = True, readonly: bool | None = False) -> Store:
        settings = getattr(cfg, "store", None)
        if settings is not None and settings.url is not None:
            from opsctl.core.pgstore import pg_engine

            engine = pg_engine(settings, cfg.where)
            store = cls(engine, None)
            store.url_text = engine.url.render_as_string(hide_password=True)
            if migrate:
                store.migrate()
            return store
        return cls.open(cfg.state_dir, migrate=migrate, readonly=readonly,
                        where=cfg.where(("state_dir",)))

    def close(self) -> None:
        self.engine.dispose()

    # -- transactions ----------------------------------------------------------------------
    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction holding the database write lock from the start.

        Ctrl-C waits for it to end (see opsctl.core.interrupt)."""
        if self.readonly:
            raise self._readonly_error()
        try:
            with critical(), self.engine.connect() as conn:
                conn.info["immediate"] = True
                try:
                    with conn.begin():
                        if not self.is_sqlite:
                            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"),
                                         {"k": PG_WRITE_LOCK})
                        yield conn
                finally:
                    conn.info["immediate"] = False
        except (sa.exc.DBAPIError, sqlite3.Error) as exc:
            err = self._db_error(exc, "write")
            if err is None:
                raise
            raise err from exc

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction that sees one snapshot throughout, as SQLite's does: on
        PostgreSQL REPEATABLE READ (READ COMMITTED would let a verify read the chain's
        head and then rows appended after it)."""
        try:
            with self.engine.connect() as conn:
                if not self.is_sqlite:
                    conn = conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    yield conn
        except (sa.exc.DBAPIError, sqlite3.Error) as exc:
            err = self._db_error(exc, "read")
            if err is None:
                raise
            raise err from exc

    def _db_error(self, exc: Exception, doing: str) -> StoreError | None:
        """A StoreError that says what is wrong with the store, or None for errors that
        belong to the caller (constraint violations, SQL mistakes)."""
        from opsctl.core import storeaccess as acc

        orig = getattr(exc, "orig", None) or exc
        if not self.is_sqlite:
            from opsctl.core.pgstore import pg_error

            return pg_error(self, exc, doing)
        code = getattr(orig, "sqlite_errorname", "") or ""
        where = self.path or "the store"
        if code.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
            return StoreError(
                f"the store {where} is damaged or not an opsctl database ({orig})",
                hint=f"restore {DB_NAME} from a backup (docs/deployment.md); "
                     f"`sqlite3 {where} 'PRAGMA integrity_check'` shows the damage; to "
                     "start afresh move the file aside (the duty log starts a new chain)")
        if self.path is not None and code.startswith(
                ("SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_READONLY", "SQLITE_AUTH")):
            state = self.path.parent
            for target, need in ((self.path, os.R_OK), (state, os.X_OK)):
                if not os.access(target, need):
                    return StoreError(acc.denied(target, need, f"{doing} the store {where}"),
                                      hint=acc.hint_for(state))
            if code.startswith("SQLITE_READONLY"):
                return self._readonly_error(str(orig))
            for side in ("-wal", "-shm"):
                f = self.path.with_name(self.path.name + side)
                if f.exists() and not os.access(f, os.R_OK | os.W_OK):
                    return StoreError(acc.denied(f, os.W_OK, f"{doing} the store {where}"),
                                      hint=acc.hint_for(state))
        if isinstance(orig, sqlite3.OperationalError) or code:
            return StoreError(f"store {doing} failed: {orig}")
        return None

    def _readonly_error(self, detail: str | None = None) -> StoreError:
        from opsctl.core import storeaccess as acc

        path = self.path or Path("the store")
        state = path.parent
        if not os.access(path, os.W_OK):
            why = acc.denied(path, os.W_OK, "write it")
        elif not os.access(state, os.W_OK):
            why = acc.denied(state, os.W_OK, "write it (SQLite keeps its -wal and -shm "
                             "files beside it)")
        else:
            why = detail or "it is on a read-only file system"
        return StoreError(
            f"this command records to the store {path}, which is read-only here: {why}",
            hint="read commands and `duty log verify` work read-only; to record, "
                 + acc.hint_for(state))

    # -- migrations ------------------------------------------------------------------------
    @staticmethod
    def _components() -> Iterator[tuple[str, list[Callable[[Connection], None]]]]:
        for modname in COMPONENTS:
            if importlib.util.find_spec(modname) is None:
                continue
            mod = importlib.import_module(modname)
            yield mod.COMPONENT, list(mod.MIGRATIONS)

    def versions(self) -> dict[str, int]:
        with self.read() as conn:
            if not sa.inspect(conn).has_table(schema_versions.name):
                return {}
            rows = conn.execute(sa.select(schema_versions.c.component, schema_versions.c.version))
            return {r.component: r.version for r in rows}

    def pending(self) -> dict[str, tuple[int, int]]:
        """Components whose stored schema is behind: name -> (stored, this opsctl's)."""
        stored = self.versions()
        out = {}
        for component, migrations in self._components():
            current = stored.get(component, 0)
            if current > len(migrations):
                raise StoreError(
                    f"store schema for {component} is version {current}, newer than this "
                    f"opsctl knows ({len(migrations)}); upgrade opsctl")
            if current < len(migrations):
                out[component] = (current, len(migrations))
        return out

    def check_current(self) -> None:
        """For a read-only store: refuse (clearly) a schema this opsctl would migrate."""
        todo = self.pending()
        if todo:
            steps = ", ".join(f"{c} {a}->{b}" for c, (a, b) in sorted(todo.items()))
            raise StoreError(
                f"the store {self.describe()} needs a schema upgrade ({steps}), which a read-only "
                "store cannot take",
                hint="run any opsctl command once as a user who may write the store (its "
                     "owner or a member of its group); then it reads fine read-only")

    def migrate(self) -> dict[str, int]:
        import datetime as dt

        # Checked under a read lock first: an up-to-date store (nearly always) is opened
        # without taking the write lock, so readers never queue behind a busy writer.
        if not self.pending():
            return {c: len(m) for c, m in self._components()}
        with self.write() as conn:
            schema_versions.create(conn, checkfirst=True)
        applied: dict[str, int] = {}
        for component, migrations in self._components():
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
