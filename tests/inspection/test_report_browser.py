"""The HTML inspection report of a Chinese site opened in a real browser (Debian's
Chromium, headless): the Chinese text is in the rendered DOM, and a screenshot is a
non-empty PNG with something drawn on it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                       "(tests/setup.sh installs Debian's chromium)"),
]


def _env() -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG", "OPSCTL_CONFIG")}
    env.update(LANG="C.UTF-8", COLUMNS="200")
    return env


def _opsctl(configs: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opsctl", "-c",
                           str(configs / "opsctl.example-zh.yaml"), *args],
                          capture_output=True, text=True, env=_env(), timeout=300)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    # --no-sandbox: the suite runs as root, where Chromium's sandbox refuses to start;
    # the page is our own file. A profile directory of its own: no user state is read.
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-extensions", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'prof'}",
         *args], capture_output=True, text=True, timeout=180, cwd=tmp_path,
        env=dict(_env(), HOME=str(tmp_path)))


def test_chinese_report_renders_in_chromium(tmp_path):
    configs = tmp_path / "site" / "configs"
    shutil.copytree(ROOT / "configs", configs)
    run = _opsctl(configs, "inspect", "run", "--profile", "daily-room", "--inspector", "alice",
                  "--answers", str(configs / "answers.example-zh.yaml"))
    assert run.returncode in (0, 1, 2, 3), run.stderr  # the inspection's worst status
    report = tmp_path / "report.html"
    proc = _opsctl(configs, "inspect", "report", "--format", "html", "-o", str(report))
    assert proc.returncode == 0, proc.stderr
    url = report.resolve().as_uri()

    dom = _chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for text in ('lang="zh-CN"', "巡检报告：example-dc", "汇总", "每日巡检", "巡检记录",
                 "检查项", "数值 / 回答", "alice (张伟)", "控制盘绿灯，上次维保 2026-09",
                 "B3 线槽凌乱，已请网络组整理。", "年"):
        assert text in dom.stdout, (text, dom.stdout[:3000])

    shot = tmp_path / "report.png"
    proc = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,1600", url)
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    from PIL import Image

    with Image.open(shot) as img:
        assert img.size == (1280, 1600)
        colours = img.convert("RGB").getcolors(maxcolors=1 << 16)
        # a blank page is one colour; text and the status colours make many
        assert colours is None or len(colours) > 20
