"""A throw-away PostgreSQL cluster for the tests: initdb + pg_ctl in a temp directory,
listening on a unix socket there and on 127.0.0.1 at a free port.

PostgreSQL refuses to run as root; then the cluster belongs to the ``postgres`` user
(Debian's package creates it) or ``nobody``, through runuser. Local (socket) connections
are trusted; TCP ones need a password (scram-sha-256), so the password_file path is
tested for real. Each test gets its own database (:meth:`PgCluster.new_database`).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

SUPERUSER = "opsctl"
PASSWORD = "s3cret-for-tests"
RUNUSER = shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin:/bin") or "runuser"


def pg_bindir() -> Path | None:
    """Where initdb and pg_ctl are: PATH, else Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    return None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.user = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    pwd.getpwnam(name)
                except KeyError:
                    continue
                self.user = name
                break
        self.base = Path(tempfile.mkdtemp(prefix="opsctl-pg-"))
        self.data = self.base / "data"
        self.sock = self.base / "sock"
        self.port = _free_port()
        self._names = itertools.count(1)

    def _cmd(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        full = [str(self.bindir / argv[0]), *argv[1:]]
        if self.user:
            full = [RUNUSER, "-u", self.user, "--", *full]
        env = {**os.environ, "LC_ALL": "C"}
        p = subprocess.run(full, capture_output=True, text=True, timeout=timeout, env=env,
                           cwd="/")
        if p.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({p.returncode}): {p.stdout}{p.stderr}")
        return p

    def start(self, *, durable: bool = False) -> PgCluster:
        """``durable``: fsync and synchronous commit on, as a production server (the
        benchmarks); the tests run without (a throw-away cluster)."""
        self.sock.mkdir()
        if self.user:
            pw = pwd.getpwnam(self.user)
            for p in (self.base, self.sock):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        os.chmod(self.base, 0o755)
        pwfile = self.base / "pw"
        pwfile.write_text(PASSWORD + "\n")
        os.chmod(pwfile, 0o644)
        self._cmd("initdb", "-D", str(self.data), "-U", SUPERUSER, "--pwfile", str(pwfile),
                  "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        pwfile.unlink()
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                    f"unix_socket_directories = '{self.sock}'\n"
                    "max_connections = 200\nshared_buffers = 64MB\n")
            if not durable:
                # A throw-away cluster: the tests measure nothing here.
                f.write("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
        self.pg_ctl_start()
        return self

    def pg_ctl_start(self) -> None:
        self._cmd("pg_ctl", "-D", str(self.data), "-l", str(self.base / "log"), "-w",
                  "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._cmd("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def kill(self) -> None:
        """The server dies (SIGKILL of the postmaster): clients see broken connections."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def psql(self, sql: str, db: str = "postgres") -> str:
        return self._cmd("psql", "-h", str(self.sock), "-p", str(self.port), "-U", SUPERUSER,
                         "-d", db, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql).stdout

    def new_database(self) -> str:
        name = f"t{os.getpid()}_{next(self._names)}"
        self.psql(f"CREATE DATABASE {name}")
        return name

    def socket_url(self, db: str) -> str:
        """A URL for the socket (trusted, no password)."""
        return f"postgresql://{SUPERUSER}@/{db}?host={self.sock}&port={self.port}"

    def tcp_url(self, db: str) -> str:
        """A URL over TCP to 127.0.0.1: needs the password (store.password_file)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{db}"


def store_yaml(url: str, **extra: str) -> str:
    """The ``store:`` block of a config for this URL (appended at the top level)."""
    lines = ["store:", f"  url: \"{url}\""]
    lines += [f"  {k}: {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"
