"""``--format nagios``: the monitoring-plugin line (``STATUS - summary | perfdata``) with
the command's own exit code — power against the example's SNMP agents, RAID from real
captured mdadm output, inspections, the duty log chain and the roster on a real store."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snmp_agents import example_agents, snmpd_available, snmpsim_available

from opsctl.cli import nagios
from opsctl.core.errors import Status
from opsctl.core.nagios import Perf, render, threshold_range

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures" / "storage"
# label=value[UOM];[warn];[crit];[min];[max], label quoted when it has blanks or quotes
PERF = re.compile(r"^('([^']|'')+'|[^'= ]+)=-?[0-9.]+(s|ms|us|%|B|KB|MB|GB|TB|c)?"
                  r"(;[0-9.:~@-]*){0,4}$")


def _plugin_line(out: str) -> tuple[str, str, list[str]]:
    first = out.splitlines()[0]
    m = re.match(r"^(OK|WARNING|CRITICAL|UNKNOWN) - ([^|]+?)(?: \| (.*))?$", first)
    assert m, first
    perf = m.group(3).split() if m.group(3) else []
    for p in perf:
        assert PERF.match(p), p
    return m.group(1), m.group(2), perf


def test_perfdata_and_text_follow_the_guidelines():
    assert str(Perf("ups1_load", 35, "%", 60, 80, 0, 100)) == "ups1_load=35%;60;80;0;100"
    assert str(Perf("runtime", 25200, "s", "21600:", "900:", 0)) == "runtime=25200s;21600:;900:;0"
    assert str(Perf("temp", 29.5, "°C", "15:27")) == "temp=29.5;15:27"   # °C is not a UOM
    assert str(Perf("rack 'A' temp", 1)) == "'rack ''A'' temp'=1"
    assert threshold_range(15, 27) == "15:27" and threshold_range(None, 60) == "60"
    assert threshold_range(30, None) == "30:" and threshold_range(None, None) is None
    out = render(Status.WARNING, "a | b\nc\x1b[2J", [Perf("x", 1)], ["d|e", "", "f\r"])
    assert out == "WARNING - a / b c [2J | x=1\nd/e\nf\n"


def _array(detail: str, mdstat: str):
    from opsctl.storage import parsers
    from opsctl.storage.probe import array_info

    return array_info(parsers.parse_mdadm_detail((FIX / detail).read_text()),
                      parsers.parse_mdstat((FIX / mdstat).read_text()))


@pytest.mark.parametrize("detail,mdstat,status,words", [
    ("mdadm-detail-clean.txt", "mdstat-clean.txt", "OK", "OK: "),
    ("mdadm-detail-degraded.txt", "mdstat-degraded.txt", "CRITICAL", "CRITICAL: raid5 degraded"),
    ("mdadm-detail-recovering.txt", "mdstat-recovering.txt", "WARNING", "recovering"),
])
def test_raid_from_captured_mdadm_output(capsys, detail, mdstat, status, words):
    a = _array(detail, mdstat)
    with pytest.raises(SystemExit) as exit_:
        nagios.raid([a])
    assert exit_.value.code == int(Status[status])
    st, summary, perf = _plugin_line(capsys.readouterr().out)
    assert st == status and words in summary, summary
    active = next(p for p in perf if p.startswith(f"{a.name}_active="))
    working = sum(1 for m in a.members if m["role"] == "active")
    assert active == f"{a.name}_active={working};{a.raid_devices}:;;0;{a.raid_devices}"
    if a.percent is not None:
        assert f"{a.name}_sync={a.percent:g}%;;;0;100" in perf


def _run(*args: str, env: dict | None = None, cwd: Path | None = None):
    return subprocess.run([sys.executable, "-m", "opsctl", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd,
                          env={**os.environ, "NO_COLOR": "1", **(env or {})})


@pytest.mark.snmp
@pytest.mark.skipif(not (snmpsim_available() and snmpd_available()),
                    reason="snmpsim venv or snmpd missing (tests/helpers/snmp_agents.py)")
def test_power_and_inspection_against_the_example_agents(tmp_path):
    with example_agents(tmp_path) as doc:
        cfg = tmp_path / "opsctl.yaml"
        cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
        res = _run("-c", str(cfg), "power", "status", "--format", "nagios")
        one = _run("-c", str(cfg), "power", "ups", "ups1", "--format", "nagios")
        sw = _run("-c", str(cfg), "power", "switch", "core-sw1", "--format", "nagios")
        # --format nagios wins over --json (a check definition may carry global options)
        js = _run("-c", str(cfg), "--json", "power", "status", "env1", "--format", "nagios")
        answers = tmp_path / "answers.yaml"
        answers.write_text(yaml.safe_dump({"profile": "power-room-patrol", "answers": {
            "ups-state": "yes", "battery-room": "yes", "switchgear": "normal"}}))
        insp = _run("-c", str(cfg), "inspect", "run", "-p", "power-room-patrol", "-i", "alice",
                    "--answers", str(answers), "--format", "nagios")
    assert res.returncode == 1, res.stderr                       # worst: WARNING
    st, summary, perf = _plugin_line(res.stdout)
    assert st == "WARNING" and summary.startswith("2 of 4 devices not OK: ")
    assert "ups2 WARNING: replace battery; load 62.4 % >= 60 %" in summary
    assert "env1 WARNING: temperature 29 °C > 27 °C" in summary
    assert "ups2_load=62.4%;60;80;0;100" in perf and "ups1_charge=100%;80:;30:;0;100" in perf
    assert "ups1_runtime=25200s;21600:;900:;0" in perf
    assert "env1_temperature=29;15:27;10:32" in perf and "env1_humidity=45%;30:60;20:80" in perf
    assert "core-sw1_ports_up=2;;;0;4" in perf
    assert res.stdout.splitlines()[1:] == [
        "ups1 (ups): OK - ok", "ups2 (ups): WARNING - replace battery; load 62.4 % >= 60 %",
        "core-sw1 (switch): OK - port Gi1/0/3 admin up, oper down (not in expected_up_ports)",
        "env1 (sensor): WARNING - temperature 29 °C > 27 °C"]
    assert (one.returncode, _plugin_line(one.stdout)[:2]) == (0, ("OK", "1 device OK"))
    assert sw.returncode == 0 and _plugin_line(sw.stdout)[0] == "OK"
    assert js.returncode == 1 and js.stdout.startswith("WARNING - 1 of 1 device not OK: env1")
    assert insp.returncode == 1, insp.stderr
    st, summary, perf = _plugin_line(insp.stdout)
    assert st == "WARNING" and re.match(r"inspection #1 power-room-patrol on \S+: ", summary)
    assert "ups WARNING: ups1: ok; ups2: replace battery" in summary
    assert perf[:4] == ["ok=4;;;0;6", "warning=2;;;0;6", "critical=0;;;0;6",
                        "unknown=0;;;0;6"] and perf[4].startswith("duration=")
    assert insp.stderr == ""                # no progress lines in plugin mode


def test_duty_chain_and_roster_on_a_real_store(tmp_path):
    doc = yaml.safe_load((ROOT / "configs" / "opsctl.example.yaml").read_text())
    doc["state_dir"] = str(tmp_path / "state")
    for d in doc["devices"]:
        for key in ("auth_key_file", "priv_key_file"):
            if key in d["snmp"]:
                d["snmp"][key] = str(ROOT / "configs" / d["snmp"][key])
    cfg = tmp_path / "opsctl.yaml"
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    env = {"OPSCTL_CONFIG": str(cfg)}
    for text in ("first", "second", "third"):
        assert _run("duty", "log", "add", text, "--by", "sam", env=env).returncode == 0
    ok = _run("duty", "log", "verify", "--format", "nagios", env=env)
    assert ok.returncode == 0, ok.stderr
    assert _plugin_line(ok.stdout) == ("OK", "duty log intact: 3 entries intact (1..3)",
                                       ["entries=3;;;0"])
    assert _run("duty", "roster", "generate", "--month", "2031-04", env=env).returncode == 0
    ro = _run("duty", "roster", "check", "--format", "nagios", env=env)
    assert ro.returncode == 0, ro.stdout + ro.stderr
    st, summary, perf = _plugin_line(ro.stdout)
    assert (st, perf[0]) == ("OK", "problems=0;;0;0")
    assert summary.startswith("roster 2031-04: ") and "coverage complete" in summary
    # Someone edits an entry in the database: CRITICAL, exit 2.
    db = next((tmp_path / "state").glob("*.db"))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE duty_log SET text = 'edited' WHERE seq = 2")
    broken = _run("duty", "log", "verify", "--format", "nagios", env=env)
    assert broken.returncode == 2
    st, summary, _ = _plugin_line(broken.stdout)
    assert st == "CRITICAL" and summary.startswith("duty log BROKEN: ") and "2" in summary
    as_json = json.loads(_run("--json", "duty", "log", "verify", env=env).stdout)
    assert as_json["ok"] is False


def test_errors_are_unknown_in_plugin_mode(tmp_path):
    bad = tmp_path / "opsctl.yaml"
    bad.write_text("site: {name: t}\nstate_dir: state\ndevices:\n"
                   "  - {name: u, kind: ups, host: h, snmp: {version: '9'}}\n")
    for args in (("power", "status"), ("duty", "log", "verify"), ("inspect", "run"),
                 ("duty", "roster", "check")):
        res = _run("-c", str(bad), *args, "--format", "nagios")
        assert res.returncode == 3, (args, res.stdout, res.stderr)
        st, summary, perf = _plugin_line(res.stdout)
        assert st == "UNKNOWN" and "opsctl.yaml:4: devices[0].snmp.version" in summary and perf == [], summary
    # without --format nagios a config error stays exit 2 with the message on stderr
    plain = _run("-c", str(bad), "power", "status")
    assert plain.returncode == 2 and plain.stdout == "" and "opsctl.yaml:4:" in plain.stderr
