"""The CLI spine: groups, global options anywhere, exit codes, JSON shapes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from opsctl.cli.main import hoist_global_options
from opsctl.core.errors import Status, worst

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "opsctl.example.yaml"


def opsctl(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opsctl", *args], capture_output=True,
                          text=True, env=env)


def test_version_and_help_list_all_groups():
    assert opsctl("--version").stdout.startswith("opsctl, version ")
    out = opsctl("--help").stdout
    for group in ("storage", "power", "inspect", "duty", "daemon", "config"):
        assert f"  {group} " in out
    assert "Exit codes" in out


@pytest.mark.parametrize("group", ["storage", "power", "inspect", "duty", "daemon", "config"])
def test_group_help(group):
    proc = opsctl(group, "--help")
    assert proc.returncode == 0 and "Usage: opsctl " in proc.stdout


def test_global_options_hoisted():
    assert hoist_global_options(["power", "status", "--json", "-c", "x.yaml"]) == \
        ["--json", "-c", "x.yaml", "power", "status"]
    assert hoist_global_options(["duty", "log", "add", "--", "--json"]) == \
        ["duty", "log", "add", "--", "--json"]
    assert hoist_global_options(["config", "show", "--config=a.yaml", "-v"]) == \
        ["--config=a.yaml", "-v", "config", "show"]


def test_json_after_subcommand():
    proc = opsctl("config", "check", str(EXAMPLE), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) >= {"file", "valid", "site", "state_dir", "people", "devices"}
    assert data["valid"] is True


def test_config_env_variable(tmp_path):
    import os

    env = dict(os.environ, OPSCTL_CONFIG=str(EXAMPLE))
    assert opsctl("config", "check", env=env).returncode == 0
    env["OPSCTL_CONFIG"] = str(tmp_path / "missing.yaml")
    proc = opsctl("config", "check", env=env)
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_usage_error_exit_2():
    proc = opsctl("config", "nonsense")
    assert proc.returncode == 2


def test_worst_status_follows_monitoring_convention():
    assert worst([]) == Status.OK
    assert worst([Status.OK, Status.WARNING]) == Status.WARNING
    assert worst([Status.WARNING, Status.UNKNOWN]) == Status.UNKNOWN
    assert worst([Status.UNKNOWN, Status.CRITICAL, Status.OK]) == Status.CRITICAL
    assert [int(s) for s in Status] == [0, 1, 2, 3]


def test_config_schema_is_json():
    proc = opsctl("config", "schema")
    schema = json.loads(proc.stdout)
    assert "site" in schema["properties"]
