"""Small persistent state (last poll values, baselines, daemon bookkeeping)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from opsctl.core.journal import now_iso
from opsctl.core.store import Store
from opsctl.core.store_schema import kv


def get(store: Store, namespace: str, key: str, default: Any = None) -> Any:
    with store.read() as conn:
        row = conn.execute(sa.select(kv.c.value).where(
            kv.c.namespace == namespace, kv.c.key == key)).first()
    return default if row is None else row.value


def put(store: Store, namespace: str, key: str, value: Any, conn=None) -> None:
    def _do(c):
        updated = c.execute(kv.update().where(kv.c.namespace == namespace, kv.c.key == key)
                            .values(value=value, updated_at=now_iso())).rowcount
        if not updated:
            c.execute(kv.insert().values(namespace=namespace, key=key, value=value,
                                         updated_at=now_iso()))
    if conn is not None:
        _do(conn)
    else:
        with store.write() as c:
            _do(c)


def items(store: Store, namespace: str) -> dict[str, Any]:
    with store.read() as conn:
        return {r.key: r.value for r in conn.execute(
            sa.select(kv.c.key, kv.c.value).where(kv.c.namespace == namespace))}
