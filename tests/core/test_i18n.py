"""The Chinese interface: catalogs in step with the code, the language chosen by the
config or the locale, dates in the site's zone and the language's format, JSON unchanged."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from opsctl.core import i18n

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "opsctl.example.yaml"
PO = ROOT / "src" / "opsctl" / "locale" / "zh_CN" / "LC_MESSAGES" / "opsctl.po"


def _tool():
    spec = importlib.util.spec_from_file_location("opsctl_i18n_tool", ROOT / "scripts" / "i18n.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _env(**kw) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG", "OPSCTL_CONFIG")}
    env.update(kw)
    return env


def opsctl(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opsctl", *args], capture_output=True,
                          text=True, env=env if env is not None else _env())


# -- the catalogs --------------------------------------------------------------------

def test_catalogs_complete_and_compiled():
    """Every message the code marks (and every help text of the translated modules) is
    translated, with the same placeholders, and the .mo is the compiled .po — else
    `python scripts/i18n.py update`, translate, `compile`."""
    found = _tool().problems()
    assert found == [], "\n".join(found)


def test_check_finds_a_missing_string_and_a_wrong_placeholder(tmp_path):
    tool = _tool()
    cat = tool.read(PO)
    cat["opsctl: error: {message}"].string = "opsctl：错误：{msg}"
    cat["warning: {message}"].string = ""
    po = tmp_path / "zh_CN" / "LC_MESSAGES" / "opsctl.po"
    po.parent.mkdir(parents=True)
    from babel.messages.pofile import write_po

    with po.open("wb") as fh:
        write_po(fh, cat)
    po.with_suffix(".mo").write_bytes(tool.compiled(cat))
    template = tool.extract()
    template.add("a message only the code has {x}", locations=[("src/opsctl/x.py", 1)])
    found = "\n".join(tool.problems([po], template))
    assert "placeholders differ in 'opsctl: error: {message}'" in found
    assert "missing translation of 'warning: {message}'" in found
    assert "missing translation of 'a message only the code has {x}'" in found
    (po.with_suffix(".mo")).write_bytes(tool.compiled(tool.read(PO)))
    assert "not the compiled opsctl.po" in "\n".join(tool.problems([po], template))


def test_placeholders():
    tool = _tool()
    assert tool.placeholders("a {x} b {y}") == ["{x}", "{y}"]
    assert tool.placeholders("load %(pct)d%% of %s") == ["%(pct)d", "%s"]
    assert tool.placeholders("UPS load < 60 % now") == []


def test_help_texts_are_extracted_as_click_shows_them():
    """The msgid of a docstring is the cleaned text click shows (localize_command)."""
    tool = _tool()
    ids = {m.id for m in tool.extract()}
    assert "Check and show the configuration." in ids
    assert ("Write a minimal commented config to PATH (default: the -c/--config one, else\n"
            "$OPSCTL_CONFIG, else /etc/opsctl/opsctl.yaml); it passes `config check` as "
            "written.") in ids


# -- choosing the language -------------------------------------------------------------

@pytest.fixture
def restore_language():
    yield
    i18n.set_language("en")


@pytest.mark.parametrize("value, expected", [
    ("zh_CN.UTF-8", "zh_CN"), ("zh-CN", "zh_CN"), ("zh", "zh_CN"), ("zh_TW", "zh_CN"),
    ("C", "en"), ("C.UTF-8", "en"), ("en_GB.UTF-8", "en"), ("fr_FR.UTF-8", "en"),
])
def test_language_from_locale(monkeypatch, restore_language, value, expected):
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", value)
    assert i18n.from_environment() == expected


def test_language_list_first_known_wins(monkeypatch, restore_language):
    monkeypatch.setenv("LANGUAGE", "fr:zh_CN:en")
    assert i18n.from_environment() == "zh_CN"
    monkeypatch.setenv("LANGUAGE", "en:zh_CN")
    assert i18n.from_environment() == "en"


def test_locale_chooses_without_config(tmp_path):
    proc = opsctl("--help", env=_env(LANG="zh_CN.UTF-8"))
    assert proc.returncode == 0 and "机房巡检与配电室巡视" in proc.stdout
    assert proc.stdout.startswith("用法：opsctl [OPTIONS]") and "\n选项：\n" in proc.stdout
    proc = opsctl("duty", "log", "--help", env=_env(LANG="zh_CN.UTF-8"))
    assert "只追加、哈希链式的值班日志。" in proc.stdout and "\n命令：\n" in proc.stdout
    proc = opsctl("--help", env=_env(LANG="C.UTF-8"))
    assert "Machine-room inspections and patrols." in proc.stdout


def _config(tmp_path: Path, language: str | None) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace("state_dir: ../state", f"state_dir: {tmp_path / 'state'}")
    if language is not None:
        text = text.replace("  timezone: Europe/Berlin",
                            f"  timezone: Asia/Shanghai\n  language: {language}")
    shutil.copytree(EXAMPLE.parent / "secrets", tmp_path / "secrets")
    path = tmp_path / "opsctl.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_site_language_beats_the_locale(tmp_path):
    cfg = _config(tmp_path, "en")
    proc = opsctl("-c", str(cfg), "config", "check", env=_env(LANG="zh_CN.UTF-8"))
    assert proc.returncode == 0, proc.stderr
    assert "people" in proc.stdout and "人员" not in proc.stdout
    cfg.write_text(cfg.read_text().replace("language: en", "language: zh_CN"))
    proc = opsctl("-c", str(cfg), "config", "check", env=_env(LANG="C.UTF-8"))
    assert proc.returncode == 0, proc.stderr
    assert "人员" in proc.stdout and "巡检方案" in proc.stdout and "：正常" in proc.stdout
    # help follows the config's language too (read before any command is loaded)
    proc = opsctl("-c", str(cfg), "config", "--help", env=_env(LANG="C.UTF-8"))
    assert "校验配置文件" in proc.stdout


def test_unknown_language_is_a_config_error(tmp_path):
    cfg = _config(tmp_path, "xx_YY")
    proc = opsctl("-c", str(cfg), "config", "check")
    assert proc.returncode == 2
    assert "opsctl.yaml:7: site.language: " in proc.stderr
    assert "no catalog for language 'xx_YY' (available: en, zh_CN)" in proc.stderr


def test_errors_in_chinese_json_in_english(tmp_path):
    cfg = _config(tmp_path, "zh_CN")
    proc = opsctl("-c", str(cfg), "duty", "log", "show", "99")
    assert proc.returncode == 2  # usage: no such entry
    assert proc.stderr.startswith("opsctl：错误：")
    proc = opsctl("-c", str(cfg), "config", "check", "--json")
    assert proc.returncode == 0
    data = json.loads(proc.stdout)
    assert data["valid"] is True and "inspection_profiles" in data


# -- dates -----------------------------------------------------------------------------

def test_dates_in_the_site_zone_and_the_language_format(restore_language):
    t = dt.datetime(2026, 12, 3, 6, 5, 9, tzinfo=dt.UTC)
    shanghai = ZoneInfo("Asia/Shanghai")
    i18n.set_language("en")
    assert i18n.format_datetime(t, shanghai) == "2026-12-03 14:05"
    assert i18n.format_datetime(t, shanghai, seconds=True) == "2026-12-03 14:05:09"
    i18n.set_language("zh_CN")
    assert i18n.format_datetime(t, shanghai) == "2026年12月3日 14:05"
    assert i18n.format_datetime(t, shanghai, seconds=True) == "2026年12月3日 14:05:09"
    assert i18n.format_date(dt.date(2026, 1, 9)) == "2026年1月9日"


def test_no_translation_call_inside_an_f_string():
    """Babel's extractor (Python 3.11) does not look inside f-strings: a _() there would
    never reach the catalog, and the check would not notice."""
    import ast

    found = []
    for path in sorted((ROOT / "src" / "opsctl").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr):
                for sub in ast.walk(node):
                    if (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name)
                            and sub.func.id in ("_", "N_", "ngettext")):
                        found.append(f"{path.relative_to(ROOT)}:{sub.lineno}")
    assert found == []
