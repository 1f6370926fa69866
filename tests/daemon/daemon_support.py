"""Real things the daemon talks to, started on 127.0.0.1 for a test and always stopped:
a systemd-style notify socket, a webhook receiver, an SMTP server (plain or STARTTLS),
and the real ``opsctl daemon run`` process itself. Fixtures wrapping them: conftest.py."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml


def wait_for(pred, timeout: float = 20.0, interval: float = 0.1, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


# -- notify socket -------------------------------------------------------------------------
class NotifySocket:
    """What systemd binds: an AF_UNIX datagram socket; collects every message."""

    def __init__(self, path: Path | None = None, abstract: str | None = None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            self.sock.bind("\0" + abstract)
            self.address = "@" + abstract
        else:
            self.sock.bind(str(path))
            self.address = str(path)
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._stop = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append(data.decode())

    def lines(self) -> list[str]:
        return [ln for m in list(self.messages) for ln in m.splitlines()]

    def count(self, line: str) -> int:
        return sum(1 for ln in self.lines() if ln == line)

    def wait(self, line: str, n: int = 1, timeout: float = 30.0) -> None:
        wait_for(lambda: self.count(line) >= n, timeout, what=f"{n}x {line} on NOTIFY_SOCKET "
                 f"(got {self.lines()[-10:]})")

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()


# -- webhook receiver ------------------------------------------------------------------------
class WebhookServer:
    def __init__(self, status: int = 200):
        self.received: list[dict] = []
        self.headers: list[dict] = []
        self.status = status
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.headers.append(dict(self.headers))
                try:
                    outer.received.append(json.loads(body))
                except ValueError:
                    outer.received.append({"raw": body.decode(errors="replace")})
                self.send_response(outer.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- SMTP server -------------------------------------------------------------------------------
class SmtpServer:
    """A small but real SMTP server (RFC 5321 subset), optionally offering STARTTLS."""

    def __init__(self, tls_context: ssl.SSLContext | None = None, implicit_tls: bool = False):
        self.messages: list[dict] = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 10

            def reply(self, text: str) -> None:
                self.wfile.write(text.encode() + b"\r\n")
                self.wfile.flush()

            def handle(self):
                self.reply("220 test.local ESMTP opsctl-test")
                mail = {"from": None, "to": [], "data": "", "tls": implicit_tls}
                while True:
                    raw = self.rfile.readline()
                    if not raw:
                        return
                    cmd = raw.decode(errors="replace").strip()
                    up = cmd.upper()
                    if up.startswith("EHLO"):
                        ext = ["8BITMIME"]
                        if tls_context and not mail["tls"] and not implicit_tls:
                            ext.append("STARTTLS")
                        lines = ["test.local", *ext]
                        for ln in lines[:-1]:
                            self.reply(f"250-{ln}")
                        self.reply(f"250 {lines[-1]}")
                    elif up.startswith("HELO"):
                        self.reply("250 test.local")
                    elif up == "STARTTLS" and tls_context:
                        self.reply("220 go ahead")
                        self.request = tls_context.wrap_socket(self.request, server_side=True)
                        self.rfile = self.request.makefile("rb")
                        self.wfile = self.request.makefile("wb")
                        mail["tls"] = True
                    elif up.startswith("MAIL FROM:"):
                        mail["from"] = cmd[10:].split()[0].strip("<>")
                        self.reply("250 OK")
                    elif up.startswith("RCPT TO:"):
                        mail["to"].append(cmd[8:].strip().strip("<>"))
                        self.reply("250 OK")
                    elif up == "DATA":
                        self.reply("354 end with <CRLF>.<CRLF>")
                        chunks = []
                        while True:
                            line = self.rfile.readline()
                            if not line or line in (b".\r\n", b".\n"):
                                break
                            chunks.append(line.decode(errors="replace"))
                        mail["data"] = "".join(chunks)
                        outer.messages.append(dict(mail))
                        mail = {"from": None, "to": [], "data": "", "tls": mail["tls"]}
                        self.reply("250 queued")
                    elif up in ("RSET", "NOOP"):
                        self.reply("250 OK")
                    elif up == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("502 not implemented")

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

            def get_request(self):
                sock, addr = super().get_request()
                if implicit_tls:  # SMTPS (465): TLS from the first byte
                    sock = tls_context.wrap_socket(sock, server_side=True)
                return sock, addr

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- configs and the daemon process ------------------------------------------------------------
def base_config(tmp_path: Path, **sections) -> dict:
    cfg = {
        "site": {"name": "test-dc", "room": "test room", "timezone": "UTC"},
        "state_dir": str(tmp_path / "state"),
        "people": [{"name": "alice", "roles": ["operator", "supervisor"],
                    "email": "alice@example.org"}],
        "alerts": {"targets": [], "routes": [], "retries": 1, "retry_delay": 0.2},
        "daemon": {"poll_interval": 1, "heartbeat_interval": 1, "udev": False,
                   "export": None, "roster_reminder_schedule": "0 9 * * *",
                   "stop_timeout": 5},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return cfg


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def opsctl_argv() -> list[str]:
    exe = shutil.which("opsctl")
    return [exe] if exe else [sys.executable, "-m", "opsctl"]


def opsctl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*opsctl_argv(), *args], capture_output=True, text=True,
                          timeout=timeout)


class DaemonProcess:
    def __init__(self, config: Path, notify: NotifySocket | None, watchdog_usec: int | None,
                 log: Path):
        self.config = config
        self.notify = notify
        self.watchdog_usec = watchdog_usec
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> DaemonProcess:
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        env.pop("WATCHDOG_USEC", None)
        if self.notify is not None:
            env["NOTIFY_SOCKET"] = self.notify.address
        if self.watchdog_usec:
            env["WATCHDOG_USEC"] = str(self.watchdog_usec)
        self._logf = open(self.log, "a")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([*opsctl_argv(), "-c", str(self.config), "daemon", "run"],
                                     stdout=self._logf, stderr=subprocess.STDOUT, env=env)
        return self

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 15) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_logf", None):
            self._logf.close()


