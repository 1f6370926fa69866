"""``opsctl completion bash|zsh|fish``: the scripts work in the real shells, and the
config's names complete (devices by kind, people by role, profiles, plans by kind)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "opsctl.example.yaml"


@pytest.fixture()
def env(tmp_path) -> dict[str, str]:
    """An `opsctl` on PATH (the scripts call it by name) and the example config."""
    exe = tmp_path / "bin" / "opsctl"
    exe.parent.mkdir()
    exe.write_text(f'#!/bin/sh\nexec {sys.executable} -m opsctl "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return {**os.environ, "PATH": f"{exe.parent}:{os.environ.get('PATH', '')}",
            "OPSCTL_CONFIG": str(EXAMPLE), "HOME": str(tmp_path)}


def complete(env: dict, shell: str, line: str) -> list[str]:
    """What opsctl answers a shell's completion request for ``line`` (TAB at its end)."""
    words = line.split() + ([""] if line.endswith(" ") else [])
    res = subprocess.run(["opsctl"], capture_output=True, text=True, timeout=60, env={
        **env, "_OPSCTL_COMPLETE": f"{shell}_complete", "COMP_WORDS": line,
        "COMP_CWORD": str(len(words) - 1) if shell != "fish" else words[-1]})
    assert res.returncode == 0 and res.stderr == "", res.stderr
    return res.stdout.splitlines()


def values(env: dict, line: str) -> list[str]:
    return [r.split(",", 1)[1] for r in complete(env, "bash", line) if r.startswith("plain,")]


def test_config_names_complete(env, tmp_path):
    assert values(env, "opsctl power status ") == ["ups1", "ups2", "core-sw1", "env1"]
    assert values(env, "opsctl power ups ") == ["ups1", "ups2"]
    assert values(env, "opsctl power switch ") == ["core-sw1"]
    assert values(env, "opsctl power shutdown --plan ") == ["room"]
    assert values(env, "opsctl power restore --plan ") == ["room-restore"]
    assert values(env, "opsctl inspect run -p ") == ["daily-room", "power-room-patrol",
                                                     "pre-holiday"]
    assert values(env, "opsctl inspect run --inspector a") == ["alice"]
    assert values(env, "opsctl duty roster approve --by ") == ["sam"]   # supervisors only
    assert values(env, "opsctl duty handover start --from alice --to b") == ["bob"]
    assert values(env, "opsctl duty log add x --by ")[:2] == ["alice", "bob"]
    assert values(env, "opsctl daemon ack 1 --by h") == ["heidi"]
    # commands, options and choices complete as click does
    assert "completion" in values(env, "opsctl ")
    assert values(env, "opsctl completion ") == ["bash", "zsh", "fish"]
    assert "--ports" in values(env, "opsctl power switch core-sw1 --")
    # -c on the command line wins over $OPSCTL_CONFIG
    other = tmp_path / "other.yaml"
    other.write_text("devices:\n  - {name: ups9, kind: ups}\n")
    assert values(env, f"opsctl -c {other} power ups ") == ["ups9"]
    # a missing or broken config offers nothing, quietly
    assert values(env, "opsctl -c /nonexistent/opsctl.yaml power ups ") == []
    other.write_text("devices: [unclosed\n")
    assert values(env, f"opsctl -c {other} power ups ") == []


def test_zsh_and_fish_protocols_carry_descriptions(env):
    zsh = complete(env, "zsh", "opsctl duty roster approve --by ")
    assert zsh == ["plain", "sam", "Sam Stone"]
    fish = complete(env, "fish", "opsctl power ups ")
    assert fish[0] == "plain,ups1\tups power room; rack P1" and fish[1] == "plain,ups2\tups"


def _script(env: dict, shell: str) -> str:
    res = subprocess.run(["opsctl", "completion", shell], capture_output=True, text=True,
                         timeout=60, env=env)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    return res.stdout


def test_bash_script_completes_in_bash(env, tmp_path):
    script = tmp_path / "opsctl.bash"
    script.write_text(_script(env, "bash"))
    res = subprocess.run(["bash", "-c", f'source {script}; COMP_WORDS=(opsctl power ups "");'
                          ' COMP_CWORD=3; _opsctl_completion opsctl;'
                          ' printf "%s\\n" "${COMPREPLY[@]}"; complete -p opsctl'],
                         capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["ups1", "ups2",
                                       "complete -o nosort -F _opsctl_completion opsctl"]


def test_fish_script_completes_in_fish(env, tmp_path):
    if shutil.which("fish") is None:
        pytest.skip("fish missing: apt-get install fish")
    script = tmp_path / "opsctl.fish"
    script.write_text(_script(env, "fish"))
    res = subprocess.run(["fish", "--no-config", "-c",
                          f'source {script}; complete -C "opsctl inspect run --profile p"'],
                         capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["power-room-patrol\tPower-room patrol; at least twice "
                                       "a day.", "pre-holiday\tBefore a holiday - backups; "
                                       "services and the application servers."]


def test_zsh_script_is_valid_zsh(env, tmp_path):
    if shutil.which("zsh") is None:
        pytest.skip("zsh missing: apt-get install zsh")
    script = tmp_path / "_opsctl"
    script.write_text(_script(env, "zsh"))
    assert script.read_text().startswith("#compdef opsctl\n")
    res = subprocess.run(["zsh", "-n", str(script)], capture_output=True, text=True,
                         timeout=60, env=env)
    assert res.returncode == 0 and res.stderr == "", res.stderr


def test_unknown_shell_is_a_usage_error(env):
    res = subprocess.run(["opsctl", "completion", "tcsh"], capture_output=True, text=True,
                         timeout=60, env=env)
    assert res.returncode == 2 and "'tcsh' is not one of 'bash', 'zsh', 'fish'" in res.stderr
