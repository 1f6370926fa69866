"""Fixtures for the daemon tests (the services themselves: daemon_support.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from daemon_support import DaemonProcess, NotifySocket, SmtpServer, WebhookServer


@pytest.fixture
def notify_socket(tmp_path):
    ns = NotifySocket(tmp_path / "notify.sock")
    yield ns
    ns.close()


@pytest.fixture
def webhook():
    srv = WebhookServer()
    yield srv
    srv.close()


@pytest.fixture
def smtp_server():
    srv = SmtpServer()
    yield srv
    srv.close()


@pytest.fixture
def tls_cert(tmp_path):
    """A self-signed certificate for 127.0.0.1 (openssl), as the STARTTLS server's and the
    client's CA file."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True,
                   capture_output=True)
    return key, cert


@pytest.fixture
def daemon_factory(tmp_path):
    started: list[DaemonProcess] = []

    def start(config: Path, notify: NotifySocket | None = None,
              watchdog_usec: int | None = None) -> DaemonProcess:
        d = DaemonProcess(config, notify, watchdog_usec, tmp_path / "daemon.log").start()
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()
    if started:
        print(started[0].output())  # shown by pytest when the test failed
