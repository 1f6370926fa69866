"""A Prometheus text endpoint (``/metrics``) so sites with Prometheus/Grafana scrape opsctl
instead of writing their own exporters. Standard library only (http.server); every
scrape reads the store, so the numbers are exactly what ``opsctl`` commands show.

Listens where ``daemon.metrics_listen`` says — meant for 127.0.0.1 (a local Prometheus or
an SSH tunnel); there is no authentication.
"""

from __future__ import annotations

import http.server
import logging
import math
import threading

import sqlalchemy as sa

from opsctl.core import kvstate
from opsctl.core.errors import Status
from opsctl.daemon import timeutil
from opsctl.daemon.jobs import KV_NS

log = logging.getLogger("opsctl.daemon.metrics")

_STATUS = {s.name: s.value for s in Status}


def _esc(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._seen: set[str] = set()

    def metric(self, name: str, kind: str, help_text: str, value: float,
               labels: dict | None = None) -> None:
        if name not in self._seen:
            self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            self._seen.add(name)
        lab = ""
        if labels:
            lab = "{" + ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items()) + "}"
        self.lines.append(f"{name}{lab} {float(value):g}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


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


class MetricsServer:
    def __init__(self, listen: str, daemon):
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"metrics_listen must be HOST:PORT, got {listen!r}")
        self.daemon = daemon
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404, "only /metrics here")
                    return
                try:
                    body = render(outer.daemon).encode()
                except Exception as exc:  # noqa: BLE001
                    log.error("rendering metrics failed: %s", exc)
                    self.send_error(500, "metrics unavailable")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host.strip("[]"), int(port)), Handler)
        self.server.daemon_threads = True
        self.address = f"{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        name="opsctl-metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("metrics on http://%s/metrics", self.address)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
