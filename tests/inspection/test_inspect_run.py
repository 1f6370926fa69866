"""Running profiles end to end on the real store (SQLite): concurrency and per-check
timeouts, manual answers and how mismatches are recorded, append-only records, and the
follow-ups opened in the real duty log."""

from __future__ import annotations

import subprocess
import time

import pytest
from inspect_helpers import load, profile, store_for, write_config

from opsctl.core.errors import Status
from opsctl.inspection import registry
from opsctl.inspection.answers import match_answers
from opsctl.inspection.checks.base import Check, CheckResult, Param
from opsctl.inspection.engine import run_profile
from opsctl.inspection.records import find, get


class _Sleep(Check):
    """A test plugin: sleeps, then reports the status it was asked for."""

    name = "test_sleep"
    summary = "test only"
    params = (Param("seconds", "number", 0.0, "how long"),
              Param("status", "str", "ok", "result", choices=("ok", "warn", "crit", "boom")))

    def run(self, ctx, p):
        time.sleep(p["seconds"])
        if p["status"] == "boom":
            raise RuntimeError("plugin bug")
        return CheckResult(Status.parse(p["status"]), f"slept {p['seconds']:g}s",
                           p["seconds"])


@pytest.fixture(autouse=True)
def sleep_plugin():
    registry.load()
    registry.register(_Sleep)
    yield
    registry._CHECKS.pop("test_sleep", None)


MANUAL = [
    {"id": "extinguishers", "question": "Extinguishers present?", "type": "yesno"},
    {"id": "leaks", "question": "No leaks?", "type": "yesno", "fail_status": "crit"},
    {"id": "temp", "question": "Room temp?", "type": "number", "min": 15, "max": 27},
    {"id": "gear", "question": "Switchgear?", "type": "choice",
     "choices": ["normal", "alarm"], "expect": "normal"},
    {"id": "notes", "question": "Notes?", "type": "text", "required": False},
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def env(tmp_path, request):
    extra = {}
    if request.param == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        extra["store"] = {"url": cluster.socket_url(cluster.new_database())}
    cfg = load(write_config(tmp_path, [
        profile("daily", [{"id": "fast", "check": "test_sleep"},
                          {"id": "warnish", "check": "test_sleep",
                           "params": {"status": "warn"}},
                          *MANUAL]),
        profile("slow", [{"id": f"s{i}", "check": "test_sleep", "params": {"seconds": 0.4}}
                         for i in range(6)]
                + [{"id": "stuck", "check": "test_sleep",
                    "params": {"seconds": 3, "timeout": 0.3}},
                   {"id": "bug", "check": "test_sleep", "params": {"status": "boom"}}]),
    ], **extra))
    store = store_for(cfg)
    yield cfg, store
    store.close()


def test_checks_run_concurrently_and_time_out_alone(env):
    cfg, store = env
    t0 = time.monotonic()
    rec = run_profile(cfg, store, "slow", "alice")
    took = time.monotonic() - t0
    # six 0.4 s checks side by side, the stuck one cut at 0.3 s: ~0.5 s; in a row 2.7 s
    assert took < 2.2, took
    by = {it.item_id: it for it in rec.items}
    assert all(by[f"s{i}"].status == Status.OK for i in range(6))
    assert by["stuck"].status == Status.UNKNOWN and by["stuck"].message == "timed out after 0.3 s"
    assert by["bug"].status == Status.UNKNOWN
    assert by["bug"].message == "check failed: RuntimeError: plugin bug"
    assert rec.status == Status.UNKNOWN
    assert [it.item_id for it in rec.items] == [f"s{i}" for i in range(6)] + ["stuck", "bug"]


def test_answers_graded_and_recorded(env):
    cfg, store = env
    answers = {"extinguishers": "yes", "leaks": {"answer": "no", "note": "drip under CRAC 2"},
               "temp": "24,5", "gear": "NORMAL"}
    rec = run_profile(cfg, store, "daily", "alice", answers=answers)
    by = {it.item_id: it for it in rec.items}
    assert by["extinguishers"].status == Status.OK and by["extinguishers"].answer is True
    assert by["leaks"].status == Status.CRITICAL and by["leaks"].note == "drip under CRAC 2"
    assert by["temp"].status == Status.OK and by["temp"].answer == 24.5
    assert by["gear"].answer == "normal"
    assert by["notes"].status == Status.OK and by["notes"].skipped
    assert by["warnish"].status == Status.WARNING
    assert rec.status == Status.CRITICAL
    back = get(store, rec.id)
    assert back.to_dict() == rec.to_dict() | {"followups": back.to_dict()["followups"]}
    assert back.items[3].note == "drip under CRAC 2" and back.inspector == "alice"


def test_unanswered_is_unknown_never_passed(env):
    cfg, store = env
    rec = run_profile(cfg, store, "daily", "bob")
    by = {it.item_id: it for it in rec.items}
    for key in ("extinguishers", "leaks", "temp", "gear"):
        assert by[key].status == Status.UNKNOWN and by[key].skipped
        assert by[key].message == "not answered (skipped)"
    assert rec.status == Status.UNKNOWN


def test_answers_not_matching_profile(env):
    cfg, store = env
    prof = cfg.profile("daily")
    raw = {"__file__": "ans.yaml", "profile": "slow",
           "answers": {"extinguishers": "maybe", "temp": 40, "fast": "yes", "ghost": "no",
                       "gear": {"answer": "normal", "nope": 1}}}
    aset = match_answers(prof, raw)
    assert aset.problems == [
        "answers file ans.yaml is for profile 'slow', not 'daily'",
        "answers file ans.yaml: extinguishers: answer 'maybe' is not yes or no",
        "answers file ans.yaml: 'fast' is an automatic check, not a manual item",
        "answers file ans.yaml: 'ghost' is not an item of profile 'daily' (manual items: "
        "extinguishers, leaks, temp, gear, notes)",
        "answers file ans.yaml: gear: unknown keys ['nope'] (expected answer, note)",
    ]
    rec = run_profile(cfg, store, prof, "alice", aset)
    by = {it.item_id: it for it in rec.items}
    assert by["extinguishers"].status == Status.UNKNOWN
    assert by["extinguishers"].message.startswith("invalid answer: answer 'maybe'")
    assert by["temp"].status == Status.WARNING and "above the maximum 27" in by["temp"].message
    assert by["gear"].status == Status.OK
    assert by["fast"].status == Status.OK  # the checks still ran
    assert get(store, rec.id).problems == aset.problems


def test_records_are_append_only(env):
    cfg, store = env
    rec = run_profile(cfg, store, "daily", "alice", answers={"leaks": "yes"})
    for sql in (f"UPDATE inspection_runs SET status='OK' WHERE id={rec.id}",
                f"DELETE FROM inspection_items WHERE run_id={rec.id}",
                f"UPDATE inspection_items SET answer='true' WHERE run_id={rec.id}"):
        if store.backend == "sqlite":
            proc = subprocess.run(["sqlite3", str(store.path), sql], capture_output=True,
                                  text=True)
            assert proc.returncode != 0 and "append-only" in proc.stderr, sql
        else:  # straight to the server, past opsctl (the triggers refuse it)
            with pytest.raises(Exception, match="append-only"), store.engine.begin() as c:
                c.exec_driver_sql(sql)
    assert get(store, rec.id).to_dict()["status"] == rec.status.name
    rec2 = run_profile(cfg, store, "daily", "bob", answers={"leaks": "yes"})
    assert rec2.id == rec.id + 1
    assert [r.id for r in find(store)] == [rec.id, rec2.id]


def test_failing_items_open_followups_in_the_duty_log(env):
    from opsctl.handover import dutylog

    cfg, store = env
    rec = run_profile(cfg, store, "daily", "alice",
                      answers={"extinguishers": True, "leaks": {"answer": False,
                                                                "note": "puddle"},
                               "temp": 20, "gear": "normal"})
    assert [f["item_id"] for f in rec.followups] == ["warnish", "leaks"]
    warn_entry = dutylog.get(store, rec.followups[0]["seq"])
    crit_entry = dutylog.get(store, rec.followups[1]["seq"])
    assert warn_entry.category == "patrol" and warn_entry.severity == "minor"
    assert crit_entry.category == "incident" and crit_entry.severity == "major"
    assert crit_entry.pending and crit_entry.source == "inspection"
    assert f"Inspection #{rec.id} (daily, alice): leaks CRITICAL" in crit_entry.text
    assert "note: puddle" in crit_entry.text
    assert crit_entry.details["inspection_id"] == rec.id
    assert get(store, rec.id).followups == rec.followups
    assert {i.root for i in dutylog.open_items(store)} >= {warn_entry.seq, crit_entry.seq}


def test_a_persisting_fault_keeps_one_open_followup(env):
    from opsctl.handover import dutylog

    cfg, store = env
    answers = {"extinguishers": True, "leaks": {"answer": False, "note": "puddle"},
               "temp": 20, "gear": "normal"}
    first = run_profile(cfg, store, "daily", "alice", answers=answers)
    seqs = {f["item_id"]: f["seq"] for f in first.followups}
    later = [run_profile(cfg, store, "daily", "alice", answers=answers) for _ in range(3)]
    # Still failing: no new item, the open one is counted (count, first and last seen).
    last = later[-1]
    assert {f["item_id"]: f["seq"] for f in last.followups} == seqs
    leaks = next(f for f in last.followups if f["item_id"] == "leaks")
    assert leaks["repeat"] is True and leaks["count"] == 4
    assert leaks["first_seen"] == first.finished_at.isoformat()
    assert leaks["last_seen"] == last.finished_at.isoformat()
    opened = [i.root for i in dutylog.open_items(store)]
    assert sorted(opened) == sorted(seqs.values())
    # Closed by someone: the next failure opens a new item.
    dutylog.close(cfg, store, seqs["leaks"], "mopped up", by="alice")
    again = run_profile(cfg, store, "daily", "alice", answers=answers)
    new = next(f for f in again.followups if f["item_id"] == "leaks")
    assert new["seq"] != seqs["leaks"] and not new.get("repeat")
