"""`opsctl store migrate --to` copies a SQLite store into PostgreSQL and verifies the
chain there; `opsctl store status` on both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pg_cluster import PASSWORD, store_yaml

pytestmark = pytest.mark.postgresql

BASE = ("site: {name: t, timezone: Europe/Berlin}\nstate_dir: state\n"
        "people:\n  - {name: olga, roles: [operator]}\n  - {name: sam, roles: [supervisor]}\n")


def cli(cfg: Path, *args: str, check: int | None = 0) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("OPSCTL_ACTOR", None)
    p = subprocess.run([sys.executable, "-m", "opsctl", "-c", str(cfg), *args],
                       capture_output=True, text=True, timeout=180, env=env)
    assert "Traceback" not in p.stderr, p.stderr
    if check is not None:
        assert p.returncode == check, (args, p.stdout, p.stderr)
    return p


def test_migrate_sqlite_into_postgresql_and_carry_on(tmp_path, pg_cluster):
    src = tmp_path / "opsctl.yaml"
    src.write_text(BASE)
    for i in range(25):
        cli(src, "duty", "log", "add", f"entry {i}", "--by", "olga")
    cli(src, "duty", "log", "add", "UPS on battery", "--by", "olga", "--pending",
        "--category", "incident", "--severity", "major")
    before = json.loads(cli(src, "--json", "duty", "log", "verify").stdout)
    st = json.loads(cli(src, "--json", "store", "status").stdout)
    assert st["backend"] == "sqlite" and st["healthy"] and st["duty_log_entries"] == 26

    db = pg_cluster.new_database()
    pw = tmp_path / "db.pw"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    res = json.loads(cli(src, "--json", "store", "migrate", "--to", pg_cluster.tcp_url(db),
                         "--password-file", str(pw)).stdout)
    assert res["rows"]["duty_log"] == 26 and res["chain"]["ok"]
    assert res["chain"]["head_hash"] == before["head_hash"]
    # a second copy into the now full database is refused
    again = cli(src, "store", "migrate", "--to", pg_cluster.tcp_url(db), "--password-file",
                str(pw), check=2)
    assert "is not empty" in again.stderr

    dst = tmp_path / "pg.yaml"
    dst.write_text(BASE + store_yaml(pg_cluster.socket_url(db)))
    st = json.loads(cli(dst, "--json", "store", "status").stdout)
    assert st["backend"] == "postgresql" and st["healthy"] and st["size_bytes"] > 0
    assert all(s["current"] for s in st["schema"])
    after = json.loads(cli(dst, "--json", "duty", "log", "verify").stdout)
    assert after["ok"] and after["head_hash"] == before["head_hash"]
    # life goes on in PostgreSQL: the chain continues, the open item is there
    cli(dst, "duty", "log", "add", "after the move", "--by", "olga")
    assert json.loads(cli(dst, "--json", "duty", "log", "verify").stdout)["entries"] == 27
    pending = json.loads(cli(dst, "--json", "duty", "log", "list", "--pending").stdout)
    assert [e["text"] for e in pending] == ["UPS on battery"]


def test_store_status_of_a_database_that_is_down(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "opsctl.yaml"
    cfg.write_text(BASE + store_yaml(f"postgresql://opsctl@127.0.0.1:{port}/x"))
    p = cli(cfg, "--json", "store", "status", check=1)
    data = json.loads(p.stdout)
    assert data["backend"] == "postgresql" and not data["healthy"]
    assert "Connection refused" in data["error"]


def test_migrate_refuses_bad_urls(tmp_path):
    cfg = tmp_path / "opsctl.yaml"
    cfg.write_text(BASE)
    p = cli(cfg, "store", "migrate", "--to", "postgresql://u:secret@h/db", check=2)
    assert "--to: the URL holds a password" in p.stderr and "secret" not in p.stderr
