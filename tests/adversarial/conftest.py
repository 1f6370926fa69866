"""The adversarial suite (issue 19): faults and hostile input, each case a regression test.

Helpers: ``hostile.py`` (misbehaving HTTP servers and clients) and the daemon test
support module (real webhook/SMTP servers, configs, the daemon process).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "daemon"))

import pytest  # noqa: E402
from daemon_support import DaemonProcess, NotifySocket  # noqa: E402


@pytest.fixture
def notify_socket(tmp_path):
    ns = NotifySocket(tmp_path / "notify.sock")
    yield ns
    ns.close()


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
