"""opsctl.core.ssh against a real private sshd on 127.0.0.1 (tests/helpers/sshd.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sshd import SshServer, free_port, keygen, kill_pidfile

from opsctl.core.errors import CommandError, DeviceError
from opsctl.core.ssh import SshDisconnected, SshUnreachable, run_remote, session

pytestmark = pytest.mark.ssh


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = SshServer(tmp_path_factory.mktemp("ssh"), "box1").start()
    yield srv
    srv.stop()


def _pubkey(path) -> tuple[str, str]:
    kind, blob = Path(f"{path}.pub").read_text().split()[:2]
    return kind, blob


def test_known_key_accepted_and_output_captured(server):
    # Arguments with spaces and quotes must arrive as the same words on the far side.
    weird = "a b 'c' \"d\" $HOME; `x`"
    res = run_remote(server.host(), ["sh", "-c", 'printf "%s" "$1"; echo oops >&2; exit 3',
                                     "sh", weird], 10)
    assert res.returncode == 3 and not res.ok
    assert res.stdout == weird
    assert res.stderr == "oops\n"
    assert res.argv[-1] == weird
    assert run_remote(server.host(), ["id", "-u"], 10).stdout.strip() == "0"
    # LC_ALL=C travels along (where the server's AcceptEnv allows it), like the local Runner.
    env = run_remote(server.host(), ["sh", "-c", 'echo "$LC_ALL/$LANG"'], 10).stdout
    assert env == "C/C\n"


def test_large_output_is_complete(server):
    res = run_remote(server.host(), ["seq", "1", "200000"], 20)
    assert res.ok
    lines = res.stdout.splitlines()
    assert len(lines) == 200000 and lines[-1] == "200000"


def test_unknown_host_refused_with_fingerprint(server, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    host = server.host(known_hosts=str(empty))
    with pytest.raises(DeviceError) as ei:
        run_remote(host, ["true"], 5)
    msg = str(ei.value)
    assert "box1" in msg and "not in" in msg and "SHA256:" in msg
    assert "ssh-keyscan -p" in ei.value.hint
    assert empty.read_text() == ""  # never auto-added
    with pytest.raises(DeviceError, match="a file that does not exist"):
        run_remote(server.host(known_hosts=str(tmp_path / "none")), ["true"], 5)
    assert not (tmp_path / "none").exists()


def test_changed_host_key_refused(server, tmp_path):
    other = keygen(tmp_path / "impostor")
    kind, blob = _pubkey(other)
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{server.port} {kind} {blob}\n")
    with pytest.raises(DeviceError) as ei:
        run_remote(server.host(known_hosts=str(kh)), ["true"], 5)
    msg = str(ei.value)
    assert "CHANGED" in msg and "box1" in msg
    # Both fingerprints: what the server offers and what the file has.
    assert msg.count("SHA256:") == 2
    assert kh.read_text() == f"[127.0.0.1]:{server.port} {kind} {blob}\n"


def test_hashed_known_hosts_entry_accepted(server, tmp_path):
    kh = tmp_path / "known_hosts"
    server.write_known_hosts(kh)
    import subprocess

    subprocess.run(["ssh-keygen", "-H", "-f", str(kh)], check=True, capture_output=True)
    assert "|1|" in kh.read_text()
    assert run_remote(server.host(known_hosts=str(kh)), ["true"], 5).ok


def test_wrong_client_key_refused(server, tmp_path):
    wrong = keygen(tmp_path / "wrong")
    with pytest.raises(DeviceError, match="authentication failed for box1"):
        run_remote(server.host(key_file=str(wrong)), ["true"], 5)


def test_missing_key_file(server, tmp_path):
    with pytest.raises(DeviceError, match="does not exist"):
        run_remote(server.host(key_file=str(tmp_path / "nope")), ["true"], 5)


def test_connection_refused_and_dns_failure(server):
    with pytest.raises(SshUnreachable, match="refused"):
        run_remote(server.host(port=free_port()), ["true"], 5)
    with pytest.raises(DeviceError, match="cannot resolve address 'no-such-host.invalid'"):
        run_remote(server.host(address="no-such-host.invalid"), ["true"], 5)


def test_timeout_enforced(server, tmp_path):
    pidfile = tmp_path / "sleeper.pid"
    t0 = time.monotonic()
    try:
        with pytest.raises(CommandError, match="timed out after 1s on box1"):
            run_remote(server.host(), ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 30"], 1)
        assert time.monotonic() - t0 < 5
    finally:
        # Root sessions ignore SSH signal requests: end the remote sleeper we started.
        kill_pidfile(pidfile)


def test_dropped_connection_reported_as_disconnect(tmp_path):
    srv = SshServer(tmp_path, "dropper").start()
    try:
        with pytest.raises(SshDisconnected) as ei:
            run_remote(srv.host(), ["sh", "-c", f"echo going down; {srv.poweroff_script}"], 10)
        assert "dropped" in str(ei.value)
        assert not srv.running
    finally:
        srv.stop()


def test_session_runs_several_commands_over_one_connection(server):
    # The shell's parent is the sshd process of the connection.
    ppid = ["sh", "-c", "echo $PPID"]
    with session(server.host()) as s:
        first, second = s.run(ppid, 10).stdout, s.run(ppid, 10).stdout
        assert s.run(["false"], 10).returncode == 1
    assert first == second
    assert run_remote(server.host(), ppid, 10).stdout != first
