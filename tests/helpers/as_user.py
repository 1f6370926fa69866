"""Run the real CLI as another (unprivileged) user: ``nobody`` via runuser.

The test interpreter may live where ``nobody`` cannot go (a pyenv under /root, a clone
in a home directory). Then a copy of what opsctl needs is made where nobody can read
it: the system's python3 of the same version, the test environment's site-packages and
the source tree (hard links where the file system allows, so it takes no time).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
USER = "nobody"
# Absolute: the child environment has a minimal PATH that need not include sbin.
RUNUSER = shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin:/bin") or "runuser"


def _runs_as(user: str, argv: list[str], env: dict | None = None) -> bool:
    try:
        proc = subprocess.run([RUNUSER, "-u", user, "--", *argv], capture_output=True,
                              text=True, timeout=60, env=env, cwd="/")
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def _link_tree(src: Path, dst: Path) -> None:
    def link(s, d):
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)
    shutil.copytree(src, dst, copy_function=link, symlinks=True, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "pip", "pip-*",
                                                  "setuptools", "_pytest", "pytest"))


def _readable_tree(root: Path) -> None:
    for dirpath, _dirs, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                os.chmod(p, os.stat(p).st_mode | 0o444)


class Runner:
    """``runner(args) -> CompletedProcess`` running ``python -m opsctl *args`` as nobody."""

    def __init__(self, python: str, env: dict[str, str]):
        self.python = python
        self.env = env

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([RUNUSER, "-u", USER, "--", self.python, "-m", "opsctl", *args],
                              capture_output=True, text=True, timeout=timeout, env=self.env,
                              cwd="/", stdin=subprocess.DEVNULL)


def make_runner(tmp_root: Path) -> Runner:
    if os.geteuid() != 0:
        pytest.fail("running the CLI as another user needs root (runuser); run the suite "
                    "as root, as tests/run.sh does")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": "/nonexistent",
           "PYTHONDONTWRITEBYTECODE": "1"}
    probe = ["-c", "import opsctl.cli.main"]
    direct_env = dict(env, PYTHONPATH=str(ROOT / "src"))
    if _runs_as(USER, [sys.executable, *probe], direct_env):
        return Runner(sys.executable, direct_env)
    # Copy: the system interpreter of the same version plus our packages.
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    python = shutil.which(version, path="/usr/local/bin:/usr/bin:/bin")
    if python is None:
        pytest.fail(f"no {version} that user {USER} can run: install it (apt install "
                    f"{version}) or run the tests from a venv made with /usr/bin/python3")
    lib = tmp_root / "opsctl-as-nobody"
    _link_tree(Path(sysconfig.get_paths()["purelib"]), lib)
    _link_tree(ROOT / "src" / "opsctl", lib / "opsctl")
    _readable_tree(tmp_root)
    copy_env = dict(env, PYTHONPATH=str(lib))
    if not _runs_as(USER, [python, *probe], copy_env):
        proc = subprocess.run([RUNUSER, "-u", USER, "--", python, *probe],
                              capture_output=True, text=True, env=copy_env, cwd="/")
        pytest.fail(f"opsctl cannot run as {USER} from a copy: {proc.stderr[-2000:]}")
    return Runner(python, copy_env)
