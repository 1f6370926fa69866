#!/usr/bin/env python3
"""Everyday commands, wall time per run (target: < 150 ms before any network I/O).

Usage: python3 benchmarks/cli_startup/everyday.py [--runs N] [--json]

Runs, interleaved run for run (medians), against a small site in a temporary directory:
``python3 -c pass`` (the floor), ``opsctl config check`` on the shipped example,
``opsctl duty log list --last 5`` on a 5-entry log, and ``opsctl power status`` on three
net-snmp ``snmpd`` agents on 127.0.0.1 (the answers take a few ms: the rest is start-up),
plus where the start-up goes (``python -X importtime``, self time by package, one run).
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "helpers"))

TARGET_MS = 150.0
EXAMPLE = ROOT / "configs" / "opsctl.example.yaml"


def one(argv: list[str]) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(argv, capture_output=True)
    if p.returncode not in (0, 1):  # power status exits 1 for a WARNING: still measured
        raise SystemExit(f"{argv} failed ({p.returncode}): {p.stderr.decode()[-400:]}")
    return (time.perf_counter() - t0) * 1000


def imports(argv: list[str]) -> list[tuple[str, float]]:
    """Self import time by top-level package (opsctl by domain), ms, largest first."""
    p = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True,
                       text=True)
    by = collections.Counter()
    for line in p.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if m:
            name = m[2].split(".")
            by[".".join(name[:3]) if name[0] == "opsctl" else name[0]] += int(m[1]) / 1000
    return [(k, round(v, 1)) for k, v in by.most_common(8)]


def small_site(tmp: Path, ports: list[int]) -> Path:
    lines = ["site: {name: bench, timezone: Europe/Berlin}", f"state_dir: {tmp / 'state'}",
             "people:", "  - {name: op, lead: true}", "devices:"]
    for i, port in enumerate(ports):
        lines.append("  - " + json.dumps({
            "name": f"ups{i}", "kind": "ups", "host": "127.0.0.1", "port": port,
            "snmp": {"version": "2c", "community": "bench"}, "timeout": 2, "retries": 1,
            "profile": "ietf"}))
    cfg = tmp / "opsctl.yaml"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    exe = shutil.which("opsctl")
    if exe is None:
        print("opsctl is not installed (pip install -e .)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="everyday-"))
    agents = []
    try:
        if shutil.which("snmpd"):
            from snmp_agents import Snmpd, snmprec_overrides

            rec = ROOT / "tests" / "fixtures" / "snmp" / "ups-online.snmprec"
            values = [v for v in snmprec_overrides(rec)
                      if not v[0].startswith("1.3.6.1.2.1.1.")]
            agents = [Snmpd(values, community="bench", workdir=tmp / f"a{i}") for i in range(3)]
            for a in agents:
                a.start()
        cfg = small_site(tmp, [a.port for a in agents])
        for i in range(5):
            subprocess.run([exe, "-c", str(cfg), "duty", "log", "add", f"patrol {i} ok",
                            "--by", "op"], check=True, capture_output=True)
        cases = [("python3 -c pass", [sys.executable, "-c", "pass"]),
                 ("opsctl config check (example)", [exe, "-c", str(EXAMPLE), "config", "check"]),
                 ("opsctl duty log list --last 5", [exe, "-c", str(cfg), "duty", "log", "list",
                                                    "--last", "5"])]
        if agents:
            cases.append(("opsctl power status (3 snmpd)", [exe, "-c", str(cfg), "power",
                                                            "status"]))
        for _, argv in cases:
            one(argv)  # warm the page cache
        samples: dict[str, list[float]] = {name: [] for name, _ in cases}
        for _ in range(args.runs):
            for name, argv in cases:
                samples[name].append(one(argv))
        results = []
        for name, argv in cases:
            s = sorted(samples[name])
            results.append({"command": name, "median_ms": round(statistics.median(s), 1),
                            "min_ms": round(s[0], 1),
                            "imports_ms": imports(["-m", "opsctl", *argv[1:]])
                            if argv[0] == exe else []})
    finally:
        for a in agents:
            a.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"{'command':34} {'median':>9} {'min':>9}  largest imports (self ms)")
        for r in results:
            top = ", ".join(f"{k} {v:g}" for k, v in r["imports_ms"][:5])
            print(f"{r['command']:34} {r['median_ms']:>7.1f}ms {r['min_ms']:>7.1f}ms  {top}")
    worst = max(r["median_ms"] for r in results[1:])
    print(f"target < {TARGET_MS:.0f} ms median: {'met' if worst < TARGET_MS else 'MISSED'}",
          file=sys.stderr)
    return 0 if worst < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
