"""A TCP proxy between opsctl and PostgreSQL that loses the reply to a COMMIT.

The "ambiguous COMMIT": the client sent COMMIT, the server committed, and the connection
broke before the reply came back — the client cannot tell whether its write is in. The
proxy forwards every byte unchanged, reading the client's side as PostgreSQL protocol
messages (v3: the untyped start-up packets, then type byte + length). Armed with
:meth:`arm`, it lets the next COMMIT of a *write* transaction (one that took opsctl's write
lock, ``pg_advisory_xact_lock``) through to the server, swallows the server's answer
(up to its ReadyForQuery), and closes both sides.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

_SPECIAL = {80877103, 80877104, 80877102}  # SSLRequest, GSSENCRequest, CancelRequest
_READY = b"Z\x00\x00\x00\x05"


class CommitDropProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._armed = 0
        self.dropped = 0
        self.connections = 0
        self._closed = False

    def start(self) -> CommitDropProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def arm(self, n: int = 1) -> None:
        with self._lock:
            self._armed = n

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def _take(self) -> bool:
        with self._lock:
            if self._armed <= 0:
                return False
            self._armed -= 1
            return True

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=10)
            server.settimeout(None)
        except OSError:
            client.close()
            return
        state = {"dropping": False, "done": threading.Event()}
        threading.Thread(target=self._down, args=(server, client, state), daemon=True).start()
        try:
            self._up(client, server, state)
        finally:
            for s in (client, server):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def _up(self, client: socket.socket, server: socket.socket, state: dict) -> None:
        buf = b""
        startup = True
        writing = False
        lock_statements: set[bytes] = set()
        while True:
            data = client.recv(65536)
            if not data:
                return
            buf += data
            while True:
                if startup:
                    if len(buf) < 8:
                        break
                    n, code = struct.unpack("!II", buf[:8])
                    if len(buf) < n:
                        break
                    msg, buf = buf[:n], buf[n:]
                    server.sendall(msg)
                    if code not in _SPECIAL:
                        startup = False  # that was the StartupMessage
                    continue
                if len(buf) < 5:
                    break
                n = struct.unpack("!I", buf[1:5])[0]
                if len(buf) < 1 + n:
                    break
                msg, buf = buf[:1 + n], buf[1 + n:]
                kind = msg[:1]
                if kind == b"P" and b"pg_advisory_xact_lock" in msg:
                    writing = True
                    name = msg[5:].split(b"\0", 1)[0]
                    if name:  # psycopg prepares a statement run often: later only Bind
                        lock_statements.add(name)
                elif (kind == b"B" and msg[5:].split(b"\0", 2)[1] in lock_statements
                      or kind == b"Q" and b"pg_advisory_xact_lock" in msg):
                    writing = True
                if msg[:1] == b"Q":
                    text = msg[5:].lstrip().upper()
                    if text.startswith(b"COMMIT"):
                        if writing and self._take():
                            state["dropping"] = True
                            server.sendall(msg)
                            # The server has committed once its reply arrives: swallow it.
                            state["done"].wait(10)
                            self.dropped += 1
                            return
                        writing = False
                    elif text.startswith(b"ROLLBACK"):
                        writing = False
                server.sendall(msg)

    @staticmethod
    def _down(server: socket.socket, client: socket.socket, state: dict) -> None:
        swallowed = b""
        try:
            while True:
                data = server.recv(65536)
                if not data:
                    break
                if state["dropping"]:
                    swallowed += data
                    if _READY in swallowed:
                        break
                    continue
                client.sendall(data)
        except OSError:
            pass
        finally:
            state["done"].set()
