"""Everyday commands do not import what they do not use (issue 20: start-up < 150 ms).

Not a timing test: it checks which heavy packages end up in ``sys.modules``. The figures
are in benchmarks/cli_startup/everyday.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "opsctl.example.yaml"

HEAVY = ("pysnmp", "weasyprint", "psycopg", "psycopg2", "apscheduler", "sqlalchemy",
         "paramiko", "jinja2")

RUN = """\
import json, sys
from opsctl.cli.main import main
try:
    main(sys.argv[2:])
except SystemExit:
    pass
with open(sys.argv[1], "w") as fh:
    json.dump(sorted(m.split(".")[0] for m in sys.modules), fh)
"""


def imported(tmp_path: Path, *argv: str) -> set[str]:
    out = tmp_path / "modules.json"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", RUN, str(out), *argv], env=env,
                          capture_output=True, text=True, timeout=120)
    assert out.exists(), proc.stderr
    return set(json.loads(out.read_text()))


@pytest.fixture()
def site(tmp_path) -> Path:
    cfg = tmp_path / "opsctl.yaml"
    cfg.write_text(f"site: {{name: s, timezone: UTC}}\nstate_dir: {tmp_path / 'state'}\n"
                   "people:\n  - {name: op, lead: true}\n"
                   "devices:\n  - {name: u1, kind: ups, host: 127.0.0.1, port: 9, "
                   "timeout: 0.2, retries: 0, snmp: {community: c}}\n")
    return cfg


def test_config_check_imports_nothing_heavy(tmp_path):
    mods = imported(tmp_path, "-c", str(EXAMPLE), "config", "check")
    assert "pydantic" in mods          # it did validate
    assert not mods & set(HEAVY), sorted(mods & set(HEAVY))


@pytest.mark.parametrize("json_", [False, True])
def test_duty_log_list_imports_neither_snmp_nor_scheduler_nor_pdf(tmp_path, site, json_):
    argv = ["-c", str(site), *(["--json"] if json_ else []), "duty", "log", "list",
            "--last", "5"]
    for _ in range(2):                 # a fresh load, then the compiled config
        mods = imported(tmp_path, *argv)
        assert "sqlalchemy" in mods    # it did read the store
        assert not mods & (set(HEAVY) - {"sqlalchemy"}), sorted(mods & set(HEAVY))
        assert "yaml" not in mods or _ == 0
    if json_:
        assert "rich" not in mods      # --json output needs no tables


def test_power_status_imports_neither_store_nor_scheduler_nor_pdf(tmp_path, site):
    mods = imported(tmp_path, "-c", str(site), "power", "status")
    assert "gufo" in mods              # the v2c engine: pysnmp is for v1/v3 devices only
    assert not mods & set(HEAVY), sorted(mods & set(HEAVY))
