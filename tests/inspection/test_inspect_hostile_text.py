"""Inspector and config text never breaks an inspection view (issue 11): answers, notes,
questions, choices and the checks' own help are shown as written, controls spelled out;
reports escape them (HTML-escaped in HTML); the JSON keeps the raw text. The real CLI."""

from __future__ import annotations

import json

import pytest
import yaml
from inspect_helpers import opsctl, profile, write_config

NOTE = "tray [/B3] [red]x[/red] [bold \x1b[2J \x1b]0;title\x07 cr\rlf \u202eevil"
NOTE_SHOWN = ("tray [/B3] [red]x[/red] [bold \\x1b[2J \\x1b]0;title\\x07 cr\\x0dlf "
              "\\u202eevil")
RAW = ("\x1b", "\x07", "\r", "\u202e")


def assert_safe(p) -> None:
    assert "internal error" not in p.stderr, p.stderr
    for c in RAW:
        assert c not in p.stdout + p.stderr, (c, p.stdout, p.stderr)


@pytest.fixture()
def recorded(tmp_path):
    """One recorded run whose answers and notes are hostile; config text hostile too (markup
    and bidi controls: C0 controls in a config are refused at load, see tests/adversarial)."""
    path = write_config(tmp_path, [profile("p", [
        {"id": "leaks", "question": "Water under [/floor]? \u202e[5m"},
        {"id": "state", "question": "Panel [green]?", "type": "choice",
         "choices": ["[ok]", "bad \u202e[1m"], "expect": "[ok]"},
        {"id": "notes", "question": "Notes", "type": "text", "required": False},
        {"id": "load", "check": "load", "title": "Load [/proc/loadavg] \u202e",
         "params": {"warn": 1000, "crit": 2000}},
    ])])
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump({"profile": "p", "answers": {
        "leaks": {"answer": "no", "note": NOTE}, "state": "bad \u202e[1m", "notes": NOTE}}))
    p = opsctl("-c", str(path), "inspect", "run", "--answers", str(answers), "--no-interactive",
               env={"COLUMNS": "250"})
    assert p.returncode in (0, 1, 2), p.stderr
    assert_safe(p)
    assert NOTE_SHOWN in p.stdout
    return path


def test_show_list_and_json_of_a_hostile_run(recorded):
    p = opsctl("-c", str(recorded), "inspect", "show", "1", env={"COLUMNS": "250"})
    assert p.returncode == 0, p.stderr
    assert_safe(p)
    assert NOTE_SHOWN in p.stdout and "bad \\u202e[1m" in p.stdout
    assert_safe(opsctl("-c", str(recorded), "inspect", "list"))
    rec = json.loads(opsctl("-c", str(recorded), "--json", "inspect", "show", "1").stdout)
    by = {it["id"]: it for it in rec["items"]}
    assert by["notes"]["answer"] == NOTE and by["leaks"]["note"] == NOTE


@pytest.mark.parametrize("columns", ["250", "80"])
def test_show_at_any_width_stays_safe(recorded, columns):
    p = opsctl("-c", str(recorded), "inspect", "show", "1", env={"COLUMNS": columns})
    assert p.returncode == 0
    assert_safe(p)
    if columns == "80":
        assert max(len(line.rstrip()) for line in p.stdout.splitlines()) <= 80


def test_reports_escape_hostile_text(recorded, tmp_path):
    md = opsctl("-c", str(recorded), "inspect", "report")
    assert md.returncode == 0, md.stderr
    assert_safe(md)
    assert NOTE_SHOWN in md.stdout
    out = tmp_path / "r.html"
    p = opsctl("-c", str(recorded), "inspect", "report", "--format", "html", "-o", str(out))
    assert p.returncode == 0, p.stderr
    html = out.read_text()
    for c in RAW:
        assert c not in html
    # HTML-escaped: the markup-like text is text, never tags.
    assert "[red]x[/red]" in html and "<red>" not in html
    assert "tray [/B3] [red]x[/red] [bold \\x1b[2J \\x1b]0;title\\x07" in html
    raw = json.loads(opsctl("-c", str(recorded), "inspect", "report", "--format",
                            "json").stdout)
    assert any(it.get("note") == NOTE for r in raw["runs"] for it in r["items"])


def test_html_report_escapes_html(tmp_path):
    path = write_config(tmp_path, [profile("p", [{"id": "q", "question": "ok?",
                                                  "type": "text"}])])
    answers = tmp_path / "a.yaml"
    answers.write_text(yaml.safe_dump({"answers": {"q": "<script>alert(1)</script> & co"}}))
    assert opsctl("-c", str(path), "inspect", "run", "--answers", str(answers)).returncode \
        in (0, 1, 2, 3)
    html = opsctl("-c", str(path), "inspect", "report", "--format", "html").stdout
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert "<script>" not in html


def test_checks_help_with_brackets_renders(tmp_path):
    # The project's own help text has `e.g. [/dev/sda]`: it used to be a MarkupError.
    for columns in ("250", "80"):
        p = opsctl("inspect", "checks", env={"COLUMNS": columns})
        assert p.returncode == 0, p.stderr
        assert_safe(p)
    from opsctl.inspection import registry

    helps = [p.description for c in registry.all_checks() for p in c.all_params()
             if "[" in (p.description or "")]
    wide = opsctl("inspect", "checks", env={"COLUMNS": "400"}).stdout
    for h in helps:
        assert h in wide
