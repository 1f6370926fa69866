#!/usr/bin/env python3
"""Time to print a month's duty-log sheet (PDF, WeasyPrint) of ~3000 entries.

Usage: python3 benchmarks/dutylog/print_month.py [--entries N] [--json]

The month's entries are built with gen.py (a valid hash chain, a busy site's mix) plus
Chinese entries, so the Noto CJK font is subset and embedded as on a real site. The peer
figure from the same run and store is `opsctl duty export --format html` of the same
month (the same rows rendered to HTML, no page layout): what the PDF's layout and font
embedding cost on top. Both run the real CLI as a subprocess.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import gen  # noqa: E402


def _opsctl(cfg: Path, *args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "opsctl", "-c", str(cfg), *args], check=True,
                   capture_output=True, timeout=3600, env=dict(os.environ, NO_COLOR="1"))
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--entries", type=int, default=3000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        start = dt.datetime(2026, 3, 1, 1, tzinfo=dt.UTC)
        cfg, _ = gen.build(tmp, a.entries - 30, start=start, days=29)
        # Chinese entries on the month's last day, through the real chain (chain.append
        # with the entry's time), so the sheet subsets and embeds Noto CJK as a site's does.
        from opsctl.core.config import load_config
        from opsctl.core.store import Store
        from opsctl.handover import chain

        store = Store.for_config(load_config(cfg))
        with store.write() as conn:
            for i in range(30):
                ts = dt.datetime(2026, 3, 31, 10, i, tzinfo=dt.UTC)
                chain.append(conn, chain.NewEntry(text=f"巡检第{i}次：空调正常，UPS 电池电压正常",
                                                  category="patrol", author="op"),
                             ts=ts.isoformat(timespec="microseconds"))
        store.close()
        pdf = tmp / "month.pdf"
        t_pdf = _opsctl(cfg, "duty", "log", "print", "--month", "2026-03", "-o", str(pdf))
        t_html = _opsctl(cfg, "duty", "export", "--from", "2026-03-01", "--to", "2026-03-31",
                         "--format", "html", "-o", str(tmp / "month.html"))
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
        pages = int(re.search(r"Pages:\s+(\d+)", info).group(1)) if info else None
        res = {"entries": a.entries, "pages": pages, "pdf_s": round(t_pdf, 2),
               "peer_export_html_s": round(t_html, 2),
               "pdf_bytes": pdf.stat().st_size}
    if a.json:
        print(json.dumps(res))
    else:
        print(f"month sheet: {res['entries']} entries, {res['pages']} pages, "
              f"{res['pdf_bytes'] // 1024} KiB PDF in {res['pdf_s']} s "
              f"(peer: duty export --format html of the same month {res['peer_export_html_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
