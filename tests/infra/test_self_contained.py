"""The repository carries everything its tests need: nothing in the tests, CI, README,
docs or packaging refers to files outside the repository (a fresh clone has none)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Spelled in pieces so that this file does not match itself.
OUTSIDE = ("../" + "shared", "/work/" + "shared")
CHECKED = ["tests", ".ci", "docs", "README.md", "pyproject.toml", "systemd", "configs"]


def _files():
    for name in CHECKED:
        path = ROOT / name
        if path.is_file():
            yield path
        elif path.is_dir():
            for f in sorted(path.rglob("*")):
                if f.is_file() and "__pycache__" not in f.parts:
                    yield f


def test_nothing_refers_outside_the_repository():
    found = []
    for f in _files():
        try:
            text = f.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if any(word in line for word in OUTSIDE):
                found.append(f"{f.relative_to(ROOT)}:{n}: {line.strip()}")
    assert found == [], "references outside the repository:\n" + "\n".join(found)


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\ntests/run.sh --install\n" in readme
    assert "bash tests/run.sh --install" in ci
