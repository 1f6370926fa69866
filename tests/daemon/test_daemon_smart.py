"""SMART failure prediction in the daemon, on smartctl output from real disks
(tests/fixtures/smart-real; the VM's virtual disks have no SMART)."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from daemon_support import base_config, write_config

from opsctl.core.config import load_config
from opsctl.core.runner import Result
from opsctl.core.store import Store
from opsctl.daemon.alerts import AlertPipeline
from opsctl.daemon.jobs import JobContext, build_jobs, job_smart
from opsctl.daemon.schema import events
from opsctl.storage import smart

REAL = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "smart-real"


def health(name: str) -> smart.DiskHealth:
    return smart.parse(json.loads((REAL / name).read_text()))


class SmartReplay:
    """Answers smartctl with what real disks printed; ``disks`` maps device -> file."""

    def __init__(self, disks: dict[str, str]):
        self.disks = disks

    def has(self, tool: str) -> bool:
        return tool == "smartctl"

    def which(self, tool: str) -> str:
        return f"/usr/sbin/{tool}"

    def run(self, argv, **kw) -> Result:
        assert argv[0] == "smartctl", argv
        if "--scan" in argv:
            return Result(list(argv), 0, json.dumps(
                {"devices": [{"name": d, "type": "sat"} for d in self.disks]}))
        data = json.loads((REAL / self.disks[argv[-1]]).read_text())
        data["device"]["name"] = argv[-1]
        return Result(list(argv), int(data["smartctl"]["exit_status"]), json.dumps(data))


def test_parse_real_disks():
    h = health("ST3500418AS_12.json")
    assert h.counters["reallocated sectors"] == 304 and h.passed and not h.failing
    nv = health("nvme-null-SAMSUNG_MZWLL3T2HAJQ-00005-nvme0.json")
    assert nv.failing and nv.nvme_warning == 16
    # Seagate's packed Command_Timeout raw value is not a counter to alarm on
    sg = health("sat-Seagate_Exos_X16-ST16000NM001G-2KK103-sda.json")
    assert all(v < 10**6 for v in sg.counters.values()) and not sg.failing
    assert smart.compare(None, health("WDC_WD20EFRX-68EUZN0_17.json")) == []
    assert smart.compare(None, sg) == []


def test_rising_counters_predict_failure_and_a_new_disk_starts_over():
    first, later = health("ST3500418AS_11.json"), health("ST3500418AS_12.json")
    seen = smart.compare(None, first)
    assert [f.kind for f in seen] == ["smart-counters"] and "1 reallocated sectors" in \
        seen[0].message
    rising = smart.compare(first.state(), later)
    assert [(f.kind, f.severity) for f in rising] == [("smart-rising", "major")]
    assert "reallocated sectors 1 -> 304" in rising[0].message
    assert smart.compare(later.state(), later) == []          # no news, no alert
    other = dict(later.state(), identity="other|disk")
    assert [f.kind for f in smart.compare(other, later)] == ["smart-counters"]


def test_daemon_job_alerts_before_the_disk_dies(tmp_path, webhook):
    cfg = load_config(write_config(tmp_path / "opsctl.yaml", base_config(tmp_path, alerts={
        "targets": [{"name": "hook", "type": "webhook", "url": webhook.url}],
        "routes": [{"severity": s, "targets": ["hook"]}
                   for s in ("critical", "major", "minor")]})))
    store = Store.for_config(cfg)
    pipe = AlertPipeline(cfg, store)
    disks = {"/dev/sda": "WDC_WD20EFRX-68EUZN0_17.json", "/dev/sdb": "ST3500418AS_11.json",
             "/dev/nvme0": "nvme-null-Samsung_SSD_970_EVO_Plus_250GB-nvme0.json"}
    try:
        assert "3 disks read" in job_smart(JobContext(cfg, store, pipe, SmartReplay(disks)))
        disks["/dev/sdb"] = "ST3500418AS_12.json"        # a week later: 304 reallocated
        disks["/dev/nvme0"] = "nvme-null-SAMSUNG_MZWLL3T2HAJQ-00005-nvme0.json"
        job_smart(JobContext(cfg, store, pipe, SmartReplay(disks)))
        job_smart(JobContext(cfg, store, pipe, SmartReplay(disks)))   # nothing new
        assert pipe.drain(10)
    finally:
        pipe.close()
    with store.read() as conn:
        got = [(r.kind, r.severity, r.subject) for r in conn.execute(
            sa.select(events.c.kind, events.c.severity, events.c.subject)
            .order_by(events.c.id))]
    assert got == [("smart-counters", "minor", "/dev/sdb"),
                   ("smart-rising", "major", "/dev/sdb"),
                   ("smart-failing", "critical", "/dev/nvme0")], got
    assert [b["kind"] for b in webhook.received] == [k for k, _, _ in got]


def test_smart_job_is_scheduled_where_smartctl_exists(tmp_path):
    cfg = load_config(write_config(tmp_path / "opsctl.yaml", base_config(
        tmp_path, daemon={"smart_interval": 600})))
    jobs = build_jobs(cfg)
    from opsctl.core.runner import Runner

    assert ("smart" in jobs) == Runner().has("smartctl")
    off = load_config(write_config(tmp_path / "off.yaml", base_config(
        tmp_path, daemon={"smart_interval": 0})))
    assert "smart" not in build_jobs(off)
