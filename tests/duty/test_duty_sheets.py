"""Printable sheets (PDF, WeasyPrint) with Chinese names and entries, read back with
poppler's pdftotext: the text, the full names, "page x of y" and each page's chain
position and hash of its first and last entry; the fonts embedded. Also the full names
beside the logins in the roster and the handover briefing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
from duty_support import make_env, two_shift_config

pytestmark = [pytest.mark.sqlite_only, pytest.mark.slow]

try:
    import weasyprint  # noqa: F401
    HAVE_WEASYPRINT = True
except (ImportError, OSError):
    HAVE_WEASYPRINT = False

needs_pdf = pytest.mark.skipif(
    not HAVE_WEASYPRINT or shutil.which("pdftotext") is None,
    reason="WeasyPrint (pip, in .[test]) and pdftotext (poppler-utils) are needed; "
           "tests/setup.sh installs them with fonts-noto-cjk")

NAMES = {"a1": "张伟", "b1": "李娜", "sam": "王芳"}


def _config(pub: str | None = None) -> str:
    text = two_shift_config().replace("site: {name: t,", "site: {name: 北京一号机房,")
    for login, full in NAMES.items():
        old = next(line for line in text.splitlines() if line.startswith(f"  - {{name: {login},"))
        key = f', ssh_key: "{pub}"' if pub and login == "a1" else ""
        text = text.replace(old, old[:-1].rstrip() + f", full_name: {full}{key}}}")
    return text.replace("torch", "手电筒")


def _pages(pdf) -> list[str]:
    n = int(re.search(r"Pages:\s+(\d+)", subprocess.run(
        ["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout).group(1))
    return [subprocess.run(["pdftotext", "-layout", "-f", str(i), "-l", str(i), str(pdf), "-"],
                           capture_output=True, text=True, check=True).stdout
            for i in range(1, n + 1)]


def _footers(pages: list[str]) -> list[tuple[int, str, int, str]]:
    out = []
    for text in pages:
        first = re.search(r"first: #(\d+) ([0-9a-f:]{32,})", text)
        last = re.search(r"last: +#(\d+) ([0-9a-f:]{32,})", text)
        assert first and last, text[-600:]
        out.append((int(first.group(1)), first.group(2), int(last.group(1)), last.group(2)))
    return out


def _hashes(env) -> dict[int, str]:
    return {e["seq"]: e["hash"] for e in json.loads(env.run("--json", "duty", "log",
                                                            "list").stdout)}


def _check_pages(env, pdf, title: str) -> list[str]:
    pages = _pages(pdf)
    assert len(pages) >= 2
    for i, text in enumerate(pages, 1):
        assert f"page {i} of {len(pages)}" in text
        assert "北京一号机房" in text and title in text  # the running head on every page
    hashes = _hashes(env)
    foot = _footers(pages)
    for a, b in zip(foot, foot[1:], strict=False):
        assert b[0] == a[2] + 1, foot  # consecutive pages continue the chain: none torn out
    for first, h1, last, h2 in foot:
        assert hashes[first] == h1 and hashes[last] == h2
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True,
                           check=True).stdout
    cjk = [line for line in fonts.splitlines() if "CJK" in line]
    assert cjk and all(" yes " in line for line in cjk), fonts  # embedded
    return pages


@needs_pdf
def test_duty_log_month_sheet_in_chinese(tmp_path):
    env = make_env(tmp_path, _config())
    for i in range(70):
        env.run("duty", "log", "add", f"巡检第{i}次：空调正常，温度 22°C <b>not bold</b>",
                "--category", "patrol", "--by", "a1" if i % 2 else "b1")
    month = json.loads(env.run("--json", "duty", "log", "list").stdout)[0]["ts"][:7]
    out = tmp_path / "month.pdf"
    res = json.loads(env.run("--json", "duty", "log", "print", "--month", month, "-o",
                             str(out)).stdout)
    assert res["pages"] >= 2 and out.read_bytes().startswith(b"%PDF")
    pages = _check_pages(env, out, f"Duty log {month}")
    text = "\n".join(pages)
    assert "巡检第0次" in text and "巡检第69次" in text
    assert "a1 (张伟)" in text and "b1 (李娜)" in text
    assert "<b>not bold</b>" in text  # user text is escaped, not markup
    assert "Europe/Berlin" in text
    # a day's sheet, and bad requests are clear errors
    day = json.loads(env.run("--json", "duty", "log", "list").stdout)[0]["ts"][:10]
    env.run("duty", "log", "print", "--day", day, "-o", str(tmp_path / "day.pdf"))
    assert "巡检第5次" in "\n".join(_pages(tmp_path / "day.pdf"))
    assert "one of --day" in env.run("duty", "log", "print", "-o", "x.pdf", check=2).stderr
    assert "bad month" in env.run("duty", "log", "print", "--month", "2026-13", "-o",
                                  "x.pdf", check=2).stderr
    bad = env.run("duty", "log", "print", "--day", day, "-o",
                  str(tmp_path / "nodir" / "x.pdf"), check=2)
    assert "cannot write" in bad.stderr and "Traceback" not in bad.stderr


@pytest.fixture()
def agent(tmp_path, monkeypatch):
    key = tmp_path / "keys" / "a1"
    key.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "a1", "-f", str(key)],
                   check=True)
    out = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    env = dict(line.split(";")[0].split("=", 1) for line in out.splitlines()
               if line.startswith(("SSH_AUTH_SOCK=", "SSH_AGENT_PID=")))
    monkeypatch.setenv("SSH_AUTH_SOCK", env["SSH_AUTH_SOCK"])
    subprocess.run(["ssh-add", "-q", str(key)], check=True, capture_output=True,
                   env=dict(os.environ, SSH_AUTH_SOCK=env["SSH_AUTH_SOCK"]))
    yield key.with_suffix(".pub").read_text().strip()
    subprocess.run(["kill", env["SSH_AGENT_PID"]], check=False)


@needs_pdf
def test_handover_sheet_with_both_signatures(tmp_path, agent):
    env = make_env(tmp_path / "site", _config(agent))
    for i in range(40):
        env.run("duty", "log", "add", f"夜班记录 {i}：一切正常", "--by", "a1")
    env.run("duty", "log", "add", "UPS 电池告警，已通知厂家", "--category", "incident",
            "--severity", "minor", "--pending", "--status", "等待厂家", "--by", "a1")
    brief = json.loads(env.run("--json", "duty", "handover", "start", "--from", "a1",
                               "--to", "b1").stdout)
    assert brief["full_names"] == {"a1": "张伟", "b1": "李娜"}
    shown = env.run("duty", "handover", "show").stdout
    assert "a1 (张伟)" in shown and "b1 (李娜)" in shown
    env.run("duty", "handover", "accept", "41", "--by", "b1")
    env.run("duty", "handover", "inventory", "手电筒", "2", "--by", "b1")
    env.run("duty", "handover", "inventory", "rack keys", "4", "--by", "b1")
    env.run("duty", "handover", "snapshot")
    env.run("duty", "handover", "sign", "--as", "a1")   # with a1's key in the agent
    env.run("duty", "handover", "sign", "--as", "b1")   # b1 has no key: login only
    out = tmp_path / "handover.pdf"
    env.run("duty", "handover", "sheet", "1", "-o", str(out))
    pages = _check_pages(env, out, "Handover 1")
    text = re.sub(r"\s+", " ", "\n".join(pages))
    assert "a1 (张伟)" in text and "b1 (李娜)" in text
    assert "UPS 电池告警，已通知厂家" in text and "accepted" in text
    assert "手电筒" in text
    assert "SSH-signed" in text and "login only" in text
    assert "夜班记录 0：一切正常" in text
    # the signing times, in site time (Europe/Berlin), to the second
    h = json.loads(env.run("--json", "duty", "handover", "list").stdout)[0]
    from duty_support import local_day
    assert local_day(h["signed_out_at"]) in text
    missing = env.run("duty", "handover", "sheet", "9", "-o", str(out), check=None)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr, missing.stderr


def test_full_names_in_roster_views(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # a wide table: names are not wrapped
    env = make_env(tmp_path, _config())
    env.run("duty", "roster", "generate", "--month", "2026-03")
    data = json.loads(env.run("--json", "duty", "roster", "show", "--month", "2026-03").stdout)
    assert data["full_names"]["a1"] == "张伟" and "slots" in data
    shown = env.run("duty", "roster", "show", "--month", "2026-03").stdout
    assert "a1 (张伟)" in shown and "b1 (李娜)" in shown
    who = json.loads(env.run("--json", "duty", "roster", "who", "--at",
                             "2026-03-02T10:00").stdout)
    assert set(who["full_names"]) <= set(NAMES)
