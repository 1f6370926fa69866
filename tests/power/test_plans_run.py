"""Shutdown / restore plans against real private sshd instances on 127.0.0.1.

"Power off" is ``SshServer.poweroff_script``: it stops the listener (the port closes) and
kills its own session, so the client sees what a real ``systemctl poweroff`` looks like.
"Power on" in a restore plan is a local command that starts the sshd again.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sshd import SshServer, free_port, kill_pidfile

from opsctl.core.config import load_config
from opsctl.core.journal import list_changes
from opsctl.core.store import Store
from opsctl.power.plans import build_plan, run_plan

pytestmark = pytest.mark.ssh


def write_config(tmp_path: Path, servers: list[SshServer], plans: list[dict],
                 devices: list[dict] | None = None) -> Path:
    cfg = {
        "site": {"name": "test-room"},
        "state_dir": str(tmp_path / "state"),
        "people": [{"name": "erin", "roles": ["operator", "engineer"]},
                   {"name": "otto", "roles": ["operator"]}],
        "hosts": [s.host_config() for s in servers],
        "devices": devices or [],
        "power": {"plans": plans},
    }
    path = tmp_path / "opsctl.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def opsctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opsctl", *args], capture_output=True,
                          text=True, timeout=120)


def mark(marker: Path, label: str) -> list[str]:
    # Remote side appends "label <epoch.nanoseconds>" so the test can check the order.
    return ["sh", "-c", f'echo "{label} $(date +%s.%N)" >> {marker}']


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


def test_shutdown_plan_runs_in_order_over_ssh(tmp_path, servers):
    app1, app2 = servers("app1"), servers("app2")
    marker = tmp_path / "order.log"  # both "hosts" are this machine: one shared file
    fast = {"interval": 0.2, "timeout": 20}
    plan = {"name": "room", "kind": "shutdown", "description": "apps first",
            "steps": [
                {"name": "note app1", "host": "app1", "command": mark(marker, "app1"),
                 "timeout": 10},
                {"name": "stop app1", "host": "app1", "command": [str(app1.poweroff_script)],
                 "timeout": 10, "wait": {"type": "host_down", **fast}},
                {"name": "note app2", "host": "app2", "command": mark(marker, "app2")},
                {"name": "stop app2", "host": "app2", "command": [str(app2.poweroff_script)],
                 "wait": {"type": "host_down", **fast}},
                {"name": "settle", "wait": {"type": "sleep", "seconds": 0.1}},
            ]}
    cfg_path = write_config(tmp_path, [app1, app2], [plan])

    proc = opsctl("-c", str(cfg_path), "power", "shutdown", "--plan", "room", "--by", "erin",
                  "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    run = json.loads(proc.stdout)
    assert run["status"] == "ok"
    assert [s["status"] for s in run["steps"]] == ["ok"] * 5
    # The poweroff drops the connection after the command was sent: expected, not a failure.
    stop1 = run["steps"][1]
    assert stop1["command"]["argv"] == [str(app1.poweroff_script)]
    assert stop1["wait"]["satisfied"] is True and "does not answer" in stop1["wait"]["detail"]
    assert not app1.running and not app2.running

    lines = [ln.split() for ln in marker.read_text().splitlines()]
    assert [ln[0] for ln in lines] == ["app1", "app2"]
    assert float(lines[0][1]) < float(lines[1][1])

    store = Store.open(tmp_path / "state")
    try:
        rows = list_changes(store, domain="power")
    finally:
        store.close()
    plan_rows = [r for r in rows if r["action"] == "shutdown-plan"]
    step_rows = sorted((r for r in rows if r["action"] == "plan-step"), key=lambda r: r["id"])
    assert len(plan_rows) == 1 and plan_rows[0]["status"] == "ok"
    assert plan_rows[0]["target"] == "room" and plan_rows[0]["id"] == run["change_id"]
    assert [r["target"] for r in step_rows] == [
        "room#1 note app1", "room#2 stop app1", "room#3 note app2", "room#4 stop app2",
        "room#5 settle"]
    assert all(r["status"] == "ok" for r in step_rows)
    assert step_rows[0]["commands"][0]["argv"] == mark(marker, "app1")
    assert step_rows[0]["commands"][0]["returncode"] == 0
    assert_duty_log(cfg_path, ["started", "step 1", "step 2", "step 3", "step 4", "step 5",
                               "finished OK"])


def assert_duty_log(cfg_path: Path, expected: list[str]) -> None:
    """Start, every step and the end are in the duty log (when the duty domain exists)."""
    dutylog = pytest.importorskip("opsctl.handover.dutylog")
    cfg = load_config(cfg_path)
    store = Store.for_config(cfg)
    try:
        entries = [e for e in dutylog.list_entries(cfg, store) if e.source == "power"]
    finally:
        store.close()
    assert len(entries) == len(expected)
    for e, want in zip(entries, expected, strict=True):
        assert e.category == "change" and want in e.text, e.text


def test_dry_run_prints_exact_commands_and_changes_nothing(tmp_path, servers):
    app1 = servers("app1")
    marker = tmp_path / "touched"
    plan = {"name": "room", "kind": "shutdown", "steps": [
        {"name": "stop app1", "host": "app1",
         "command": ["sh", "-c", f"touch {marker}; systemctl poweroff"],
         "timeout": 45, "wait": {"type": "host_down", "timeout": 300}}]}
    cfg_path = write_config(tmp_path, [app1], [plan])

    proc = opsctl("-c", str(cfg_path), "power", "shutdown", "--plan", "room", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())
    assert f"ssh root@127.0.0.1:{app1.port} sh -c 'touch {marker}; systemctl poweroff'" in out
    assert f"wait until 127.0.0.1:{app1.port} stops answering" in out

    proc = opsctl("-c", str(cfg_path), "power", "shutdown", "--plan", "room", "--dry-run",
                  "--json")
    data = json.loads(proc.stdout)
    assert data["dry_run"] is True and data["steps"][0]["status"] == "planned"
    assert data["steps"][0]["command"]["argv"] == ["sh", "-c",
                                                   f"touch {marker}; systemctl poweroff"]
    assert not marker.exists() and app1.running
    state = tmp_path / "state"
    if (state / "opsctl.db").exists():
        store = Store.open(state)
        try:
            assert list_changes(store, domain="power") == []
        finally:
            store.close()


def test_failed_step_stops_the_plan(tmp_path, servers):
    app1 = servers("app1")
    marker = tmp_path / "order.log"
    plan = {"name": "room", "kind": "shutdown", "on_error": "stop", "steps": [
        {"name": "fails", "host": "app1", "command": ["sh", "-c", "echo broken >&2; exit 4"]},
        {"name": "never", "host": "app1", "command": mark(marker, "never")}]}
    cfg_path = write_config(tmp_path, [app1], [plan])

    proc = opsctl("-c", str(cfg_path), "power", "shutdown", "--plan", "room", "--by", "erin",
                  "--yes")
    assert proc.returncode == 1
    err = proc.stderr.strip().splitlines()
    assert err[-1].startswith("opsctl: error: shutdown plan 'room' failed at step 1 'fails': "
                              "exit 4: broken")
    assert "Traceback" not in proc.stderr
    assert not marker.exists()

    store = Store.open(tmp_path / "state")
    try:
        rows = list_changes(store, domain="power")
    finally:
        store.close()
    assert {r["action"]: r["status"] for r in rows if r["action"] == "shutdown-plan"} == \
        {"shutdown-plan": "failed"}
    steps = [r for r in rows if r["action"] == "plan-step"]
    assert len(steps) == 1 and steps[0]["status"] == "failed"
    assert steps[0]["commands"][0]["stderr"] == "broken\n"
    assert_duty_log(cfg_path, ["started", "step 1 'fails': failed — exit 4: broken",
                               "finished FAILED"])


def test_continue_on_error_runs_the_rest_but_reports_failure(tmp_path, servers):
    app1 = servers("app1")
    marker = tmp_path / "order.log"
    plan = {"name": "room", "kind": "shutdown", "steps": [
        {"name": "fails", "host": "app1", "command": ["false"], "continue_on_error": True},
        {"name": "still runs", "host": "app1", "command": mark(marker, "after")}]}
    cfg = load_config(write_config(tmp_path, [app1], [plan]))
    store = Store.for_config(cfg)
    try:
        run = run_plan(build_plan(cfg, "room", "shutdown"), cfg=cfg, store=store)
    finally:
        store.close()
    assert [s.status for s in run.steps] == ["failed", "ok"]
    assert run.status == "failed"
    assert marker.read_text().startswith("after ")


def test_step_timeout_and_wait_timeout(tmp_path, servers):
    app1 = servers("app1")
    pidfile = tmp_path / "sleeper.pid"
    closed = free_port()
    plan = {"name": "room", "kind": "shutdown", "on_error": "stop", "steps": [
        {"name": "hangs", "host": "app1", "timeout": 1, "continue_on_error": True,
         "command": ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 30"]},
        {"name": "never opens", "host": "app1",
         "wait": {"type": "port_open", "port": closed, "timeout": 1, "interval": 0.2}},
        {"name": "skipped", "host": "app1", "command": ["true"]}]}
    cfg = load_config(write_config(tmp_path, [app1], [plan]))
    store = Store.for_config(cfg)
    events = []
    try:
        run = run_plan(build_plan(cfg, "room"), cfg=cfg, store=store,
                       on_step=lambda ev, step, res: events.append((ev, step.index)))
    finally:
        store.close()
        kill_pidfile(pidfile)
    hangs, wait, skipped = run.steps
    assert hangs.status == "failed" and "timed out after 1s on app1" in hangs.message
    assert hangs.duration < 5
    assert wait.status == "failed" and "timed out after 1s" in wait.message
    assert f"127.0.0.1:{closed} does not answer" in wait.message
    assert skipped.status == "skipped"
    assert events == [("start", 1), ("done", 1), ("start", 2), ("done", 2), ("skipped", 3)]


def test_host_already_down_counts_as_done(tmp_path, servers):
    app1 = servers("app1", start=False)
    plan = {"name": "room", "kind": "shutdown", "steps": [
        {"name": "stop app1", "host": "app1", "command": ["systemctl", "poweroff"],
         "wait": {"type": "host_down", "timeout": 5, "interval": 0.2}}]}
    cfg = load_config(write_config(tmp_path, [app1], [plan]))
    store = Store.for_config(cfg)
    try:
        run = run_plan(build_plan(cfg, "room"), cfg=cfg, store=store)
    finally:
        store.close()
    assert run.status == "ok"
    assert run.steps[0].message.startswith("already down: connection to app1")


def test_unknown_host_key_fails_the_step(tmp_path, servers):
    app1 = servers("app1")
    app1.known_hosts.write_text("")
    plan = {"name": "room", "kind": "shutdown", "steps": [
        {"name": "stop app1", "host": "app1", "command": ["true"]}]}
    cfg_path = write_config(tmp_path, [app1], [plan])
    proc = opsctl("-c", str(cfg_path), "power", "shutdown", "--plan", "room", "--by", "erin",
                  "--yes")
    assert proc.returncode == 1
    assert "is not in" in proc.stderr and "SHA256:" in proc.stderr
    assert app1.known_hosts.read_text() == ""


UPS_OIDS = {  # RFC 1628 UPS-MIB
    "source": "1.3.6.1.2.1.33.1.4.1.0",  # upsOutputSource: normal(3), battery(5)
    "battery": "1.3.6.1.2.1.33.1.2.1.0",  # upsBatteryStatus: normal(2), low(3)
    "charge": "1.3.6.1.2.1.33.1.2.4.0",  # upsEstimatedChargeRemaining %
    "runtime": "1.3.6.1.2.1.33.1.2.3.0",  # upsEstimatedMinutesRemaining
}


def ups_agent(source: int, charge: int):
    from snmp_agents import Snmpd

    return Snmpd(values=[(UPS_OIDS["source"], "integer", source),
                         (UPS_OIDS["battery"], "integer", 2),
                         (UPS_OIDS["charge"], "integer", charge),
                         (UPS_OIDS["runtime"], "integer", 400)], community="ups1")


def ups_device(agent) -> dict:
    return {"name": "ups1", "kind": "ups", "host": "127.0.0.1", "port": agent.port,
            "snmp": {"version": "2c", "community": "ups1"}, "timeout": 1, "retries": 0,
            "profile": "ietf"}


def test_restore_plan_powers_on_waits_and_checks_ups(tmp_path, servers):
    pytest.importorskip("opsctl.power.api")
    app1 = servers("app1", start=False)
    marker = tmp_path / "order.log"
    with ups_agent(source=3, charge=100) as agent:
        plan = {"name": "back", "kind": "restore", "ups": "ups1", "steps": [
            {"name": "UPS charging", "wait": {"type": "ups_charging", "timeout": 10,
                                              "interval": 0.5}},
            {"name": "power on app1", "command": app1.start_command(), "timeout": 10,
             "wait": {"type": "port_open", "host": "127.0.0.1", "port": app1.port,
                      "timeout": 10, "interval": 0.2}},
            {"name": "app1 answers", "host": "app1", "command": mark(marker, "app1-up")}]}
        cfg_path = write_config(tmp_path, [app1], [plan], [ups_device(agent)])
        proc = opsctl("-c", str(cfg_path), "power", "restore", "--plan", "back", "--by", "erin",
                      "--yes",
                      "--json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    run = json.loads(proc.stdout)
    assert [s["status"] for s in run["steps"]] == ["ok", "ok", "ok"]
    assert "full" in run["steps"][0]["wait"]["detail"]
    assert run["steps"][1]["command"]["type"] == "local"
    assert app1.running and marker.read_text().startswith("app1-up ")


def test_restore_refuses_while_ups_on_battery(tmp_path, servers):
    pytest.importorskip("opsctl.power.api")
    app1 = servers("app1")
    marker = tmp_path / "order.log"
    with ups_agent(source=5, charge=40) as agent:
        plan = {"name": "back", "kind": "restore", "ups": "ups1", "steps": [
            {"name": "UPS charging", "wait": {"type": "ups_charging", "timeout": 1.5,
                                              "interval": 0.5}},
            {"name": "app1 answers", "host": "app1", "command": mark(marker, "app1")}]}
        cfg = load_config(write_config(tmp_path, [app1], [plan], [ups_device(agent)]))
        store = Store.for_config(cfg)
        try:
            run = run_plan(build_plan(cfg, "back", "restore"), cfg=cfg, store=store)
        finally:
            store.close()
    assert run.status == "failed"
    assert "on battery" in run.steps[0].message and "OB" in run.steps[0].message
    assert run.steps[1].status == "skipped" and not marker.exists()


def test_second_plan_refused_while_one_runs(tmp_path, servers):
    import fcntl

    from opsctl.core.errors import OpsError

    app1 = servers("app1")
    marker = tmp_path / "order.log"
    plan = {"name": "room", "kind": "shutdown", "steps": [
        {"name": "note", "host": "app1", "command": mark(marker, "x")}]}
    cfg = load_config(write_config(tmp_path, [app1], [plan]))
    store = Store.for_config(cfg)
    lock = open(cfg.state_dir / "power-plan.lock", "a+")  # noqa: SIM115 - held across the call
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.write("pid 4242\n")
        lock.flush()
        with pytest.raises(OpsError, match=r"another power plan is running \(pid 4242\)"):
            run_plan(build_plan(cfg, "room"), cfg=cfg, store=store)
        assert not marker.exists()
        fcntl.flock(lock, fcntl.LOCK_UN)
        assert run_plan(build_plan(cfg, "room"), cfg=cfg, store=store).status == "ok"
    finally:
        lock.close()
        store.close()


def test_unexpected_disconnect_fails_the_step(tmp_path, servers):
    app1 = servers("app1")
    plan = {"name": "room", "kind": "shutdown", "steps": [
        {"name": "crash", "host": "app1", "command": [str(app1.poweroff_script)],
         "expect_disconnect": False}]}
    cfg = load_config(write_config(tmp_path, [app1], [plan]))
    store = Store.for_config(cfg)
    try:
        run = run_plan(build_plan(cfg, "room"), cfg=cfg, store=store)
    finally:
        store.close()
    assert run.status == "failed"
    assert run.steps[0].message.startswith("connection to app1 (root@127.0.0.1:")
    assert "dropped while running" in run.steps[0].message
    assert run.steps[0].command["disconnected"] is True


def test_cli_plans_listing_confirmation_and_bad_reference(tmp_path, servers):
    app1 = servers("app1", start=False)
    plans = [{"name": "room", "kind": "shutdown", "description": "apps first", "steps": [
        {"name": "stop", "host": "app1", "command": ["systemctl", "poweroff"],
         "wait": {"type": "host_down"}}]}]
    cfg_path = write_config(tmp_path, [app1], plans)
    proc = opsctl("-c", str(cfg_path), "power", "plans", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data[0]["name"] == "room" and data[0]["steps"][0]["command"]["argv"] == \
        ["systemctl", "poweroff"]
    proc = opsctl("-c", str(cfg_path), "power", "plans")
    assert "room" in proc.stdout and "shutdown" in proc.stdout and "app1" in proc.stdout
    # Only an engineer may run a plan by hand, and must say who they are.
    proc = opsctl("-c", str(cfg_path), "power", "shutdown", "--plan", "room", "--yes")
    assert proc.returncode != 0 and "say who you are: --by NAME" in proc.stderr
    proc = opsctl("-c", str(cfg_path), "power", "shutdown", "--plan", "room", "--by", "otto",
                  "--yes")
    assert proc.returncode != 0 and "otto may not run the shutdown plan 'room': needs the " \
        "engineer role" in proc.stderr
    assert "Traceback" not in proc.stderr
    # No TTY and no --yes: refused before anything runs or is recorded.
    proc = opsctl("-c", str(cfg_path), "power", "shutdown", "--plan", "room", "--by", "erin")
    assert proc.returncode == 1 and "refusing without confirmation" in proc.stderr
    assert "--yes" in proc.stderr
    assert not (tmp_path / "state" / "power-plan.lock").exists()

    plans[0]["steps"][0]["host"] = "ghost"
    cfg_path = write_config(tmp_path, [app1], plans)
    for args in (["plans"], ["shutdown", "--plan", "room", "--dry-run"]):
        proc = opsctl("-c", str(cfg_path), "power", *args)
        assert proc.returncode == 2
        assert proc.stderr.startswith(f"opsctl: error: {cfg_path}:")
        assert "power.plans[0].steps[0].host: unknown host 'ghost' (known: app1)" in proc.stderr


def test_wake_on_lan_step_sends_real_magic_packets(tmp_path, servers):
    import socket

    app1 = servers("app1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        plan = {"name": "back", "kind": "restore", "steps": [
            {"name": "wake app1", "host": "app1",
             "wake_on_lan": {"mac": "52-54-00-AB-CD-EF", "address": "127.0.0.1",
                             "port": rx.getsockname()[1], "count": 2},
             "wait": {"type": "port_open", "timeout": 5, "interval": 0.2}}]}
        cfg_path = write_config(tmp_path, [app1], [plan])
        dry = opsctl("-c", str(cfg_path), "power", "restore", "--plan", "back", "--dry-run")
        assert "wake-on-lan 52:54:00:ab:cd:ef: magic packet to 127.0.0.1:" in dry.stdout
        rx.setblocking(False)
        with pytest.raises(BlockingIOError):  # the dry run sent nothing
            rx.recv(200)
        rx.settimeout(5)
        cfg = load_config(cfg_path)
        store = Store.for_config(cfg)
        try:
            run = run_plan(build_plan(cfg, "back", "restore"), cfg=cfg, store=store)
        finally:
            store.close()
        packets = [rx.recv(200), rx.recv(200)]
    assert run.status == "ok", run.steps[0].message
    expected = b"\xff" * 6 + bytes.fromhex("525400abcdef") * 16
    assert packets == [expected, expected]
    assert run.steps[0].command["bytes_sent"] == 2 * 102
