"""Benchmark: poll N net-snmp snmpd agents (127.0.0.1, one port each, ~20 UPS values).

Compares, on the same fleet:
  1. opsctl (one pysnmp engine, bounded concurrency): ``opsctl.power.api.poll``;
     profile ``ietf`` (no auto-probe) and ``auto`` (one extra GET per device);
  2. a shell loop of net-snmp ``snmpget`` (one process per device, sequential);
  3. ``snmpbulkget`` run in parallel (xargs -P, one process per device).

Usage: python3 benchmarks/snmp_poll/run.py [--agents 200] [--concurrency 64]
Target (issue 4): all 200 in under 2 s. Results are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "helpers"))

from snmp_agents import Snmpd, snmpget, snmprec_overrides  # noqa: E402

RECORDING = ROOT / "tests" / "fixtures" / "snmp" / "ups-online.snmprec"


def start_fleet(n: int, workdir: Path) -> list[Snmpd]:
    values = [v for v in snmprec_overrides(RECORDING) if not v[0].startswith("1.3.6.1.2.1.1.")]
    agents = [Snmpd(values, community="bench", workdir=workdir / f"a{i}") for i in range(n)]
    for a in agents:
        a.start(wait=False)
    # Wait until every agent answers (they start in parallel).
    deadline = time.monotonic() + 120
    pending = list(agents)
    while pending and time.monotonic() < deadline:
        pending = [a for a in pending
                   if snmpget(a.port, "bench", "1.3.6.1.2.1.1.3.0", timeout=0.5,
                              retries=0).returncode != 0]
        if pending:
            time.sleep(0.5)
    if pending:
        raise SystemExit(f"{len(pending)} agents did not start")
    return agents


def write_config(agents: list[Snmpd], path: Path, profile: str, concurrency: int) -> Path:
    lines = ["site: {name: bench}", f"state_dir: {path.parent / 'state'}",
             f"power: {{max_concurrency: {concurrency}}}", "devices:"]
    for i, a in enumerate(agents):
        d = {"name": f"ups{i:03d}", "kind": "ups", "host": "127.0.0.1", "port": a.port,
             "snmp": {"version": "2c", "community": "bench"}, "timeout": 2, "retries": 1,
             "profile": profile}
        lines.append("  - " + json.dumps(d))
    path.write_text("\n".join(lines) + "\n")
    return path


def bench_opsctl(cfg_path: Path, plans: bool = False) -> tuple[float, int, int]:
    """One poll. ``plans=False``: every device read fully, as by a one-shot command;
    ``plans=True``: with the read plans of the previous poll, as the daemon polls."""
    from opsctl.core.config import load_config
    from opsctl.power import api
    from opsctl.power.poller import forget_plans

    cfg = load_config(cfg_path)
    if not plans:
        forget_plans()
    t0 = time.perf_counter()
    readings = api.poll(cfg)
    elapsed = time.perf_counter() - t0
    ok = sum(1 for r in readings if r.reachable and "ups.load" in r.values)
    values = sum(len([k for k, v in r.values.items() if not isinstance(v, list)])
                 for r in readings)
    return elapsed, ok, values


def ietf_oids() -> list[str]:
    from opsctl.power.profiles.registry import get

    return [s.oid for f in get("ietf").fields for s in f.sources]


def bench_shell_snmpget(agents: list[Snmpd], oids: list[str]) -> float:
    ports = " ".join(str(a.port) for a in agents)
    script = (f'for p in {ports}; do snmpget -v2c -c bench -On -m "" -t 2 -r 1 '
              f'127.0.0.1:$p {" ".join(oids)} >/dev/null || echo FAIL; done')
    t0 = time.perf_counter()
    res = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    assert "FAIL" not in res.stdout, res.stdout[:200]
    return elapsed


def bench_parallel_bulkget(agents: list[Snmpd], oids: list[str], jobs: int) -> float:
    # Non-repeaters = all OIDs: GETBULK then behaves as one GETNEXT per OID, one PDU.
    ports = "\n".join(str(a.port) for a in agents)
    nonrep = [o[:-2] if o.endswith(".0") else o.rsplit(".", 1)[0] for o in oids]
    cmd = (f'snmpbulkget -v2c -c bench -On -m "" -t 2 -r 1 -Cn{len(nonrep)} -Cr1 '
           f'127.0.0.1:{{}} {" ".join(nonrep)} >/dev/null || echo FAIL')
    t0 = time.perf_counter()
    res = subprocess.run(["bash", "-c", f"xargs -P {jobs} -I{{}} sh -c '{cmd}'"],
                         input=ports, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    assert "FAIL" not in res.stdout, res.stdout[:200]
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--jobs", type=int, default=16, help="parallel snmpbulkget processes")
    args = ap.parse_args()
    if not shutil.which("snmpd", path=os.environ["PATH"] + ":/usr/sbin"):
        raise SystemExit("snmpd not installed")
    work = Path(tempfile.mkdtemp(prefix="opsctl-bench-"))
    agents: list[Snmpd] = []
    try:
        t0 = time.perf_counter()
        agents = start_fleet(args.agents, work)
        print(f"# {args.agents} snmpd agents up in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
        oids = ietf_oids()
        rows = []
        # Warm-up: first use pays pysnmp's import and engine set-up (~0.5 s), which a
        # long-running daemon pays once; it is reported separately.
        t0 = time.perf_counter()
        from opsctl.power.snmp.client import Session, Target, run

        async def _warm():
            s = Session(Target("127.0.0.1", agents[0].port, community="bench"))
            await s.get(["1.3.6.1.2.1.1.3.0"])
        run(_warm())
        warm = time.perf_counter() - t0
        for profile in ("ietf", "auto"):
            cfg = write_config(agents, work / f"opsctl-{profile}.yaml", profile,
                               args.concurrency)
            runs = [bench_opsctl(cfg) for _ in range(3)]
            best = min(r[0] for r in runs)
            ok, values = runs[0][1], runs[0][2]
            if profile == "ietf":
                # The first poll of these devices in this process: every target is new
                # to the engine (what a one-shot `opsctl power status` pays).
                rows.append(("opsctl api.poll, profile ietf, cold first poll", runs[0][0],
                             ok, values))
            rows.append((f"opsctl api.poll, profile {profile}, concurrency "
                         f"{args.concurrency}", best, ok, values))
            # The daemon's case: the same devices polled again with their read plans.
            runs = [bench_opsctl(cfg, plans=True) for _ in range(3)]
            rows.append((f"opsctl api.poll, profile {profile}, repeated (read plans)",
                         min(r[0] for r in runs), runs[0][1], runs[0][2]))
        shell = bench_shell_snmpget(agents, oids)
        rows.append((f"shell loop of snmpget ({len(oids)} OIDs, sequential)", shell,
                     args.agents, None))
        bulk = bench_parallel_bulkget(agents, oids, args.jobs)
        rows.append((f"snmpbulkget x{args.jobs} parallel (xargs -P)", bulk, args.agents, None))
        print(f"\n{args.agents} agents, {len(oids)} OIDs per device "
              f"(pysnmp engine warm-up {warm:.2f} s, not included)\n")
        print("| method | time (s) | devices/s | devices read | values |")
        print("|---|---:|---:|---:|---:|")
        for name, secs, ok, values in rows:
            print(f"| {name} | {secs:.2f} | {args.agents / secs:.0f} | {ok} | "
                  f"{values if values is not None else '-'} |")
    finally:
        for a in agents:
            a.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
