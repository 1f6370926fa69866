"""The README's set-up tour (config check, inspect run with the example answers, duty log
list) on the Chinese example config: Chinese headers and messages, the same exit codes
as the English example, and the same --json keys."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from opsctl.core.errors import Status

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _env() -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG", "OPSCTL_CONFIG")}
    env["LANG"] = "C.UTF-8"  # the config, not the locale, makes it Chinese
    env["COLUMNS"] = "200"
    return env


def _site(tmp_path: Path, name: str) -> Path:
    """A copy of configs/ (the example's state_dir ../state lands in the copy)."""
    site = tmp_path / name
    shutil.copytree(ROOT / "configs", site / "configs")
    return site / "configs"


def _run(configs: Path, config: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opsctl", "-c", str(configs / config), *args],
                          capture_output=True, text=True, env=_env(), timeout=300)


TOUR = [
    ("config", "check"),
    ("inspect", "run", "--profile", "daily-room", "--inspector", "alice",
     "--answers", "{answers}"),
    ("duty", "log", "list", "--last", "5"),
]


def _tour(configs: Path, config: str, answers: str, *extra: str):
    return [_run(configs, config, *(a.replace("{answers}", str(configs / answers))
                                    for a in step), *extra) for step in TOUR]


def test_readme_tour_in_chinese(tmp_path):
    zh = _tour(_site(tmp_path, "zh"), "opsctl.example-zh.yaml", "answers.example-zh.yaml")
    en = _tour(_site(tmp_path, "en"), "opsctl.example.yaml", "answers.example.yaml")
    check, run, log = zh
    # The same exit codes: 0 for config check and duty log list, and inspect run's is the
    # inspection's worst status in both languages (the load check may differ between the
    # two runs on a busy machine, so each run is held to its own result).
    for p in (zh[0], zh[2], en[0], en[2]):
        assert p.returncode == 0, p.stderr
    status = re.search(r"巡检 #1 daily-room：(OK|WARNING|CRITICAL|UNKNOWN)", run.stdout)
    assert status and run.returncode == int(Status[status.group(1)]), run.stdout + run.stderr
    status = re.search(r"Inspection #1 daily-room: (OK|WARNING|CRITICAL|UNKNOWN)", en[1].stdout)
    assert status and en[1].returncode == int(Status[status.group(1)]), en[1].stdout

    assert "opsctl.example-zh.yaml：正常" in check.stdout
    for word in ("站点 example-dc", "项目", "状态目录", "巡检方案", "电源预案", "班次"):
        assert word in check.stdout, check.stdout

    for word in ("巡检 #1 daily-room — 巡检人 alice (张伟)", "检查项", "类型", "数值 / 回答",
                 "说明", "备注：控制盘绿灯，上次维保 2026-09", "B3 线槽凌乱，已请网络组整理。"):
        assert word in run.stdout, run.stdout
    if "已在值班日志中登记" in run.stdout:  # a failing check opened a follow-up
        assert "巡检 #1（daily-room，alice）：" in log.stdout

    for word in ("序号", "时间", "记录人", "内容"):
        assert word in log.stdout, log.stdout
    assert re.search(r"共 \d+ 条", log.stdout)
    # dates in the site's zone (Asia/Shanghai) as Chinese write them: 2026年12月3日 14:05
    if "共 0 条" not in log.stdout:
        assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d", log.stdout), log.stdout
    for p in en:
        assert not re.search(r"[\u4e00-\u9fff]{2}", p.stdout.replace("张伟", "")
                             .replace("控制盘", "")), p.stdout


def test_json_stays_english_and_stable(tmp_path):
    zh_cfg, en_cfg = _site(tmp_path, "zh"), _site(tmp_path, "en")
    zh = _tour(zh_cfg, "opsctl.example-zh.yaml", "answers.example-zh.yaml", "--json")
    en = _tour(en_cfg, "opsctl.example.yaml", "answers.example.yaml", "--json")

    def keys(obj):
        if isinstance(obj, dict):
            return {k: keys(v) for k, v in obj.items() if k not in ("answer", "value", "note")}
        if isinstance(obj, list):
            return [keys(v) for v in obj[:1]]
        return type(obj).__name__

    for a, b in zip(zh, en, strict=True):
        assert keys(json.loads(a.stdout)) == keys(json.loads(b.stdout))
        for p in (a, b):  # exit codes as in English: 0, the worst status, 0
            data = json.loads(p.stdout)
            want = int(Status[data["status"]]) if isinstance(data, dict) and "items" in data \
                else 0
            assert p.returncode == want, p.stderr
    # machine fields stay what they were: ISO times, English status words
    entries = json.loads(zh[2].stdout)
    for e in entries:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00", e["ts"]), e["ts"]
    run = json.loads(zh[1].stdout)
    assert run["status"] in ("OK", "WARNING", "CRITICAL", "UNKNOWN")


# -- power, on a real SNMP agent (snmpsim serving the recordings the power tests use) --

def _power_config(tmp_path: Path, port: int, language: str | None) -> Path:
    site = f"{{name: t, language: {language}}}" if language else "{name: t}"
    p = tmp_path / f"opsctl-{language or 'en'}.yaml"
    devices = [("ups1", "ups", "ups-online"), ("sw1", "switch", "switch1")]
    p.write_text("\n".join(
        [f"site: {site}", f"state_dir: {tmp_path / 'state'}", "devices:"]
        + [f"  - {{name: {n}, kind: {k}, host: 127.0.0.1, port: {port}, timeout: 1, "
           f"retries: 1, snmp: {{version: 2c, community: {c}}}}}" for n, k, c in devices])
        + "\n")
    return p


def test_power_status_in_chinese_on_a_real_agent(tmp_path):
    from snmp_agents import Snmpsim, snmpsim_available

    if not snmpsim_available():
        pytest.skip("snmpsim venv missing (created by .ci/run)")
    fix = ROOT / "tests" / "fixtures" / "snmp"
    with Snmpsim([fix / "ups-online.snmprec", fix / "switch1.snmprec"]) as agent:
        zh_cfg = _power_config(tmp_path, agent.port, "zh_CN")
        en_cfg = _power_config(tmp_path, agent.port, None)

        def run(cfg: Path, *args: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "opsctl", "-c", str(cfg), *args],
                                  capture_output=True, text=True, env=_env(), timeout=120)

        zh, en = run(zh_cfg, "power", "status"), run(en_cfg, "power", "status")
        zh_json = run(zh_cfg, "power", "status", "--json")
        en_json = run(en_cfg, "power", "status", "--json")
        ups = run(zh_cfg, "power", "ups", "ups1")
        helptext = run(zh_cfg, "power", "status", "--help")
        probe = run(zh_cfg, "power", "probe", "127.0.0.1", "--port", str(agent.port),
                    "--community", "ups-online", "--kind", "ups")
    # the same exit code (the worst health) in both languages
    assert zh.returncode == en.returncode, zh.stdout + zh.stderr + en.stdout
    for word in ("设备", "类型", "可达", "健康", "原因", "数值", "负载", "电量", "端口"):
        assert word in zh.stdout, zh.stdout
    for word in ("device", "kind", "reachable", "health", "reason", "values", "load"):
        assert word in en.stdout, en.stdout
    assert not re.search(r"[\u4e00-\u9fff]", en.stdout), en.stdout
    # status words stay English in the table; --json is the same in both languages
    assert re.search(r"\b(OK|WARNING|CRITICAL|UNKNOWN)\b", zh.stdout), zh.stdout
    assert json.loads(zh_json.stdout) and [sorted(r) for r in json.loads(zh_json.stdout)] == \
        [sorted(r) for r in json.loads(en_json.stdout)]
    assert zh_json.returncode == en_json.returncode == en.returncode
    for word in ("UPS ups1", "变量", "违反的规则", "阈值：负载"):
        assert word in ups.stdout, ups.stdout
    assert probe.returncode == 0, probe.stdout + probe.stderr
    for word in ("探测 127.0.0.1", "候选画像", "匹配", "用 ietf 读到的数值", "配置："):
        assert word in probe.stdout, probe.stdout
    assert "所有设备一览" in helptext.stdout and "只看此类设备。" in helptext.stdout, helptext.stdout


def test_store_daemon_and_duty_verify_in_chinese(tmp_path):
    """store status, daemon jobs, duty log verify, seal status and an export checked with
    verify-export: Chinese words around the same results and exit codes as in English."""
    runs = {}
    for lang, config in (("zh", "opsctl.example-zh.yaml"), ("en", "opsctl.example.yaml")):
        configs = _site(tmp_path, lang)
        out = tmp_path / f"export-{lang}"
        steps = [("store", "status"), ("daemon", "jobs"), ("duty", "log", "verify"),
                 ("duty", "log", "seal", "status"),
                 ("duty", "export", "--from", "2000-01-01", "--to", "2100-01-01",
                  "--format", "csv", "--verify-chain", "-o", str(out / "duty.csv"))]
        runs[lang] = [_run(configs, config, *s) for s in steps]
        manifests = sorted(out.glob("*manifest*.json"))
        assert manifests, runs[lang][-1].stdout + runs[lang][-1].stderr
        runs[lang].append(_run(configs, config, "duty", "verify-export", str(manifests[0])))
    for zh, en in zip(runs["zh"], runs["en"], strict=True):
        assert zh.returncode == en.returncode, zh.stdout + zh.stderr + en.stdout + en.stderr
    store, jobs, verify, seals, export, check = runs["zh"]
    for word in ("后端", "位置", "健康", "表结构版本"):
        assert word in store.stdout, store.stdout
    for word in ("任务", "计划", "下次运行"):
        assert word in jobs.stdout, jobs.stdout
    assert "值班日志完好：" in verify.stdout, verify.stdout
    assert "值班日志封印" in seals.stdout and "未封印条目" in seals.stdout, seals.stdout
    assert "导出前已验证值班日志链" in export.stdout and "已导出" in export.stdout, export.stdout
    assert "导出完好：" in check.stdout, check.stdout
    for p in runs["en"]:
        assert not re.search(r"[\u4e00-\u9fff]{2}", p.stdout.replace("张伟", "")), p.stdout
