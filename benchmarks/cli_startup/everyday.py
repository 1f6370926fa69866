#!/usr/bin/env python3
"""Everyday commands, wall time per run (target: < 150 ms before any network I/O).

Usage: python3 benchmarks/cli_startup/everyday.py [--runs N] [--json] [--baseline SRC]

Runs, interleaved run for run (medians), against a small site in a temporary directory:
``python3 -c pass`` (the floor), ``opsctl config check`` on the shipped example,
``opsctl duty log list --last 5`` on a 5-entry log, and ``opsctl power status`` on three
net-snmp ``snmpd`` agents on 127.0.0.1 (the answers take a few ms: the rest is start-up),
plus where the start-up goes (``python -X importtime``, self time by package, one run).
The commands take the compiled config from the cache (``XDG_CACHE_HOME`` in the temporary
directory; the first, warming run fills it), as a second command on a site does;
``duty log list`` also runs with ``OPSCTL_CONFIG_CACHE=0`` (every load a full validation).

Each run's CPU time (user + system, from ``wait4``) is reported beside its wall time: on
a shared machine it says more than the wall time. The package is byte-compiled first and
the commands run with bytecode caching on (an installed package has its ``.pyc`` files;
``PYTHONDONTWRITEBYTECODE`` would otherwise add ~100 ms of compiling to every run).
``--baseline SRC`` also runs every opsctl command with ``PYTHONPATH=SRC`` (another
checkout's ``src``, e.g. a worktree of main) interleaved, as the "before" figure.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
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


def env_for(src: str | None, cache: Path, compiled: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["XDG_CACHE_HOME"] = str(cache)  # the compiled config cache, not the user's
    if not compiled:
        env["OPSCTL_CONFIG_CACHE"] = "0"
    if src:
        env["PYTHONPATH"] = src
    return env


def one(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) milliseconds of one run."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = (time.perf_counter() - t0) * 1000
    p.stderr.close()
    rc = os.waitstatus_to_exitcode(status)
    p.returncode = rc
    if rc not in (0, 1):  # power status exits 1 for a WARNING: still measured
        raise SystemExit(f"{argv} failed ({rc}): {err.decode()[-400:]}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


def compile_package(src: str | None, env: dict[str, str]) -> None:
    code = ("import compileall, os, opsctl; "
            "compileall.compile_dir(os.path.dirname(opsctl.__file__), quiet=1)")
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def imports(argv: list[str], env: dict[str, str]) -> list[tuple[str, float]]:
    """Self import time by top-level package (opsctl by domain), ms, largest first."""
    p = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True,
                       text=True, env=env)
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
    ap.add_argument("--baseline", metavar="SRC",
                    help="also run opsctl from this src directory (PYTHONPATH), interleaved")
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
        env = env_for(None, tmp / "cache")
        compile_package(None, env)
        cases = [("python3 -c pass", [sys.executable, "-c", "pass"], env),
                 ("opsctl config check (example)", [exe, "-c", str(EXAMPLE), "config", "check"],
                  env),
                 ("opsctl duty log list --last 5", [exe, "-c", str(cfg), "duty", "log", "list",
                                                    "--last", "5"], env),
                 ("  the same, config cache off", [exe, "-c", str(cfg), "duty", "log", "list",
                                                  "--last", "5"],
                  env_for(None, tmp / "cache", compiled=False))]
        if agents:
            cases.append(("opsctl power status (3 snmpd)", [exe, "-c", str(cfg), "power",
                                                            "status"], env))
        if args.baseline:
            base_env = env_for(str(Path(args.baseline).resolve()), tmp / "cache")
            compile_package(args.baseline, base_env)
            cases += [(f"{name} [baseline]", argv, base_env)
                      for name, argv, _ in cases[1:] if name.startswith("opsctl")]
        for _, argv, e in cases:
            one(argv, e)  # warm the page cache
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in cases}
        for _ in range(args.runs):
            for name, argv, e in cases:
                samples[name].append(one(argv, e))
        results = []
        for name, argv, e in cases:
            walls = sorted(w for w, _ in samples[name])
            cpus = sorted(c for _, c in samples[name])
            results.append({"command": name, "median_ms": round(statistics.median(walls), 1),
                            "min_ms": round(walls[0], 1),
                            "cpu_median_ms": round(statistics.median(cpus), 1),
                            "imports_ms": imports(["-m", "opsctl", *argv[1:]], e)
                            if argv[0] == exe else []})
    finally:
        for a in agents:
            a.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"{'command':45} {'median':>9} {'min':>9} {'CPU med':>9}  "
              "largest imports (self ms)")
        for r in results:
            top = ", ".join(f"{k} {v:g}" for k, v in r["imports_ms"][:5])
            print(f"{r['command']:45} {r['median_ms']:>7.1f}ms {r['min_ms']:>7.1f}ms "
                  f"{r['cpu_median_ms']:>7.1f}ms  {top}")
    worst = max(r["median_ms"] for r in results[1:]
                if r["command"].startswith("opsctl") and "[baseline]" not in r["command"])
    print(f"target < {TARGET_MS:.0f} ms median: {'met' if worst < TARGET_MS else 'MISSED'}",
          file=sys.stderr)
    return 0 if worst < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
