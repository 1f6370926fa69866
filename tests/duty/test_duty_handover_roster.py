"""A handover held to the approved roster (the rostered pair, or a recorded reason), the
incoming's arrival against the shift change, and the daemon's "not relieved" alert — all
through the real CLI on a real store.

The shifts are laid out around the wall clock of the test (8 h shifts, one change a few
minutes from now) so the handover really starts at the time it is checked against."""

from __future__ import annotations

import datetime as dt
import json

from duty_support import SHIFTS, DutyEnv, make_env, two_shift_config


def _shifts_around(change: dt.datetime) -> str:
    times = [(change + dt.timedelta(hours=8 * i)).strftime("%H:%M") for i in range(3)]
    return ("    shifts:\n"
            + "".join(f'      - {{name: {n}, start: "{times[i]}", end: "{times[(i + 1) % 3]}"}}\n'
                      for i, n in enumerate(("early", "late", "night"))))


def roster_env(tmp_path, minutes: int, *, approve: bool = True, extra_duty: str = "",
               request=None, backend: str = "sqlite") -> tuple[DutyEnv, dt.datetime]:
    """A site (UTC) whose roster has a shift change ``minutes`` from now (whole minutes);
    on PostgreSQL with ``backend`` (the duty conftest runs such tests on both stores)."""
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    change = now + dt.timedelta(minutes=minutes)
    text = two_shift_config(extra_duty).replace("Europe/Berlin", "UTC")
    text = text.replace(SHIFTS, _shifts_around(change))
    cluster = request.getfixturevalue("pg_cluster") if backend == "postgresql" else None
    env = make_env(tmp_path, text, cluster)
    months = {(change + dt.timedelta(hours=h)).strftime("%Y-%m") for h in (-36, 0, 36)}
    for month in sorted(months):
        env.run("duty", "roster", "generate", "--month", month)
        if approve:
            env.run("duty", "roster", "approve", "--month", month, "--by", "sam")
    return env, change


def rostered(env: DutyEnv, change: dt.datetime) -> tuple[list[str], list[str]]:
    from opsctl.handover.api import shift_changes

    (when, out, inc), = shift_changes(env.cfg(), env.store(), change - dt.timedelta(minutes=1),
                                      change + dt.timedelta(minutes=1), approved_only=True)
    assert when == change
    return out, inc


def _not_on(env: DutyEnv, *groups: list[str]) -> str:
    busy = {n for g in groups for n in g}
    return next(p.name for p in env.cfg().people if p.name not in busy and p.name != "sam")


def test_pair_off_the_roster_is_refused_unless_a_reason_is_recorded(tmp_path, request,
                                                                     backend):
    env, change = roster_env(tmp_path, 20, request=request, backend=backend)
    out, inc = rostered(env, change)
    stranger = _not_on(env, out, inc)
    before = len(json.loads(env.run("--json", "duty", "log", "list").stdout))
    refused = env.run("duty", "handover", "start", "--from", out[0], "--to", stranger, check=2)
    assert "handover refused" in refused.stderr
    assert f"{stranger} is not rostered on the incoming shift ({', '.join(inc)})" \
        in refused.stderr
    assert f"the roster has {', '.join(out)} -> {', '.join(inc)}" in refused.stderr
    assert "--reason" in refused.stderr and "Traceback" not in refused.stderr
    # Nothing was written: no handover, no log entry.
    assert json.loads(env.run("--json", "duty", "handover", "list").stdout) == []
    assert len(json.loads(env.run("--json", "duty", "log", "list").stdout)) == before
    wrong_out = env.run("duty", "handover", "start", "--from", stranger, "--to", inc[0],
                        check=2)
    assert f"{stranger} is not rostered on the outgoing shift" in wrong_out.stderr

    brief = json.loads(env.run("--json", "duty", "handover", "start", "--from", out[0],
                               "--to", stranger, "--reason", "swap agreed at the console: "
                               f"{inc[0]} is ill").stdout)
    ro = brief["roster"]
    assert ro["status"] == "off roster" and ro["reason"].endswith(f"{inc[0]} is ill")
    assert ro["incoming"] == inc and ro["outgoing"] == out
    assert dt.datetime.fromisoformat(ro["shift_change"]) == change
    log = json.loads(env.run("--json", "duty", "log", "list").stdout)
    started = [e for e in log if e["text"].startswith("handover 1 started")]
    assert len(started) == 1
    assert f"not as rostered: swap agreed at the console: {inc[0]} is ill" in started[0]["text"]
    shown = " ".join(env.run("duty", "handover", "show").stdout.split())  # wrapped at 80
    assert "off roster" in shown and "reason given: swap agreed" in shown
    env.run("duty", "log", "verify")


def test_rostered_pair_arriving_early_enough(tmp_path):
    env, change = roster_env(tmp_path, 20)
    out, inc = rostered(env, change)
    brief = json.loads(env.run("--json", "duty", "handover", "start", "--from", out[0],
                               "--to", inc[0]).stdout)
    ro = brief["roster"]
    assert ro["status"] == "matches" and ro["reason"] is None
    arr = ro["arrival"]
    assert arr["at"] == brief["handover"]["started_at"]
    assert 15 <= arr["minutes_early"] <= 20 and arr["early_enough"] is True
    assert arr["required_minutes_early"] == 15
    shown = json.loads(env.run("--json", "duty", "handover", "show", "1").stdout)
    assert shown["roster"] == ro  # what was recorded at the start, not worked out again
    human = " ".join(env.run("duty", "handover", "show").stdout.split())
    assert "min early (as required)" in human and "matches the roster" in human
    log = json.loads(env.run("--json", "duty", "log", "list").stdout)
    text = next(e["text"] for e in log if e["text"].startswith("handover 1 started"))
    assert "(as rostered; incoming " in text and "min early (as required)" in text


def test_late_arrival_is_recorded_and_shown(tmp_path):
    env, change = roster_env(tmp_path, -10)
    out, inc = rostered(env, change)
    brief = json.loads(env.run("--json", "duty", "handover", "start", "--from", out[0],
                               "--to", inc[0]).stdout)
    arr = brief["roster"]["arrival"]
    assert -11 <= arr["minutes_early"] <= -10 and arr["early_enough"] is False
    human = " ".join(env.run("duty", "handover", "show").stdout.split())
    assert "min late (required: 15 min early)" in human


def test_no_approved_roster_allows_any_pair_recorded_as_no_roster(tmp_path):
    env, change = roster_env(tmp_path, 20, approve=False)  # a draft is not the roster yet
    brief = json.loads(env.run("--json", "duty", "handover", "start", "--from", "a1",
                               "--to", "olga").stdout)
    ro = brief["roster"]
    assert ro["status"] == "no roster" and ro["shift_change"] is None
    assert ro["arrival"]["minutes_early"] is None
    log = json.loads(env.run("--json", "duty", "log", "list").stdout)
    assert any(e["text"] == "handover 1 started: a1 -> olga (no roster)" for e in log)


def _complete(env: DutyEnv, out: str, inc: str) -> None:
    env.run("duty", "handover", "inventory", "torch", "2", "--by", inc)
    env.run("duty", "handover", "inventory", "rack keys", "4", "--by", inc)
    env.run("duty", "handover", "snapshot", "--by", inc)
    env.run("duty", "handover", "sign", "--as", out)
    env.run("duty", "handover", "sign", "--as", inc)


def _events(env: DutyEnv) -> list[dict]:
    import sqlalchemy as sa

    from opsctl.daemon.schema import events

    with env.store().read() as conn:
        return [dict(r._mapping) for r in conn.execute(
            sa.select(events).where(events.c.kind == "not-relieved").order_by(events.c.id))]


def test_not_relieved_alerts_once_and_resolves_when_the_handover_completes(tmp_path, request,
                                                                           backend):
    env, change = roster_env(tmp_path, -40, extra_duty="  not_relieved_after: 30m\n",
                             request=request, backend=backend)
    out, inc = rostered(env, change)
    jobs = json.loads(env.run("--json", "daemon", "jobs").stdout)
    job = next(j for j in jobs if j["id"] == "not-relieved")
    assert job["schedule"] == "cron */5 * * * *"

    res = json.loads(env.run("--json", "daemon", "run-job", "not-relieved").stdout)
    assert res["status"] == "ok" and "1 shift change(s) not relieved" in res["result"]
    evs = _events(env)
    assert len(evs) == 1 and evs[0]["severity"] == "major" and evs[0]["status"] != "closed"
    assert f"{', '.join(out)} -> {', '.join(inc)}" in evs[0]["message"]
    log = json.loads(env.run("--json", "duty", "log", "list").stdout)
    entries = [e for e in log if "not relieved" in e["text"]]
    assert len(entries) == 1 and entries[0]["author"] == "opsctl-daemon"
    assert entries[0]["category"] == "incident"

    # Once per shift change: the next runs add nothing.
    env.run("daemon", "run-job", "not-relieved")
    assert len(_events(env)) == 1
    log = json.loads(env.run("--json", "duty", "log", "list").stdout)
    assert len([e for e in log if "not relieved" in e["text"]]) == 1

    # The alert (a major incident, not an open item) does not block the handover itself.
    env.run("duty", "handover", "start", "--from", out[0], "--to", inc[0])
    env.run("daemon", "run-job", "not-relieved")
    assert _events(env)[0]["status"] != "closed"  # started is not relieved
    _complete(env, out[0], inc[0])
    res = json.loads(env.run("--json", "daemon", "run-job", "not-relieved").stdout)
    assert "1 relieved since" in res["result"], res
    ev = _events(env)[0]
    assert ev["status"] == "closed" and ev["close_reason"] == "handover 1 completed"
    res = json.loads(env.run("--json", "daemon", "run-job", "not-relieved").stdout)
    assert res["result"] == "every shift change relieved"
    assert len(_events(env)) == 1


def test_not_relieved_is_quiet_before_the_deadline_and_without_a_roster(tmp_path):
    env, _change = roster_env(tmp_path / "early", -10)  # 10 of 30 minutes gone
    res = json.loads(env.run("--json", "daemon", "run-job", "not-relieved").stdout)
    assert res["result"] == "every shift change relieved" and _events(env) == []
    draft, _ = roster_env(tmp_path / "draft", -40, approve=False)
    res = json.loads(draft.run("--json", "daemon", "run-job", "not-relieved").stdout)
    assert res["result"] == "every shift change relieved" and _events(draft) == []
