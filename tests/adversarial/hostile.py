"""Misbehaving peers for the adversarial tests: servers that drip, redirect or never
answer, and clients that open connections and say nothing."""

from __future__ import annotations

import socket
import threading
import time


class RawServer:
    """A TCP server on 127.0.0.1 whose every connection is handled by ``handler(conn)``."""

    def __init__(self, handler):
        self.handler = handler
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self._closed = threading.Event()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            with conn:
                conn.settimeout(10)
                self.requests.append(read_request(conn))
                self.handler(conn, self)
        except OSError:
            pass

    def url(self, path: str = "/hook", userinfo: str = "") -> str:
        return f"http://{userinfo}127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._closed.set()
        self.sock.close()


def read_request(conn: socket.socket) -> bytes:
    """Headers plus a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def drip(interval: float = 1.0):
    """A slowloris answer: a valid 200 response, one byte every ``interval`` seconds."""
    def handler(conn: socket.socket, server: RawServer) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
            if server._closed.is_set():
                return
            conn.sendall(bytes([byte]))
            time.sleep(interval)
    return handler


def redirect(location: str, code: int = 302):
    def handler(conn: socket.socket, _server: RawServer) -> None:
        conn.sendall(f"HTTP/1.1 {code} Found\r\nLocation: {location}\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n".encode())
    return handler


def answer(status: int = 200):
    def handler(conn: socket.socket, _server: RawServer) -> None:
        conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                     .encode())
    return handler


def headers_of(request: bytes) -> dict[str, str]:
    head = request.partition(b"\r\n\r\n")[0].decode(errors="replace").split("\r\n")
    out = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        out[name.strip().lower()] = value.strip()
    return out


class BannerDrip(RawServer):
    """An SMTP server that drips its 220 banner one byte every ``interval`` seconds (the
    SMTP server speaks first: no request is read)."""

    def __init__(self, interval: float = 1.0):
        self.interval = interval
        super().__init__(self._drip)

    def _serve(self, conn: socket.socket) -> None:
        try:
            with conn:
                self._drip(conn, self)
        except OSError:
            pass

    def _drip(self, conn: socket.socket, _server: RawServer) -> None:
        for byte in b"220 slow.example ESMTP\r\n":
            if self._closed.is_set():
                return
            conn.sendall(bytes([byte]))
            time.sleep(self.interval)
