"""Every command in the README's and docs' ``sh`` blocks works as written.

The ``sh``/``bash``/``shell``/``console`` blocks of README.md and docs/*.md are read, lines
continued with ``\\`` joined, and every line that runs opsctl is run with bash, in document
order, in a scratch directory laid out like a clone: ``configs/`` holds the example config
(ports moved to the SNMP agents this test starts — see tests/helpers/snmp_agents.py),
``state_dir`` is the scratch directory's ``state/``. A bare ``opsctl`` gets the example config
through ``$OPSCTL_CONFIG``, as a user who exported it would. Untagged blocks are synopses
(``[--month M]``, ``a | b``) and are not run.

What is not run is in SKIP with the reason: destructive or hardware commands (they run on
real disks in tests/vm), placeholders for hardware. Install steps in front of a command
(``pip install . &&``) are dropped: they made the environment this test runs in. ``sudo``
is dropped from ``--dry-run`` commands (a dry run needs no privilege) and the system config
path stands for the example config. A command passes when its exit code is one of
EXPECT's (default 0) and it printed no traceback or internal error.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from snmp_agents import example_agents, snmpd_available, snmpsim_available

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = {"sh", "bash", "shell", "console"}

# (pattern searched in the command as written, why it is not run)
SKIP: list[tuple[str, str]] = [
    (r"storage raid create .*--dry-run",
     "hardware: plans RAID5 on /dev/sdb /dev/sdc /dev/sdd, blank disks a CI host lacks; "
     "tests/vm runs it on the VM's blank disks"),
    (r"storage raid create .*--wait", "destructive: creates an md array (tests/vm)"),
    (r"storage vg create", "destructive: creates a volume group (tests/vm)"),
    (r"storage lv (create|resize)", "destructive: creates or resizes a volume (tests/vm)"),
    (r"storage raid replace", "destructive: fails and replaces an array member (tests/vm)"),
    (r"storage apply", "destructive: applies a layout to real disks (tests/vm)"),
    (r"power probe 10\.0\.0\.50",
     "hardware: a card at the placeholder address 10.0.0.50; tests/power/test_cards_probe.py "
     "probes recorded cards"),
    (r"^sudo (?!.*--dry-run).*install-units",
     "system: writes unit files into /etc/systemd/system (the --dry-run line prints them)"),
    (r"--verification-key 'opsctl-seal-v1:…'",
     "placeholder key; the --verification-key-file line before it runs with a real key"),
]


def _auditor(work: Path, env: dict) -> None:
    """What docs/duty.md says an auditor has: a two-line config naming a copy of the store
    and the verification key (printed by `duty log seal init`)."""
    import json

    res = subprocess.run(["opsctl", "--json", "duty", "log", "seal", "init"], cwd=work,
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    (work / "vkey.txt").write_text(json.loads(res.stdout)["verification_key"] + "\n")
    (work / "audit.yaml").write_text(f"site: {{name: x}}\nstate_dir: {work / 'state'}\n")


# (pattern, what to prepare first): files a command's text says the reader already has
PREPARE: list[tuple[str, Callable[[Path, dict], None]]] = [
    (r"-c audit\.yaml .*--verification-key-file vkey\.txt", _auditor),
]

# (pattern, exit codes the command may end with, why it is not 0)
EXPECT: list[tuple[str, set[int], str]] = [
    (r"opsctl power status", {1}, "worst health: ups2 at 62.4 % load, env1 at 29 °C: WARNING"),
    (r"opsctl( -c \S+)? inspect run(?!.*; )", {0, 1, 2, 3},
     "the inspection's worst status: it checks this host (SMART, NTP, RAID...)"),
    (r"opsctl storage raid status", {0, 1, 2, 3}, "the state of this host's md arrays"),
]

# Steps that install opsctl or run the test suite: they made the environment of this test.
_INSTALL = re.compile(r"^(python3 -m venv \S+|\S*pip3? install .*|pipx install .*|"
                      r"tests/(setup|run)\.sh.*)$")
# opsctl in command position: at the start, after && ; | { ( $( or sudo — not an argument
# (`groupadd --system opsctl`).
_OPSCTL = re.compile(r"(^|&&|;|\||\{|\(|\$\()\s*(sudo\s+)?(\S*/)?opsctl(\s|$)")


@dataclass
class DocCommand:
    where: str      # file:line
    text: str       # as written (continuations joined)

    def skip_reason(self) -> str | None:
        for pattern, reason in SKIP:
            if re.search(pattern, self.text):
                return reason
        return None

    def runnable(self) -> str | None:
        """The command line to run, or None when it is only install steps."""
        parts = [p.strip() for p in self.text.split(" && ")]
        while parts and _INSTALL.match(parts[0]):
            parts.pop(0)
        if not parts:
            return None
        line = " && ".join(parts)
        if "--dry-run" in line:
            line = re.sub(r"(^|&& )sudo ", r"\1", line)
        return line.replace("/etc/opsctl/opsctl.yaml", "configs/opsctl.example.yaml")

    def expected(self) -> set[int]:
        for pattern, codes, _why in EXPECT:
            if re.search(pattern, self.text):
                return codes
        return {0}


def doc_commands(path: Path) -> list[DocCommand]:
    out: list[DocCommand] = []
    lang = None
    pending: tuple[int, str] | None = None
    for no, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fence = re.match(r"^\s*```(\S*)", raw)
        if fence:
            lang = None if lang is not None else fence.group(1).lower()
            continue
        if lang not in RUNNABLE:
            continue
        line = raw[2:] if lang == "console" and raw.startswith("$ ") else raw
        if pending is not None:
            start, text = pending
            line = text + " " + line.strip()
        else:
            start = no
        if line.rstrip().endswith("\\"):
            pending = (start, line.rstrip()[:-1].rstrip())
            continue
        pending = None
        text = line.strip()
        if text and not text.startswith("#") and _OPSCTL.search(text):
            out.append(DocCommand(f"{path.relative_to(ROOT)}:{start}", text))
    return out


ALL = {p.relative_to(ROOT).as_posix(): doc_commands(p) for p in DOCS}


def test_the_docs_have_commands_and_every_skip_is_used():
    commands = [c for cs in ALL.values() for c in cs]
    assert len(commands) >= 20, [c.where for c in commands]
    for pattern, _reason in SKIP:
        assert any(re.search(pattern, c.text) for c in commands), f"stale SKIP entry {pattern}"
    for pattern, _codes, _why in EXPECT:
        assert any(re.search(pattern, c.text) for c in commands), f"stale EXPECT {pattern}"
    for pattern, _prepare in PREPARE:
        assert any(re.search(pattern, c.text) for c in commands), f"stale PREPARE {pattern}"


@pytest.fixture(scope="module")
def agents(tmp_path_factory):
    if not (snmpsim_available() and snmpd_available()):
        pytest.skip("snmpsim venv or snmpd missing (tests/helpers/snmp_agents.py)")
    with example_agents(tmp_path_factory.mktemp("agents")) as doc:
        yield doc


def _clone_dir(tmp_path: Path, doc: dict) -> Path:
    """A directory that looks like a clone with opsctl installed in .venv."""
    work = tmp_path / "clone"
    shutil.copytree(ROOT / "configs", work / "configs")
    doc = dict(doc, state_dir=str(work / "state"))
    (work / "configs" / "opsctl.example.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    for where in ("bin", ".venv/bin"):
        exe = work / where / "opsctl"
        exe.parent.mkdir(parents=True, exist_ok=True)
        exe.write_text(f'#!/bin/sh\nexec {sys.executable} -m opsctl "$@"\n')
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return work


@pytest.mark.snmp
@pytest.mark.parametrize("doc_name", [n for n, cs in ALL.items() if cs])
def test_doc_commands_work_as_written(doc_name, agents, tmp_path):
    work = _clone_dir(tmp_path, agents)
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", "LC_ALL": "C.UTF-8",
           "PATH": f"{work / 'bin'}:{os.environ.get('PATH', '')}",
           "OPSCTL_CONFIG": str(work / "configs" / "opsctl.example.yaml")}
    env.pop("OPSCTL_ACTOR", None)
    failures, ran = [], 0
    for cmd in ALL[doc_name]:
        line = None if cmd.skip_reason() else cmd.runnable()
        if line is None:
            continue
        for pattern, prepare in PREPARE:
            if re.search(pattern, cmd.text):
                prepare(work, env)
        res = subprocess.run(["bash", "-c", line], cwd=work, env=env, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=180)
        ran += 1
        bad = [w for w in ("Traceback", "internal error") if w in res.stdout + res.stderr]
        if res.returncode not in cmd.expected() or bad:
            failures.append(f"{cmd.where}: {line}\n  exit {res.returncode} (expected "
                            f"{sorted(cmd.expected())}){' ' + str(bad) if bad else ''}\n"
                            f"  stderr: {res.stderr.strip()[-600:]}")
    assert ran, f"{doc_name}: nothing run"
    assert not failures, "\n".join(failures)
