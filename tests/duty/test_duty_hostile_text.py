"""User text never breaks a duty view (issue 11): markup-like text is shown as typed,
control characters and terminal escapes are spelled out, never written raw; the JSON keeps
the raw text. Every command runs the real CLI in a subprocess, as a user would."""

from __future__ import annotations

import json
import re

import pytest
from duty_support import HANDOVER, make_env, two_shift_config

# Markup rich would parse (or choke on), and what a terminal would act on: clear screen,
# an OSC window title, a carriage return that overprints, a right-to-left override.
HOSTILE = "logs under [/var/log] [red]x[/red] [bold \x1b[2J \x1b]0;title\x07 cr\rlf \u202eevil"
SHOWN = ("logs under [/var/log] [red]x[/red] [bold \\x1b[2J \\x1b]0;title\\x07 cr\\x0dlf "
         "\\u202eevil")
RAW = ("\x1b", "\x07", "\r", "\u202e")


def assert_safe(text: str) -> None:
    for c in RAW:
        assert c not in text, (c, text)


@pytest.fixture()
def wide(monkeypatch):
    # Wide enough that no cell wraps, so the exact text can be found on one line.
    monkeypatch.setenv("COLUMNS", "250")


def _hostile_env(tmp_path):
    # Config text is user text too: an inventory item with markup and a bidi control (C0
    # controls in a config are refused at load: tests/adversarial/test_config_hostile.py).
    cfg = two_shift_config().replace(
        HANDOVER, HANDOVER + '      - {name: "[b]keys[/b] \\u202e[5m", count: 1, kind: key}\n')
    return make_env(tmp_path, cfg)


def test_log_list_and_show_show_hostile_text_as_recorded(env, wide):
    env.run_proc("duty", "log", "add", HOSTILE, "--by", "a1")
    env.run_proc("duty", "log", "add", "open item", "--by", "a1", "--pending",
                 "--status", "vendor [/ticket] \x1b[31m")
    for args in (("duty", "log", "list"), ("duty", "log", "list", "--pending"),
                 ("duty", "log", "show", "1")):
        p = env.run_proc(*args)
        assert_safe(p.stdout + p.stderr)
    listed = env.run_proc("duty", "log", "list").stdout
    assert SHOWN in listed
    shown = env.run_proc("duty", "log", "show", "1").stdout
    assert SHOWN in shown
    assert "vendor [/ticket] \\x1b[31m" in env.run_proc("duty", "log", "show", "2").stdout
    # The record itself is untouched: JSON has the raw text.
    raw = json.loads(env.run_proc("duty", "log", "show", "1", "--json").stdout)
    assert raw["text"] == HOSTILE


def test_amend_close_and_verify_with_hostile_text(env, wide):
    env.run_proc("duty", "log", "add", "disk", "--by", "a1", "--pending")
    env.run_proc("duty", "log", "amend", "1", "--reason", "[typo]", "--text", HOSTILE,
                 "--by", "a1")
    env.run_proc("duty", "log", "close", "1", "--result", "done [ok] \x1b]0;x\x07", "--by", "a1")
    out = env.run_proc("duty", "log", "list").stdout
    assert SHOWN in out and "done [ok] \\x1b]0;x\\x07" in out
    assert_safe(out)
    env.run_proc("duty", "log", "verify")


def test_handover_start_with_hostile_entries_opens_and_renders(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    env = _hostile_env(tmp_path)
    env.run_proc("duty", "log", "add", "logs under [/var/log] rotated", "--by", "a1")
    env.run_proc("duty", "log", "add", HOSTILE, "--by", "a1", "--pending",
                 "--status", "[red]waiting[/red] \u202e")
    p = env.run_proc("duty", "handover", "start", "--from", "a1", "--to", "b1")
    assert_safe(p.stdout + p.stderr)
    assert "logs under [/var/log] rotated" in p.stdout
    assert SHOWN in p.stdout                                     # log since the last handover
    assert "[red]waiting[/red] \\u202e" in p.stdout              # open item's status note
    assert "[b]keys[/b] \\u202e[5m" in p.stdout                    # inventory item from config
    # The handover really is open (it used to open, then crash).
    assert json.loads(env.run_proc("duty", "handover", "status", "--json").stdout)["current"]
    env.run_proc("duty", "handover", "refuse", "2", "--reason", "[no] \x1b[2J", "--by", "b1")
    env.run_proc("duty", "handover", "inventory", "[b]keys[/b] \u202e[5m", "0",
                 "--note", "lost [?] \x07", "--by", "b1")
    for args in (("duty", "handover", "show"), ("duty", "handover", "show", "1"),
                 ("duty", "handover", "list"), ("duty", "handover", "status")):
        p = env.run_proc(*args)
        assert_safe(p.stdout + p.stderr)
    shown = env.run_proc("duty", "handover", "show").stdout
    assert SHOWN in shown


def test_roster_and_requests_with_hostile_text(env, wide):
    env.run_proc("duty", "roster", "generate", "--month", "2099-01")
    env.run_proc("duty", "request", "leave", "--person", "a4", "--date", "2099-01-20",
                 "--reason", HOSTILE)
    p = env.run_proc("duty", "request", "list")
    assert SHOWN in p.stdout
    assert_safe(p.stdout + p.stderr)
    for args in (("duty", "roster", "show", "--month", "2099-01"),
                 ("duty", "roster", "who", "--at", "2099-01-20T09:00")):
        p = env.run_proc(*args)
        assert_safe(p.stdout + p.stderr)
    p = env.run_proc("duty", "roster", "check", "--month", "2099-01", check=None)
    assert p.returncode in (0, 2)
    assert_safe(p.stdout + p.stderr)


def test_error_messages_spell_out_controls(env):
    p = env.run_proc("duty", "log", "add", "x", "--by", "nobody\x1b[2J", check=None)
    assert p.returncode == 2
    assert "nobody\\x1b[2J" in p.stderr
    assert_safe(p.stderr)


def test_text_that_is_not_utf8_is_refused_with_a_clear_message(env):
    import os
    import subprocess
    import sys

    e = {**os.environ, "NO_COLOR": "1", "LC_ALL": "C.UTF-8"}
    p = subprocess.run([sys.executable, "-m", "opsctl", "-c", str(env.config), "duty", "log",
                        "add", b"bad \x9b byte", "--by", "a1"], capture_output=True,
                       timeout=120, env=e)
    assert p.returncode == 2, p.stderr
    assert b"not valid UTF-8" in p.stderr and b"internal error" not in p.stderr
    assert json.loads(env.run_proc("duty", "log", "list", "--json").stdout) == []


# -- 80 columns ------------------------------------------------------------------------------
LONG = ("replaced the failed disk in shelf 2 of rack 4; the spare was the wrong kind, so the "
        "array ran degraded until the courier came at 05:40 with the right one")


def _widths(text: str) -> list[int]:
    from rich.cells import cell_len

    return [cell_len(line.rstrip()) for line in text.splitlines()]


@pytest.mark.parametrize("columns", [None, "80"])
def test_log_list_and_briefing_fit_80_columns(env, monkeypatch, columns):
    # Piped output without $COLUMNS is laid out for 80 columns too.
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    env.run_proc("duty", "log", "add", LONG, "--by", "a1", "--category", "incident",
                 "--severity", "major", "--pending", "--status", "waiting for the vendor")
    out = env.run_proc("duty", "log", "list").stdout
    assert max(_widths(out)) <= 80, out
    row = next(line for line in out.splitlines() if line.startswith("1 "))
    # Short columns keep their width (time and kind on one line); the text wraps.
    assert "incident major" in row and "open" in row
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", row), row
    words = " ".join(line[row.index("replaced"):].strip() for line in out.splitlines()
                     if len(line) > row.index("replaced"))
    assert LONG in " ".join(words.split())
    brief = env.run_proc("duty", "handover", "start", "--from", "a1", "--to", "b1").stdout
    assert max(_widths(brief)) <= 80, brief
    # The open items table: item, category and severity on the item's first line.
    assert re.search(r"^1 +incident +major +replaced the", brief, re.M), brief


def test_columns_sets_the_width_of_piped_output(env, monkeypatch):
    env.run_proc("duty", "log", "add", LONG, "--by", "a1")
    monkeypatch.setenv("COLUMNS", "200")
    out = env.run_proc("duty", "log", "list").stdout
    assert LONG in out                       # one line: nothing wrapped
    monkeypatch.setenv("COLUMNS", "60")
    assert max(_widths(env.run_proc("duty", "log", "list").stdout)) <= 60
