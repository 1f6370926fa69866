"""The systemd notify protocol, spoken directly (no libsystemd, no extra dependency).

A datagram to the AF_UNIX socket named in ``$NOTIFY_SOCKET`` carrying newline-separated
``KEY=value`` lines. A leading ``@`` means a Linux abstract socket (first byte NUL).
Without ``$NOTIFY_SOCKET`` (not started by systemd, or under a test) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

log = logging.getLogger("opsctl.daemon.notify")


class Notifier:
    def __init__(self, address: str | None = None):
        address = os.environ.get("NOTIFY_SOCKET") if address is None else address
        self.address: str | bytes | None = None
        if address:
            self.address = "\0" + address[1:] if address.startswith("@") else address
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        if self.address is None:
            return False
        payload = "\n".join(lines).encode("utf-8", "replace")
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX,
                                               socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.sendto(payload, self.address)
                return True
            except OSError as exc:
                # systemd going away must never take the daemon down with it.
                if not self._warned:
                    log.warning("cannot notify systemd at %s: %s",
                                os.environ.get("NOTIFY_SOCKET"), exc)
                    self._warned = True
                return False

    def ready(self, status: str | None = None) -> bool:
        lines = ["READY=1", f"MAINPID={os.getpid()}"]
        if status:
            lines.append(f"STATUS={_one_line(status)}")
        return self.send(*lines)

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def reloading(self) -> bool:
        return self.send("RELOADING=1")

    def stopping(self, status: str | None = None) -> bool:
        lines = ["STOPPING=1"]
        if status:
            lines.append(f"STATUS={_one_line(status)}")
        return self.send(*lines)

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def _one_line(text: str) -> str:
    return " ".join(text.split())[:400]


def watchdog_interval() -> float | None:
    """Seconds between WATCHDOG=1 pings (half the systemd timeout), or None if not asked.

    ``WATCHDOG_PID``, when set, must name this process: a watchdog meant for a parent
    (e.g. a shell wrapper) is not ours to feed.
    """
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = os.environ.get("WATCHDOG_PID")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    if value <= 0:
        return None
    return value / 1_000_000 / 2
