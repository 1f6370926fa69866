"""The shipped systemd units: generated from one source, verified by systemd-analyze,
installable with `opsctl daemon install-units`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from daemon_support import base_config, opsctl, write_config

from opsctl.core.config import load_config
from opsctl.daemon.units import (
    DEFAULT_BIN,
    DEFAULT_CONFIG,
    cron_to_oncalendar,
    opsctl_command,
    render,
    render_cron,
)

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD_DIR = ROOT / "systemd"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed")


def test_shipped_files_match_the_generator():
    for name, text in render().items():
        assert (SYSTEMD_DIR / name).read_text() == text, f"systemd/{name} is stale"
    example = load_config(ROOT / "configs" / "opsctl.example.yaml")
    assert (SYSTEMD_DIR / "opsctl.cron").read_text() == \
        render_cron(example, DEFAULT_BIN, DEFAULT_CONFIG), "systemd/opsctl.cron is stale"


def test_daemon_unit_essentials():
    unit = render()["opsctld.service"]
    for line in ("Type=notify", "WatchdogSec=60s", "Restart=on-failure",
                 "StateDirectory=opsctl", "ExecReload=/bin/kill -HUP $MAINPID",
                 "ProtectSystem=full", "PrivateTmp=yes", "NoNewPrivileges=yes"):
        assert line in unit.splitlines()
    for name in ("opsctl-inspection@.timer", "opsctl-duty-export.timer"):
        assert "Persistent=true" in render()[name].splitlines()


@needs_analyze
def test_units_pass_systemd_analyze_verify(tmp_path):
    # ExecStart must name an existing executable at verify time: use the real opsctl.
    exe = shutil.which("opsctl")
    if exe is None:
        pytest.skip("opsctl is not on PATH")
    files = render(exe, "/etc/opsctl/opsctl.yaml")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    # Template units are verified through an instance.
    for ext in ("service", "timer"):
        shutil.copy(tmp_path / f"opsctl-inspection@.{ext}",
                    tmp_path / f"opsctl-inspection@daily-room.{ext}")
    units = ["opsctld.service", "opsctl-duty-export.service", "opsctl-duty-export.timer",
             "opsctl-inspection@daily-room.service", "opsctl-inspection@daily-room.timer"]
    proc = subprocess.run([ANALYZE, "verify", "--man=no", *[str(tmp_path / u) for u in units]],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    # Unknown keys are only warnings for systemd: treat any complaint as a failure.
    complaints = [ln for ln in proc.stderr.splitlines() if str(tmp_path) in ln or
                  "opsctl" in ln]
    assert complaints == [], proc.stderr


@needs_analyze
@pytest.mark.parametrize(("cron", "expected_next"), [
    ("0 9 * * *", "09:00:00"),
    ("0 8,20 * * *", None),
    ("30 0 * * 1-5", "00:30:00"),
    ("*/15 * * * *", None),
    ("0 6 1 * *", "06:00:00"),
])
def test_cron_to_oncalendar_is_understood_by_systemd(cron, expected_next):
    cal = cron_to_oncalendar(cron)
    proc = subprocess.run([ANALYZE, "calendar", cal], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, (cal, proc.stderr)
    if expected_next:
        assert expected_next in proc.stdout
    assert cron_to_oncalendar("0 9 * * 1-5").startswith("Mon,Tue,Wed,Thu,Fri ")


def test_install_units_dry_run_and_prefix(tmp_path):
    cfg = base_config(tmp_path, inspection={"profiles": [
        {"name": "daily-room", "schedule": "0 9 * * *",
         "items": [{"id": "q", "question": "ok?", "type": "yesno"}]},
        {"name": "patrol", "schedule": "0 8,20 * * *",
         "items": [{"id": "q", "question": "ok?", "type": "yesno"}]}]},
        daemon={"export": {"schedule": "30 0 * * *"}})
    path = write_config(tmp_path / "opsctl.yaml", cfg)
    dest = tmp_path / "units"
    proc = opsctl("-c", str(path), "daemon", "install-units", "--dry-run", "--prefix",
                  str(dest), "--json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["dry_run"] and not dest.exists()
    names = {Path(f["path"]).relative_to(dest).as_posix() for f in plan["files"]}
    assert {"opsctld.service", "opsctl-inspection@.timer",
            "opsctl-inspection@patrol.timer.d/schedule.conf",
            "opsctl-duty-export.timer.d/schedule.conf"} <= names
    proc = opsctl("-c", str(path), "daemon", "install-units", "--prefix", str(dest))
    assert proc.returncode == 0, proc.stderr
    unit = (dest / "opsctld.service").read_text()
    assert f"-c {path.resolve()} daemon run" in unit
    dropin = (dest / "opsctl-inspection@patrol.timer.d" / "schedule.conf").read_text()
    assert "OnCalendar=*-*-* 08,20:00:00" in dropin
    if ANALYZE:
        check = subprocess.run([ANALYZE, "verify", "--man=no", str(dest / "opsctld.service")],
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stderr


# -- where opsctl is installed -------------------------------------------------------------------
def test_opsctl_command_is_the_running_install(tmp_path):
    script = tmp_path / "venv" / "bin" / "opsctl"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    elsewhere = "/usr/local/bin/opsctl"  # another opsctl first on PATH must not win

    def which(name):
        return {"opsctl": elsewhere}.get(name)

    assert opsctl_command(str(script), "/usr/bin/python3", which) == str(script)
    assert opsctl_command("opsctl", "/usr/bin/python3",
                          lambda n: str(script) if n == "opsctl" else None) == str(script)
    main = "/x/site-packages/opsctl/__main__.py"
    assert opsctl_command(main, "/opt/opsctl/bin/python3", which) == \
        "/opt/opsctl/bin/python3 -m opsctl"
    # started some other way (e.g. from a test harness): the opsctl on PATH, else an error
    assert opsctl_command("/nowhere/pytest.py", "/usr/bin/python3", which) == elsewhere
    with pytest.raises(ValueError, match="--bin"):
        opsctl_command("", "/usr/bin/python3", lambda n: None)


def _exec_start(unit_text: str) -> str:
    (line,) = [ln for ln in unit_text.splitlines() if ln.startswith("ExecStart=")]
    return line.removeprefix("ExecStart=")


def test_install_units_names_the_opsctl_that_runs_it(tmp_path):
    """Console script from the test venv, `python -m opsctl`, --bin and --cron: the units and
    the cron file run the opsctl that wrote them, not a path nobody installed."""
    path = write_config(tmp_path / "opsctl.yaml", base_config(tmp_path, inspection={
        "profiles": [{"name": "night", "schedule": "0 2 * * *",
                      "items": [{"id": "q", "question": "ok?", "type": "yesno"}]}]}))
    exe = shutil.which("opsctl")
    assert exe, "the test environment's opsctl must be on PATH (tests/run.sh puts it there)"
    args = ["-c", str(path), "daemon", "install-units", "--dry-run", "--json",
            "--prefix", str(tmp_path / "u")]

    def units(argv):
        proc = subprocess.run(argv + args, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return {Path(f["path"]).name: f["text"] for f in json.loads(proc.stdout)["files"]}

    by_script = units([exe])
    assert _exec_start(by_script["opsctld.service"]) == \
        f"{os.path.abspath(exe)} -c {path.resolve()} daemon run"
    by_module = units([sys.executable, "-m", "opsctl"])
    assert _exec_start(by_module["opsctld.service"]).startswith(f"{sys.executable} -m opsctl -c ")
    if ANALYZE:
        (tmp_path / "opsctld.service").write_text(by_module["opsctld.service"])
        check = subprocess.run([ANALYZE, "verify", "--man=no", str(tmp_path / "opsctld.service")],
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stderr

    proc = opsctl("-c", str(path), "daemon", "install-units", "--cron", "--prefix",
                  str(tmp_path / "cron.d"))
    assert proc.returncode == 0, proc.stderr
    cron = (tmp_path / "cron.d" / "opsctl").read_text()
    assert f"0 2 * * *    root {os.path.abspath(exe)} -c {path.resolve()} daemon run-job " \
        "inspection:night" in cron.splitlines()
    assert not (tmp_path / "cron.d" / "opsctld.service").exists()

    proc = opsctl(*args[:4], "--bin", str(tmp_path / "missing"))
    assert proc.returncode != 0 and "not an executable file" in proc.stderr


def test_timers_and_cron_use_the_site_timezone(tmp_path):
    cfg = base_config(tmp_path, site={"timezone": "Europe/Berlin"},
                      inspection={"profiles": [
                          {"name": "patrol", "schedule": "0 8,20 * * *",
                           "items": [{"id": "q", "question": "ok?", "type": "yesno"}]}]},
                      daemon={"export": {"schedule": "30 0 * * *"}})
    path = write_config(tmp_path / "opsctl.yaml", cfg)
    dest, cron = tmp_path / "units", tmp_path / "cron.d" / "opsctl"
    proc = opsctl("-c", str(path), "daemon", "install-units", "--prefix", str(dest))
    assert proc.returncode == 0, proc.stderr
    proc = opsctl("-c", str(path), "daemon", "install-units", "--cron", "--prefix",
                  str(cron.parent))
    assert proc.returncode == 0, proc.stderr
    dropin = (dest / "opsctl-inspection@patrol.timer.d" / "schedule.conf").read_text()
    cal = "*-*-* 08,20:00:00 Europe/Berlin"
    assert f"OnCalendar={cal}" in dropin
    export = (dest / "opsctl-duty-export.timer.d" / "schedule.conf").read_text()
    assert "OnCalendar=*-*-* 00:30:00 Europe/Berlin" in export
    text = cron.read_text()
    assert "CRON_TZ=Europe/Berlin" in text.splitlines()
    assert any(ln.startswith("0 8,20 * * *") and ln.endswith(
        "daemon run-job inspection:patrol") for ln in text.splitlines())
    assert any(ln.startswith("30 0 * * *") and "duty-export" in ln
               for ln in text.splitlines())
    if ANALYZE:
        check = subprocess.run([ANALYZE, "calendar", cal], capture_output=True, text=True,
                               timeout=30)
        assert check.returncode == 0, check.stderr
        assert "Europe/Berlin" in check.stdout or "CET" in check.stdout or \
            "CEST" in check.stdout
