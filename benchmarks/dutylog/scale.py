#!/usr/bin/env python3
"""Duty log at scale: views, verify and CSV export on a 1 M-entry log, beside SQLite.

Usage: python3 benchmarks/dutylog/scale.py [--entries N] [--runs N] [--keep DIR] [--json]
                                          [--only views|whole] [--baseline OPSCTL]

Builds a log of N entries (default 1 000 000, three years of a busy site: ~900 a day,
2 % pending items, amendments, closures) with a valid chain, and a 1 000-entry log, then
measures, interleaving opsctl with its peer run for run (medians):

- views through the API (what the < 50 ms target is about): ``list --last 20``, one
  day, open items, ``show``, ``search``; peer: the same rows from sqlite3 in-process;
- the same views through the CLI (interpreter start included), wall time and max RSS
  at N and at 1 000 entries (memory flat in the log's size); peer: the sqlite3 tool;
- ``duty log verify`` (target < 2 s, < 100 MB RSS); peer: ``sha256sum`` of the db file;
- ``duty export`` of the last year to CSV (target within 1.5x); peer: ``sqlite3 -csv``
  of the same rows to a file.

``--keep DIR`` reuses (or leaves) the generated logs in DIR.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen  # noqa: E402

VIEW_TARGET_MS = 50.0
VERIFY_TARGET_S = 2.0
VERIFY_RSS_MB = 100.0
EXPORT_RATIO = 1.5
START = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
DAYS = 3 * 365
DAY = dt.date(2024, 5, 5)  # a day in the middle of the log
YEAR = (dt.date(2025, 1, 1), dt.date(2025, 12, 31))
COLS = ("seq, ts, kind, category, severity, author, source, pending, ref_seq, text, details, "
        "alg, prev_hash, hash")


def run(argv: list[str], stdout=subprocess.DEVNULL) -> tuple[float, float, float]:
    """Wall seconds, max RSS (MB) and CPU seconds (user + system) of one process: on a
    shared machine the CPU time says more than the wall time."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode() if p.stderr else ""
    p.stderr.close()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{argv[:6]} failed ({p.returncode}): {err[-500:]}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleave(a, b, runs: int) -> tuple[list, list]:
    ra, rb = [], []
    for _ in range(runs):
        ra.append(a())
        rb.append(b())
    return ra, rb


def med(xs) -> float:
    return statistics.median(xs)


def ensure_log(root: Path, entries: int) -> Path:
    d = root / f"log-{entries}"
    cfg = d / "opsctl.yaml"
    if (d / "state" / "opsctl.db").exists() and (d / "complete").exists():
        return cfg
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    cfg, took = gen.build(d, entries, start=START, days=DAYS)
    (d / "complete").write_text(f"{took:.1f}\n")
    print(f"built {entries} entries in {took:.1f} s", file=sys.stderr)
    return cfg


def api_views(cfg_path: Path, db: Path, runs: int) -> list[dict]:
    import sqlite3

    from opsctl.core.config import load_config
    from opsctl.core.store import Store
    from opsctl.handover import dutylog
    from opsctl.handover.timeutil import day_range_utc

    cfg = load_config(cfg_path)
    store = Store.for_config(cfg)
    lo, hi = day_range_utc(cfg, DAY, DAY)
    peer = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    mid = 500_007 if _count(peer) > 500_007 else 7

    def q(sql, *args):
        return lambda: peer.execute(sql, args).fetchall()

    cases = [
        ("list --last 20", lambda: dutylog.list_entries(cfg, store, last=20),
         q("SELECT * FROM duty_log ORDER BY seq DESC LIMIT 20")),
        ("list one day", lambda: dutylog.list_entries(cfg, store, DAY, DAY),
         q("SELECT * FROM duty_log WHERE ts >= ? AND ts < ? ORDER BY seq", lo, hi)),
        ("list --pending --last 20", lambda: dutylog.list_entries(cfg, store, pending=True,
                                                                   last=20),
         q("SELECT * FROM duty_log WHERE pending = 1 ORDER BY seq DESC LIMIT 20")),
        ("show", lambda: dutylog.show(store, mid),
         q("SELECT * FROM duty_log WHERE seq = ?", mid)),
        ("search 'chiller' --last 20", lambda: dutylog.search(cfg, store, "chiller", last=20),
         q("SELECT * FROM duty_log WHERE text LIKE '%chiller%' ORDER BY seq DESC LIMIT 20")),
        ("search rare phrase", lambda: dutylog.search(cfg, store, "two units", last=20),
         q("SELECT * FROM duty_log WHERE text LIKE '%two units%' ORDER BY seq DESC LIMIT 20")),
        ("search one day", lambda: dutylog.search(cfg, store, "fan", DAY, DAY),
         q("SELECT * FROM duty_log WHERE ts >= ? AND ts < ? AND text LIKE '%fan%' "
           "ORDER BY seq DESC LIMIT 50", lo, hi)),
    ]
    out = []
    for name, ours, theirs in cases:
        ours(), theirs()  # warm the page cache
        a, b = interleave(lambda o=ours: timed(o), lambda t=theirs: timed(t), runs)
        out.append({"view": name, "rows": len(ours()) if name != "show" else 1,
                    "opsctl_ms": round(med(a) * 1000, 1), "sqlite_ms": round(med(b) * 1000, 1)})
    store.close()
    peer.close()
    return out


def _count(conn) -> int:
    return conn.execute("SELECT max(seq) FROM duty_log").fetchone()[0] or 0


def cli_views(opsctl: str, cfg: Path, db: Path, runs: int) -> list[dict]:
    day = str(DAY)
    cases = [
        ("duty log list --last 20", ["duty", "log", "list", "--last", "20"],
         "SELECT * FROM duty_log ORDER BY seq DESC LIMIT 20"),
        ("duty log list (one day)", ["duty", "log", "list", "--from", day, "--to", day],
         f"SELECT * FROM duty_log WHERE ts >= '{DAY - dt.timedelta(days=1)}T22' AND "
         f"ts < '{day}T22' ORDER BY seq"),
        ("duty log search chiller", ["duty", "log", "search", "chiller", "--last", "20"],
         "SELECT * FROM duty_log WHERE text LIKE '%chiller%' ORDER BY seq DESC LIMIT 20"),
    ]
    out = []
    for name, args, sql in cases:
        ours = [opsctl, "-c", str(cfg), "--json", *args]
        theirs = ["sqlite3", "-readonly", str(db), sql]
        run(ours), run(theirs)
        a, b = interleave(lambda o=ours: run(o), lambda t=theirs: run(t), runs)
        out.append({"command": name, "opsctl_s": round(med([x[0] for x in a]), 3),
                    "opsctl_rss_mb": round(max(x[1] for x in a), 1),
                    "sqlite3_s": round(med([x[0] for x in b]), 3)})
    return out


def verify_and_export(opsctl: str, cfg: Path, db: Path, runs: int, tmp: Path,
                      baseline: str | None = None) -> dict:
    """``baseline``: another opsctl (e.g. the previous code's) measured in the same rounds."""
    def three(ours, base, peer, n):
        ra, rbase, rb = [], [], []
        for _ in range(n):
            ra.append(ours())
            if baseline:
                rbase.append(base())
            rb.append(peer())
        return ra, rbase, rb

    def fig(rs, key):
        return {f"{key}_s": round(med([x[0] for x in rs]), 3),
                f"{key}_cpu_s": round(med([x[2] for x in rs]), 3),
                f"{key}_rss_mb": round(max(x[1] for x in rs), 1)} if rs else {}

    args = ["-c", str(cfg), "duty", "log", "verify"]
    peer = ["sha256sum", str(db)]
    run([opsctl, *args])
    a, base, b = three(lambda: run([opsctl, *args]), lambda: run([baseline, *args]),
                       lambda: run(peer), runs)
    verify = {**fig(a, "opsctl"), **fig(base, "baseline"),
              "sha256sum_db_s": round(med([x[0] for x in b]), 3),
              "sha256sum_db_cpu_s": round(med([x[2] for x in b]), 3)}
    out_csv = tmp / "export.csv"
    args = ["-c", str(cfg), "duty", "export", "--from", str(YEAR[0]), "--to", str(YEAR[1]),
            "-o", str(out_csv)]
    # The same rows (the year in UTC, site Europe/Berlin), every column, to a file.
    sql = (f"SELECT {COLS} FROM duty_log WHERE ts >= '{YEAR[0] - dt.timedelta(days=1)}T23' "
           f"AND ts < '{YEAR[1]}T23' ORDER BY seq")
    peer_csv = tmp / "peer.csv"

    def peer_run():
        with open(peer_csv, "wb") as fh:
            return run(["sqlite3", "-readonly", "-csv", "-header", str(db), sql], stdout=fh)

    run([opsctl, *args])
    a, base, b = three(lambda: run([opsctl, *args]), lambda: run([baseline, *args]),
                       peer_run, max(1, runs // 2))
    ratio = med([x[0] for x in a]) / med([x[0] for x in b])
    with open(peer_csv, "rb") as fh:
        rows = sum(1 for _ in fh) - 1
    export = {"rows": rows, **fig(a, "opsctl"), **fig(base, "baseline"),
              "sqlite3_csv_s": round(med([x[0] for x in b]), 3),
              "sqlite3_csv_cpu_s": round(med([x[2] for x in b]), 3), "ratio": round(ratio, 2),
              "csv_mb": round(out_csv.stat().st_size / 1e6, 1)}
    return {"verify": verify, "export_year_csv": export}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", metavar="DIR", help="keep (and reuse) the logs here")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--baseline", metavar="OPSCTL",
                    help="another opsctl executable (the previous code) measured beside, "
                         "in the same rounds, for verify and export")
    ap.add_argument("--only", choices=("views", "whole"),
                    help="only the views, or only verify and export (whole-log work)")
    args = ap.parse_args()
    opsctl = shutil.which("opsctl")
    if opsctl is None or shutil.which("sqlite3") is None:
        print("needs opsctl (pip install -e .) and the sqlite3 tool", file=sys.stderr)
        return 2
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="dutylog-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        big = ensure_log(root, args.entries)
        small = ensure_log(root, 1000)
        db_big, db_small = (c.parent / "state" / "opsctl.db" for c in (big, small))
        results = {"entries": args.entries, "db_mb": round(db_big.stat().st_size / 1e6, 1),
                   "cores": len(os.sched_getaffinity(0)),
                   "load_avg_before": round(os.getloadavg()[0], 1)}
        if args.only != "whole":
            results["api_views"] = api_views(big, db_big, args.runs)
            results["cli_views"] = cli_views(opsctl, big, db_big, args.runs)
            results["cli_views_1000"] = cli_views(opsctl, small, db_small, args.runs)
        if args.only != "views":
            results.update(verify_and_export(opsctl, big, db_big, args.runs, root,
                                             args.baseline))
        results["load_avg_after"] = round(os.getloadavg()[0], 1)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"{results['entries']} entries, database {results['db_mb']} MB, "
              f"{results['cores']} cores, load average {results['load_avg_before']} before, "
              f"{results['load_avg_after']} after")
        if "api_views" in results:
            print(f"{'view (API, in-process)':34} {'rows':>5} {'opsctl':>10} {'sqlite3':>10}")
            for v in results["api_views"]:
                print(f"{v['view']:34} {v['rows']:>5} {v['opsctl_ms']:>8.1f}ms "
                      f"{v['sqlite_ms']:>8.1f}ms")
            for key, label in (("cli_views", f"{args.entries}"),
                               ("cli_views_1000", "1000")):
                print(f"{'CLI at ' + label + ' entries':34} {'opsctl':>10} {'RSS':>8} "
                      f"{'sqlite3':>10}")
                for v in results[key]:
                    print(f"{v['command']:34} {v['opsctl_s'] * 1000:>8.0f}ms "
                          f"{v['opsctl_rss_mb']:>6.1f}MB {v['sqlite3_s'] * 1000:>8.0f}ms")
        if "verify" in results:
            v, e = results["verify"], results["export_year_csv"]
            print(f"verify: {v['opsctl_s']:.2f} s ({v['opsctl_cpu_s']:.2f} s CPU), "
                  f"{v['opsctl_rss_mb']} MB RSS (sha256sum of the db: "
                  f"{v['sha256sum_db_s']:.2f} s, {v['sha256sum_db_cpu_s']:.2f} s CPU)")
            print(f"export a year, {e['rows']} rows to CSV: {e['opsctl_s']:.2f} s "
                  f"({e['opsctl_cpu_s']:.2f} s CPU), {e['opsctl_rss_mb']} MB RSS (sqlite3 "
                  f"-csv: {e['sqlite3_csv_s']:.2f} s, {e['sqlite3_csv_cpu_s']:.2f} s CPU; "
                  f"ratio {e['ratio']})")
            if args.baseline:
                print(f"baseline ({args.baseline}): verify {v['baseline_s']:.2f} s "
                      f"({v['baseline_cpu_s']:.2f} s CPU), export {e['baseline_s']:.2f} s "
                      f"({e['baseline_cpu_s']:.2f} s CPU)")
    checks = []
    if "api_views" in results:
        checks.append(("views < 50 ms",
                       all(v["opsctl_ms"] < VIEW_TARGET_MS for v in results["api_views"])))
    if "verify" in results:
        checks.append(("verify < 2 s, < 100 MB",
                       results["verify"]["opsctl_s"] < VERIFY_TARGET_S
                       and results["verify"]["opsctl_rss_mb"] < VERIFY_RSS_MB))
        checks.append(("export within 1.5x sqlite3",
                       results["export_year_csv"]["ratio"] <= EXPORT_RATIO))
    for name, ok in checks:
        print(f"target {name}: {'met' if ok else 'MISSED'}", file=sys.stderr)
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
