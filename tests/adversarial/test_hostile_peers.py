"""Hostile peers and hostile arguments: a clear one-line error, never a traceback or an
"internal error"."""

from __future__ import annotations

import random
import socket
import threading

import pytest
from daemon_support import opsctl, write_config

from opsctl.core.errors import DeviceError

# -- a misbehaving SNMP agent -----------------------------------------------------------------


class GarbageAgent:
    """Answers every request with the request itself turned into a Response PDU and a few
    bytes flipped (fixed seed): BER that parses far enough to reach pysnmp's engine."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
            except OSError:
                return
            out = bytearray(data)
            for i, b in enumerate(out):
                if b in (0xA0, 0xA1, 0xA5):  # Get, GetNext, GetBulk -> Response
                    out[i] = 0xA2
                    break
            for _ in range(self.rng.randrange(0, 8)):
                out[self.rng.randrange(len(out))] = self.rng.randrange(256)
            try:
                self.sock.sendto(bytes(out), addr)
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("version", ["2c", "3"])
def test_garbage_snmp_answers_give_no_traceback(tmp_path, version):
    snmp = {"version": "2c", "community": "public"} if version == "2c" else \
        {"version": "3", "user": "ops", "auth_key": "auth-pass-1", "priv_key": "priv-pass-1"}
    for seed in range(1, 7):
        agent = GarbageAgent(seed)
        try:
            path = write_config(tmp_path / "opsctl.yaml", {
                "site": {"name": "t"}, "state_dir": str(tmp_path / "state"),
                "devices": [{"name": "ups1", "kind": "ups", "host": "127.0.0.1",
                             "port": agent.port, "timeout": 0.5, "retries": 1,
                             "snmp": snmp}]})
            out = opsctl("-c", str(path), "power", "status")
        finally:
            agent.close()
        assert "Traceback" not in out.stderr and "internal error" not in out.stderr, out.stderr
        assert out.returncode in (0, 1, 2, 3)


# -- SSH peers --------------------------------------------------------------------------------


def _host(port: int, known_hosts, **kw):
    from opsctl.core.config.hosts import Host

    return Host(name="box", address="127.0.0.1", port=port, known_hosts=known_hosts,
                connect_timeout=3, **kw)


def test_peer_closing_before_the_banner(tmp_path, capfd):
    from opsctl.core.logsetup import setup_logging
    from opsctl.core.ssh import run_remote

    setup_logging(0)  # as the CLI does: warnings to stderr
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)

    def close_all():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=close_all, daemon=True).start()
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    try:
        with pytest.raises(DeviceError, match="closed the connection before sending an SSH"):
            run_remote(_host(srv.getsockname()[1], kh), ["true"], 5)
    finally:
        srv.close()
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.ssh
def test_revoked_host_key_is_refused(tmp_path):
    from sshd import SshServer

    from opsctl.core.ssh import run_remote

    srv = SshServer(tmp_path / "ssh", "box1").start()
    try:
        line = srv.host_pubkey_line()  # "[127.0.0.1]:PORT ssh-ed25519 AAAA..."
        kh = tmp_path / "known_hosts"
        kh.write_text(f"@revoked {line}\n")
        with pytest.raises(DeviceError, match="@revoked"):
            run_remote(srv.host(known_hosts=str(kh)), ["true"], 10)
        # Known *and* revoked: revoked wins (OpenSSH does the same).
        kh.write_text(f"{line}\n@revoked {line}\n")
        with pytest.raises(DeviceError, match="@revoked"):
            run_remote(srv.host(known_hosts=str(kh)), ["true"], 10)
        # A damaged line and a @cert-authority line do not hide the good entry.
        kh.write_text(f"garbage line here\n@cert-authority *.example.org {line.split(' ', 1)[1]}"
                      f"\n{line}\n")
        assert run_remote(srv.host(known_hosts=str(kh)), ["true"], 10).ok
    finally:
        srv.stop()


# -- hostile arguments --------------------------------------------------------------------------

ARGS = [
    ["duty", "log", "show", "99999999999999999999999"],
    ["daemon", "ack", "99999999999999999999999"],
    ["duty", "roster", "generate", "--month", "9999-12"],
    ["duty", "roster", "generate", "--month", "0001-01"],
    ["duty", "log", "purge", "--before", "0001-01-01", "--yes"],
    ["duty", "log", "list", "--to", "9999-12-31"],
    ["duty", "export", "--from", "0001-01-01", "--to", "0001-01-02", "-o", "OUT"],
    ["duty", "export", "--from", "9999-12-31", "--to", "9999-12-31", "-o", "OUT"],
]


@pytest.mark.parametrize("args", ARGS, ids=[" ".join(a[:4]) for a in ARGS])
def test_hostile_arguments_are_usage_errors(tmp_path, args):
    path = write_config(tmp_path / "opsctl.yaml", {
        "site": {"name": "t"}, "state_dir": str(tmp_path / "state"),
        "people": [{"name": "alice", "roles": ["operator", "supervisor"]}]})
    args = [str(tmp_path / "x.json") if a == "OUT" else a for a in args]
    out = opsctl("-c", str(path), *args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr, out.stderr


def test_invalid_utf8_argument(tmp_path):
    import os
    import subprocess

    from daemon_support import opsctl_argv

    path = write_config(tmp_path / "opsctl.yaml", {
        "site": {"name": "t"}, "state_dir": str(tmp_path / "state")})
    argv = [os.fsencode(a) for a in opsctl_argv()] + [b"-c", os.fsencode(path), b"duty", b"log",
                                                      b"add", b"\xff\xfe broken"]
    out = subprocess.run(argv, capture_output=True, timeout=120)
    assert out.returncode == 2
    assert b"not valid UTF-8" in out.stderr and b"Traceback" not in out.stderr
