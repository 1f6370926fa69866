"""PostgreSQL as the store: the ``store:`` config, connecting (socket, TCP with a
password file), migrations, clear errors for a server that is down or refuses us."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from pg_cluster import PASSWORD, store_yaml

from opsctl.core.config import load_config
from opsctl.core.errors import ConfigError, StoreError
from opsctl.core.store import Store

pytestmark = pytest.mark.postgresql

BASE = ("site: {name: t, timezone: Europe/Berlin}\nstate_dir: state\n"
        "people:\n  - {name: olga, roles: [operator]}\n")


def write_cfg(tmp_path: Path, store_block: str) -> Path:
    p = tmp_path / "opsctl.yaml"
    p.write_text(BASE + store_block)
    return p


def run_cli(cfg: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("OPSCTL_ACTOR", None)
    return subprocess.run([sys.executable, "-m", "opsctl", "-c", str(cfg), *args],
                          capture_output=True, text=True, timeout=120, env=env)


# -- config ----------------------------------------------------------------------------
@pytest.mark.parametrize("url, expect", [
    ("postgresql://ops:hunter2@db/opsctl", "the URL holds a password; put it in a file"),
    ("mysql://ops@db/opsctl", "scheme 'mysql' is not supported"),
    ("postgresql://ops@db", "the URL names no database"),
    ("postgresql://ops@db:port/x", "not a database URL"),
])
def test_bad_url_names_file_line_field(tmp_path, url, expect):
    cfg = write_cfg(tmp_path, f"store:\n  url: \"{url}\"\n")
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    assert exc.value.message.startswith(f"{cfg}:6: store.url")
    assert expect in exc.value.message
    assert "hunter2" not in exc.value.message


def test_default_is_sqlite_in_state_dir(tmp_path):
    cfg = load_config(write_cfg(tmp_path, ""))
    assert cfg.store.url is None
    store = Store.for_config(cfg)
    assert store.backend == "sqlite" and store.path == tmp_path / "state" / "opsctl.db"
    store.close()


def test_password_file_problems_name_file_line(tmp_path, pg_cluster):
    db = pg_cluster.new_database()
    cfg = write_cfg(tmp_path, store_yaml(pg_cluster.tcp_url(db), password_file="db.pw"))
    with pytest.raises(StoreError) as exc:
        Store.for_config(load_config(cfg))
    assert f"{cfg}:7: store.password_file: cannot read the database password file" \
        in exc.value.message
    pw = tmp_path / "db.pw"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o644)
    with pytest.raises(StoreError) as exc:
        Store.for_config(load_config(cfg))
    assert "readable by every user" in exc.value.message and exc.value.hint == f"chmod 0600 {pw}"
    pw.chmod(0o600)
    store = Store.for_config(load_config(cfg))
    assert store.backend == "postgresql" and store.versions()["handover"] >= 3
    assert PASSWORD not in store.describe()
    store.close()


# -- the store on PostgreSQL -------------------------------------------------------------
def test_migrate_on_postgresql_then_idempotent(tmp_path, pg_url):
    cfg = load_config(write_cfg(tmp_path, store_yaml(pg_url)))
    store = Store.for_config(cfg)
    versions = store.versions()
    assert set(versions) >= {"core", "handover", "power", "inspection", "daemon"}
    assert store.migrate() == versions
    assert not (tmp_path / "state").exists()  # nothing written locally
    with store.read() as conn:
        names = set(sa.inspect(conn).get_table_names())
    assert {"duty_log", "duty_meta", "kv", "changes", "schema_versions"} <= names
    store.close()


def test_concurrent_first_opens_migrate_once(tmp_path, pg_url):
    """Several processes opening a fresh database at once: the write lock serialises the
    migrations, nobody fails on a table another created."""
    cfg = write_cfg(tmp_path, store_yaml(pg_url))
    code = ("import sys; from opsctl.core.config import load_config; "
            "from opsctl.core.store import Store; "
            "Store.for_config(load_config(sys.argv[1])).close()")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(cfg)],
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err


def test_server_down_fails_fast_with_clear_message(tmp_path, pg_cluster):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = write_cfg(tmp_path, store_yaml(f"postgresql://opsctl@127.0.0.1:{port}/x"))
    t0 = time.monotonic()
    p = run_cli(cfg, "duty", "log", "list")
    assert time.monotonic() - t0 < 30
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    assert "cannot read the store PostgreSQL postgresql+psycopg://opsctl@127.0.0.1" in p.stderr
    assert "pg_isready" in p.stderr


def test_wrong_password_is_a_clear_error(tmp_path, pg_cluster):
    db = pg_cluster.new_database()
    pw = tmp_path / "db.pw"
    pw.write_text("wrong\n")
    pw.chmod(0o600)
    cfg = write_cfg(tmp_path, store_yaml(pg_cluster.tcp_url(db), password_file="db.pw"))
    p = run_cli(cfg, "duty", "log", "list")
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert "password authentication failed" in p.stderr
    assert "wrong" not in p.stderr.replace("password authentication", "")


def test_duty_log_on_postgresql_through_the_cli(tmp_path, pg_url):
    cfg = write_cfg(tmp_path, store_yaml(pg_url))
    for i in range(3):
        p = run_cli(cfg, "duty", "log", "add", f"entry {i}", "--by", "olga")
        assert p.returncode == 0, p.stderr
    p = run_cli(cfg, "duty", "log", "verify", "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    assert '"entries": 3' in p.stdout
    p = run_cli(cfg, "duty", "log", "search", "entry 1", "--json")
    assert p.returncode == 0 and "entry 1" in p.stdout and "entry 2" not in p.stdout
