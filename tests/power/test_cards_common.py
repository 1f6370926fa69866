"""Shared helpers for the real-card tests (test_cards_*.py): paths, one snmpsim serving
every card recording, reading a card through the profiles, a config, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from snmp_agents import Snmpsim, snmpsim_available  # tests/helpers (see tests/conftest.py)

ROOT = Path(__file__).resolve().parents[2]
QUIRKS = ROOT / "tests" / "fixtures" / "snmp-quirks"
REAL = QUIRKS / "real"  # recordings of real cards (LibreNMS test data, see its README)

REAL_CARDS = ("minuteman-e1500", "eaton-connectups", "cyberpower-ol2200")


def all_recordings() -> list[Path]:
    return sorted(REAL.glob("*.snmprec")) + sorted(QUIRKS.glob("*.snmprec"))


def start_sim(extra: list[Path] | None = None, **kw) -> Snmpsim:
    return Snmpsim([*all_recordings(), *(extra or [])], **kw).start()


def sim_available() -> bool:
    return snmpsim_available()


def read(port: int, community: str, profile: str = "auto", kind: str = "ups",
         version: str = "2c"):
    """Read one card exactly as a poll does (opsctl.power.reader) -> ReadResult."""
    from opsctl.power.reader import read_device
    from opsctl.power.snmp.client import Session, Target, run

    async def go():
        session = Session(Target("127.0.0.1", port, version, community, timeout=2, retries=1))
        return await read_device(session, kind, profile)

    return run(go())


def write_config(tmp: Path, port: int, devices: list[dict[str, Any]]) -> Path:
    """A minimal config whose devices all point at the snmpsim on ``port``."""
    import yaml

    devs = []
    for d in devices:
        entry = {"kind": "ups", "host": "127.0.0.1", "port": port, "timeout": 2, "retries": 1,
                 "profile": "auto", **d}
        entry.setdefault("snmp", {"version": "2c", "community": d.get("community", d["name"])})
        entry.pop("community", None)
        devs.append(entry)
    cfg = {"site": {"name": "cards-test"}, "state_dir": str(tmp / "state"), "devices": devs}
    path = tmp / "opsctl.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess (exit codes and output as a user sees them)."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "LC_ALL": "C.UTF-8"}
    env.pop("OPSCTL_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "opsctl", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


def cli_json(*args: str) -> tuple[int, Any]:
    res = run_cli("--json", *args)
    assert res.stdout.strip(), f"no JSON on stdout; stderr: {res.stderr}"
    return res.returncode, json.loads(res.stdout)
