"""Ctrl-C (SIGINT) ends every command with 130 and leaves the store whole.

Each test runs the real CLI as a subprocess and sends it a real SIGINT at a moment the
test can observe (the first SNMP request reaching a silent socket, the store's write lock
held by the test), so nothing depends on guessed delays.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "opsctl.example.yaml"


def _default_sigint() -> None:
    # A test runner started in the background (`cmd &` in a script) ignores SIGINT, and
    # children inherit that; the CLI rightly leaves an ignored SIGINT alone.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "opsctl", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            preexec_fn=_default_sigint)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opsctl", *args], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture
def silent_agent():
    """A UDP socket that takes SNMP requests and never answers (a hung agent)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    yield s
    s.close()


def site(tmp_path: Path, port: int) -> Path:
    """The example config with every device on ``port`` and the store under tmp_path."""
    import shutil

    text = EXAMPLE.read_text().replace("state_dir: ../state", "state_dir: state")
    text = text.replace("export_dir: ../state/exports", "export_dir: state/exports")
    text = text.replace("port: 1161", f"port: {port}").replace("timeout: 2\n", "timeout: 5\n")
    shutil.copytree(EXAMPLE.parent / "secrets", tmp_path / "secrets")
    cfg = tmp_path / "opsctl.yaml"
    cfg.write_text(text)
    return cfg


def wait_for_request(sock: socket.socket, proc: subprocess.Popen, limit: float = 60) -> None:
    sock.settimeout(limit)
    try:
        sock.recvfrom(65535)
    except TimeoutError:
        proc.kill()
        pytest.fail(f"no SNMP request within {limit}s: {proc.communicate()}")


def interrupt(proc: subprocess.Popen, limit: float = 15) -> tuple[int, str, str, float]:
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=limit)
    return proc.returncode, out, err, time.monotonic() - t0


def assert_store_whole(cfg: Path) -> None:
    db = cfg.parent / "state" / "opsctl.db"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    proc = run("-c", str(cfg), "duty", "log", "verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ctrl_c_during_power_poll_exits_130_at_once(tmp_path, silent_agent):
    cfg = site(tmp_path, silent_agent.getsockname()[1])
    proc = start("-c", str(cfg), "power", "poll")
    wait_for_request(silent_agent, proc)
    rc, out, err, took = interrupt(proc)
    assert rc == 130, (out, err)
    assert "interrupted" in err and "Traceback" not in err and "aborted" not in err
    assert took < 5, took  # not after the devices' 5 s timeouts
    assert_store_whole(cfg)


def test_ctrl_c_during_power_status_is_not_unknown(tmp_path, silent_agent):
    # A check command must not report UNKNOWN (3) for a run the user stopped.
    cfg = site(tmp_path, silent_agent.getsockname()[1])
    proc = start("-c", str(cfg), "power", "status", "--json")
    wait_for_request(silent_agent, proc)
    rc, out, err, _ = interrupt(proc)
    assert rc == 130 and out == "", (out, err)


def test_ctrl_c_during_inspection_stores_no_half_run(tmp_path, silent_agent):
    cfg = site(tmp_path, silent_agent.getsockname()[1])
    assert run("-c", str(cfg), "duty", "log", "add", "before").returncode == 0
    proc = start("-c", str(cfg), "inspect", "run", "--profile", "power-room-patrol")
    wait_for_request(silent_agent, proc)
    rc, out, err, took = interrupt(proc)
    assert rc == 130, (out, err)
    assert took < 5, took
    listed = run("-c", str(cfg), "--json", "inspect", "list")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []          # no record of a run that did not finish
    log = json.loads(run("-c", str(cfg), "--json", "duty", "log", "list").stdout)
    assert [e["text"] for e in log] == ["before"]   # and no follow-ups of one
    assert_store_whole(cfg)


def _blocked_on_lock(pid: int) -> bool:
    """The process has the store open and its main thread sleeps in SQLite's busy
    handler (clock_nanosleep/nanosleep), i.e. it waits for the write lock."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
        opened = any(os.readlink(f"/proc/{pid}/fd/{fd}").endswith("opsctl.db") for fd in fds)
        syscall = Path(f"/proc/{pid}/syscall").read_text().split()[0]
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return opened and syscall in ("35", "230")


def _hold_write_lock(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def _wait_blocked(proc: subprocess.Popen, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not _blocked_on_lock(proc.pid):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"never waited for the write lock: {proc.communicate()}")
        time.sleep(0.02)
    time.sleep(0.2)
    assert _blocked_on_lock(proc.pid)


def test_ctrl_c_waits_for_the_entry_being_written(tmp_path):
    """SIGINT while `duty log add` waits for the store's write lock: the entry is still
    written whole and chained, then the command exits 130."""
    cfg = site(tmp_path, 1)
    assert run("-c", str(cfg), "duty", "log", "add", "first").returncode == 0
    lock = _hold_write_lock(cfg.parent / "state" / "opsctl.db")
    try:
        proc = start("-c", str(cfg), "duty", "log", "add", "second")
        _wait_blocked(proc)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert proc.poll() is None  # still waiting to finish the record
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "finishing the record" in err
    log = json.loads(run("-c", str(cfg), "--json", "duty", "log", "list").stdout)
    assert [e["text"] for e in log] == ["first", "second"]
    assert_store_whole(cfg)


def test_second_ctrl_c_stops_at_once_and_writes_nothing(tmp_path):
    cfg = site(tmp_path, 1)
    assert run("-c", str(cfg), "duty", "log", "add", "first").returncode == 0
    lock = _hold_write_lock(cfg.parent / "state" / "opsctl.db")
    try:
        proc = start("-c", str(cfg), "duty", "log", "add", "second")
        _wait_blocked(proc)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        rc, out, err, took = interrupt(proc)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert rc == 130 and took < 5, (out, err)
    log = json.loads(run("-c", str(cfg), "--json", "duty", "log", "list").stdout)
    assert [e["text"] for e in log] == ["first"]
    assert_store_whole(cfg)


def test_critical_section_from_a_worker_thread(tmp_path):
    """The mechanism itself, with a real signal: a Ctrl-C during a worker thread's
    critical section ends the process (130) once that section is done."""
    marker = tmp_path / "done"
    script = textwrap.dedent(f"""
        import os, signal, threading, time
        from opsctl.core import interrupt
        assert interrupt.install()
        entered = threading.Event()
        def work():
            with interrupt.critical():
                entered.set()
                time.sleep(1.0)
                open({str(marker)!r}, "w").write("whole")
        threading.Thread(target=work).start()
        entered.wait()
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(30)
        raise SystemExit("not interrupted")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, preexec_fn=_default_sigint)
    assert proc.returncode == 130, proc.stderr
    assert marker.read_text() == "whole"


def test_ignored_sigint_is_left_ignored():
    # nohup / a background job: the CLI does not take back a SIGINT its parent ignored.
    script = ("import signal; from opsctl.core import interrupt; "
              "print(interrupt.install(), signal.getsignal(signal.SIGINT) is signal.SIG_IGN)")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                                       signal.SIG_IGN))
    assert proc.stdout.split() == ["False", "True"], proc.stderr
