"""A Prometheus endpoint (``/metrics``) so sites with Prometheus/Grafana scrape opsctl
instead of writing their own exporters. The text format is prometheus_client's; every
scrape reads the store, so the numbers are exactly what ``opsctl`` commands show.

Listens where ``daemon.metrics_listen`` says — meant for 127.0.0.1 (a local Prometheus or
an SSH tunnel); there is no authentication. The server is bounded, because anything that
can connect can otherwise exhaust the daemon (2 000 half-open connections once meant
2 000 threads and no jobs for minutes): a fixed set of :data:`WORKERS` threads serves
connections, at most :data:`BACKLOG` more wait and further ones are closed at once, and a
connection is cut after :data:`CONNECTION_SECONDS` whatever it does. Rendering runs on
those workers, never on the scheduler, and a rendered page is reused for
:data:`CACHE_SECONDS` so a scrape storm does not become a store storm.
"""

from __future__ import annotations

import contextlib
import http.server
import logging
import math
import queue
import socket
import threading
import time

import sqlalchemy as sa

from opsctl.core import kvstate
from opsctl.core.errors import Status
from opsctl.daemon import timeutil
from opsctl.daemon.jobs import KV_NS

log = logging.getLogger("opsctl.daemon.metrics")

WORKERS = 2
BACKLOG = 16
CONNECTION_SECONDS = 10.0
CACHE_SECONDS = 1.0

_STATUS = {s.name: s.value for s in Status}


class _Writer:
    """Collects samples into prometheus_client metric families, in first-seen order."""

    def __init__(self) -> None:
        self._families: dict[str, object] = {}

    def metric(self, name: str, kind: str, help_text: str, value: float,
               labels: dict | None = None) -> None:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        labels = {k: "" if v is None else str(v) for k, v in (labels or {}).items()}
        fam = self._families.get(name)
        if fam is None:
            cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            fam = cls(name, help_text, labels=list(labels))
            self._families[name] = fam
        fam.add_metric(list(labels.values()), float(value))

    def collect(self):
        return list(self._families.values())

    def text(self) -> str:
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        return generate_latest(registry).decode()


def _ts(iso: str | None) -> float | None:
    t = timeutil.parse(iso)
    return t.timestamp() if t else None


def render(daemon) -> str:
    """The metrics text for a running :class:`~opsctl.daemon.service.Daemon`."""
    from opsctl.daemon.schema import deliveries, events, jobs, runs

    store = daemon.store
    w = _Writer()
    w.metric("opsctl_daemon_up", "gauge", "1 while the daemon runs", 1)
    w.metric("opsctl_daemon_start_time_seconds", "gauge", "daemon start (unix time)",
             daemon.started_at.timestamp())
    with store.read() as conn:
        for r in conn.execute(sa.select(jobs).where(jobs.c.active.is_(True))):
            labels = {"job": r.job_id}
            if _ts(r.last_run) is not None:
                w.metric("opsctl_job_last_run_timestamp_seconds", "gauge",
                         "end of the last run (unix time)", _ts(r.last_run), labels)
                w.metric("opsctl_job_last_run_ok", "gauge", "1 if the last run succeeded",
                         1 if r.last_status == "ok" else 0, labels)
            if _ts(r.next_run) is not None:
                w.metric("opsctl_job_next_run_timestamp_seconds", "gauge",
                         "next scheduled run (unix time)", _ts(r.next_run), labels)
        for r in conn.execute(sa.select(runs.c.job_id, runs.c.status,
                                        sa.func.count().label("n"))
                              .group_by(runs.c.job_id, runs.c.status)):
            w.metric("opsctl_job_runs_total", "counter", "runs by outcome", r.n,
                     {"job": r.job_id, "status": r.status})
        for sev in ("minor", "major", "critical"):
            n = conn.execute(sa.select(sa.func.count()).select_from(events).where(
                events.c.status == "open", events.c.severity == sev)).scalar_one()
            w.metric("opsctl_events_open", "gauge", "unacknowledged events", n,
                     {"severity": sev})
        for r in conn.execute(sa.select(deliveries.c.target, deliveries.c.ok,
                                        sa.func.count().label("n"))
                              .group_by(deliveries.c.target, deliveries.c.ok)):
            w.metric("opsctl_alert_deliveries_total", "counter", "alert deliveries by outcome",
                     r.n, {"target": r.target, "ok": "true" if r.ok else "false"})
    _device_metrics(w, store)
    raid = kvstate.get(store, KV_NS, "raid_state", {}) or {}
    for name, state in sorted(raid.items()):
        w.metric("opsctl_raid_degraded", "gauge", "1 if the md array is degraded",
                 1 if state.get("degraded") else 0, {"array": name})
    _inspection_metrics(w, daemon.cfg, store)
    return w.text()


def _device_metrics(w: _Writer, store) -> None:
    try:
        from opsctl.power.api import last_readings

        readings = last_readings(store)
    except Exception as exc:  # noqa: BLE001 - a scrape must still answer
        log.debug("no device readings for metrics: %s", exc)
        return
    for r in readings:
        labels = {"device": r.get("name"), "kind": r.get("kind")}
        w.metric("opsctl_device_reachable", "gauge", "1 if the last poll reached the device",
                 1 if r.get("reachable") else 0, labels)
        w.metric("opsctl_device_status", "gauge", "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
                 _STATUS.get(str(r.get("status")), 3), labels)
        values = r.get("values") or {}
        status = str(values.get("ups.status") or "").split()
        if r.get("kind") == "ups" and status:
            w.metric("opsctl_ups_on_battery", "gauge", "1 while the UPS is on battery",
                     1 if "OB" in status else 0, {"device": r.get("name")})
        for key, value in sorted(values.items()):
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if isinstance(value, float) and not math.isfinite(value):
                continue
            w.metric("opsctl_device_value", "gauge",
                     "numeric readings by NUT-style name (battery.charge, ups.load…)", value,
                     {"device": r.get("name"), "name": key})


def _inspection_metrics(w: _Writer, cfg, store) -> None:
    try:
        from opsctl.inspection.api import last_run
    except ImportError:
        return
    for profile in cfg.inspection.profiles:
        try:
            rec = last_run(store, profile.name)
        except Exception as exc:  # noqa: BLE001
            log.debug("no inspection metrics for %s: %s", profile.name, exc)
            continue
        if not rec:
            continue
        w.metric("opsctl_inspection_status", "gauge",
                 "last record: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
                 _STATUS.get(str(rec.get("status")), 3), {"profile": profile.name})
        started = rec.get("started_at") or rec.get("started")
        if isinstance(started, str) and _ts(started) is not None:
            w.metric("opsctl_inspection_last_timestamp_seconds", "gauge",
                     "start of the last record (unix time)", _ts(started),
                     {"profile": profile.name})


class _BoundedServer(http.server.HTTPServer):
    """HTTPServer with a fixed worker pool, a connection cap and a total time per
    connection (a reaper shuts down sockets older than CONNECTION_SECONDS)."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address, handler):
        super().__init__(address, handler)
        self._queue: queue.Queue = queue.Queue(maxsize=BACKLOG)
        self._open: dict[socket.socket, float] = {}
        self._open_lock = threading.Lock()
        self._stop = threading.Event()
        self.refused = 0
        for i in range(WORKERS):
            threading.Thread(target=self._work, name=f"opsctl-metrics-{i}", daemon=True).start()
        threading.Thread(target=self._reap, name="opsctl-metrics-reaper", daemon=True).start()

    def process_request(self, request, client_address) -> None:
        with self._open_lock:
            self._open[request] = time.monotonic()
        try:
            self._queue.put_nowait((request, client_address))
        except queue.Full:
            self.refused += 1
            self._forget(request)
            self.shutdown_request(request)  # over the cap: closed at once

    def _forget(self, request) -> None:
        with self._open_lock:
            self._open.pop(request, None)

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                request, addr = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self.finish_request(request, addr)
            except Exception:  # noqa: BLE001 - a broken client must not end a worker
                pass
            finally:
                self._forget(request)
                self.shutdown_request(request)

    def _reap(self) -> None:
        while not self._stop.wait(1.0):
            limit = time.monotonic() - CONNECTION_SECONDS
            with self._open_lock:
                old = [s for s, t in self._open.items() if t < limit]
            for sock in old:
                # The worker holding it gets an error or EOF and moves on.
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def server_close(self) -> None:
        self._stop.set()
        super().server_close()


class MetricsServer:
    def __init__(self, listen: str, daemon):
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"metrics_listen must be HOST:PORT, got {listen!r}")
        self.daemon = daemon
        self._cache: tuple[float, bytes] | None = None
        self._render_lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = CONNECTION_SECONDS  # per read; the reaper bounds the total

            def do_GET(self):  # noqa: N802 - http.server's naming
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404, "only /metrics here")
                    return
                try:
                    body = outer.page()
                except Exception as exc:  # noqa: BLE001
                    log.error("rendering metrics failed: %s", exc)
                    self.send_error(500, "metrics unavailable")
                    return
                from prometheus_client import CONTENT_TYPE_LATEST

                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = _BoundedServer((host.strip("[]"), int(port)), Handler)
        self.address = f"{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        name="opsctl-metrics", daemon=True)

    def page(self) -> bytes:
        with self._render_lock:
            now = time.monotonic()
            if self._cache is not None and now - self._cache[0] < CACHE_SECONDS:
                return self._cache[1]
            body = render(self.daemon).encode()
            self._cache = (time.monotonic(), body)
            return body

    def start(self) -> None:
        self._thread.start()
        log.info("metrics on http://%s/metrics", self.address)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
