#!/usr/bin/env python3
"""CLI start-up time: `opsctl --version` and `opsctl --help` (target: < 150 ms median).

Usage: python3 benchmarks/cli_startup/run.py [--runs N] [--json]
Runs the installed console script (what a user types), with a bare interpreter start as
the floor for comparison.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time

TARGET_MS = 150.0


def measure(argv: list[str], runs: int) -> dict:
    subprocess.run(argv, capture_output=True, check=True)  # warm the page cache
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {
        "argv": " ".join(argv),
        "runs": runs,
        "median_ms": round(statistics.median(samples), 1),
        "p90_ms": round(samples[int(0.9 * (len(samples) - 1))], 1),
        "min_ms": round(samples[0], 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    exe = shutil.which("opsctl")
    if exe is None:
        print("opsctl is not installed (pip install -e .)", file=sys.stderr)
        return 2
    results = [
        measure([sys.executable, "-c", "pass"], args.runs),
        measure([exe, "--version"], args.runs),
        measure([exe, "--help"], args.runs),
        measure([exe, "config", "--help"], args.runs),
    ]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"{'command':40} {'median':>9} {'p90':>9} {'min':>9}")
        for r in results:
            print(f"{r['argv'][-40:]:40} {r['median_ms']:>7.1f}ms {r['p90_ms']:>7.1f}ms "
                  f"{r['min_ms']:>7.1f}ms")
    worst = max(r["median_ms"] for r in results[1:])
    print(f"target < {TARGET_MS:.0f} ms median: {'met' if worst < TARGET_MS else 'MISSED'}",
          file=sys.stderr)
    return 0 if worst < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
