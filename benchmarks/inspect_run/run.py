#!/usr/bin/env python3
"""A 20-item automatic inspection profile on this host (target: < 1 s per run).

Usage: python3 benchmarks/inspect_run/run.py [--runs N] [--json]

Measures ``run_profile`` (checks side by side, record stored in SQLite, follow-ups for
failing items in the duty log) in-process, and the whole `opsctl inspect run` command
(interpreter start, config load and validation, the run, the table) as a user sees it.
Every check runs for real: psutil, statvfs, findmnt, mdadm/LVM probes, smartctl, the
kernel clock, `ip`, a TCP connect to a listener the benchmark opens, backup files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

TARGET_S = 1.0


def profile_items(tmp: Path, port: int) -> list[dict]:
    backups = tmp / "backups"
    backups.mkdir()
    (backups / "db-1.dump").write_bytes(b"x" * 4096)
    (tmp / "backup.ok").touch()
    return [
        {"id": "load", "check": "load", "params": {"warn": 64, "crit": 128}},
        {"id": "load-cpu", "check": "load", "params": {"per_cpu": True, "warn": 8, "crit": 16}},
        {"id": "memory", "check": "memory"},
        {"id": "swap", "check": "swap"},
        {"id": "root-fs", "check": "fs_usage", "params": {"mount": "/", "warn": 99, "crit": 100}},
        {"id": "state-fs", "check": "fs_usage",
         "params": {"mount": str(tmp), "require_mount": False, "warn": 99, "crit": 100}},
        {"id": "proc-fs", "check": "fs_usage", "params": {"mount": "/proc", "warn": 99,
                                                          "crit": 100, "inodes_warn": None,
                                                          "inodes_crit": None}},
        {"id": "fstab", "check": "fstab"},
        {"id": "raid", "check": "raid"},
        {"id": "vg-free", "check": "lvm_free"},
        {"id": "disks", "check": "smart"},
        {"id": "clock", "check": "clock_sync"},
        {"id": "addresses", "check": "ip_baseline"},
        {"id": "python", "check": "process",
         "params": {"name": Path(sys.executable).name[:15]}},
        {"id": "bench", "check": "process", "params": {"name": "run.py", "match": "cmdline"}},
        {"id": "port", "check": "tcp_port", "params": {"port": port}},
        {"id": "port-closed", "check": "tcp_port", "params": {"port": 1, "connect_timeout": 1}},
        {"id": "backup", "check": "backup_age", "params": {"path": str(backups / "*.dump")}},
        {"id": "marker", "check": "backup_age", "params": {"marker": str(tmp / "backup.ok")}},
        {"id": "unit", "check": "systemd_unit", "params": {"unit": "cron.service"}},
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="opsctl-bench-inspect-"))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        items = profile_items(tmp, listener.getsockname()[1])
        assert len(items) == 20
        cfg_path = tmp / "opsctl.yaml"
        cfg_path.write_text(yaml.safe_dump({
            "site": {"name": "bench"}, "state_dir": str(tmp / "state"),
            "inspection": {"profiles": [{"name": "bench", "items": items}]}}))
        from opsctl.core.config import load_config
        from opsctl.core.store import Store
        from opsctl.inspection.api import run_profile

        cfg = load_config(cfg_path)
        store = Store.for_config(cfg)
        run_profile(cfg, store, "bench", "bench")  # warm-up: baseline, migrations, caches
        samples, statuses, slowest = [], {}, {}
        for _ in range(args.runs):
            t0 = time.perf_counter()
            rec = run_profile(cfg, store, "bench", "bench")
            samples.append(time.perf_counter() - t0)
            for it in rec.items:
                statuses[it.item_id] = it.status.name
                slowest[it.item_id] = max(slowest.get(it.item_id, 0.0), it.duration or 0.0)
        store.close()
        exe = shutil.which("opsctl") or sys.executable
        argv = [exe] if exe != sys.executable else [sys.executable, "-m", "opsctl"]
        cli = []
        for _ in range(max(3, args.runs // 2)):
            t0 = time.perf_counter()
            subprocess.run([*argv, "-c", str(cfg_path), "inspect", "run"], capture_output=True,
                           env={**os.environ, "NO_COLOR": "1"})
            cli.append(time.perf_counter() - t0)
    finally:
        listener.close()
        shutil.rmtree(tmp, ignore_errors=True)
    samples.sort()
    cli.sort()
    result = {
        "items": 20, "runs": args.runs, "cpus": os.cpu_count(),
        "run_profile_median_s": round(statistics.median(samples), 3),
        "run_profile_max_s": round(samples[-1], 3),
        "cli_median_s": round(statistics.median(cli), 3),
        "cli_max_s": round(cli[-1], 3),
        "target_s": TARGET_S,
        "slowest_items_s": dict(sorted(((k, round(v, 3)) for k, v in slowest.items()),
                                       key=lambda kv: -kv[1])[:5]),
        "statuses": statuses,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"20-item automatic profile, {args.runs} runs on {os.cpu_count()} CPUs")
        print(f"  run_profile: median {result['run_profile_median_s']:.3f} s, "
              f"max {result['run_profile_max_s']:.3f} s (target < {TARGET_S:g} s)")
        print(f"  opsctl inspect run (whole command): median {result['cli_median_s']:.3f} s, "
              f"max {result['cli_max_s']:.3f} s")
        print("  slowest items: " + ", ".join(f"{k} {v:.3f} s"
                                              for k, v in result["slowest_items_s"].items()))
    return 0 if result["run_profile_median_s"] < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
