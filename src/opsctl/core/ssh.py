"""The project's one SSH client (paramiko): run an argv on a configured host.

API (small on purpose; see docs/DEVNOTES.md):

- ``run_remote(host, argv, timeout) -> Result``: connect, verify the host key, run
  ``shlex.join(argv)`` through the remote user's shell, capture stdout, stderr and the
  exit status. A non-zero exit is *returned* (``Result.ok`` is False), not raised.
- Raises ``DeviceError`` when the host cannot be used (DNS, refused, connect timeout,
  unknown or changed host key, authentication failed) — one line naming the host — and
  ``CommandError`` when the command outlives ``timeout``. Two ``DeviceError`` subclasses
  tell a shutdown what happened: ``SshUnreachable`` (nothing answered: refused, timed out,
  no route) and ``SshDisconnected`` (the connection dropped after the command was sent,
  which is what ``systemctl poweroff`` does; ``stdout``/``stderr`` hold what arrived).
- ``session(host)`` (context manager) ``-> Session`` with ``.run(argv, timeout) -> Result``:
  the same, several commands over one connection (connecting costs ~0.1–0.5 s).

Host keys are checked against the host's ``known_hosts`` (default ``~/.ssh/known_hosts``)
and never accepted automatically: an unknown host and a changed key are both refused with
the key's SHA256 fingerprint, as OpenSSH prints it, so an operator can compare it with the
machine's own (``ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import select
import shlex
import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from opsctl.core.errors import CommandError, DeviceError
from opsctl.core.runner import Result

if TYPE_CHECKING:
    import paramiko

    from opsctl.core.config.hosts import Host

log = logging.getLogger("opsctl.ssh")

DEFAULT_TIMEOUT = 120.0
_READ = 65536


class SshUnreachable(DeviceError):
    """Nothing answered: connection refused, timed out or no route (the host may be down)."""


class SshDisconnected(DeviceError):
    """The connection dropped after the command was sent (expected for poweroff)."""

    def __init__(self, message: str, *, stdout: str = "", stderr: str = "", duration: float = 0):
        super().__init__(message)
        self.stdout = stdout
        self.stderr = stderr
        self.duration = duration


def describe(host: Host) -> str:
    """``name (user@address:port)`` — how every message names a host."""
    return f"{host.name} ({host.user}@{host.address}:{host.port})"


def known_hosts_path(host: Host) -> Path:
    return Path(host.known_hosts) if host.known_hosts else Path("~/.ssh/known_hosts").expanduser()


def _host_key_name(host: Host) -> str:
    # The name paramiko and OpenSSH look up in known_hosts.
    return host.address if host.port == 22 else f"[{host.address}]:{host.port}"


def fingerprint(key: paramiko.PKey) -> str:
    """``ssh-ed25519 SHA256:…`` like ``ssh-keygen -l`` prints it."""
    return f"{key.get_name()} {key.fingerprint}"


def _scan_hint(host: Host) -> str:
    port = f"-p {host.port} " if host.port != 22 else ""
    return (f"check the fingerprint on the machine's console, then add it: "
            f"ssh-keyscan {port}{host.address} >> {known_hosts_path(host)}")


def _revoked_error(host: Host, key) -> DeviceError:
    return DeviceError(
        f"host key of {describe(host)} ({fingerprint(key)}) is marked @revoked in "
        f"{known_hosts_path(host)}; refusing to connect")


def load_known_hosts(client: paramiko.SSHClient, kh: Path, host: Host) -> set[str]:
    """Load ``kh`` into ``client``; returns the base64 keys marked ``@revoked``.

    paramiko's own loader fails on the whole file for one marker line (``@revoked``,
    ``@cert-authority``) or one damaged line; OpenSSH honours the first and skips what
    it cannot read, and so does this.
    """
    import paramiko
    from paramiko.hostkeys import HostKeyEntry, InvalidHostKey

    revoked: set[str] = set()
    keys = client.get_host_keys()
    text = kh.read_text(encoding="utf-8", errors="replace")
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        marker = None
        if line.startswith("@"):
            marker, _, line = line.partition(" ")
            line = line.strip()
        try:
            entry = HostKeyEntry.from_line(line, lineno)
        except (InvalidHostKey, paramiko.SSHException, ValueError, IndexError) as exc:
            log.warning("%s:%d: unreadable known_hosts line skipped (%s)", kh, lineno,
                        type(exc).__name__)
            continue
        if entry is None or entry.key is None:
            continue
        if marker == "@revoked":
            revoked.add(entry.key.get_base64())
        elif marker is not None:
            log.info("%s:%d: %s lines are not supported; skipped", kh, lineno, marker)
        else:
            for name in entry.hostnames:
                keys.add(name, entry.key.get_name(), entry.key)
    return revoked


def _reject_policy(host: Host, revoked: set[str] = frozenset()):
    import paramiko

    class _Refuse(paramiko.RejectPolicy):
        # RejectPolicy with a message that names the host and the offered key.
        def missing_host_key(self, client, hostname, key):  # noqa: ARG002
            if key.get_base64() in revoked:
                raise _revoked_error(host, key)
            kh = known_hosts_path(host)
            missing = "" if kh.exists() else ", a file that does not exist"
            raise DeviceError(
                f"host {describe(host)} is not in {kh}{missing} "
                f"(server offers {fingerprint(key)}); refusing to connect",
                hint=_scan_hint(host),
            )

    return _Refuse()


@contextlib.contextmanager
def connect(host: Host) -> Iterator[paramiko.SSHClient]:
    """An authenticated SSHClient whose host key was verified; closed on exit."""
    import paramiko

    client = paramiko.SSHClient()
    _quiet_paramiko()
    kh = known_hosts_path(host)
    revoked: set[str] = set()
    try:
        if kh.exists():
            revoked = load_known_hosts(client, kh, host)
    except OSError as exc:
        raise DeviceError(f"cannot read known_hosts {kh} for {describe(host)}: "
                          f"{exc.strerror or exc}") from exc
    client.set_missing_host_key_policy(_reject_policy(host, revoked))
    key_file = str(host.key_file) if host.key_file else None
    if key_file and not Path(key_file).is_file():
        raise DeviceError(f"key file {key_file} for {describe(host)} does not exist")
    t = host.connect_timeout
    try:
        client.connect(
            host.address, port=host.port, username=host.user, key_filename=key_file,
            timeout=t, banner_timeout=t, auth_timeout=t, channel_timeout=t,
            allow_agent=key_file is None, look_for_keys=key_file is None,
        )
    except DeviceError:
        client.close()
        raise
    except BaseException as exc:
        client.close()
        raise _connect_error(host, exc) from exc
    transport = client.get_transport()
    server_key = transport.get_remote_server_key() if transport is not None else None
    if server_key is not None and server_key.get_base64() in revoked:
        # Listed as known and as revoked: revoked wins, as in OpenSSH.
        client.close()
        raise _revoked_error(host, server_key)
    try:
        yield client
    finally:
        client.close()


def _quiet_paramiko() -> None:
    """paramiko logs its transport thread's exceptions with a traceback (a peer closing
    before the banner printed one); opsctl reports them as one line itself. Its own
    messages stay visible at -vv."""
    plog = logging.getLogger("paramiko")
    if plog.level == logging.NOTSET and not logging.getLogger().isEnabledFor(logging.DEBUG):
        plog.setLevel(logging.CRITICAL)


def _connect_error(host: Host, exc: BaseException) -> BaseException:
    import paramiko

    who = describe(host)
    if isinstance(exc, paramiko.BadHostKeyException):
        return DeviceError(
            f"host key of {who} has CHANGED: server offers {fingerprint(exc.key)}, "
            f"{known_hosts_path(host)} has {fingerprint(exc.expected_key)} — possible "
            "man-in-the-middle or reinstalled host; refusing to connect",
            hint=f"if the change is legitimate: ssh-keygen -R '{_host_key_name(host)}' "
                 f"-f {known_hosts_path(host)}, then verify and add the new key",
        )
    if isinstance(exc, paramiko.PasswordRequiredException):
        return DeviceError(f"key file {host.key_file} for {who} is passphrase-protected; "
                           "opsctl needs an unencrypted key (or the ssh-agent)")
    if isinstance(exc, paramiko.AuthenticationException):
        how = f"key {host.key_file}" if host.key_file else "default keys / ssh-agent"
        return DeviceError(f"authentication failed for {who} with {how}")
    if isinstance(exc, socket.gaierror):
        return DeviceError(f"cannot resolve address {host.address!r} of host {host.name}: "
                           f"{exc.strerror or exc}")
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError | ConnectionRefusedError):
        return SshUnreachable(f"connection to {who} refused (sshd not running?)")
    if isinstance(exc, TimeoutError | socket.timeout):
        return SshUnreachable(f"connection to {who} timed out after {host.connect_timeout:g}s")
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return SshUnreachable(f"no route to {who}: {exc.strerror}")
    if isinstance(exc, OSError):
        return DeviceError(f"cannot connect to {who}: {exc.strerror or exc}")
    if isinstance(exc, paramiko.SSHException) and "protocol banner" in str(exc):
        return DeviceError(f"{who} closed the connection before sending an SSH banner "
                           "(not an SSH server, or sshd refused us: MaxStartups, "
                           "tcp wrappers)")
    if isinstance(exc, paramiko.SSHException | EOFError):
        return DeviceError(f"SSH handshake with {who} failed: {exc or type(exc).__name__}")
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return exc
    return DeviceError(f"SSH connection to {who} failed: {type(exc).__name__}: {exc}")


def run_remote(host: Host, argv: Sequence[str], timeout: float = DEFAULT_TIMEOUT) -> Result:
    """Run ``argv`` on ``host`` over a fresh connection; see the module docstring."""
    started = time.monotonic()
    with session(host) as s:
        res = s.run(argv, timeout)
    res.duration = time.monotonic() - started  # connecting is part of what the caller waited
    return res


@contextlib.contextmanager
def session(host: Host) -> Iterator[Session]:
    """One verified connection for several commands (a remote inspection runs many)."""
    with connect(host) as client:
        yield Session(host, client)


class Session:
    def __init__(self, host: Host, client: paramiko.SSHClient):
        self.host = host
        self.client = client

    def run(self, argv: Sequence[str], timeout: float = DEFAULT_TIMEOUT) -> Result:
        """Run one command; ``timeout`` counts from when it was sent."""
        host = self.host
        argv = [str(a) for a in argv]
        if not argv:
            raise ValueError("empty argv")
        cmdline = shlex.join(argv)
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise SshDisconnected(f"connection to {describe(host)} is closed")
        started = time.monotonic()
        try:
            chan = transport.open_session(timeout=host.connect_timeout)
            # Parseable output, as the local Runner does; sshd applies it only where
            # AcceptEnv allows (Debian's default sshd_config accepts LANG and LC_*).
            chan.update_environment({"LC_ALL": "C", "LANG": "C"})
            chan.exec_command(cmdline)
        except Exception as exc:  # noqa: BLE001 - any paramiko failure here is the host's
            raise DeviceError(f"cannot start a command on {describe(host)}: {exc}") from exc
        log.info("ssh %s: %s", host.name, cmdline)
        out, err = bytearray(), bytearray()
        deadline = started + timeout
        try:
            while not chan.exit_status_ready():
                _drain(chan, out, err)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    _signal(chan, "KILL")
                    raise CommandError(f"timed out after {timeout:g}s on {host.name}: {cmdline}")
                _wait(chan, min(remaining, 0.2))
            # Output may still be in flight after the status; read until EOF.
            while not chan.eof_received and not chan.closed and time.monotonic() < deadline:
                _drain(chan, out, err)
                _wait(chan, 0.05)
            _drain(chan, out, err)
            rc = chan.exit_status
            if rc == -1 and not transport.is_active():
                # A closed channel also sets the status event, with no status in it.
                raise SshDisconnected(
                    f"connection to {describe(host)} dropped while running {cmdline}",
                    stdout=_text(out), stderr=_text(err), duration=time.monotonic() - started,
                )
        finally:
            chan.close()
        res = Result(argv, rc, _text(out), _text(err), time.monotonic() - started)
        log.info("ssh %s: rc=%d (%.2fs)", host.name, rc, res.duration)
        return res


def _signal(chan, name: str) -> None:
    """Best effort: ask sshd to signal the remote command (RFC 4254 6.9 "signal").

    Without it a timed-out command keeps running on the host after the channel closes,
    because a session without a terminal gets no SIGHUP. paramiko has no API for it.
    """
    from paramiko.common import cMSG_CHANNEL_REQUEST
    from paramiko.message import Message

    with contextlib.suppress(Exception):
        m = Message()
        m.add_byte(cMSG_CHANNEL_REQUEST)
        m.add_int(chan.remote_chanid)
        m.add_string("signal")
        m.add_boolean(False)
        m.add_string(name)
        chan.transport._send_user_message(m)


def _drain(chan, out: bytearray, err: bytearray) -> None:
    while chan.recv_ready():
        out += chan.recv(_READ)
    while chan.recv_stderr_ready():
        err += chan.recv_stderr(_READ)


def _wait(chan, seconds: float) -> None:
    # The channel's fileno() is a pipe paramiko signals on new stdout/stderr data or close;
    # the timeout covers the exit-status message, which does not signal it.
    select.select([chan], [], [], seconds)


def _text(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", "replace")
