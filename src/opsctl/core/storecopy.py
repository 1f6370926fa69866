"""The store as a whole: its status (backend, schema versions, size, health) and the
copy of a SQLite store into PostgreSQL (``opsctl store migrate --to``), verified after.

The copy goes table by table in each component's dependency order, in batches, into a
destination that must be empty (its schema is created by opening it). The duty chain is
then verified on the destination and must end at the same head as the source's.
"""

from __future__ import annotations

import importlib
import os
import time
from typing import Any

import sqlalchemy as sa

from opsctl.core.errors import StoreError, UsageError
from opsctl.core.store import COMPONENTS, Store

BATCH = 5000


def _tables() -> list[sa.Table]:
    out: list[sa.Table] = []
    for modname in COMPONENTS:
        try:
            mod = importlib.import_module(modname)
        except ImportError:
            continue
        md = getattr(mod, "metadata", None)
        if md is not None:
            out += md.sorted_tables
    return out


def status(store: Store) -> dict[str, Any]:
    """Backend, where, schema versions (stored and known), size, and connection health."""
    out: dict[str, Any] = {"backend": store.backend, "location": store.describe()}
    t0 = time.perf_counter()
    try:
        with store.read() as conn:
            conn.execute(sa.text("SELECT 1"))
            if store.is_sqlite:
                out["server_version"] = conn.exec_driver_sql(
                    "SELECT sqlite_version()").scalar()
            else:
                out["server_version"] = conn.exec_driver_sql("SHOW server_version").scalar()
                out["size_bytes"] = conn.exec_driver_sql(
                    "SELECT pg_database_size(current_database())").scalar()
        out["healthy"] = True
        out["latency_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    except StoreError as exc:
        out.update(healthy=False, error=exc.message)
        return out
    if store.is_sqlite and store.path is not None:
        out["size_bytes"] = sum(
            os.path.getsize(p) for p in (store.path, f"{store.path}-wal")
            if os.path.exists(p))
    stored = store.versions()
    known = {c: len(m) for c, m in store._components()}
    out["schema"] = [{"component": c, "stored": stored.get(c, 0), "known": n,
                      "current": stored.get(c, 0) == n} for c, n in known.items()]
    from opsctl.handover.schema import duty_log

    out["duty_log_entries"] = None
    if stored.get("handover"):  # a store no command has recorded to yet has no tables
        with store.read() as conn:
            out["duty_log_entries"] = conn.execute(
                sa.select(sa.func.count()).select_from(duty_log)).scalar()
    return out


def copy_store(src: Store, dst: Store, key: bytes | None = None) -> dict[str, Any]:
    """Copy every row of ``src`` into the empty ``dst``; verify the chain on both."""
    from opsctl.handover import chain

    if src.backend == dst.backend and src.describe() == dst.describe():
        raise UsageError("the destination is the source store")
    tables = _tables()
    with dst.read() as conn:
        busy = [t.name for t in tables
                if conn.execute(sa.select(sa.literal(1)).select_from(t).limit(1)).first()]
    if busy:
        raise UsageError(f"the destination {dst.describe()} is not empty (rows in "
                         f"{', '.join(busy[:5])}{'…' if len(busy) > 5 else ''})",
                         hint="migrate into a new, empty database")
    before = chain.verify(src, key)
    if not before.ok:
        raise StoreError(f"the source chain does not verify ({before.message}); not copying",
                         hint="`opsctl duty log verify` shows the damage")
    counts: dict[str, int] = {}
    t0 = time.perf_counter()
    # One transaction: a failed copy leaves the destination empty, to be tried again.
    with src.read() as sconn, dst.write() as dconn:
        for t in tables:
            n = 0
            result = sconn.execution_options(yield_per=BATCH).execute(
                sa.select(t).order_by(*t.primary_key.columns))
            for part in result.partitions(BATCH):
                dconn.execute(t.insert(), [dict(r._mapping) for r in part])
                n += len(part)
            counts[t.name] = n
        if dst.backend == "postgresql":
            _reset_sequences(dconn, tables)
    seconds = time.perf_counter() - t0
    after = chain.verify(dst, key)
    same = (after.ok and after.entries == before.entries
            and after.last_seq == before.last_seq and after.head_hash == before.head_hash)
    if not same:
        raise StoreError(f"the copy's chain does not match the source's: {after.message or ''}"
                         f" (source {before.entries} entries head {before.head_hash}, copy "
                         f"{after.entries} entries head {after.head_hash})")
    return {"from": src.describe(), "to": dst.describe(), "rows": counts,
            "seconds": round(seconds, 2), "chain": after.to_dict()}


def _reset_sequences(conn, tables: list[sa.Table]) -> None:
    """Rows came with their ids: move each serial's sequence past the highest."""
    for t in tables:
        col = t.autoincrement_column
        if col is not None:
            conn.execute(sa.text(
                f"SELECT setval(pg_get_serial_sequence(:t, :c), "  # noqa: S608
                f"COALESCE((SELECT max({col.name}) FROM {t.name}), 0) + 1, false)"),
                {"t": t.name, "c": col.name})
