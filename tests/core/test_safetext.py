"""User and device text shown safely: the one place (core/safetext) and the views that
only config text reaches (config show / check)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from opsctl.core.safetext import safe_text, visible


@pytest.mark.parametrize("raw, shown", [
    ("plain text, ünïcödé, 日本語 ✓", "plain text, ünïcödé, 日本語 ✓"),
    ("[/var/log] [red]x[/red] [bold", "[/var/log] [red]x[/red] [bold"),
    ("\x1b[2J", "\\x1b[2J"),
    ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
    ("a\rb", "a\\x0db"),
    ("nul\x00 del\x7f c1\x9b csi\x85", "nul\\x00 del\\x7f c1\\x9b csi\\x85"),
    ("\u202eevil\u202c \u2066iso\u2069 \u200f", "\\u202eevil\\u202c \\u2066iso\\u2069 \\u200f"),
    ("line\u2028sep", "line\\u2028sep"),
    ("bad \udc9b byte", "bad \\udc9b byte"),
    ("two\nlines\tand a tab", "two\nlines\tand a tab"),
])
def test_visible_spells_out_controls_and_keeps_text(raw, shown):
    assert visible(raw) == shown


def test_one_line_form_spells_out_newlines():
    assert visible("a\nb\tc", newlines=False) == "a\\x0ab\tc"


def test_safe_text_is_never_markup():
    t = safe_text("[red]x[/red] \x1b[1m", "bold")
    assert t.plain == "[red]x[/red] \\x1b[1m" and not t.spans and str(t.style) == "bold"


def test_output_table_and_lines_render_markup_literally(capsys, monkeypatch):
    from opsctl.core.output import Output

    monkeypatch.setenv("COLUMNS", "120")
    out = Output(color=False)
    out.table(["a [b]", "text"], [("[bold]1", "[/var/log] \x1b[2J")], title="[red]t",
              caption="[/c]")
    out.info("[/info] \x07")
    out.print("[i]p[/i]", "\u202e")
    out.warn("[w] \r")
    got = capsys.readouterr()
    for s in ("a [b]", "[bold]1", "[/var/log] \\x1b[2J", "[red]t", "[/c]", "[/info] \\x07",
              "[i]p[/i] \\u202e"):
        assert s in got.out, s
    assert "warning: [w] \\x0d" in got.err
    assert not any(c in got.out + got.err for c in "\x1b\x07\r\u202e")


def _config(tmp_path):
    p = tmp_path / "opsctl.yaml"
    # Markup and bidi controls; C0 controls (ESC, BEL) in a config are refused at load.
    p.write_text('site: {name: "room [b]x[/b] \\u202e[2J", room: "[/x]\\u2066"}\n'
                 f"state_dir: {tmp_path}/state\n"
                 'people:\n  - {name: alice, full_name: "Alice [red]A[/red] \\u202e"}\n')
    return str(p)


def _run(*args):
    return subprocess.run([sys.executable, "-m", "opsctl", *args], capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"})


def test_config_show_and_check_with_hostile_config_text(tmp_path):
    cfg = _config(tmp_path)
    for args in (("config", "show"), ("config", "check")):
        p = _run("-c", cfg, *args)
        assert p.returncode == 0, p.stderr
        assert not any(c in p.stdout + p.stderr for c in "\u202e\u2066"), p.stdout
    assert "room [b]x[/b] \\u202e[2J" in _run("-c", cfg, "config", "check").stdout
    shown = _run("-c", cfg, "config", "show").stdout
    assert "[b]x[/b]" in shown and "\\u202e" in shown
    raw = json.loads(_run("-c", cfg, "--json", "config", "show").stdout)
    assert raw["site"]["name"] == "room [b]x[/b] \u202e[2J"
