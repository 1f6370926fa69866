"""Plan model: config validation, resolution into typed steps, the UPS charging rule.

No network here; the same code runs against real sshd/snmpd in test_plans_run.py.
"""

from __future__ import annotations

import pytest
import yaml

from opsctl.core.config import load_config
from opsctl.core.errors import ConfigError, NotFoundError, UsageError
from opsctl.power.plans import build_plan, validate_plans
from opsctl.power.plans.model import (
    LocalCommand,
    RemoteCommand,
    Sleep,
    WaitPort,
    WaitUpsCharging,
)
from opsctl.power.plans.waits import ups_charging, wait_for

HOSTS = [{"name": "app1", "address": "10.0.0.5", "port": 2222, "user": "ops"},
         {"name": "db1", "address": "db1.example.org"}]
UPS = [{"name": "ups1", "kind": "ups", "host": "127.0.0.1",
        "snmp": {"version": "2c", "community": "x"}}]


def cfg_with(tmp_path, plans, hosts=HOSTS, devices=UPS):
    path = tmp_path / "opsctl.yaml"
    path.write_text(yaml.safe_dump({"site": {"name": "t"}, "state_dir": "state",
                                    "hosts": hosts, "devices": devices,
                                    "power": {"plans": plans}}, sort_keys=False))
    return load_config(path)


def test_steps_resolve_to_typed_actions(tmp_path):
    cfg = cfg_with(tmp_path, [
        {"name": "room", "kind": "shutdown", "steps": [
            {"name": "apps", "host": "app1", "command": "systemctl poweroff",
             "wait": {"type": "host_down", "timeout": 60}},
            {"name": "db", "host": "db1", "command": ["systemctl", "poweroff"],
             "expect_disconnect": False},
            {"name": "pdu", "command": ["snmpset", "-v2c", "pdu", "x"], "timeout": 5},
            {"name": "pause", "wait": {"type": "sleep", "seconds": 30}}]},
        {"name": "back", "kind": "restore", "ups": "ups1", "steps": [
            {"name": "charging", "wait": {"type": "ups_charging", "accept": ["chrg", "OL"]}},
            {"name": "db", "host": "db1", "wait": {"type": "port_open", "port": 5432}}]}])
    plan = build_plan(cfg, "room", "shutdown")
    apps, db, pdu, pause = plan.steps
    assert isinstance(apps.command, RemoteCommand)
    assert apps.command.argv == ["systemctl", "poweroff"] and apps.command.disconnect_ok
    assert apps.wait == WaitPort("host_down", "10.0.0.5", 2222, 60.0, 5.0)
    assert apps.command.describe() == "ssh ops@10.0.0.5:2222 systemctl poweroff"
    assert isinstance(db.command, RemoteCommand) and not db.command.disconnect_ok
    assert pdu.command == LocalCommand(["snmpset", "-v2c", "pdu", "x"], 5.0)
    assert pause.wait == Sleep(30.0) and pause.where == "local"
    back = build_plan(cfg, "back")
    assert back.steps[0].wait == WaitUpsCharging("ups1", ("CHRG", "OL"), 300.0, 5.0)
    assert back.steps[1].wait == WaitPort("port_open", "db1.example.org", 5432, 300.0, 5.0)
    assert back.steps[1].where == "db1"
    assert [p.name for p in validate_plans(cfg)] == ["room", "back"]


def test_kind_and_name_checked(tmp_path):
    cfg = cfg_with(tmp_path, [{"name": "room", "kind": "shutdown",
                               "steps": [{"name": "a", "host": "app1", "command": ["true"]}]}])
    with pytest.raises(UsageError, match="is a shutdown plan, not a restore plan"):
        build_plan(cfg, "room", "restore")
    with pytest.raises(NotFoundError, match=r"unknown power plan 'nope' \(known: room\)"):
        build_plan(cfg, "nope")


@pytest.mark.parametrize(("step", "message"), [
    ({"name": "a", "host": "ghost", "command": ["true"]},
     r"power.plans\[0\].steps\[0\].host: unknown host 'ghost' \(known: app1, db1\)"),
    ({"name": "a", "wait": {"type": "ups_charging", "ups": "ups9"}},
     r"steps\[0\].wait.ups: unknown UPS 'ups9'"),
    ({"name": "a", "wait": {"type": "ups_charging"}},
     r"ups_charging needs wait.ups or the plan's ups"),
])
def test_bad_references_name_file_and_line(tmp_path, step, message):
    # The config loader runs the plans' hook, so `opsctl config check` catches these too.
    with pytest.raises(ConfigError, match=message) as ei:
        cfg_with(tmp_path, [{"name": "room", "kind": "shutdown", "steps": [step]}])
    assert str(ei.value).startswith(f"{tmp_path / 'opsctl.yaml'}:")


@pytest.mark.parametrize(("step", "message"), [
    ({"name": "a"}, "a step needs a command, a wake_on_lan, a wait"),
    ({"name": "a", "command": []}, "command must not be empty"),
    ({"name": "a", "command": "echo 'unbalanced"}, "No closing quotation"),
    ({"name": "a", "wait": {"type": "sleep"}}, "a sleep wait needs seconds"),
    ({"name": "a", "wait": {"type": "host_down"}}, "a host_down wait needs the step's host"),
    ({"name": "a", "host": "app1", "wait": {"type": "port_closed"}},
     "a port_closed wait needs port"),
    ({"name": "a", "wait": {"type": "reboot"}}, "must be one of host_down"),
    ({"name": "a", "command": ["true"], "wake_on_lan": {"mac": "52:54:00:ab:cd:ef"}},
     "command or wake_on_lan, not both"),
    ({"name": "a", "wake_on_lan": {"mac": "52:54:00:ab:cd"}}, "wake_on_lan.mac"),
])
def test_schema_errors(tmp_path, step, message):
    with pytest.raises(ConfigError, match=message) as ei:
        cfg_with(tmp_path, [{"name": "room", "kind": "shutdown", "steps": [step]}])
    assert "power.plans[0].steps[0]" in str(ei.value)


@pytest.mark.parametrize(("reading", "ok", "why"), [
    ({"reachable": True, "values": {"ups.status": "OL CHRG", "battery.charge": 40}}, True,
     "ups.status OL CHRG"),
    ({"reachable": True, "values": {"ups.status": "OL", "battery.charge": 100}}, True, "full"),
    ({"reachable": True, "values": {"ups.status": "OL", "battery.charge": 80}}, False,
     "battery.charge 80%"),
    ({"reachable": True, "values": {"ups.status": "OB DISCHRG", "battery.charge": 90}}, False,
     "on battery"),
    ({"reachable": True, "values": {"ups.status": "OB CHRG"}}, False, "on battery"),
    ({"reachable": True, "values": {}}, False, "ups.status not reported"),
    ({"reachable": False, "reason": "timeout", "values": {}}, False, "no answer (timeout)"),
])
def test_ups_charging_rule(reading, ok, why):
    got, text = ups_charging(reading, ("CHRG",))
    assert got is ok and why in text


def test_ups_wait_polls_until_charging_then_stops():
    # A fake clock/sleep: the real SNMP path is in test_plans_run.py.
    seq = iter(["OB DISCHRG", "OL", "OL CHRG"])
    calls = []

    def poller(cfg, names):
        calls.append(names)
        return [{"name": "ups1", "reachable": True, "values": {"ups.status": next(seq)}}]

    now = [0.0]
    out = wait_for(WaitUpsCharging("ups1", ("CHRG",), 60, 5), poller=poller,
                   clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert out.satisfied and out.probes == 3 and calls == [["ups1"]] * 3
    assert now[0] == 10.0


def test_ups_wait_reports_poll_errors_and_times_out():
    def poller(cfg, names):
        raise RuntimeError("agent exploded")

    now = [0.0]
    out = wait_for(WaitUpsCharging("ups1", ("CHRG",), 12, 5), poller=poller,
                   clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert not out.satisfied and out.probes == 4  # at 0, 5, 10 and the deadline, 12
    assert out.detail == "timed out after 12s: poll of ups1 failed: agent exploded"
