"""Helpers of the duty tests: a real config file, a real SQLite store, the real CLI as a
subprocess (imported by the test modules; the fixture lives in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PEOPLE_TWO_SHIFT = """\
people:
  - {name: a1, lead: true}
  - {name: a2, lead: true}
  - {name: a3, lead: true}
  - {name: a4}
  - {name: b1, lead: true}
  - {name: b2, lead: true}
  - {name: b3, lead: true}
  - {name: b4}
  - {name: sam, roles: [supervisor]}
  - {name: olga, roles: [operator]}
"""

SHIFTS = """\
    shifts:
      - {name: day, start: "08:00", end: "16:00"}
      - {name: evening, start: "16:00", end: "00:00"}
      - {name: night, start: "00:00", end: "08:00"}
"""

HANDOVER = """\
  handover:
    inventory:
      - {name: torch, count: 2, kind: tool}
      - {name: rack keys, count: 4, kind: key}
"""


def two_shift_config(extra_duty: str = "") -> str:
    return ("site: {name: t, timezone: Europe/Berlin}\nstate_dir: state\n" + PEOPLE_TWO_SHIFT
            + "duty:\n  export_dir: exports\n" + extra_duty
            + "  roster:\n    pattern: two-shift\n"
            "    teams: {A: [a1, a2, a3, a4], B: [b1, b2, b3, b4]}\n" + SHIFTS + HANDOVER)


def three_two_config() -> str:
    people = ["people:"]
    teams = []
    for t in "ABCDE":
        names = [f"{t.lower()}{i}" for i in range(1, 4)]
        teams.append(f"{t}: [{', '.join(names)}]")
        people += [f"  - {{name: {n}, lead: true}}" for n in names]
    people.append("  - {name: sam, roles: [supervisor]}")
    return ("site: {name: t, timezone: Europe/Berlin}\nstate_dir: state\n"
            + "\n".join(people) + "\nduty:\n  roster:\n    pattern: \"3+2\"\n"
            + f"    teams: {{{', '.join(teams)}}}\n" + SHIFTS)


@dataclass
class DutyEnv:
    root: Path
    config: Path
    # PostgreSQL runs: (cluster, database) the config's store.url points at.
    pg: tuple | None = None

    @property
    def backend(self) -> str:
        return "postgresql" if self.pg else "sqlite"

    @property
    def db(self) -> Path:
        return self.root / "state" / "opsctl.db"

    def run(self, *args: str, check: int | None = 0) -> subprocess.CompletedProcess:
        """The real CLI entry point, in this process (a fresh interpreter per command costs
        a second on a loaded machine; ``run_proc`` is the subprocess form)."""
        import contextlib
        import io

        from opsctl.cli.main import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(["-c", str(self.config), *args])
                rc = 0
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        p = subprocess.CompletedProcess(list(args), rc, out.getvalue(), err.getvalue())
        if check is not None:
            assert p.returncode == check, (args, p.returncode, p.stdout, p.stderr)
        return p

    def run_proc(self, *args: str, check: int | None = 0) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k not in ("OPSCTL_ACTOR", "SUDO_USER")}
        env["NO_COLOR"] = "1"
        p = subprocess.run([sys.executable, "-m", "opsctl", "-c", str(self.config), *args],
                           capture_output=True, text=True, timeout=120, env=env)
        if check is not None:
            assert p.returncode == check, (args, p.returncode, p.stdout, p.stderr)
        return p

    def sqlite(self, sql: str) -> None:
        """Edit the store behind opsctl's back (the sqlite3 tool, or psql on PostgreSQL:
        the tests' statements are plain SQL both understand)."""
        if self.pg:
            cluster, db = self.pg
            cluster.psql(sql, db)
            return
        subprocess.run(["sqlite3", str(self.db), sql], check=True, timeout=30)

    def cfg(self):
        from opsctl.core.config import load_config

        return load_config(self.config)

    def store(self):
        from opsctl.core.store import Store

        return Store.for_config(self.cfg())


def local_day(ts: str) -> str:
    """The site-local (Europe/Berlin, as in the test configs) date of a stored timestamp."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    return str(dt.datetime.fromisoformat(ts).astimezone(ZoneInfo("Europe/Berlin")).date())


def make_env(tmp_path: Path, text: str, pg_cluster=None) -> DutyEnv:
    """A config in ``tmp_path``; with ``pg_cluster`` its store is a fresh PostgreSQL
    database of that cluster (``store:`` appended at the top level)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg = tmp_path / "opsctl.yaml"
    pg = None
    if pg_cluster is not None:
        from pg_cluster import store_yaml

        db = pg_cluster.new_database()
        text = text.rstrip("\n") + "\n" + store_yaml(pg_cluster.socket_url(db))
        pg = (pg_cluster, db)
    cfg.write_text(text)
    return DutyEnv(tmp_path, cfg, pg)
