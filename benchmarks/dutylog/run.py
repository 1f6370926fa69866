#!/usr/bin/env python3
"""Duty log: append 100 000 entries, verify the chain, export a year to CSV.

Usage: python3 benchmarks/dutylog/run.py [--entries N] [--durable N] [--keyed] [--json]

Targets: verify 100 000 entries < 2 s; export a year (the same entries spread over
2025) to CSV < 2 s. Appends are reported as entries/s two ways: in batches of 1000 per
transaction (bulk import, the daemon catching up) and one durable commit per entry
(record_event, what a command does; SQLite synchronous=FULL, so one fsync each).
Runs against a real SQLite file in a temporary directory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VERIFY_TARGET_S = 2.0
EXPORT_TARGET_S = 2.0

CONFIG = """\
site: {{name: bench, timezone: Europe/Berlin}}
state_dir: state
people:
  - {{name: op, lead: true}}
duty:
{key}  export_dir: exports
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--durable", type=int, default=1000,
                    help="entries appended one durable transaction each")
    ap.add_argument("--keyed", action="store_true", help="HMAC-keyed chain")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from opsctl.core.config import load_config
    from opsctl.core.store import Store
    from opsctl.handover import chain
    from opsctl.handover.api import record_event
    from opsctl.handover.export import export

    tmp = Path(tempfile.mkdtemp(prefix="dutylog-bench-"))
    key_line = ""
    if args.keyed:
        (tmp / "key").write_text("benchmark-key-0123456789abcdef\n")
        key_line = f"  log_key_file: {tmp / 'key'}\n"
    cfg_path = tmp / "opsctl.yaml"
    cfg_path.write_text(CONFIG.format(key=key_line))
    cfg = load_config(cfg_path)
    store = Store.for_config(cfg)
    key = chain.bind_config(cfg, store)

    # Bulk: N entries spread over 2025, in transactions of 1000.
    n = args.entries
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    step = dt.timedelta(seconds=365 * 86400 / n)
    t0 = time.perf_counter()
    batch = 1000
    for b in range(0, n, batch):
        with store.write() as conn:
            for i in range(b, min(n, b + batch)):
                ts = (start + i * step).isoformat(timespec="microseconds")
                chain.append(conn, chain.NewEntry(
                    text=f"patrol {i}: room temperature 22.{i % 10} C, all normal",
                    category=("patrol", "call", "note", "change")[i % 4], source="bench",
                    author="op", details={"i": i}), key, ts=ts)
    bulk_s = time.perf_counter() - t0

    # Durable: one transaction (and fsync) per entry, through the public API.
    t0 = time.perf_counter()
    for i in range(args.durable):
        record_event(store, category="note", text=f"event {i}", source="bench", key=key)
    durable_s = time.perf_counter() - t0
    total = n + args.durable

    t0 = time.perf_counter()
    res = chain.verify(store, key)
    verify_s = time.perf_counter() - t0
    assert res.ok and res.entries == total, res

    # The CLI as a user runs it (includes interpreter start and config load).
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "opsctl", "-c", str(cfg_path), "duty", "log",
                        "verify"], capture_output=True, text=True)
    cli_verify_s = time.perf_counter() - t0
    assert p.returncode == 0, p.stderr

    t0 = time.perf_counter()
    manifest = export(cfg, store, dt.date(2025, 1, 1), dt.date(2025, 12, 31), ["csv"],
                      tmp / "exports")
    export_s = time.perf_counter() - t0
    m = json.loads(manifest.read_text())
    csv_bytes = sum(f["bytes"] for f in m["files"])

    results = {
        "entries": total, "keyed": args.keyed,
        "append_batched_per_s": round(n / bulk_s),
        "append_durable_per_s": round(args.durable / durable_s) if args.durable else None,
        "verify_s": round(verify_s, 3), "verify_cli_s": round(cli_verify_s, 3),
        "export_year_csv_s": round(export_s, 3), "export_entries": m["entries"],
        "export_mb": round(csv_bytes / 1e6, 1),
        "db_mb": round((tmp / "state" / "opsctl.db").stat().st_size / 1e6, 1),
    }
    store.close()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for k, v in results.items():
            print(f"{k:24} {v}")
    ok = verify_s < VERIFY_TARGET_S and export_s < EXPORT_TARGET_S
    print(f"targets (verify < {VERIFY_TARGET_S:g} s, export < {EXPORT_TARGET_S:g} s): "
          f"{'met' if ok else 'MISSED'}", file=sys.stderr)
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
