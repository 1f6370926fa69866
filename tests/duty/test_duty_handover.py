"""A full handover between two people through the CLI on a real store, and everything
that must refuse it."""

from __future__ import annotations

import json

from duty_support import local_day, make_env, two_shift_config

QUICK_PROFILE = """\
inspection:
  profiles:
    - name: quick
      items:
        - {id: load, check: load, params: {warn: 1000, crit: 2000}}
        - {id: memory, check: memory, params: {warn: 99.5, crit: 99.9}}
"""


def _status(env) -> dict:
    return json.loads(env.run("--json", "duty", "handover", "status").stdout)


def test_full_handover_to_both_signatures(tmp_path):
    text = two_shift_config().replace("  handover:\n", "  handover:\n"
                                      "    snapshot_profile: quick\n") + QUICK_PROFILE
    env = make_env(tmp_path, text)
    env.run("duty", "log", "add", "patrol: all normal", "--category", "patrol", "--by", "a1")
    env.run("duty", "log", "add", "disk 3 predicted failure", "--category", "incident",
            "--severity", "major", "--pending", "--status", "spare ordered", "--by", "a1")
    brief = json.loads(env.run("--json", "duty", "handover", "start", "--from", "a1",
                               "--to", "b1").stdout)
    assert [i["seq"] for i in brief["open_items"]] == [2]
    assert [e["seq"] for e in brief["entries"]][:2] == [1, 2]
    assert {i["name"] for i in brief["inventory"]} == {"torch", "rack keys"}
    assert "open item 2 not yet accepted by b1" in brief["missing"]
    assert brief["roster"]["shift_change"] is None  # no roster this month: advice only
    # Not signable yet; only the incoming person accepts.
    assert "cannot be signed yet" in env.run("duty", "handover", "sign", "--as", "a1",
                                             check=1).stderr
    env.run("duty", "handover", "accept", "2", "--by", "a1", check=1)
    env.run("duty", "handover", "accept", "2", "--by", "b1")
    env.run("duty", "handover", "inventory", "torch", "2")
    disc = json.loads(env.run("--json", "duty", "handover", "inventory", "rack keys", "3",
                              "--note", "one key at the vendor").stdout)["discrepancy_entry"]
    assert disc  # the discrepancy is an open item of its own, to be taken over too
    assert f"open item {disc} not yet accepted by b1" in _status(env)["missing"]
    env.run("duty", "handover", "accept", str(disc))
    # A fault during the handover suspends it; the outgoing shift handles it.
    env.run("duty", "handover", "suspend", "--reason", "UPS alarm", "--by", "a1")
    assert "suspended" in env.run("duty", "handover", "sign", "--as", "a1", check=1).stderr
    env.run("duty", "handover", "resume", "--by", "a1")
    snap = json.loads(env.run("--json", "duty", "handover", "snapshot").stdout)
    assert snap["source"] == "inspection run" and snap["profile"] == "quick", snap
    assert snap["record_id"]
    assert _status(env)["missing"] == []
    env.run("duty", "handover", "sign", "--as", "a1")
    twice = env.run("duty", "handover", "sign", "--as", "a1", check=2)
    assert "already signed" in twice.stderr
    third = env.run("duty", "handover", "sign", "--as", "b2", check=1)
    assert "neither the outgoing" in third.stderr
    assert _status(env)["current"]["state"] == "open"  # void until both have signed
    done = json.loads(env.run("--json", "duty", "handover", "sign", "--as", "b1").stdout)
    assert done["state"] == "complete" and done["signed_out_at"] and done["signed_in_at"]
    assert _status(env)["current"] is None
    hs = json.loads(env.run("--json", "duty", "handover", "list").stdout)
    assert [h["state"] for h in hs] == ["complete"]
    shown = json.loads(env.run("--json", "duty", "handover", "show", "1").stdout)
    assert shown["handover"]["items"]["2"]["decision"] == "accepted"
    log = json.loads(env.run("--json", "duty", "log", "list").stdout)
    texts = [e["text"] for e in log]
    assert "handover 1 complete: a1 -> b1" in texts
    assert "handover 1 signed by a1 (outgoing) (login only: no SSH key)" in texts
    env.run("duty", "log", "verify")
    # The export carries the handover and the snapshot's inspection record.
    day = local_day(log[0]["ts"])
    out = tmp_path / "exp" / "day.json"
    env.run("duty", "export", "--from", day, "--to", day, "--format", "json", "-o", str(out))
    exported = json.loads(out.read_text())
    assert [h["state"] for h in exported["handovers"]] == ["complete"]
    assert [r["profile"] for r in exported["inspections"]] == ["quick"]
    # The next handover reads from where this one ended.
    nxt = json.loads(env.run("--json", "duty", "handover", "start", "--from", "b1",
                             "--to", "a2").stdout)
    assert nxt["handover"]["since_seq"] == done["end_seq"]
    assert env.run("duty", "handover", "show").stdout  # human rendering works too


def test_bad_handovers_are_refused_and_nothing_written(env):
    env.run("duty", "log", "add", "quiet shift")
    same = env.run("duty", "handover", "start", "--from", "a1", "--to", "a1", check=2)
    assert "two different people" in same.stderr
    unknown = env.run("duty", "handover", "start", "--from", "a1", "--to", "zed", check=2)
    assert "unknown person 'zed'" in unknown.stderr
    assert json.loads(env.run("--json", "duty", "handover", "list").stdout) == []
    env.run("duty", "handover", "sign", "--as", "a1", check=2)  # no handover in progress
    assert len(json.loads(env.run("--json", "duty", "log", "list").stdout)) == 1


def test_handover_blocked_by_storage_operation_critical_incident_incomplete_records(env):
    from opsctl.core.journal import ChangeRecord, recorded_change

    env.run("duty", "log", "add", "start of shift")
    store = env.store()
    with recorded_change(store, ChangeRecord(domain="storage", action="grow", target="vg0/data")):
        blocked = env.run("duty", "handover", "start", "--from", "a1", "--to", "b1", check=1)
        assert "storage operation in progress" in blocked.stderr
    store.close()
    env.run("duty", "log", "add", "fire alarm in room 2", "--category", "incident",
            "--severity", "critical", "--pending")
    blocked = env.run("duty", "handover", "start", "--from", "a1", "--to", "b1", check=1)
    assert "critical incident 2 is open" in blocked.stderr
    env.run("duty", "log", "close", "2", "--result", "false alarm, sensor replaced")
    env.run("duty", "log", "add", "caller reports slow VPN", "--category", "call", "--pending")
    env.run("duty", "log", "add", "odd noise", "--category", "incident")
    blocked = env.run("duty", "handover", "start", "--from", "a1", "--to", "b1", check=1)
    assert "open item 4 has no status note" in blocked.stderr
    assert "incident entry 5 has no severity" in blocked.stderr
    env.run("duty", "log", "amend", "4", "--reason", "status", "--text",
            "caller reports slow VPN", "--status", "network team on it")
    env.run("duty", "log", "amend", "5", "--reason", "severity missing", "--text", "odd noise")
    still = env.run("duty", "handover", "start", "--from", "a1", "--to", "b1", check=1)
    assert "incident entry 7 has no severity" in still.stderr  # the amendment had none
    env.run("duty", "log", "amend", "7", "--reason", "severity missing", "--text",
            "odd noise: fan bearing", "--severity", "minor")
    env.run("duty", "handover", "start", "--from", "a1", "--to", "b1")
    assert _status(env)["current"]["state"] == "open"


def test_refused_item_goes_back_to_the_outgoing_shift(env):
    env.run("duty", "log", "add", "backup job failed twice", "--category", "incident",
            "--severity", "minor", "--pending", "--status", "rerun scheduled", "--by", "a1")
    env.run("duty", "handover", "start", "--from", "a1", "--to", "b1")
    env.run("duty", "handover", "refuse", "1", check=2)  # a reason is required
    env.run("duty", "handover", "refuse", "1", "--reason", "root cause unknown")
    assert any("refused (root cause unknown)" in m for m in _status(env)["missing"])
    env.run("duty", "handover", "inventory", "torch", "2")
    env.run("duty", "handover", "inventory", "rack keys", "4")
    env.run("duty", "handover", "inventory", "crowbar", "1", check=2)  # not in inventory
    env.run("duty", "handover", "snapshot")
    assert "refused" in env.run("duty", "handover", "sign", "--as", "b1", check=1).stderr
    env.run("duty", "log", "close", "1", "--result", "disk full, cleaned, rerun ok",
            "--by", "a1")
    assert _status(env)["missing"] == []
    env.run("duty", "handover", "sign", "--as", "b1")
    env.run("duty", "handover", "sign", "--as", "a1")
    assert _status(env)["current"] is None
