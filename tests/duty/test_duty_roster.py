"""Roster generation for both built-in patterns, checked day by day, plus approval,
requests (notice rule) and who-is-on-duty, through the CLI on a real store."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from duty_support import make_env, three_two_config

from opsctl.handover import roster


def _independent_check(cfg, slots, year, month):
    """Walk the month hour by hour (site time) without using roster.check."""
    tz = roster.site_tz(cfg)
    t = dt.datetime(year, month, 1, tzinfo=tz).astimezone(dt.UTC)
    end = roster.month_window(cfg, year, month)[1].astimezone(dt.UTC)
    spans = [(dt.datetime.fromisoformat(s["start"]), dt.datetime.fromisoformat(s["end"]), s)
             for s in slots]
    days_seen = set()
    while t < end:
        on = [s for a, b, s in spans if a <= t < b and s["kind"] == "on-site"]
        local = t.astimezone(tz)
        assert len(on) == 1, f"{local}: {len(on)} shifts on the console"
        assert on[0]["people"] and on[0]["lead"] in on[0]["people"], f"{local}: no lead"
        days_seen.add(local.date())
        t += dt.timedelta(minutes=30)
    assert len(days_seen) == len(roster.month_days(year, month))
    hours: dict[str, float] = {}
    for a, b, s in spans:
        wall = (b.replace(tzinfo=None) - a.replace(tzinfo=None)).total_seconds() / 3600
        assert wall <= cfg.duty.roster.max_shift_hours, s  # a DST night is 7 or 9 h real
        lo, hi = roster.month_window(cfg, year, month)
        inside = (min(b, hi) - max(a, lo)).total_seconds() / 3600
        for p in s["people"]:
            hours[p] = hours.get(p, 0) + inside
    return hours


@pytest.mark.parametrize("month", ["2026-03", "2026-12"])  # with a DST change, and without
def test_two_shift_month_passes_check_day_by_day(env, month):
    out = json.loads(env.run("--json", "duty", "roster", "generate", "--month", month,
                             "--by", "a1").stdout)
    assert out["check"]["ok"], out["check"]["problems"]
    y, m = map(int, month.split("-"))
    cfg = env.cfg()
    hours = _independent_check(cfg, out["roster"]["slots"], y, m)
    assert {k: round(v, 2) for k, v in hours.items()} == out["check"]["hours"]
    # 4 on / 4 off: each team works 15 or 16 days of a 31-day month, 8 h a day each
    days_on = {p: len({s["date"] for s in out["roster"]["slots"] if p in s["people"]})
               for p in hours}
    assert set(days_on.values()) <= {15, 16, 17}
    assert max(hours.values()) <= cfg.duty.roster.max_hours_per_month
    env.run("duty", "roster", "check", "--month", month)


def test_three_plus_two_month_passes_check_day_by_day(tmp_path):
    env = make_env(tmp_path, three_two_config())
    out = json.loads(env.run("--json", "duty", "roster", "generate", "--month", "2026-11")
                     .stdout)
    assert out["check"]["ok"], out["check"]["problems"]
    cfg = env.cfg()
    slots = out["roster"]["slots"]
    _independent_check(cfg, slots, 2026, 11)
    # D-position people work Mon–Sat day shifts, E-position Sun–Fri (positions rotate
    # every 30 days from the anchor; 2026-11 is within one rotation period here).
    anchor = dt.date.fromisoformat(cfg.duty.roster.anchor_date)
    for s in slots:
        d = dt.date.fromisoformat(s["date"])
        if d.month != 11:
            continue
        p = ((d - anchor).days // 30) % 5
        groups = [list(cfg.duty.roster.teams)[(k - p) % 5] for k in range(5)]
        if s["shift"] == "day":
            assert (groups[3] in s["teams"]) == (d.weekday() <= 5), s
            assert (groups[4] in s["teams"]) == (d.weekday() != 5), s
        else:
            assert s["teams"] == [groups[((d - anchor).days % 6) // 2]], s
    env.run("duty", "roster", "check", "--month", "2026-11")


def test_check_reports_gaps_long_shifts_and_missing_leads(tmp_path):
    from duty_support import two_shift_config

    text = two_shift_config().replace('{name: night, start: "00:00", end: "08:00"}',
                                      '{name: night, start: "00:00", end: "06:00"}')
    text = text.replace("{A: [a1, a2, a3, a4]", "{A: [a4, a2, a3, a1]").replace(
        "- {name: a1, lead: true}", "- {name: a1}")
    env = make_env(tmp_path, text.replace('end: "16:00"}', 'end: "17:00"}'))
    env.run("duty", "roster", "generate", "--month", "2026-12")
    res = json.loads(env.run("--json", "duty", "roster", "check", "--month", "2026-12",
                             check=2).stdout)
    kinds = {p["kind"] for p in res["problems"]}
    assert {"gap", "long-shift", "overlap", "no-lead"} <= kinds, res["problems"][:5]
    approve = env.run("duty", "roster", "approve", "--month", "2026-12", "--by", "sam", check=1)
    assert "fails its check" in approve.stderr


def test_approve_requests_and_who(env):
    env.run("duty", "roster", "generate", "--month", "2027-01")
    assert "supervisor" in env.run("duty", "roster", "approve", "--month", "2027-01",
                                   "--by", "a1", check=1).stderr
    env.run("duty", "roster", "approve", "--month", "2027-01", "--by", "sam")
    refused = env.run("duty", "roster", "generate", "--month", "2027-01", check=1)
    assert "only through leave and swap requests" in refused.stderr
    who = json.loads(env.run("--json", "duty", "roster", "who", "--at", "2027-01-10T09:00")
                     .stdout)["on_duty"]
    assert len(who) == 1 and who[0]["shift"] == "day"
    worker = who[0]["lead"]
    other_team = "b1" if worker.startswith("a") else "a1"
    # A swap on that day (far enough ahead) changes who is on duty once approved.
    rid = json.loads(env.run("--json", "duty", "request", "swap", "--person", worker,
                             "--with", other_team, "--date", "2027-01-10",
                             "--reason", "family").stdout)["id"]
    env.run("duty", "request", "approve", str(rid), "--by", "sam")
    who2 = json.loads(env.run("--json", "duty", "roster", "who", "--at", "2027-01-10T09:00")
                      .stdout)["on_duty"][0]
    assert other_team in who2["people"] and worker not in who2["people"]
    # Leave with cover, then a rejected one.
    env.run("duty", "request", "leave", "--person", other_team, "--date", "2027-01-10",
            "--cover", "a4" if other_team == "a1" else "b4", "--reason", "ill")
    env.run("duty", "request", "reject", "2", "--by", "sam", "--reason", "no cover")
    reqs = json.loads(env.run("--json", "duty", "request", "list").stdout)
    assert [q["status"] for q in reqs] == ["approved", "rejected"]
    env.run("duty", "request", "approve", "2", "--by", "sam", check=2)  # already decided


def test_bad_input_is_refused_and_nothing_is_written(env):
    env.run("duty", "roster", "generate", "--month", "2027-13", check=2)
    env.run("duty", "roster", "generate", "--month", "27-01", check=2)
    assert "no roster for 2031-05" in env.run("duty", "roster", "show", "--month", "2031-05",
                                              check=2).stderr
    env.run("duty", "roster", "check", "--month", "2031-05", check=2)
    env.run("duty", "roster", "who", "--at", "2031-05-01T10:00", check=2)
    env.run("duty", "roster", "who", "--at", "yesterday", check=2)
    # a request for a month without a roster, less than a day ahead, unknown person
    env.run("duty", "request", "leave", "--person", "a1", "--date", "2031-05-02",
            "--reason", "x", check=2)
    today = dt.date.today()
    env.run("duty", "roster", "generate", "--month", today.strftime("%Y-%m"))
    short = env.run("duty", "request", "leave", "--person", "a1", "--date", str(today),
                    "--reason", "now", check=1)
    assert "at least 1 day(s) ahead" in short.stderr
    env.run("duty", "request", "swap", "--person", "zed", "--with", "a1",
            "--date", "2031-05-02", "--reason", "x", check=2)
    env.run("duty", "request", "swap", "--person", "a1", "--with", "a1",
            "--date", "2031-05-02", "--reason", "x", check=2)
    assert json.loads(env.run("--json", "duty", "request", "list").stdout) == []


def test_reminder_and_shift_changes(env):
    cfg, store = env.cfg(), env.store()
    assert roster.roster_reminder(cfg, store, dt.date(2027, 1, 10)) is None
    assert "not generated" in roster.roster_reminder(cfg, store, dt.date(2027, 1, 23))
    env.run("duty", "roster", "generate", "--month", "2027-02")
    late = roster.roster_reminder(cfg, store, dt.date(2027, 1, 26))
    assert "not approved" in late and "was due" in late
    env.run("duty", "roster", "approve", "--month", "2027-02", "--by", "sam")
    assert roster.roster_reminder(cfg, store, dt.date(2027, 1, 26)) is None
    tz = roster.site_tz(cfg)
    changes = roster.shift_changes(cfg, store, dt.datetime(2027, 2, 10, tzinfo=tz),
                                   dt.datetime(2027, 2, 11, tzinfo=tz))
    assert [c[0].hour for c in changes] == [0, 8, 16]
    for _when, out, inc in changes:
        assert out and inc and not set(out) & set(inc)
    store.close()


def test_example_config_roster_passes_check():
    from pathlib import Path

    from opsctl.core.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "opsctl.example.yaml")
    for y, m in ((2026, 2), (2026, 10)):
        slots = roster.generate_slots(cfg, y, m, cfg.duty.roster.pattern)
        r = roster.Roster(roster.month_key(y, m), cfg.duty.roster.pattern, "", "", slots,
                          None, None, [])
        res = roster.check(cfg, r)
        assert res.ok, res.errors[:3]
        _independent_check(cfg, slots, y, m)


def test_bare_check_checks_the_latest_draft(env):
    """`roster generate --month M && roster check` checks M (the draft just generated),
    whatever today's month; once approved, a bare check is about this month again."""
    env.run("duty", "roster", "generate", "--month", "2031-03")
    env.run("duty", "roster", "generate", "--month", "2031-02")
    res = json.loads(env.run("--json", "duty", "roster", "check").stdout)
    assert res["month"] == "2031-02" and res["ok"], res["problems"][:3]
    env.run("duty", "roster", "approve", "--month", "2031-02", "--by", "sam")
    assert json.loads(env.run("--json", "duty", "roster", "check").stdout)["month"] == "2031-03"
    env.run("duty", "roster", "approve", "--month", "2031-03", "--by", "sam")
    this_month = env.run("duty", "roster", "check", check=2).stderr  # none for this month
    assert "no roster for " in this_month and "2031" not in this_month
