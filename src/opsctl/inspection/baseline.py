"""Recorded baselines (IP addresses per host) that later runs compare against.

Kept in the store's key/value table, or in a JSON file when
``inspection.ip_baseline_file`` is set (e.g. to keep it under configuration management).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

NAMESPACE = "inspection.ip_baseline"
_file_lock = threading.Lock()  # checks run in threads; the file is read-modify-written


def _file(cfg) -> Path | None:
    name = cfg.inspection.ip_baseline_file if cfg is not None else None
    if not name:
        return None
    p = Path(os.path.expanduser(name))
    if not p.is_absolute() and cfg.source is not None:
        p = cfg.source.resolve().parent / p
    return p


def _read_file(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def _write_file(path: Path, data: dict[str, Any]) -> None:
    from opsctl.core.interrupt import critical

    path.parent.mkdir(parents=True, exist_ok=True)
    with critical():  # Ctrl-C waits: no temporary file left behind
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)


def get(cfg, store, key: str) -> Any:
    path = _file(cfg)
    if path is not None:
        with _file_lock:
            return _read_file(path).get(key)
    from opsctl.core import kvstate

    return kvstate.get(store, NAMESPACE, key)


def put(cfg, store, key: str, value: Any) -> None:
    path = _file(cfg)
    if path is not None:
        with _file_lock:
            data = _read_file(path)
            data[key] = value
            _write_file(path, data)
        return
    from opsctl.core import kvstate

    kvstate.put(store, NAMESPACE, key, value)


def all_baselines(cfg, store) -> dict[str, Any]:
    path = _file(cfg)
    if path is not None:
        with _file_lock:
            return _read_file(path)
    from opsctl.core import kvstate

    return kvstate.items(store, NAMESPACE)


def forget(cfg, store, key: str | None = None) -> int:
    """Drop one baseline (or all): the next run records the current state afresh."""
    path = _file(cfg)
    if path is not None:
        with _file_lock:
            data = _read_file(path)
            keys = [k for k in data if key is None or k == key]
            for k in keys:
                del data[k]
            _write_file(path, data)
            return len(keys)
    from opsctl.core.store_schema import kv

    with store.write() as conn:
        q = kv.delete().where(kv.c.namespace == NAMESPACE)
        if key is not None:
            q = q.where(kv.c.key == key)
        return conn.execute(q).rowcount or 0
