"""Jobs that need more setup: shift-change reminders (a generated roster, real SMTP, the
real `opsctl daemon run-job`), RAID state transitions (real mdadm output captured in the
storage VM, replayed through a fake runner — the host has no md driver)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
import yaml
from daemon_support import base_config, opsctl, write_config

from opsctl.core.config import load_config
from opsctl.core.runner import Result
from opsctl.core.store import Store
from opsctl.daemon.alerts import AlertPipeline
from opsctl.daemon.jobs import JobContext, job_raid
from opsctl.daemon.schema import events

ROOT = Path(__file__).resolve().parents[2]
STORAGE = ROOT / "tests" / "fixtures" / "storage"


def test_handover_reminder_reaches_both_shifts_once(tmp_path, smtp_server):
    example = yaml.safe_load((ROOT / "configs" / "opsctl.example.yaml").read_text())
    people = [{**p, "email": f"{p['name']}@example.org"} for p in example["people"]]
    duty = example["duty"]
    duty["handover"]["reminder_minutes"] = 24 * 60  # every change of the next day is due
    duty.pop("export_dir", None)
    duty.pop("log_key_file", None)
    cfg = base_config(
        tmp_path, people=people, duty=duty,
        site={"name": "test-dc", "timezone": example["site"]["timezone"]},
        alerts={"targets": [{"name": "mail", "type": "email", "smtp_host": "127.0.0.1",
                             "smtp_port": smtp_server.port, "starttls": False,
                             "sender": "opsctl@test", "to": ["ops@test"]}],
                "reminder_targets": ["mail"]})
    path = write_config(tmp_path / "opsctl.yaml", cfg)
    today = dt.date.today()
    for month in {today.strftime("%Y-%m"), (today + dt.timedelta(days=1)).strftime("%Y-%m")}:
        gen = opsctl("-c", str(path), "duty", "roster", "generate", "--month", month,
                     "--by", "sam")
        assert gen.returncode == 0, gen.stderr
    from opsctl.handover.api import shift_changes

    loaded = load_config(path)
    now = dt.datetime.now(dt.UTC)
    changes = shift_changes(loaded, Store.for_config(loaded), now,
                            now + dt.timedelta(days=1, minutes=1))
    assert changes, "the generated roster has shift changes"

    proc = opsctl("-c", str(path), "daemon", "run-job", "handover-reminder")
    assert proc.returncode == 0, proc.stderr
    assert len(smtp_server.messages) == len(changes)
    # Sent in parallel: match each change to its mail by time and recipients.
    for when, outgoing, incoming in changes:
        people = sorted(f"{n}@example.org" for n in {*outgoing, *incoming})
        assert any(sorted(m["to"]) == people and f"shift change at {when:%H:%M}" in m["data"]
                   for m in smtp_server.messages), (when, people)
    # Reminded once: the next run (a minute later in the daemon) sends nothing new.
    again = opsctl("-c", str(path), "daemon", "run-job", "handover-reminder")
    assert again.returncode == 0 and "no shift change due" in again.stdout
    assert len(smtp_server.messages) == len(changes)


class ReplayRunner:
    """Answers mdadm with output captured from real arrays (tests/fixtures/storage)."""

    def __init__(self, detail: str):
        self.detail = detail

    def has(self, tool: str) -> bool:
        return True

    def which(self, tool: str) -> str:
        return f"/sbin/{tool}"

    def run(self, argv, **kw) -> Result:
        if argv[:3] == ["mdadm", "--detail", "--scan"]:
            return Result(list(argv), 0, (STORAGE / "mdadm-detail-scan.txt").read_text())
        if argv[:2] == ["mdadm", "--detail"]:
            return Result(list(argv), 0, (STORAGE / self.detail).read_text())
        raise AssertionError(f"unexpected command {argv}")


def test_raid_degraded_then_rebuilt(tmp_path, webhook, monkeypatch):
    import opsctl.storage.probe as probe

    cfg = load_config(write_config(tmp_path / "opsctl.yaml", base_config(tmp_path, alerts={
        "targets": [{"name": "hook", "type": "webhook", "url": webhook.url}],
        "routes": [{"severity": "critical", "targets": ["hook"]},
                   {"severity": "minor", "targets": ["hook"]}]})))
    store = Store.for_config(cfg)
    pipe = AlertPipeline(cfg, store)

    def state(mdstat: str, detail: str) -> str:
        monkeypatch.setattr(probe, "read_mdstat", lambda: (STORAGE / mdstat).read_text())
        return job_raid(JobContext(cfg, store, pipe, ReplayRunner(detail)))

    try:
        assert "all healthy" in state("mdstat-clean.txt", "mdadm-detail-clean.txt")
        assert "degraded" in state("mdstat-degraded.txt", "mdadm-detail-degraded.txt")
        state("mdstat-degraded.txt", "mdadm-detail-degraded.txt")  # still degraded: no news
        assert "all healthy" in state("mdstat-clean.txt", "mdadm-detail-clean.txt")
        assert pipe.drain(10)
    finally:
        pipe.close()
    with store.read() as conn:
        kinds = [(r.kind, r.severity) for r in conn.execute(
            sa.select(events.c.kind, events.c.severity).order_by(events.c.id))]
    assert kinds == [("degraded", "critical"), ("rebuilt", "minor")]
    assert [b["kind"] for b in webhook.received] == ["degraded", "rebuilt"]


def test_run_job_runs_an_unscheduled_profile(tmp_path):
    """What opsctl-inspection@PROFILE.service runs: any profile, scheduled or not."""
    cfg = base_config(tmp_path, inspection={"profiles": [
        {"name": "adhoc", "items": [{"id": "load", "check": "load",
                                     "params": {"warn": 500, "crit": 1000}}]}]})
    path = write_config(tmp_path / "opsctl.yaml", cfg)
    proc = opsctl("-c", str(path), "--json", "daemon", "run-job", "inspection:adhoc")
    assert proc.returncode == 0, proc.stderr
    assert '"status": "ok"' in proc.stdout and "OK" in proc.stdout
    hist = opsctl("-c", str(path), "daemon", "jobs", "--history", "inspection:adhoc", "--json")
    assert hist.returncode == 0 and '"trigger": "manual"' in hist.stdout
