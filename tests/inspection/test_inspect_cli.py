"""The `opsctl inspect` commands as a user runs them (subprocess, real store): the example
config's daily round with the example answers file, list/show/report in every format,
missed patrols, and bad input giving one clear line and exit 2."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest
from inspect_helpers import (
    ANSWERS_EXAMPLE,
    EXAMPLE,
    load,
    opsctl,
    opsctl_inproc,
    opsctl_json,
    profile,
    store_for,
    write_config,
)

from opsctl.core.errors import Status


@pytest.fixture
def example(tmp_path):
    """The example config copied next to its secrets, with its own state directory."""
    shutil.copytree(EXAMPLE.parent, tmp_path / "configs")
    return tmp_path / "configs" / EXAMPLE.name


def test_example_daily_round_with_example_answers(example):
    proc, rec = opsctl_json("-c", str(example), "inspect", "run", "--profile", "daily-room",
                            "--inspector", "alice", "--answers", str(ANSWERS_EXAMPLE))
    assert proc.returncode == Status[rec["status"]].value, proc.stderr
    assert proc.stderr == ""  # no progress noise with --json, no answer problems
    cfg = load(example)
    prof = cfg.profile("daily-room")
    assert [it["id"] for it in rec["items"]] == [it.id for it in prof.items]
    by = {it["id"]: it for it in rec["items"]}
    assert by["gas-panel"]["answer"] is True and by["gas-panel"]["note"].startswith("panel")
    assert by["room-temp"]["answer"] == 22.5 and by["room-temp"]["status"] == "OK"
    assert by["notes"]["answer"].startswith("Cable tray")
    for it in rec["items"]:
        assert it["status"] in ("OK", "WARNING", "CRITICAL", "UNKNOWN") and it["message"]
    assert all(not it["skipped"] for it in rec["items"])
    assert rec["inspector"] == "alice" and rec["profile"] == "daily-room"

    # The human form: progress on stderr, a table and the summary line on stdout.
    proc = opsctl("-c", str(example), "inspect", "run", "--answers", str(ANSWERS_EXAMPLE))
    assert proc.returncode in (0, 1, 2, 3)
    assert "[16/16]" in proc.stderr
    assert f"Inspection #{rec['id'] + 1} daily-room:" in proc.stdout
    assert "room-temp" in proc.stdout and "22.5 (within 15–27)" in proc.stdout

    proc, listed = opsctl_json("-c", str(example), "inspect", "list")
    assert [r["id"] for r in listed] == [rec["id"], rec["id"] + 1]
    assert listed[0]["counts"] == rec["counts"] and "items" not in listed[0]
    proc, shown = opsctl_json("-c", str(example), "inspect", "show", str(rec["id"]))
    assert shown == rec
    proc = opsctl("-c", str(example), "inspect", "show", str(rec["id"]))
    assert proc.returncode == 0 and "gas-panel" in proc.stdout and "alice" in proc.stdout


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), dt.UTC)


def _save(store, prof: str, when: dt.datetime, status: Status, failing: str | None = None):
    from opsctl.inspection.model import InspectionRecord, ItemResult
    from opsctl.inspection.records import save

    items = [ItemResult(1, "ups", "check", Status.OK, "OL", check="ups", value=1)]
    if failing:
        items.append(ItemResult(2, failing, "manual", status, "answered no", answer=False))
    save(store, InspectionRecord(prof, "bob", "h1", when, when + dt.timedelta(minutes=5),
                                 status, items))


def test_report_missed_patrols_and_failing_items(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    path = write_config(tmp_path, [
        profile("patrol", [{"id": "q", "question": "ok?"}], runs_per_day=2),
        profile("daily", [{"id": "q", "question": "ok?"}], runs_per_day=1),
        profile("adhoc", [{"id": "q", "question": "ok?"}], runs_per_day=0)])
    cfg = load(path)
    store = store_for(cfg)
    d0 = dt.date(2026, 3, 30)
    d1, d2 = d0 + dt.timedelta(days=1), d0 + dt.timedelta(days=2)
    _save(store, "patrol", _at(d0, 8), Status.OK)
    _save(store, "patrol", _at(d0, 20), Status.WARNING, failing="battery-room")
    _save(store, "daily", _at(d0, 9), Status.OK)
    _save(store, "patrol", _at(d1, 8), Status.CRITICAL, failing="battery-room")
    _save(store, "patrol", _at(d2, 8), Status.OK)
    _save(store, "patrol", _at(d2, 20), Status.OK)
    _save(store, "daily", _at(d2, 9), Status.OK)
    _save(store, "adhoc", _at(d2, 10), Status.OK)
    store.close()
    args = ("-c", str(path), "inspect", "report", "--from", str(d0), "--to", str(d2))
    proc, data = opsctl_json(*args)
    assert proc.returncode == 0, proc.stderr
    assert data["missed_patrols"] == [
        {"date": "2026-03-31", "profile": "daily", "runs": 0, "walked": 0, "required": 1},
        {"date": "2026-03-31", "profile": "patrol", "runs": 1, "walked": 1, "required": 2}]
    assert data["summary"]["runs"] == 8 and data["summary"]["missed_patrols"] == 2
    assert data["failing_items"][0] == {
        "profile": "patrol", "item": "battery-room", "title": None, "failures": 2,
        "WARNING": 1, "CRITICAL": 1, "last": "2026-03-31T08:00:00+00:00",
        "last_message": "answered no"}
    march = {m["profile"]: m for m in data["per_month"] if m["month"] == "2026-03"}
    assert march["patrol"]["runs"] == 3 and march["patrol"]["missed_days"] == 1
    assert len(data["runs"]) == 8 and data["runs"][0]["items"]
    per_day = {(d["date"], d["profile"]): d for d in data["per_day"]}
    assert per_day[("2026-04-01", "adhoc")]["runs"] == 1
    assert not per_day[("2026-04-01", "adhoc")]["missed"]

    md = opsctl_inproc(capsys, *args)[1]
    assert "## Missed patrols" in md and "| 2026-03-31 | patrol | 1 | 1 | 2 |" in md
    assert "| 2026-03-31 | patrol | 1 | 1 | 2 | CRITICAL | MISSED |" in md
    assert "### #4 patrol — 2026-03-31T08:00:00+00:00 — bob on h1 — CRITICAL" in md
    out = tmp_path / "r.html"
    rc, stdout, _ = opsctl_inproc(capsys, *args, "--format", "html", "-o", str(out))
    assert rc == 0 and "report written to" in stdout
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and '<td class="crit">MISSED</td>' in html
    only = json.loads(opsctl_inproc(capsys, *args, "--profile", "daily", "--format", "json")[1])
    assert {r["profile"] for r in only["runs"]} == {"daily"}
    assert only["missed_patrols"] == [data["missed_patrols"][0]]
    listed = json.loads(opsctl_inproc(capsys, "--json", "-c", str(path), "inspect", "list",
                                      "--from", str(d0), "--to", str(d0), "--profile",
                                      "patrol")[1])
    assert [r["started_at"][:16] for r in listed] == ["2026-03-30T08:00", "2026-03-30T20:00"]


def test_bad_input_is_one_clear_line(example, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    c = ("-c", str(example), "inspect")
    cases = [
        ((*c, "run", "--answers", str(tmp_path / "none.yaml")), "answers file "
         f"{tmp_path / 'none.yaml'}: no such file"),
        ((*c, "run", "--profile", "nope"), "unknown inspection profile 'nope' (known: "
         "daily-room, power-room-patrol, pre-holiday)"),
        ((*c, "run", "--inspector", "mallory"), "unknown person 'mallory'"),
        ((*c, "show", "999"), "no inspection record #999"),
        ((*c, "report", "--from", "2026-13-01"), "bad --from '2026-13-01'"),
        ((*c, "report", "--from", "2026-05-02", "--to", "2026-05-01"), "is after --to"),
        ((*c, "checks", "nosuch"), "unknown check 'nosuch'"),
    ]
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("extinguishers: yes\nleaks: [unclosed\n")
    cases.append(((*c, "run", "--answers", str(bad_yaml)),
                  f"answers file {bad_yaml}:3: not valid YAML/JSON"))
    listy = tmp_path / "list.yaml"
    listy.write_text("- yes\n- no\n")
    cases.append(((*c, "run", "--answers", str(listy)), "expected a mapping of item id"))
    for args, msg in cases[:2]:  # as a user runs it
        proc = opsctl(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert msg in proc.stderr, (msg, proc.stderr)
        assert "Traceback" not in proc.stderr and proc.stderr.count("opsctl: error:") == 1
    for args, msg in cases[2:]:  # the same entry point, in this process (faster)
        rc, _, err = opsctl_inproc(capsys, *args)
        assert rc == 2, (args, err)
        assert msg in err, (msg, err)
        assert "Traceback" not in err and err.count("opsctl: error:") == 1


def test_answers_for_another_profile_still_records_the_run(example, tmp_path):
    ans = tmp_path / "patrol.yaml"
    ans.write_text("profile: power-room-patrol\nanswers:\n  ups-state: yes\n  leaks: yes\n")
    proc, rec = opsctl_json("-c", str(example), "inspect", "run", "--profile", "daily-room",
                            "--answers", str(ans))
    assert "warning: answers file" in proc.stderr
    assert "is for profile 'power-room-patrol', not 'daily-room'" in proc.stderr
    assert "'ups-state' is not an item of profile 'daily-room'" in proc.stderr
    assert proc.returncode in (2, 3)
    by = {it["id"]: it for it in rec["items"]}
    assert by["leaks"]["status"] == "OK"  # the one answer that fits is used
    assert by["extinguishers"]["status"] == "UNKNOWN" and by["extinguishers"]["skipped"]
    assert by["load"]["status"] != "UNKNOWN"  # checks ran
    assert len(rec["problems"]) == 2


@pytest.mark.parametrize("warn, crit, rc", [(1000, 2000, 0), (0, 2000, 1), (0, 0, 2)])
def test_exit_code_is_the_worst_status(tmp_path, capsys, monkeypatch, warn, crit, rc):
    monkeypatch.setenv("NO_COLOR", "1")
    path = write_config(tmp_path, [profile("p", [
        {"id": "load", "check": "load", "params": {"warn": warn, "crit": crit}},
        {"id": "mem", "check": "memory", "params": {"warn": 99.99, "crit": 100}}])])
    got, out, err = opsctl_inproc(capsys, "-c", str(path), "inspect", "run",
                                  "--no-interactive")
    assert got == rc, err
    assert f"Inspection #1 p: {['OK', 'WARNING', 'CRITICAL'][rc]}" in out
    assert "[2/2]" in err


def test_unattended_runs_are_no_patrols(tmp_path):
    """A timer or daemon run with every question unanswered checked the machines, but
    nobody walked the room: it does not count toward runs_per_day."""
    from opsctl.inspection import report
    from opsctl.inspection.model import InspectionRecord, ItemResult
    from opsctl.inspection.records import save

    path = write_config(tmp_path, [profile("power-room", [{"id": "q", "question": "ok?"}],
                                           runs_per_day=2)])
    cfg = load(path)
    store = store_for(cfg)
    day = dt.date(2026, 5, 4)

    def run(hour: int, answered: bool, source: str) -> None:
        items = [ItemResult(1, "ups", "check", Status.OK, "OL", check="ups"),
                 ItemResult(2, "q", "manual", Status.OK if answered else Status.UNKNOWN,
                            "yes" if answered else "not answered (skipped)",
                            answer=True if answered else None, skipped=not answered)]
        save(store, InspectionRecord("power-room", "opsctl-daemon" if not answered else "bob",
                                     "h1", _at(day, hour), _at(day, hour), Status.OK, items,
                                     source=source))

    run(6, False, "daemon")
    run(12, False, "timer")
    run(18, True, "cli")
    data = report.build(cfg, store, day, day, now=_at(day + dt.timedelta(days=1), 1))
    assert data["missed_patrols"] == [{"date": "2026-05-04", "profile": "power-room",
                                       "runs": 3, "walked": 1, "required": 2}]
    run(20, True, "cli")
    data = report.build(cfg, store, day, day, now=_at(day + dt.timedelta(days=1), 1))
    assert data["missed_patrols"] == []
    store.close()
