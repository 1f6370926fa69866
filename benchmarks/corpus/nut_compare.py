"""Benchmark: the real-device corpus (tests/fixtures/ups-corpus) read by opsctl and by NUT
2.8's ``snmp-ups`` (``mibs=auto``), each scored against LibreNMS's readings with the same
scorer as the test gate (tests/power/corpus_score.py). Not a test: NUT is not required
by the tests.

For every UPS recording: comparable values, opsctl match/wrong/missing, NUT
match/wrong/missing, and whether each shows a status. NUT values are compared under
the same (NUT-named) fields opsctl uses. Prints a Markdown table (the one in
docs/power.md) and a total per reader.

Usage: python3 benchmarks/corpus/nut_compare.py [--only FILE ...] [--json out.json]
Needs the snmpsim venv (OPSCTL_SNMPSIM_VENV or /opt/opsctl-snmpsim) and nut-snmp
(/lib/nut/snmp-ups).
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "helpers"))
sys.path.insert(0, str(ROOT / "tests" / "power"))

from corpus_score import (  # noqa: E402
    CORPUS,
    field_index,
    load_expected,
    load_index,
    score_device,
    summarise,
)
from snmp_agents import Snmpsim  # noqa: E402

SNMP_UPS = Path("/lib/nut/snmp-ups")
_LINE = re.compile(r"^([a-z][A-Za-z0-9_.]*): ?(.*)$")


def read_opsctl(port: int, community: str) -> dict:
    from opsctl.power.reader import read_device
    from opsctl.power.snmp.client import Session, Target, run

    async def go():
        session = Session(Target("127.0.0.1", port, "2c", community, timeout=2, retries=1))
        return await read_device(session, "ups", "auto")

    r = run(go())
    return {"values": r.values, "profile": r.profile.name, "kind": r.profile.kind}


def read_nut(port: int, community: str, state: Path) -> dict:
    user = pwd.getpwuid(os.geteuid()).pw_name
    argv = [str(SNMP_UPS), "-s", "corpus", "-u", user, "-x", f"port=127.0.0.1:{port}",
            "-x", f"community={community}", "-x", "snmp_version=v2c", "-x", "mibs=auto",
            "-x", "snmp_timeout=2", "-x", "snmp_retries=1", "-d", "1"]
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                             env={**os.environ, "NUT_STATEPATH": str(state),
                                  "NUT_ALTPIDPATH": str(state), "LC_ALL": "C"})
        out, err = res.stdout, res.stderr
    except subprocess.TimeoutExpired:
        out, err = "", "timeout"
    values: dict = {}
    for line in out.splitlines():
        if (m := _LINE.match(line)):
            text = m[2].strip()
            try:
                values[m[1]] = float(text)
            except ValueError:
                values[m[1]] = text
    mib = re.search(r"\(mib: ([^ )]+)", err)
    return {"values": values, "profile": mib[1] if mib else "none", "kind": "ups"}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--json")
    args = ap.parse_args()
    from opsctl.power.profiles import registry

    index = field_index(registry.all_profiles().values())
    files = [e["file"] for e in load_index() if e["group"] == "ups"
             and (not args.only or e["file"] in args.only)]
    sim = Snmpsim(sorted((CORPUS / "recordings").glob("*.snmprec"))).start()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            state = Path(tmp)
            os.chmod(state, 0o777)
            ops, nut = {}, {}
            for f in files:
                ops[f] = read_opsctl(sim.port, f)
                nut[f] = read_nut(sim.port, f, state) if SNMP_UPS.exists() else \
                    {"values": {}, "profile": "not installed", "kind": "ups"}
    finally:
        sim.stop()
    totals = {}
    for who, readings in (("opsctl", ops), ("NUT 2.8", nut)):
        outcomes = {f: score_device(f, load_expected(f), readings[f]["values"], index)
                    for f in files}
        status_files = [f for f in files if ops[f]["kind"] == "ups"]
        totals[who] = summarise(outcomes, readings, status_files)
        for f in files:
            s = summarise({f: outcomes[f]}, readings, [f] if f in status_files else [])
            rows.append((f, who, readings[f]["profile"], s))
    print("| device | reader | profile / mib | comparable | match | wrong | missing | status |")
    print("|---|---|---|---|---|---|---|---|")
    for f in files:
        for who in ("opsctl", "NUT 2.8"):
            _, _, prof, s = next(r for r in rows if r[0] == f and r[1] == who)
            st = "-" if ops[f]["kind"] != "ups" else ("yes" if s.with_status else "no")
            print(f"| {f} | {who} | {prof} | {s.comparable} | {s.match} | {s.wrong} | "
                  f"{s.missing} | {st} |")
    for who, s in totals.items():
        print(f"\n{who}: {s.match}/{s.comparable} match ({s.percent:.1f} %), {s.wrong} wrong, "
              f"{s.missing} missing; status on {s.with_status} of "
              f"{s.with_status + len(s.no_status)} UPSes")
        for w in s.wrong_items:
            print(f"  wrong: {w}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {who: {"match": s.match, "comparable": s.comparable, "wrong": s.wrong,
                   "missing": s.missing, "with_status": s.with_status,
                   "wrong_items": s.wrong_items} for who, s in totals.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
