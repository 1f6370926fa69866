"""``store.sslmode: verify-full`` + ``store.sslrootcert`` against a real PostgreSQL with
TLS on: a server certificate from a throw-away CA (openssl), the connection encrypted and
the server's name checked; a wrong CA or a name the certificate does not carry is refused
with a clear message, never a traceback."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from pg_cluster import PASSWORD, SUPERUSER, PgCluster, pg_bindir, store_yaml

from opsctl.core.config import load_config
from opsctl.core.errors import StoreError
from opsctl.core.store import Store

pytestmark = pytest.mark.postgresql

BASE = ("site: {name: t, timezone: Europe/Berlin}\nstate_dir: state\n"
        "people:\n  - {name: olga, roles: [operator]}\n")


def _openssl(*argv: str, cwd: Path) -> None:
    subprocess.run(["openssl", *argv], cwd=cwd, check=True, capture_output=True, timeout=60,
                   env={**os.environ, "LC_ALL": "C"})


def _make_ca(d: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=d)


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    bindir = pg_bindir()
    if bindir is None or shutil.which("openssl") is None:
        pytest.skip("PostgreSQL server binaries or openssl not installed "
                    "(tests/setup.sh installs postgresql and openssl)")
    d = tmp_path_factory.mktemp("tls")
    _make_ca(d, "ca")
    _make_ca(d, "other-ca")
    # The server's certificate names localhost only (not 127.0.0.1): verify-full must
    # refuse the address the certificate does not carry.
    (d / "san.cnf").write_text("subjectAltName = DNS:localhost\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
             "-keyout", "server.key", "-out", "server.csr", cwd=d)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "server.crt",
             cwd=d)
    cluster = PgCluster(bindir).start()
    try:
        for name in ("server.crt", "server.key"):
            target = cluster.data / name
            shutil.copy(d / name, target)
            os.chmod(target, 0o600)
            if cluster.user:
                pw = pwd.getpwnam(cluster.user)
                os.chown(target, pw.pw_uid, pw.pw_gid)
        with open(cluster.data / "postgresql.conf", "a") as f:
            f.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
        cluster.stop()
        cluster.pg_ctl_start()
        cluster.certs = d
        yield cluster
    finally:
        cluster.destroy()


def _cfg(tmp_path: Path, cluster: PgCluster, host: str, ca: str) -> Path:
    db = cluster.new_database()
    pw = tmp_path / "db.pw"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    url = f"postgresql://{SUPERUSER}@{host}:{cluster.port}/{db}"
    p = tmp_path / "opsctl.yaml"
    p.write_text(BASE + store_yaml(url, password_file="db.pw", sslmode="verify-full",
                                   sslrootcert=str(cluster.certs / f"{ca}.crt")))
    return p


def _cli(cfg: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "opsctl", "-c", str(cfg), *args],
                          capture_output=True, text=True, timeout=120, env=env)


def test_verify_full_connects_encrypted(tmp_path, tls_cluster):
    cfg = _cfg(tmp_path, tls_cluster, "localhost", "ca")
    store = Store.for_config(load_config(cfg))
    try:
        with store.read() as conn:
            ssl = conn.execute(sa.text(
                "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).one()
        assert ssl[0] is True and ssl[1].startswith("TLS")
    finally:
        store.close()
    r = _cli(cfg, "duty", "log", "add", "--by", "olga", "over TLS")
    assert r.returncode == 0, r.stderr
    r = _cli(cfg, "store", "status", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["backend"] == "postgresql"
    r = _cli(cfg, "duty", "log", "verify")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("host, ca, expect", [
    ("localhost", "other-ca", "certificate verify failed"),
    ("127.0.0.1", "ca", "does not match host name"),
])
def test_verify_full_refuses_wrong_ca_or_name(tmp_path, tls_cluster, host, ca, expect):
    cfg = _cfg(tmp_path, tls_cluster, host, ca)
    with pytest.raises(StoreError) as exc:
        Store.for_config(load_config(cfg))
    assert expect in exc.value.message
    r = _cli(cfg, "duty", "log", "list")
    assert r.returncode != 0
    assert expect in r.stderr and "Traceback" not in r.stderr
