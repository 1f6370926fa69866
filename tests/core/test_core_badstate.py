"""Bad states get clear messages, never ``internal error`` — all through the real CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "opsctl.example.yaml"


def opsctl(*args: str, env: dict | None = None, cwd=None,
           timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opsctl", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=timeout)


def example_copy(tmp_path: Path, **replace: str) -> Path:
    """The example config (with its secrets dir) under tmp_path, state in tmp_path/state."""
    import shutil

    text = EXAMPLE.read_text()
    text = text.replace("state_dir: ../state", "state_dir: state")
    text = text.replace("export_dir: ../state/exports", "export_dir: state/exports")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    shutil.copytree(EXAMPLE.parent / "secrets", tmp_path / "secrets", dirs_exist_ok=True)
    cfg = tmp_path / "opsctl.yaml"
    cfg.write_text(text)
    return cfg


def no_internal_error(proc: subprocess.CompletedProcess) -> None:
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


# -- site.timezone ---------------------------------------------------------------------------
def test_unknown_timezone_is_a_config_error_with_line(tmp_path):
    cfg = example_copy(tmp_path, **{"timezone: Europe/Berlin": "timezone: Mars/Olympus"})
    line = next(i for i, t in enumerate(cfg.read_text().splitlines(), 1) if "Mars" in t)
    proc = opsctl("config", "check", str(cfg))
    assert proc.returncode == 2
    assert f"{cfg}:{line}: site.timezone: unknown time zone 'Mars/Olympus'" in proc.stderr
    # ... and at load, before any duty command touches the store.
    proc = opsctl("-c", str(cfg), "duty", "log", "list")
    assert proc.returncode == 2 and f"{cfg}:{line}: site.timezone" in proc.stderr
    assert not (tmp_path / "state").exists()
    no_internal_error(proc)


def test_timezone_path_tricks_refused(tmp_path):
    cfg = example_copy(tmp_path, **{"timezone: Europe/Berlin": 'timezone: "../../etc/passwd"'})
    proc = opsctl("config", "check", str(cfg))
    assert proc.returncode == 2 and "unknown time zone" in proc.stderr
