"""A Chinese site's duty log: the texts opsctl writes (handover steps) are stored in the
site language of the moment they are written and never translated again — switching the
site to English later shows them as recorded, and the chain still verifies."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from duty_support import make_env, two_shift_config

from opsctl.core import i18n

pytestmark = pytest.mark.sqlite_only


@pytest.fixture(autouse=True)
def _english_afterwards():
    yield
    i18n.set_language("en")  # the in-process CLI runs leave the last config's language


def test_handover_texts_stored_in_the_site_language(tmp_path, monkeypatch):
    monkeypatch.delenv("OPSCTL_ACTOR", raising=False)
    monkeypatch.delenv("SUDO_USER", raising=False)
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("NO_COLOR", "1")
    zh = two_shift_config().replace("site: {name: t, timezone: Europe/Berlin}",
                                     "site: {name: t, timezone: Asia/Shanghai, language: zh_CN}")
    env = make_env(tmp_path, zh)
    env.run("duty", "log", "add", "UPS1 告警，已通知厂家", "--category", "incident",
            "--severity", "major", "--pending", "--status", "等待厂家", "--by", "a1")
    env.run("duty", "handover", "start", "--from", "a1", "--to", "b1")
    env.run("duty", "handover", "accept", "1", "--by", "b1")
    env.run("duty", "handover", "inventory", "torch", "2")
    env.run("duty", "handover", "inventory", "rack keys", "3", "--note", "一把在厂家")
    listed = env.run("duty", "log", "list").stdout
    for word in ("序号", "记录人", "事件 重要", "未关闭", "共 5 条"):
        assert word in listed, (word, listed)
    stored = [e["text"] for e in json.loads(env.run("--json", "duty", "log", "list").stdout)]
    assert stored[1:] == ["交接班 1 开始：a1 → b1（无排班表）", "交接班 1：事项 1 已由 b1 接收",
                          "交接班 1：torch 清点 2，应为 2",
                          "交接班 1 清点不符：rack keys 清点 3，应为 4 (一把在厂家)"]

    shown = env.run("duty", "handover", "show").stdout
    for word in ("交接班 1", "交班人", "接班人", "上次交接班以来的值班日志", "未关闭事项",
                 "物品清点", "最近一次巡检：无记录", "状态快照：未附上"):
        assert word in shown, (word, shown)
    entry = env.run("duty", "log", "show", "1").stdout
    for word in ("值班日志记录 1", "类别", "事件", "级别", "重要", "哈希"):
        assert word in entry, (word, entry)

    # The printed handover sheet speaks Chinese too (pdftotext reads it back).
    if shutil.which("pdftotext"):
        sheet = tmp_path / "handover.pdf"
        env.run("duty", "handover", "sheet", "1", "-o", str(sheet))
        text = subprocess.run(["pdftotext", "-layout", str(sheet), "-"], capture_output=True,
                              text=True, check=True).stdout
        for word in ("交接班 1", "接收的事项", "物品清点", "签字", "手写签名", "第 1 页，共",
                     "交班人", "首条：", "交接班 1 开始：a1 → b1"):
            assert word in text, (word, text)

    # The site switches to English: what was written stays as written, and verifies.
    env.config.write_text(env.config.read_text().replace(", language: zh_CN", ""))
    again = [e["text"] for e in json.loads(env.run("--json", "duty", "log", "list").stdout)]
    assert again == stored
    env.run("duty", "handover", "inventory", "torch", "2")
    newest = json.loads(env.run("--json", "duty", "log", "list").stdout)[-1]
    assert newest["text"] == "handover 1: torch counted 2 of 2"
    env.run("duty", "log", "verify")

    # Back in Chinese: the roster views.
    env.config.write_text(zh)
    gen = env.run("duty", "roster", "generate", "--month", "2031-04")
    assert "已生成 2031-04 排班表（two-shift）" in gen.stdout, gen.stdout
    checked = env.run("duty", "roster", "check", "--month", "2031-04", check=None)
    assert "2031-04 排班表：" in checked.stdout and "每人工时" in checked.stdout, checked.stdout
