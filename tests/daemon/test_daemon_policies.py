"""Power policies end to end: the real daemon process, a real net-snmp snmpd whose UPS
answers change during the test (a ``pass_persist`` script reading a file), real sshd
"hosts" on 127.0.0.1 whose shutdown / start commands are harmless markers.

Mains fails briefly (nothing but a log entry), then for longer than ``on_battery_for``
(the shutdown plan runs: a parallel group, a dead host that fails while the rest is done,
this host last after its final delay), then mains comes back (the restore plan once the
battery is charged). A second test kills the daemon with SIGKILL during a step: the
restarted daemon resumes the run and runs no step twice.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from daemon_support import base_config, wait_for, write_config
from snmp_agents import Snmpd, snmpd_available
from sshd import SshServer
from ups_pass import ChangingUps

from opsctl.core.config import load_config
from opsctl.core.store import Store

pytestmark = [pytest.mark.ssh,
              pytest.mark.skipif(not snmpd_available(), reason="net-snmp snmpd not installed")]

@pytest.fixture
def ups(tmp_path):
    values = ChangingUps(tmp_path / "ups-state.json")
    agent = Snmpd(community="ups-ro", extra=[values.pass_line()]).start()
    yield values, agent
    agent.stop()


@pytest.fixture
def servers(tmp_path):
    made: list[SshServer] = []

    def make(name: str, start: bool = True) -> SshServer:
        srv = SshServer(tmp_path, name)
        made.append(srv)
        return srv.start() if start else srv

    yield make
    for srv in made:
        srv.stop()


def mark(marker: Path, label: str, sleep: float = 0) -> list[str]:
    # "label start <t>", optionally sleep, then "label end <t>": the test checks order,
    # parallelism and that nothing ran twice.
    script = f'echo "{label} start $(date +%s.%N)" >> {marker}'
    if sleep:
        script += f"; sleep {sleep}"
    script += f'; echo "{label} end $(date +%s.%N)" >> {marker}'
    return ["sh", "-c", script]


def lines(marker: Path) -> list[tuple[str, str, float]]:
    if not marker.exists():
        return []
    out = []
    for ln in marker.read_text().splitlines():
        label, what, t = ln.split()
        out.append((label, what, float(t)))
    return out


def at(marker: Path, label: str, what: str) -> float:
    hits = [t for lab, w, t in lines(marker) if lab == label and w == what]
    assert len(hits) == 1, (label, what, lines(marker))
    return hits[0]


def opsctl(cfg: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opsctl", "-c", str(cfg), *args],
                          capture_output=True, text=True, timeout=60)


def policy_state(cfg: Path) -> str:
    proc = opsctl(cfg, "--json", "power", "policies")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)[0]["state"]


def history(cfg: Path) -> list[dict]:
    proc = opsctl(cfg, "--json", "power", "plan", "history")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def duty_texts(cfg_path: Path) -> list[str]:
    from opsctl.handover.dutylog import list_entries

    cfg = load_config(cfg_path)
    store = Store.for_config(cfg)
    try:
        return [e.text for e in list_entries(cfg, store)]
    finally:
        store.close()


def config(tmp_path: Path, agent: Snmpd, hosts: list[dict], plans: list[dict], policy: dict,
           webhook=None) -> Path:
    alerts = {}
    if webhook is not None:
        alerts = {"targets": [{"name": "hook", "type": "webhook", "url": webhook.url}],
                  "routes": [{"severity": s, "targets": ["hook"]}
                             for s in ("minor", "major", "critical")],
                  "rate_limit_per_hour": 1000}
    cfg = base_config(
        tmp_path, hosts=hosts, alerts=alerts,
        devices=[{"name": "ups1", "kind": "ups", "host": "127.0.0.1", "port": agent.port,
                  "profile": "ietf", "snmp": {"version": "2c", "community": "ups-ro"},
                  "timeout": 3, "retries": 1}],
        power={"plans": plans, "policies": [policy]})
    return write_config(tmp_path / "opsctl.yaml", cfg)


def test_blip_cut_shutdown_mains_back_restore(tmp_path, ups, servers, daemon_factory,
                                              webhook):
    values, agent = ups
    app1, app2 = servers("app1"), servers("app2")
    db = servers("db", start=False)  # never started: its step fails, the rest goes on
    marker = tmp_path / "marker.log"
    plans = [
        {"name": "room", "kind": "shutdown", "final_delay": 1, "steps": [
            {"name": "stop app1", "host": "app1", "group": "apps",
             "command": mark(marker, "app1-down", 1)},
            {"name": "stop app2", "host": "app2", "group": "apps",
             "command": mark(marker, "app2-down", 1)},
            {"name": "stop db", "host": "db", "command": mark(marker, "db-down")},
            {"name": "this host", "command": mark(marker, "local-down")}]},
        {"name": "room-restore", "kind": "restore", "steps": [
            {"name": "app1 back", "host": "app1", "command": mark(marker, "app1-up")},
            {"name": "app2 back", "host": "app2", "command": mark(marker, "app2-up")}]},
    ]
    policy = {"name": "room-cut", "ups": ["ups1"], "when": "all", "on_battery_for": "15s",
              "low_battery": True, "plan": "room", "restore_plan": "room-restore",
              "restore_after": "2s", "restore_min_charge": 50}
    cfg = config(tmp_path, agent, [s.host_config() for s in (app1, app2, db)], plans,
                 policy, webhook)
    daemon = daemon_factory(cfg)
    wait_for(lambda: "devices polled" in daemon.output(), 30, what="the first poll")

    # 1. A blip, shorter than on_battery_for (15 s: roomy on a loaded machine): a log
    # entry, no plan, no policy alert.
    values.set("OB", charge=95)
    wait_for(lambda: policy_state(cfg) == "armed", 20, what="armed")
    values.set("OL", charge=95)
    wait_for(lambda: any("stood down" in t for t in duty_texts(cfg)), 20, what="stand-down")
    assert policy_state(cfg) == "idle"
    assert not marker.exists() and history(cfg) == []
    assert not [b for b in webhook.received if b["source"] == "power-policy"]

    # 2. The real cut: after on_battery_for the shutdown plan runs.
    values.set("OB", charge=80, runtime_min=40)
    cut = time.time()
    wait_for(lambda: policy_state(cfg) == "down", 90, interval=0.5, what="the shutdown")
    assert at(marker, "app1-down", "start") - cut >= 14
    # The group ran in parallel: each started before the other ended.
    assert at(marker, "app1-down", "start") < at(marker, "app2-down", "end")
    assert at(marker, "app2-down", "start") < at(marker, "app1-down", "end")
    # This host last, after the final delay.
    last_remote = max(at(marker, "app1-down", "end"), at(marker, "app2-down", "end"))
    assert at(marker, "local-down", "start") - last_remote >= 1.0
    assert "db-down" not in {lab for lab, _, _ in lines(marker)}
    (run,) = history(cfg)
    assert run["policy"] == "room-cut" and run["actor"] == "opsctl-daemon"
    assert run["status"] == "failed"
    assert [(s["name"], s["status"]) for s in run["steps"]] == [
        ("stop app1", "ok"), ("stop app2", "ok"), ("stop db", "failed"), ("this host", "ok")]

    # 3. Mains back, battery at 40 %: restore waits for the charge, then runs.
    values.set("OL", charge=40)
    wait_for(lambda: policy_state(cfg) == "restore-armed", 20, what="restore armed")
    time.sleep(4)  # longer than restore_after: the charge holds it back
    assert policy_state(cfg) == "restore-armed"
    assert "app1-up" not in marker.read_text()
    values.set("OL", charge=80)
    wait_for(lambda: policy_state(cfg) == "idle", 60, interval=0.5, what="the restore")
    assert at(marker, "app1-up", "end") < at(marker, "app2-up", "start")
    runs = history(cfg)
    assert [(r["kind"], r["status"]) for r in runs] == [("restore", "ok"),
                                                       ("shutdown", "failed")]

    texts = duty_texts(cfg)
    for want in ("armed", "stood down", "triggered", "plan 'room' started",
                 "step 3 'stop db': failed", "run #1 finished FAILED", "shutdown plan room done",
                 "restore armed", "starting the restore plan room-restore",
                 "restore plan room-restore done (ok)"):
        assert any(want in t for t in texts), (want, texts)
    wait_for(lambda: any(b["kind"] == "restore-done" for b in webhook.received), 20,
             what="the restore-done alert")
    kinds = [b["kind"] for b in webhook.received if b["source"] == "power-policy"]
    for want in ("triggered", "shutdown-plan-started", "step-1", "step-2", "step-3",
                 "step-4", "plan-done", "restore-armed", "restore-started",
                 "restore-plan-started", "restore-done"):
        assert want in kinds, (want, kinds)
    assert "armed" not in kinds and "blip" not in kinds


def test_kill_9_mid_plan_resumes_and_runs_no_step_twice(tmp_path, ups, servers,
                                                         daemon_factory):
    values, agent = ups
    app1, app2 = servers("app1"), servers("app2")
    marker = tmp_path / "marker.log"
    plans = [{"name": "room", "kind": "shutdown", "steps": [
        {"name": "first", "host": "app1", "command": mark(marker, "first")},
        {"name": "slow", "host": "app1", "command": mark(marker, "slow", 4)},
        {"name": "after", "host": "app2", "command": mark(marker, "after")}]}]
    policy = {"name": "room-cut", "ups": ["ups1"], "on_battery_for": "10m",
              "low_battery": True, "plan": "room"}
    cfg = config(tmp_path, agent, [app1.host_config(), app2.host_config()], plans, policy)
    daemon = daemon_factory(cfg)
    wait_for(lambda: "devices polled" in daemon.output(), 30, what="the first poll")

    values.set("OB", low=True, charge=10, runtime_min=2)  # low battery: at once
    wait_for(lambda: any(lab == "slow" for lab, _, _ in lines(marker)), 60, interval=0.2,
             what="the slow step to start")
    daemon.proc.kill()  # SIGKILL: no clean-up of any kind
    daemon.proc.wait(10)
    assert history(cfg)[0]["status"] == "running"

    daemon2 = daemon_factory(cfg)
    wait_for(lambda: policy_state(cfg) == "down", 90, interval=0.5,
             what="the resumed run to finish")
    (run,) = history(cfg)
    assert run["resumed"] == 1
    assert [(s["name"], s["status"]) for s in run["steps"]] == [
        ("first", "ok"), ("slow", "interrupted"), ("after", "ok")]
    time.sleep(5)  # the orphaned first attempt of "slow" may still finish its sleep
    starts = [lab for lab, what, _ in lines(marker) if what == "start"]
    assert starts == ["first", "slow", "after"], lines(marker)
    assert "resumed after a restart" in "\n".join(duty_texts(cfg))
    assert daemon2.proc.poll() is None
