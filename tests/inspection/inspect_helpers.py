"""Shared helpers for the inspection tests: write a real config file and load it the way
the CLI does (schema + the inspection validator), run the CLI as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "opsctl.example.yaml"
ANSWERS_EXAMPLE = ROOT / "configs" / "answers.example.yaml"


def write_config(tmp_path: Path, profiles: list[dict], **extra) -> Path:
    data = {"site": {"name": "test-room", "timezone": "UTC"},
            "state_dir": str(tmp_path / "state"),
            "people": [{"name": "alice", "roles": ["operator"]},
                       {"name": "bob", "roles": ["operator"]}],
            **extra}
    data.setdefault("inspection", {})
    data["inspection"] = {**data["inspection"], "profiles": profiles}
    path = tmp_path / "opsctl.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def load(path: Path):
    from opsctl.core.config import load_config

    return load_config(path)


def store_for(cfg):
    from opsctl.core.store import Store

    return Store.for_config(cfg)


def profile(name: str, items: list[dict], **kw) -> dict:
    return {"name": name, "items": items, **kw}


def opsctl(*args: str, input: str | None = None, env: dict | None = None,
           timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opsctl", *args], capture_output=True,
                          text=True, input=input, timeout=timeout,
                          env={**os.environ, "NO_COLOR": "1", **(env or {})})


def opsctl_json(*args: str, **kw):
    proc = opsctl("--json", *args, **kw)
    return proc, (json.loads(proc.stdout) if proc.stdout.strip() else None)


def run_check(cfg, store, check: str, params: dict | None = None, host=None,
              item_id: str = "t"):
    """Run one registered check for real, through the same path the engine uses."""
    from opsctl.core.config.inspection import CheckItem
    from opsctl.inspection.engine import _run_check

    item = CheckItem(id=item_id, check=check, params=params or {}, host=host)
    return _run_check(cfg, store, item, 1, {})


def opsctl_inproc(capsys, *args: str) -> tuple[int, str, str]:
    """The CLI in this process (same entry point, no interpreter start): rc, out, err."""
    from opsctl.cli.main import main

    capsys.readouterr()
    try:
        main([*args])
        rc = 0
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return rc, out, err
