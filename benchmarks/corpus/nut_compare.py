"""Benchmark: the real-device corpus (tests/fixtures/ups-corpus) read by opsctl and by NUT
2.8's ``snmp-ups`` (``mibs=auto``), each scored against LibreNMS's readings with the same
scorer as the test gate (tests/power/corpus_score.py). Not a test: NUT is not required
by the tests.

Every recording is read by opsctl (kind ups, pdu or sensor, as a user would configure
it); the UPS recordings (and the DC system that calls itself a UPS) also by NUT. NUT
values are compared under the same (NUT-named) fields opsctl uses. Prints the per-device
summary and totals; ``--json FILE`` writes every compared value of every device (opsctl,
LibreNMS, NUT), which ``benchmarks/corpus/docs_table.py`` turns into the tables of
docs/power-corpus.md and docs/power.md.

Usage: python3 benchmarks/corpus/nut_compare.py [--only FILE ...] [--json out.json]
Needs the snmpsim venv (see tests/helpers/snmp_agents.py) and nut-snmp (/lib/nut/snmp-ups).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pwd
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "helpers"))
sys.path.insert(0, str(ROOT / "tests" / "power"))

from corpus_score import (  # noqa: E402
    ABSENT,
    CORPUS,
    CORRECTIONS,
    field_index,
    load_expected,
    load_index,
    score_device,
    summarise,
)
from snmp_agents import Snmpsim  # noqa: E402

SNMP_UPS = Path("/lib/nut/snmp-ups")
_LINE = re.compile(r"^([a-z][A-Za-z0-9_.]*): ?(.*)$")
# The kind a user would configure (the DC system calls itself a UPS card).
KIND = {"ups": "ups", "edge": "ups", "pdu": "pdu", "env": "sensor"}


def read_opsctl(port: int, community: str, kind: str) -> dict[str, Any]:
    from opsctl.power.reader import read_device
    from opsctl.power.snmp.client import Session, Target, run

    async def go():
        session = Session(Target("127.0.0.1", port, "2c", community, timeout=2, retries=1))
        return await read_device(session, kind, "auto")

    r = run(go())
    return {"values": r.values, "profile": r.profile.name, "kind": r.profile.kind,
            "status_source": r.status_source}


def read_nut(port: int, community: str, state: Path) -> dict[str, Any]:
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
    values: dict[str, Any] = {}
    for line in out.splitlines():
        if (m := _LINE.match(line)):
            text = m[2].strip()
            try:
                values[m[1]] = float(text)
            except ValueError:
                values[m[1]] = text
    mib = re.search(r"\(mib: ([^ )]+)", err)
    return {"values": values, "profile": mib[1] if mib else "none", "kind": "ups"}


def shown_status(reading: dict[str, Any]) -> str:
    """The status a reader shows for a UPS, as people would read it."""
    v = reading["values"]
    if reading.get("kind") == "inverter":
        return "inverter (no OL/OB by design)"
    if v.get("ups.status"):
        return str(v["ups.status"])
    if v.get("device.health"):
        return f"{v['device.health']} (device health; mains state not reported)"
    return ""


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    return x


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--json")
    args = ap.parse_args()
    from opsctl.power.profiles import registry

    index = field_index(registry.all_profiles().values())
    entries = [e for e in load_index() if not args.only or e["file"] in args.only]
    nut_groups = ("ups", "edge")
    sim = Snmpsim(sorted((CORPUS / "recordings").glob("*.snmprec"))).start()
    ops: dict[str, dict[str, Any]] = {}
    nut: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            state = Path(tmp)
            os.chmod(state, 0o777)
            for e in entries:
                f = e["file"]
                ops[f] = read_opsctl(sim.port, f, KIND[e["group"]])
                if e["group"] in nut_groups:
                    nut[f] = read_nut(sim.port, f, state) if SNMP_UPS.exists() else \
                        {"values": {}, "profile": "not installed", "kind": "ups"}
    finally:
        sim.stop()

    devices = []
    totals: dict[str, dict[str, Any]] = {}
    for group in ("ups", "pdu", "env"):
        files = [e["file"] for e in entries if e["group"] == group]
        status_files = [f for f in files if group == "ups" and ops[f]["kind"] == "ups"]
        for who, readings in (("opsctl", ops), ("NUT 2.8", nut)):
            if who == "NUT 2.8" and group != "ups":
                continue
            outcomes = {f: score_device(f, load_expected(f), readings[f]["values"], index)
                        for f in files}
            s = summarise(outcomes, readings, status_files)
            totals[f"{group} {who}"] = {
                "files": len(files), "comparable": s.comparable, "match": s.match,
                "wrong": s.wrong, "missing": s.missing, "percent": round(s.percent, 1),
                "with_status": s.with_status, "no_status": s.no_status,
                "health_only": s.health_only, "wrong_items": s.wrong_items}
    for e in entries:
        f = e["file"]
        exp = load_expected(f)
        o_out = score_device(f, exp, ops[f]["values"], index)
        n_out = score_device(f, exp, nut[f]["values"], index) if f in nut else None
        rows = []
        for i, o in enumerate(o_out):
            if o.result == "excluded":
                continue
            n = n_out[i] if n_out is not None else None
            corr = CORRECTIONS.get((f, o.oid)) or CORRECTIONS.get((f, o.oid + ".0"))
            rows.append({"class": o.klass, "descr": o.descr, "oid": o.oid,
                         "fields": o.fields, "librenms": o.expected,
                         "librenms_raw": exp[i]["value"],
                         "absent": corr is not None and corr[0] == ABSENT,
                         "corrected": o.why or None,
                         "opsctl": {"result": o.result, "value": _plain(o.got)},
                         "nut": None if n is None else {"result": n.result,
                                                         "value": _plain(n.got)}})
        devices.append({
            "file": f, "group": e["group"], "vendor": e.get("vendor"),
            "model": e.get("model"),
            "opsctl": {"profile": ops[f]["profile"], "kind": ops[f]["kind"],
                       "status": shown_status(ops[f]),
                       "status_source": ops[f].get("status_source"),
                       "readings": len(ops[f]["values"].get("readings") or []),
                       "ats_source": ops[f]["values"].get("ats.source")},
            "nut": None if f not in nut else {
                "profile": nut[f]["profile"], "status": shown_status(nut[f]),
                "values": len(nut[f]["values"])},
            "rows": rows})

    for key, s in totals.items():
        print(f"{key}: {s['match']}/{s['comparable']} match ({s['percent']} %), "
              f"{s['wrong']} wrong, {s['missing']} missing"
              + (f"; status on {s['with_status']} of {s['with_status'] + len(s['no_status'])}"
                 if key.startswith("ups") else ""))
        for w in s["wrong_items"]:
            print(f"  wrong: {w}")
    if args.json:
        nut_version = ""
        if SNMP_UPS.exists():
            v = subprocess.run([str(SNMP_UPS), "-V"], capture_output=True, text=True,
                               timeout=10)
            nut_version = (v.stdout or v.stderr).strip().splitlines()[0]
        Path(args.json).write_text(json.dumps(
            {"date": dt.date.today().isoformat(), "nut": nut_version, "totals": totals,
             "devices": devices}, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
