"""What a sysadmin expects of a CLI: -V, a current man page, a LICENSE matching the
package metadata, a changelog."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from opsctl import __version__
from opsctl.cli import manpage

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "man" / "opsctl.1"


def _opsctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opsctl", *args], capture_output=True,
                          text=True, timeout=60)


def test_short_version_flag():
    for flag in ("-V", "--version"):
        res = _opsctl(flag)
        assert res.returncode == 0 and res.stdout == f"opsctl, version {__version__}\n"


def test_committed_man_page_is_current():
    assert PAGE.read_text(encoding="utf-8") == manpage.render(), (
        "docs/man/opsctl.1 is stale: run  python3 -m opsctl.cli.manpage -o docs/man/opsctl.1")


def test_man_page_covers_every_command_and_renders_cleanly(tmp_path):
    page = manpage.render()
    for path in ("opsctl power poll", "opsctl duty roster check", "opsctl storage raid status",
                 "opsctl inspect run", "opsctl daemon install\\-units"):
        assert f".SS {path}\n" in page
    assert ".SH EXIT STATUS" in page and "\\fB130\\fR" in page
    # No roff request hides in help text (a line of help starting with "." would be eaten).
    body = [ln for ln in page.splitlines() if ln and not ln.startswith((".", "\\"))]
    assert body and page.isascii()
    out = tmp_path / "opsctl.1"
    assert manpage.main(["-o", str(out)]) == 0 and out.read_text() == page
    if shutil.which("groff") is None:
        pytest.skip("groff missing: apt-get install groff-base")
    res = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(out)],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "LC_ALL": "C.UTF-8"})
    assert res.returncode == 0 and res.stderr == "", res.stderr


def test_license_matches_pyproject_and_changelog_names_this_version():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["license"] == {"text": "GPL-3.0-or-later"}
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE")
    assert "Version 3, 29 June 2007" in text and "any later version" in text
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog,
                     re.M)
