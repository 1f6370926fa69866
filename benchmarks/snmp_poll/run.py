"""Benchmark: poll N RFC 1628 UPS agents (net-snmp snmpd on 127.0.0.1, one port each).

Compares, on the same fleet and in the same run:
  1. ``opsctl power status --json`` (a fresh process: start-up, config, poll, rules);
  2. opsctl in-process (``opsctl.power.api.poll``): profile ``ietf`` cold first poll, best
     of three one-shot polls, repeated polls with read plans (the daemon's case), ``auto``;
  3. Prometheus snmp_exporter (``prometheus-snmp-exporter``; a hand-written module for the
     same OIDs), one scrape per device, ``--jobs`` scrapes in parallel;
  4. net-snmp ``snmpget``: a sequential shell loop, and ``--jobs`` in parallel (xargs -P);
  5. the SNMP engines alone, one GET of the same OIDs per device, 64 in flight
     (``--engines``): gufo-snmp (opsctl's v2c engine), pysnmp (opsctl's v1/v3 engine),
     and ezsnmp (net-snmp through SWIG, threads) when it is installed.

Usage: python3 benchmarks/snmp_poll/run.py [--agents 1000] [--per-agent 25] [--engines]
Targets (issue 20): 1 000 devices in < 2 s and within 4x snmp_exporter's wall time.
Results are printed as a Markdown table with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "helpers"))

from snmp_agents import snmprec_overrides  # noqa: E402

RECORDING = ROOT / "tests" / "fixtures" / "snmp" / "ups-online.snmprec"
COMMUNITY = "bench"


def free_udp_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def start_fleet(n: int, per_agent: int, workdir: Path) -> tuple[list[subprocess.Popen], list[int]]:
    """``n`` agent ports served by snmpd processes of ``per_agent`` ports each."""
    snmpd = shutil.which("snmpd", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if snmpd is None:
        raise SystemExit("snmpd not installed")
    values = [v for v in snmprec_overrides(RECORDING) if not v[0].startswith("1.3.6.1.2.1.1.")]
    ports = free_udp_ports(n)
    procs = []
    for i in range(0, n, per_agent):
        group = ports[i:i + per_agent]
        d = workdir / f"agent{i // per_agent}"
        d.mkdir()
        lines = ["agentAddress " + ",".join(f"udp:127.0.0.1:{p}" for p in group),
                 f"rocommunity {COMMUNITY} 127.0.0.1", "dontLogTCPWrappersConnects yes"]
        lines += [f"override .{oid} {kind} {value}" for oid, kind, value in values]
        (d / "snmpd.conf").write_text("\n".join(lines) + "\n")
        env = {**os.environ, "SNMP_PERSISTENT_DIR": str(d / "persist"), "MIBS": ""}
        procs.append(subprocess.Popen(
            [snmpd, "-f", "-Lf", str(d / "log"), "-C", "-c", str(d / "snmpd.conf"), "-p",
             str(d / "pid"), "-I", "-smux,mteTrigger,mteTriggerConf"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
            start_new_session=True))
    deadline = time.monotonic() + 60
    for i in range(0, n, per_agent):
        port = ports[min(i + per_agent, n) - 1]
        while subprocess.run(["snmpget", "-v2c", "-c", COMMUNITY, "-t", "0.5", "-r", "0",
                              f"127.0.0.1:{port}", "1.3.6.1.2.1.33.1.4.1.0"],
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise SystemExit(f"snmpd on port {port} did not answer")
            time.sleep(0.2)
    return procs, ports


def write_config(ports: list[int], path: Path, profile: str, concurrency: int) -> Path:
    lines = ["site: {name: bench}", f"state_dir: {path.parent / 'state'}",
             f"power: {{max_concurrency: {concurrency}}}", "devices:"]
    for i, p in enumerate(ports):
        d = {"name": f"ups{i:04d}", "kind": "ups", "host": "127.0.0.1", "port": p,
             "snmp": {"version": "2c", "community": COMMUNITY}, "timeout": 2, "retries": 1,
             "profile": profile}
        lines.append("  - " + json.dumps(d))
    path.write_text("\n".join(lines) + "\n")
    return path


def bench_opsctl(cfg_path: Path, plans: bool = False) -> tuple[float, int]:
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
    return elapsed, sum(1 for r in readings if r.reachable and "ups.load" in r.values)


def bench_cli(cfg_path: Path) -> tuple[float, int]:
    opsctl = Path(sys.executable).with_name("opsctl")
    argv = [str(opsctl)] if opsctl.exists() else [sys.executable, "-m", "opsctl"]
    t0 = time.perf_counter()
    res = subprocess.run([*argv, "-c", str(cfg_path), "power", "status", "--json"],
                         capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    data = json.loads(res.stdout)
    rows = data["devices"] if isinstance(data, dict) else data
    return elapsed, sum(1 for r in rows if r.get("reachable"))


def ietf_oids() -> list[str]:
    from opsctl.power.profiles.registry import get

    return [s.oid for f in get("ietf").fields for s in f.sources]


def answered(oids: list[str]) -> list[str]:
    """The OIDs of the recording among ``oids`` (what each agent serves)."""
    have = {v[0] for v in snmprec_overrides(RECORDING)}
    return [o for o in oids if o in have]


def bench_shell_snmpget(ports: list[int], oids: list[str]) -> float:
    script = (f'for p in {" ".join(map(str, ports))}; do snmpget -v2c -c {COMMUNITY} -On '
              f'-m "" -t 2 -r 1 127.0.0.1:$p {" ".join(oids)} >/dev/null || echo FAIL; done')
    t0 = time.perf_counter()
    res = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    assert "FAIL" not in res.stdout, res.stdout[:200]
    return elapsed


def bench_parallel_snmpget(ports: list[int], oids: list[str], jobs: int) -> float:
    cmd = (f'snmpget -v2c -c {COMMUNITY} -On -m "" -t 2 -r 1 127.0.0.1:{{}} '
           f'{" ".join(oids)} >/dev/null || echo FAIL')
    t0 = time.perf_counter()
    res = subprocess.run(["bash", "-c", f"xargs -P {jobs} -I{{}} sh -c '{cmd}'"],
                         input="\n".join(map(str, ports)), capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    assert "FAIL" not in res.stdout, res.stdout[:200]
    return elapsed


# -- snmp_exporter ----------------------------------------------------------------------------
def exporter_config(oids: list[str], path: Path) -> Path:
    """A module for the same scalar OIDs, written by hand (what snmp_exporter's generator
    would emit for them from the UPS-MIB: a GET of each, one gauge metric per object)."""
    lines = ["ups:", "  version: 2", "  timeout: 2s", "  retries: 1",
             f"  auth: {{community: {COMMUNITY}}}", "  get:"]
    lines += [f"  - {o}" for o in oids]
    lines.append("  metrics:")
    for o in oids:
        base = o[:-2] if o.endswith(".0") else o
        lines += [f"  - name: o_{base.replace('.', '_')}", f"    oid: {base}",
                  "    type: gauge" if not _is_string(o) else "    type: DisplayString"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _is_string(oid: str) -> bool:
    kinds = {v[0]: v[1] for v in snmprec_overrides(RECORDING)}
    return kinds.get(oid) in ("octet_str", "string")


def start_exporter(config: Path) -> tuple[subprocess.Popen, int] | None:
    exe = shutil.which("prometheus-snmp-exporter") or shutil.which("snmp_exporter")
    if exe is None:
        return None
    port = free_tcp_port()
    proc = subprocess.Popen([exe, f"--config.file={config}",
                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("snmp_exporter: " + proc.stderr.read().decode()[:500]) \
                    from None
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("snmp_exporter did not start")


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_exporter(port: int, ports: list[int], jobs: int, oids: list[str]) -> float:
    want = f"o_{(oids[-1][:-2] if oids[-1].endswith('.0') else oids[-1]).replace('.', '_')}"

    def scrape(p: int) -> bool:
        url = f"http://127.0.0.1:{port}/snmp?module=ups&target=127.0.0.1:{p}"
        body = urllib.request.urlopen(url, timeout=30).read().decode()
        return want in body

    t0 = time.perf_counter()
    with ThreadPoolExecutor(jobs) as ex:
        ok = list(ex.map(scrape, ports))
    elapsed = time.perf_counter() - t0
    assert all(ok), f"{ok.count(False)} scrapes without the last metric"
    return elapsed


# -- the engines alone ------------------------------------------------------------------------
def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def bench_engines(ports: list[int], oids: list[str]) -> list[tuple[str, float, float]]:
    """(engine, wall s, CPU ms per device) for one GET of ``oids`` per device."""
    from opsctl.power.snmp.client import run
    from opsctl.power.snmp.compat import PysnmpBackend
    from opsctl.power.snmp.fast import FastBackend
    from opsctl.power.snmp.session import Target

    out = []
    for name, cls in (("gufo-snmp (opsctl v2c)", FastBackend),
                      ("pysnmp (opsctl v1/v3), v2c", PysnmpBackend)):
        async def poll_all(cls=cls):
            sem = asyncio.Semaphore(64)

            async def one(p):
                async with sem:
                    return await cls(Target("127.0.0.1", p, community=COMMUNITY)).get(oids)
            return await asyncio.gather(*(one(p) for p in ports))
        run(poll_all())  # warm: imports, engine, target tables
        t0, c0 = time.perf_counter(), _cpu()
        res = run(poll_all())
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        assert all(r[0] == 0 and len(r[2]) == len(oids) for r in res)
        out.append((name, wall, cpu / len(ports) * 1000))
    try:
        import ezsnmp
    except ImportError:
        return out

    def ez(p: int):
        return ezsnmp.Session(hostname="127.0.0.1", port_number=p, version="2c",
                              community=COMMUNITY, timeout=2, retries=1,
                              print_oids_numerically=True).get(oids)
    with ThreadPoolExecutor(64) as ex:
        list(ex.map(ez, ports[:10]))
        t0, c0 = time.perf_counter(), _cpu()
        res = list(ex.map(ez, ports))
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
    assert all(len(r) == len(oids) for r in res)
    out.append(("ezsnmp (net-snmp), 64 threads", wall, cpu / len(ports) * 1000))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--per-agent", type=int, default=25, help="ports per snmpd process")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--jobs", type=int, default=16, help="parallel scrapes / snmpget")
    ap.add_argument("--engines", action="store_true", help="also time the engines alone")
    ap.add_argument("--no-shell", action="store_true", help="skip the sequential snmpget loop")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="opsctl-bench-"))
    procs: list[subprocess.Popen] = []
    exporter = None
    try:
        t0 = time.perf_counter()
        procs, ports = start_fleet(args.agents, args.per_agent, work)
        print(f"# {args.agents} agent ports on {len(procs)} snmpd processes, up in "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
        oids = answered(ietf_oids())
        rows: list[tuple[str, float, int | None]] = []
        cfg = write_config(ports, work / "opsctl-ietf.yaml", "ietf", args.concurrency)
        secs, ok = bench_cli(cfg)
        rows.append(("`opsctl power status --json` (new process, profile ietf)", secs, ok))
        from opsctl.power.snmp.client import Session, Target, run

        async def _warm():  # imports and the loop: what a daemon pays once
            await Session(Target("127.0.0.1", ports[0], community=COMMUNITY)).get(oids[:1])
        run(_warm())
        cold = bench_opsctl(cfg)
        rows.append(("opsctl api.poll, ietf, cold first poll", *cold))
        rows.append((f"opsctl api.poll, ietf, one-shot (best of 3, concurrency "
                     f"{args.concurrency})", *min(bench_opsctl(cfg) for _ in range(3))))
        rows.append(("opsctl api.poll, ietf, repeated (read plans; best of 3)",
                     *min(bench_opsctl(cfg, plans=True) for _ in range(3))))
        auto = write_config(ports, work / "opsctl-auto.yaml", "auto", args.concurrency)
        rows.append(("opsctl api.poll, auto, one-shot (best of 3)",
                     *min(bench_opsctl(auto) for _ in range(3))))
        exporter = start_exporter(exporter_config(oids, work / "snmp.yml"))
        if exporter is not None:
            best = min(bench_exporter(exporter[1], ports, args.jobs, oids) for _ in range(3))
            rows.append((f"snmp_exporter, {args.jobs} parallel scrapes (best of 3)", best,
                         args.agents))
        rows.append((f"snmpget x{args.jobs} parallel (xargs -P)",
                     bench_parallel_snmpget(ports, oids, args.jobs), args.agents))
        if not args.no_shell:
            rows.append(("snmpget, sequential shell loop", bench_shell_snmpget(ports, oids),
                         args.agents))
        load = os.getloadavg()
        print(f"\n{args.agents} agents, {len(oids)} OIDs per device; load average "
              f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}\n")
        print("| method | time (s) | devices/s | devices read |")
        print("|---|---:|---:|---:|")
        for name, secs, ok in rows:
            print(f"| {name} | {secs:.2f} | {args.agents / secs:.0f} | "
                  f"{ok if ok is not None else '-'} |")
        if args.engines:
            print("\n| engine alone: one GET per device, 64 in flight | time (s) "
                  "| CPU per device (ms) |")
            print("|---|---:|---:|")
            for name, wall, cpu_ms in bench_engines(ports, oids):
                print(f"| {name} | {wall:.2f} | {cpu_ms:.2f} |")
    finally:
        if exporter is not None:
            exporter[0].terminate()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
