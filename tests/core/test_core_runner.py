"""The command runner: argv only, LC_ALL=C, timeouts, errors carry stderr, dry-run."""

from __future__ import annotations

import pytest

from opsctl.core.errors import CommandError, ToolMissingError
from opsctl.core.runner import Runner


def test_runs_argv_with_c_locale():
    res = Runner().run(["sh", "-c", 'echo "$LC_ALL"; echo "$1"', "sh", "a b; rm -rf /"])
    assert res.stdout.splitlines() == ["C", "a b; rm -rf /"]
    assert res.ok and res.returncode == 0


def test_failure_carries_command_and_stderr():
    with pytest.raises(CommandError) as exc:
        Runner().run(["sh", "-c", "echo boom >&2; exit 3"])
    msg = str(exc.value)
    assert "exit 3" in msg and "boom" in msg and "sh -c" in msg


def test_check_false_returns_result():
    res = Runner().run(["sh", "-c", "exit 4"], check=False)
    assert res.returncode == 4 and not res.ok


def test_ok_codes():
    assert Runner().run(["sh", "-c", "exit 1"], ok_codes=(0, 1)).returncode == 1


def test_timeout():
    with pytest.raises(CommandError, match="timed out after 0.3s"):
        Runner().run(["sleep", "5"], timeout=0.3)


def test_missing_tool():
    with pytest.raises(ToolMissingError, match="not installed"):
        Runner().run(["definitely-not-a-tool-xyz", "--help"])


def test_dry_run_records_changes_but_runs_probes(tmp_path):
    r = Runner(dry_run=True)
    target = tmp_path / "f"
    res = r.run(["touch", str(target)], changes=True)
    assert res.dry_run and not target.exists()
    probe = r.run(["echo", "probe"])
    assert probe.stdout.strip() == "probe"
    assert [h.argv for h in r.history] == [["touch", str(target)]]


def test_changes_are_logged(caplog):
    caplog.set_level("INFO", logger="opsctl.runner")
    Runner().run(["true"], changes=True)
    assert any("ran: true" in m for m in caplog.messages)


def test_input_passed_on_stdin():
    assert Runner().run(["cat"], input="hello").stdout == "hello"


def test_stdin_closed_by_default():
    # A tool that waits for input must not hang on the caller's terminal.
    assert Runner().run(["cat"], timeout=5).stdout == ""
