"""/metrics under a connection flood: 2 000 half-open connections must not stall the daemon
(jobs keep running, the systemd watchdog keeps being fed, threads stay bounded)."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import time
import urllib.request

import pytest
from daemon_support import base_config, opsctl, wait_for, write_config

pytestmark = pytest.mark.slow

QUICK = {"name": "quick", "schedule": "0 9 * * *",
         "items": [{"id": "load", "check": "load", "params": {"warn": 500, "crit": 1000}}]}


def threads_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


def runs_ok(path) -> int:
    st = json.loads(opsctl("-c", str(path), "--json", "daemon", "status").stdout)
    return sum(j["runs_ok"] for j in st["jobs"])


def test_half_open_flood_does_not_stall_the_daemon(tmp_path, notify_socket, daemon_factory):
    cfg = base_config(tmp_path, inspection={"profiles": [QUICK]},
                      daemon={"schedule_overrides": {"inspection:quick": "* * * * * *"},
                              "metrics_listen": "127.0.0.1:0"})
    path = write_config(tmp_path / "opsctl.yaml", cfg)
    d = daemon_factory(path, notify_socket, watchdog_usec=2_000_000)
    notify_socket.wait("READY=1", timeout=30)
    st = {}

    def address():
        st.update(json.loads(opsctl("-c", str(path), "--json", "daemon", "status").stdout))
        return st["daemon"].get("metrics")

    wait_for(address, 20, what="the metrics address")
    host, port = st["daemon"]["metrics"].rsplit(":", 1)
    url = f"http://{st['daemon']['metrics']}/metrics"
    assert b"opsctl_daemon_up 1.0" in urllib.request.urlopen(url, timeout=5).read()

    socks = []
    try:
        for _ in range(2000):  # connect and never send a byte
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex((host, int(port)))
            socks.append(s)
        before_ok = runs_ok(path)
        before_dog = notify_socket.count("WATCHDOG=1")
        peak = 0
        end = time.monotonic() + 12
        while time.monotonic() < end:
            peak = max(peak, threads_of(d.proc.pid))
            time.sleep(0.5)
        assert d.proc.poll() is None
        assert notify_socket.count("WATCHDOG=1") - before_dog >= 8  # every 1 s (half of 2 s)
        assert runs_ok(path) - before_ok >= 5  # the per-second inspection kept running
        assert peak < 40, f"{peak} threads"
    finally:
        for s in socks:
            with contextlib.suppress(OSError):
                s.close()
    # A real scrape is answered again once the flood is gone. While the server drains the
    # flood's backlog a scrape may still be refused (closed over the cap), as Prometheus
    # sees it: it scrapes again at the next interval.
    def scraped() -> bool:
        try:
            return b"opsctl_job_last_run_ok" in urllib.request.urlopen(url, timeout=5).read()
        except (OSError, http.client.HTTPException):
            return False

    wait_for(scraped, 30, interval=0.5, what="a scrape after the flood")
