"""Build a large duty log fast: a store migrated by opsctl, rows inserted in bulk with a
valid hash chain (the same canonical form and hash as ``chain.append``).

The mix is a busy site's: mostly automatic and patrol entries, 2 % pending items (most
closed a few hundred entries later), 1 % amendments, some entries with details.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import time
from pathlib import Path

CONFIG = """\
site: {{name: bench, timezone: Europe/Berlin}}
state_dir: {state}
people:
  - {{name: op, lead: true}}
  - {{name: sup, roles: [supervisor]}}
duty:
  export_dir: {exports}
"""

WORDS = ("UPS", "battery", "rack", "door", "generator", "chiller", "PDU", "switch",
         "sensor", "fan", "filter", "breaker", "cable", "patrol", "alarm", "tape")


def write_config(tmp: Path) -> Path:
    cfg = tmp / "opsctl.yaml"
    cfg.write_text(CONFIG.format(state=tmp / "state", exports=tmp / "exports"))
    return cfg


def build(tmp: Path, entries: int, *, start: dt.datetime, days: float) -> tuple[Path, float]:
    """Create ``tmp/opsctl.yaml`` and its store with ``entries`` entries spread evenly
    over ``days`` from ``start``; returns (config path, seconds taken)."""
    from opsctl.core.config import load_config
    from opsctl.core.store import Store
    from opsctl.handover import chain

    t0 = time.perf_counter()
    cfg_path = write_config(tmp)
    store = Store.for_config(load_config(cfg_path))  # migrated: tables, indexes, triggers
    db = store.path
    store.close()

    step = dt.timedelta(days=days) / entries
    dumps, sha = json.dumps, hashlib.sha256
    prev = chain.GENESIS
    pending_open: list[int] = []
    rows = []
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")  # a benchmark fixture; opsctl itself syncs
    # The full-text index is built once at the end (as the migration does for an
    # existing log), not row by row through its triggers: same index, 10x faster.
    triggers = [r[0] for r in con.execute(
        "SELECT sql FROM sqlite_master WHERE type='trigger' AND tbl_name='duty_log'")]
    names = [r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='duty_log'")]
    con.execute("BEGIN")
    for name in names:
        con.execute(f"DROP TRIGGER {name}")
    insert = (f"INSERT INTO duty_log ({', '.join(chain.FIELDS)}, hash) "
              f"VALUES ({', '.join('?' * (len(chain.FIELDS) + 1))})")
    for seq in range(1, entries + 1):
        ts = (start + (seq - 1) * step).isoformat(timespec="microseconds")
        w = WORDS[seq % len(WORDS)]
        kind, cat, sev, pend, ref, details, author = "entry", "patrol", None, 0, None, None, "op"
        text = f"patrol {seq}: {w} checked, room 22.{seq % 10} C, all normal"
        if seq % 50 == 7:
            kind, cat, sev, pend = "entry", "incident", "minor", 1
            text = f"{w} fault on row {seq % 40}: replacement ordered"
            details = {"status": "waiting for parts"}
            pending_open.append(seq)
        elif seq % 200 == 9:  # a pending item corrected: the amendment is the open one
            kind, sev, pend, ref, author = "amend", "minor", 1, seq - 2, "sup"
            cat = "incident"
            text = f"{w} fault on row {(seq - 2) % 40}: replacement ordered, two units"
            details = {"amends": seq - 2, "reason": "count", "status": "ordered twice"}
        elif seq % 50 == 30 and len(pending_open) > 4:
            root = pending_open.pop(0)
            if seq % 200 != 30:  # about one in four stays open
                kind, cat, ref = "close", "incident", root
                text = f"replaced, {w} back to normal"
                details = {"closes": root}
        elif seq % 100 == 61:
            kind, ref, author = "amend", seq - 1, "sup"
            text = f"patrol {seq - 1}: {w} checked twice, room 22.{seq % 10} C"
            details = {"amends": seq - 1, "reason": "typo"}
        elif seq % 10 == 3:
            cat, author, text = "note", "opsctl", f"power: {w} on battery for 2 s, back on mains"
        canon_details = chain.canonical_details(details)
        values = (seq, ts, kind, cat, sev, text, "bench", author, pend, ref, canon_details,
                  chain.ALG_PLAIN, prev)
        digest = sha(dumps(values, ensure_ascii=False, separators=(",", ":")).encode()
                     ).hexdigest()
        rows.append((*values, digest))
        prev = digest
        if len(rows) == 20000:
            con.executemany(insert, rows)
            rows.clear()
    con.executemany(insert, rows)
    con.execute("INSERT OR REPLACE INTO duty_meta (key, value) VALUES ('head', ?)",
                (f"{entries}:{prev}",))
    if names:
        con.execute("INSERT INTO duty_log_fts (duty_log_fts) VALUES ('rebuild')")
        for sql in triggers:
            con.execute(sql)
    con.execute("COMMIT")
    con.close()
    return cfg_path, time.perf_counter() - t0
