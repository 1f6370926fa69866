"""A real, private OpenSSH server on 127.0.0.1 for tests.

``SshServer`` owns a directory with its own ed25519 host key, a client key pair, an
``authorized_keys`` with the client key, a known_hosts line for the client and an
sshd_config that permits root login by key only. ``start()`` runs ``/usr/sbin/sshd -D``
on a free port and waits until it answers; ``stop()`` ends exactly the processes it
started (the listener, and — because sessions run in their own process groups — any
session it can still find by its recorded ids).

``poweroff_script`` is what a test plan runs instead of ``systemctl poweroff``: it stops the
listener (the port closes, like a host going down) and kills the sshd processes of its own
session, so the client sees the connection drop after the command was sent — exactly
what a real poweroff looks like from the SSH client.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def kill_pidfile(pidfile: Path) -> None:
    """End a remote test command that wrote its pid (``echo $$ > f; exec sleep``).

    A root session ignores SSH "signal" requests, so a timed-out command would linger.
    """
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pidfile.read_text()), signal.SIGKILL)


def keygen(path: Path, comment: str = "opsctl-test") -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f",
                    str(path)], check=True, capture_output=True)
    return path


class SshServer:
    def __init__(self, base: Path, name: str = "sshd"):
        self.base = Path(base) / name
        self.base.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.port = free_port()
        self.host_key = self.base / "host_ed25519"
        self.client_key = self.base / "client_ed25519"
        self.authorized_keys = self.base / "authorized_keys"
        self.known_hosts = self.base / "known_hosts"
        self.config = self.base / "sshd_config"
        self.pidfile = self.base / "sshd.pid"
        self.log = self.base / "sshd.log"
        self.poweroff_script = self.base / "poweroff"
        self.proc: subprocess.Popen | None = None
        keygen(self.host_key, f"{name}-host")
        keygen(self.client_key, f"{name}-client")
        self.authorized_keys.write_text(Path(f"{self.client_key}.pub").read_text())
        self.write_known_hosts()
        self._write_config()
        self._write_poweroff()
        # sshd's privilege-separation directory; Debian's package creates it only at boot.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)

    # -- files ------------------------------------------------------------------------------
    def host_pubkey_line(self) -> str:
        kind, blob = Path(f"{self.host_key}.pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {blob}\n"

    def write_known_hosts(self, path: Path | None = None) -> Path:
        path = path or self.known_hosts
        path.write_text(self.host_pubkey_line())
        return path

    def _write_config(self) -> None:
        self.config.write_text(f"""\
Port {self.port}
ListenAddress 127.0.0.1
HostKey {self.host_key}
PidFile {self.pidfile}
AuthorizedKeysFile {self.authorized_keys}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
AcceptEnv LANG LC_*
LogLevel VERBOSE
Subsystem sftp internal-sftp
""")

    def _write_poweroff(self) -> None:
        # Kill the listener, then walk up from this shell and kill the sshd processes of
        # this session only (stop at the first non-sshd ancestor above them).
        self.poweroff_script.write_text(f"""\
#!/bin/sh
kill -TERM "$(cat {self.pidfile})" 2>/dev/null
p=$$
seen=0
while [ "$p" -gt 1 ]; do
  p=$(cut -d' ' -f4 /proc/$p/stat)
  if [ "$(cat /proc/$p/comm)" = sshd ]; then seen=1; kill -KILL "$p"; \
elif [ $seen = 1 ]; then break; fi
done
""")
        self.poweroff_script.chmod(0o755)

    def host_config(self, name: str | None = None, **over) -> dict:
        """A ``hosts:`` entry for opsctl's config pointing at this server."""
        return {"name": name or self.name, "address": "127.0.0.1", "port": self.port,
                "user": "root", "key_file": str(self.client_key),
                "known_hosts": str(self.known_hosts), "connect_timeout": 5, **over}

    def host(self, name: str | None = None, **over):
        from opsctl.core.config.hosts import Host

        return Host(**self.host_config(name, **over))

    # -- process ----------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> SshServer:
        if self.running:
            return self
        with self.log.open("ab") as logf:
            self.proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.config)],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited ({self.proc.returncode}): "
                                   f"{self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"sshd did not listen on {self.port}")
            time.sleep(0.05)
        return self

    def start_command(self) -> list[str]:
        """argv that starts this server detached (what a restore plan's 'power on' runs)."""
        return [SSHD, "-f", str(self.config), "-E", str(self.log)]

    @property
    def running(self) -> bool:
        return port_open(self.port)

    def stop(self) -> None:
        pids: set[int] = set()
        if self.proc is not None and self.proc.poll() is None:
            pids.add(self.proc.pid)
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.pidfile.read_text().strip())
            # sshd leaves its pid file behind: make sure the pid is still our listener.
            if str(self.config).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.add(pid)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None
        deadline = time.monotonic() + 5
        while self.running and time.monotonic() < deadline:
            time.sleep(0.05)
