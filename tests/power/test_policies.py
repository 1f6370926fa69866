"""Power policies: config, the state machine, simulate (the daemon end to end:
tests/daemon/test_daemon_policies.py)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import yaml

from opsctl.core.config import load_config
from opsctl.power.model import DeviceReading
from opsctl.power.policies import evaluate, ups_views

T0 = dt.datetime(2026, 1, 10, 2, 0, tzinfo=dt.UTC)

PLANS = [
    {"name": "room", "kind": "shutdown", "steps": [
        {"name": "stop app1", "host": "app1", "group": "apps", "command": ["true"]},
        {"name": "stop app2", "host": "app2", "group": "apps", "command": ["true"]},
        {"name": "this host", "command": ["true"]}]},
    {"name": "room-restore", "kind": "restore", "steps": [
        {"name": "app1 back", "host": "app1", "command": ["true"]}]},
]
POLICY = {"name": "room-cut", "ups": ["ups1", "ups2"], "when": "all", "on_battery_for": "5m",
          "runtime_below": "10m", "low_battery": True, "plan": "room",
          "restore_plan": "room-restore", "restore_after": "3m", "restore_min_charge": 50}


def write(tmp_path: Path, policy: dict | None = None, plans=None) -> Path:
    cfg = {"site": {"name": "t"}, "state_dir": str(tmp_path / "state"),
           "hosts": [{"name": n, "address": "127.0.0.1", "port": 22, "user": "root"}
                     for n in ("app1", "app2")],
           "devices": [{"name": n, "kind": "ups", "host": "127.0.0.1",
                        "snmp": {"version": "2c", "community": n}} for n in ("ups1", "ups2")],
           "power": {"plans": plans or PLANS, "policies": [policy or POLICY]}}
    path = tmp_path / "opsctl.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def opsctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opsctl", *args], capture_output=True,
                          text=True, timeout=60)


def ups(name: str, status: str | None, charge: float = 100, runtime: float = 3600):
    if status is None:
        return DeviceReading(name, "ups", False, error="timeout")
    return DeviceReading(name, "ups", True, values={"ups.status": status,
                                                    "battery.charge": charge,
                                                    "battery.runtime": runtime})


class Machine:
    """Drives evaluate() like the engine does, with a fake clock."""

    def __init__(self, policy):
        self.policy = policy
        self.state: dict = {}
        self.last_ob: dict = {}
        self.now = T0

    def step(self, after: float, *readings, run_result=None):
        self.now += dt.timedelta(seconds=after)
        views = ups_views(list(readings), self.last_ob)
        out = evaluate(self.policy, self.state, views, self.now, run_result)
        self.state = out.state
        return [(a.what, a.kind) for a in out.actions]


def test_policy_config_durations_and_references(tmp_path):
    cfg = load_config(write(tmp_path))
    p = cfg.power.policies[0]
    assert (p.on_battery_for, p.runtime_below, p.restore_after) == (300, 600, 180)
    assert cfg.power.plans[0].final_delay == 5

    bad = dict(POLICY, ups=["ups1", "ghost"])
    proc = opsctl("-c", str(write(tmp_path, bad)), "power", "policies")
    assert proc.returncode == 2 and "power.policies[0].ups[1]: unknown UPS 'ghost'" in \
        proc.stderr and "Traceback" not in proc.stderr
    bad = dict(POLICY, plan="room-restore")
    proc = opsctl("-c", str(write(tmp_path, bad)), "power", "policies")
    assert proc.returncode == 2 and "plan 'room-restore' is a restore plan; plan needs a " \
        "shutdown plan" in proc.stderr
    bad = dict(POLICY, on_battery_for="soon")
    proc = opsctl("-c", str(write(tmp_path, bad)), "power", "policies")
    assert proc.returncode == 2 and "on_battery_for" in proc.stderr and \
        "'soon' is not a duration" in proc.stderr


def test_blip_only_logs(tmp_path):
    m = Machine(load_config(write(tmp_path)).power.policies[0])
    assert m.step(0, ups("ups1", "OL"), ups("ups2", "OL")) == []
    assert m.step(10, ups("ups1", "OB DISCHRG"), ups("ups2", "OB DISCHRG")) == [("log", "armed")]
    assert m.step(60, ups("ups1", "OB DISCHRG"), ups("ups2", "OB DISCHRG")) == []
    assert m.step(30, ups("ups1", "OL CHRG"), ups("ups2", "OL CHRG")) == [("log", "blip")]
    assert m.state["state"] == "idle"


def test_when_all_needs_every_ups(tmp_path):
    m = Machine(load_config(write(tmp_path)).power.policies[0])
    assert m.step(0, ups("ups1", "OB"), ups("ups2", "OL")) == []
    assert m.step(600, ups("ups1", "OB LB", runtime=60), ups("ups2", "OL")) == []
    m = Machine(load_config(write(tmp_path, dict(POLICY, when="any"))).power.policies[0])
    assert m.step(0, ups("ups1", "OB"), ups("ups2", "OL")) == [("log", "armed")]


def test_full_cycle_cut_shutdown_mains_back_restore(tmp_path):
    m = Machine(load_config(write(tmp_path)).power.policies[0])
    ob = (ups("ups1", "OB DISCHRG", 90), ups("ups2", "OB DISCHRG", 90))
    assert m.step(0, *ob) == [("log", "armed")]
    assert m.step(299, *ob) == []
    assert m.step(1, *ob) == [("alert", "triggered"), ("start", "shutdown")]
    assert m.state["state"] == "shutdown"
    assert m.step(5, *ob) == []                        # the plan runs
    assert m.step(5, *ob, run_result="failed") == [("alert", "plan-done")]
    assert m.state["state"] == "down"
    low = (ups("ups1", "OL CHRG", 30), ups("ups2", "OL CHRG", 60))
    assert m.step(60, *low) == [("alert", "restore-armed")]
    assert m.step(200, *low) == []                     # stable, but ups1 charged to 30 %
    assert "ups1 30%" in m.state["waiting"]
    ok = (ups("ups1", "OL CHRG", 55), ups("ups2", "OL CHRG", 60))
    assert m.step(10, *ok) == [("alert", "restore-started"), ("start", "restore")]
    assert m.step(10, *ok, run_result="ok") == [("alert", "restore-done")]
    assert m.state["state"] == "idle"


def test_urgent_triggers_and_lost_ups(tmp_path):
    pol = load_config(write(tmp_path)).power.policies[0]
    m = Machine(pol)
    acts = m.step(0, ups("ups1", "OB", runtime=300), ups("ups2", "OB"))
    assert acts == [("log", "armed"), ("alert", "triggered"), ("start", "shutdown")]
    # NUT's rule: a UPS seen on battery that goes silent is at low battery.
    m = Machine(pol)
    m.step(0, ups("ups1", "OB"), ups("ups2", "OB"))
    assert m.step(5, ups("ups1", None), ups("ups2", "OB")) == [("alert", "triggered"),
                                                               ("start", "shutdown")]
    m = Machine(pol)
    m.step(0, ups("ups1", "OB LB"), ups("ups2", "OB"))
    assert m.state["state"] == "shutdown"


def test_mains_back_mid_shutdown_cancels_then_restores(tmp_path):
    m = Machine(load_config(write(tmp_path)).power.policies[0])
    m.step(0, ups("ups1", "OB LB"), ups("ups2", "OB"))
    ol = (ups("ups1", "OL CHRG", 80), ups("ups2", "OL CHRG", 80))
    assert m.step(5, *ol) == [("alert", "cancelled"), ("cancel", "")]
    assert m.step(5, *ol) == []                        # plan still stopping
    assert m.step(5, *ol, run_result="cancelled") == [("alert", "restore-armed")]
    # The mains-back time counts from when mains came back, not from the plan's end.
    assert m.step(170, *ol) == [("alert", "restore-started"), ("start", "restore")]


def test_simulate_prints_a_timeline_and_touches_nothing(tmp_path):
    path = write(tmp_path)
    proc = opsctl("-c", str(path), "power", "simulate", "room-cut", "--event", "on-battery")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "+5m  still on battery after 5m: policy triggered" in out
    assert "step 1 'stop app1' on app1 (in parallel)" in out
    assert "final delay 5s" in out and "step 3 'this host' on local" in out
    proc = opsctl("-c", str(path), "--json", "power", "simulate", "room-cut", "--event",
                  "mains-back")
    data = json.loads(proc.stdout)
    assert data["touches_nothing"] is True
    assert any("restore plan room-restore started" in m["text"] and m["at"] == 180
               for m in data["timeline"])
    proc = opsctl("-c", str(path), "power", "simulate", "room-cut", "--event",
                  "low-battery")
    assert "+0s  low battery on all of ups1, ups2: policy room-cut triggered at once" in \
        proc.stdout
    assert not (tmp_path / "state").exists()
    proc = opsctl("-c", str(path), "power", "simulate", "nope", "--event", "on-battery")
    assert proc.returncode != 0 and "unknown power policy 'nope'" in proc.stderr


def test_policies_listing(tmp_path):
    path = write(tmp_path)
    proc = opsctl("-c", str(path), "--json", "power", "policies")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert rows[0]["name"] == "room-cut" and rows[0]["state"] == "idle"
