"""Records as evidence under hostile input: entry size, loose permissions, exports that
verify as written, and spreadsheet formulas in exported CSV."""

from __future__ import annotations

import os

import pytest
from daemon_support import opsctl, write_config

from opsctl.core.config import load_config
from opsctl.core.errors import StoreError, UsageError
from opsctl.core.store import Store


def config(tmp_path, **extra):
    cfg = {"site": {"name": "t", "timezone": "UTC"}, "state_dir": str(tmp_path / "state"),
           "people": [{"name": "alice", "roles": ["operator", "supervisor"]}], **extra}
    return write_config(tmp_path / "opsctl.yaml", cfg)


def test_entry_size_is_limited_at_append(tmp_path):
    from opsctl.handover.api import record_event
    from opsctl.handover.chain import MAX_TEXT_BYTES

    cfg = load_config(config(tmp_path))
    store = Store.for_config(cfg)
    assert record_event(store, category="note", text="x" * MAX_TEXT_BYTES, source="t",
                        cfg=cfg) == 1
    with pytest.raises(UsageError, match="limit"):
        record_event(store, category="note", text="x" * (10 * 1024 * 1024), source="t",
                     cfg=cfg)
    with pytest.raises(UsageError, match="details"):
        record_event(store, category="note", text="big details", source="t", cfg=cfg,
                     details={"blob": "y" * (1024 * 1024)})
    out = opsctl("-c", str(tmp_path / "opsctl.yaml"), "duty", "log", "add",
                 "z" * (MAX_TEXT_BYTES + 1), "--by", "alice")
    assert out.returncode == 2 and "limit" in out.stderr


def test_world_writable_state_dir_and_readable_db_are_repaired(tmp_path):
    path = config(tmp_path)
    state = tmp_path / "state"
    Store.for_config(load_config(path)).close()
    os.chmod(state, 0o777)
    os.chmod(state / "opsctl.db", 0o644)
    out = opsctl("-c", str(path), "duty", "log", "list")
    assert out.returncode == 0, out.stderr
    assert "writable by every user" in out.stderr and "readable by every user" in out.stderr
    assert state.stat().st_mode & 0o777 == 0o770
    assert (state / "opsctl.db").stat().st_mode & 0o777 == 0o640


def test_world_writable_state_dir_of_another_user_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to create a directory owned by someone else")
    path = config(tmp_path)
    state = tmp_path / "state"
    Store.for_config(load_config(path)).close()
    os.chown(state, 65534, 65534)
    os.chmod(state, 0o777)
    with pytest.raises(StoreError, match="writable by every user"):
        Store.for_config(load_config(path))


def test_readable_key_file_is_refused(tmp_path):
    key = tmp_path / "duty.key"
    key.write_text("a-secret-kept-outside-the-store-0123456789\n")
    key.chmod(0o644)
    path = config(tmp_path, duty={"log_key_file": str(key)})
    out = opsctl("-c", str(path), "duty", "log", "add", "hello", "--by", "alice")
    assert out.returncode != 0 and "accessible by others" in out.stderr
    assert "Traceback" not in out.stderr
    key.chmod(0o600)
    out = opsctl("-c", str(path), "duty", "log", "add", "hello", "--by", "alice")
    assert out.returncode == 0, out.stderr
