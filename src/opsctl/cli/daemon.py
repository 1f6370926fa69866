"""``opsctl daemon``: The scheduler daemon and its systemd units."""

from __future__ import annotations

import click

from opsctl.cli.completion import PERSON
from opsctl.cli.context import AppContext, pass_app
from opsctl.cli.options import ID, dry_run_option
from opsctl.core.i18n import _


@click.group()
def daemon() -> None:
    """The scheduler daemon and its systemd units."""


@daemon.command("run")
@pass_app
def run(app: AppContext) -> None:
    """Run the daemon in the foreground (what systemd's opsctld.service starts).

    SIGHUP reloads the config (a broken one is rejected, the old one keeps running);
    SIGTERM stops cleanly. Speaks the systemd notify protocol when $NOTIFY_SOCKET is set.
    """
    import logging
    import os
    import sys

    from opsctl.core.logsetup import setup_logging
    from opsctl.daemon.service import Daemon

    setup_logging(app.verbose, daemon=True)
    cfg = app.cfg
    rc = Daemon(cfg, app.config_path).run()
    if rc == 3:
        # A job ignored the stop: do not let a stuck worker thread hold the exit hostage.
        logging.shutdown()
        sys.stderr.flush()
        os._exit(0)


@daemon.command("status")
@pass_app
def status(app: AppContext) -> None:
    """Is the daemon running; jobs with next/last run and result; open events."""
    from opsctl.core.errors import StoreUnavailable
    from opsctl.daemon.status import full_status, spool_state

    try:
        data = full_status(app.cfg, app.store)
    except StoreUnavailable:
        # The store is away: what this host's daemon holds for it is still worth seeing.
        spool = spool_state(app.cfg)
        if spool is not None and not app.json:
            _spool_lines(app, spool)
        raise
    if app.json:
        app.out.json(data)
        return
    d = data["daemon"]
    if d.get("running"):
        state = _("running (pid {pid}, since {since})").format(
            pid=d.get("pid"), since=_local(app, d.get("started_at")))
    elif d.get("stale"):
        state = _("NOT running — last heartbeat {at} from pid {pid} (crashed or hung)").format(
            at=d.get("heartbeat_at"), pid=d.get("pid"))
    elif d.get("stopped_at"):
        state = _("stopped at {at}").format(at=d["stopped_at"])
    else:
        state = _("never started")
    pairs = [(_("daemon"), state)]
    if d.get("running") and d.get("role") in ("leader", "follower"):
        pairs.append((_("site role"), _("{role} — site-once jobs run on the leader").format(
            role=d["role"]) + (_(" (this daemon)") if d["role"] == "leader" else "")))
    if d.get("running"):
        pairs += [(_("status"), d.get("status")), (_("block devices"), d.get("udev")),
                  (_("config"), d.get("config"))]
        if d.get("metrics"):
            pairs.append((_("metrics"), f"http://{d['metrics']}/metrics"))
        if d.get("reload_error"):
            pairs.append((_("last reload"), _("FAILED: {error}").format(error=d["reload_error"])))
    app.out.kv(pairs, title="opsctl daemon")
    if data.get("spool"):
        _spool_lines(app, data["spool"])
    if data.get("site_daemons"):
        app.out.table([_("daemon"), _("room"), _("host"), "pid", _("role"), _("state"),
                       _("heartbeat")],
                      [(s["name"], s.get("room") or "-", s.get("host"), s.get("pid"),
                        s.get("role") or "-",
                        _("running") if s["running"] else ("STALE" if s["stale"] else _("stopped")),
                        _local(app, s.get("heartbeat_at")))
                       for s in data["site_daemons"]],
                      title=_("daemons on this store (site)"))
    _jobs_table(app, data["jobs"])
    if data["open_events"]:
        app.out.table([_("id"), _("severity"), _("source"), _("message"), _("since"), _("count")],
                      [(e["id"], e["severity"], e["source"], e["message"],
                        _local(app, e["first_seen"]), e["count"])
                       for e in data["open_events"]],
                      title=_("open events (acknowledge: opsctl daemon ack ID)"))
    else:
        app.out.info(_("no open events"))
    if data["pending_deliveries"]:
        app.out.table([_("queued"), _("target"), _("event"), _("purpose"), _("attempts"),
                       _("last error")],
                      [(_local(app, p["created_at"]), p["target"], p["event_id"], p["purpose"],
                        p["attempts"], p["error"] or "-") for p in data["pending_deliveries"]],
                      title=_("pending alert deliveries (outbox)"))
    if data["delivery_failures"]:
        app.out.table([_("at"), _("target"), _("event"), _("purpose"), _("error")],
                      [(_local(app, f["at"]), f["target"], f["event_id"], f["purpose"], f["error"])
                       for f in data["delivery_failures"]],
                      title=_("failed alert deliveries (last 24 h)"))


def _spool_lines(app: AppContext, spool: dict) -> None:
    """The daemon's local spool: records written while the store was away, not yet in it."""
    if spool.get("error"):
        app.out.kv([(_("spool"), _("{path}: unreadable: {error}").format(
            path=spool.get("path"), error=spool["error"]))],
                   title=_("spool (records waiting for the store)"))
        return
    pairs = [(_("file"), spool["path"]), (_("records waiting"), spool["records"]),
             (_("oldest"), _local(app, spool.get("oldest")) or "-"),
             (_("deliveries pending"), spool["deliveries_pending"])]
    if spool.get("rejected"):
        pairs.append((_("REJECTED by the store"), _(
            "{count} (kept in the file, table rejected; see the daemon's log)").format(
                count=spool["rejected"])))
    app.out.kv(pairs, title=_("spool (records waiting for the store)"))


def _local(app: AppContext, iso: str | None) -> str | None:
    """Stored UTC → the machine room's local time, as people read schedules."""
    if not iso:
        return None
    import datetime as dt

    from opsctl.daemon.timeutil import site_zone

    return dt.datetime.fromisoformat(iso).astimezone(site_zone(app.cfg)).strftime(
        "%Y-%m-%d %H:%M:%S %Z")


def _jobs_table(app: AppContext, rows: list[dict]) -> None:
    app.out.table(
        [_("job"), _("schedule"), _("next run"), _("last run"), _("result"),
         _("ok/failed/missed")],
        [(r["id"], r["schedule"], _local(app, r["next_run"]), _local(app, r["last_run"]),
          (r["last_status"] or "-") + (f": {r['last_error']}" if r["last_error"] else ""),
          f"{r['runs_ok']}/{r['runs_failed']}/{r['runs_missed']}") for r in rows],
        title=_("jobs"))


@daemon.command("jobs")
@click.option("--history", "history", metavar="JOB", help="Show the last runs of one job.")
@click.option("--limit", default=20, show_default=True, help="Runs shown with --history.")
@pass_app
def jobs(app: AppContext, history: str | None, limit: int) -> None:
    """The jobs the config defines, with their schedule and stored state."""
    from opsctl.daemon.status import job_rows, last_runs

    if history:
        from opsctl.daemon.jobs import job_by_id

        job_by_id(app.cfg, history)
        rows = last_runs(app.store, history, limit)
        if app.json:
            app.out.json(rows)
            return
        app.out.table([_("run"), _("trigger"), _("slot"), _("started"), _("finished"),
                       _("status"), _("result")],
                      [(r["id"], r["trigger"], _local(app, r["scheduled_for"]),
                        _local(app, r["started_at"]), _local(app, r["finished_at"]), r["status"],
                        r["summary"] or r["error"]) for r in rows],
                      title=_("runs of {job}").format(job=history))
        return
    rows = job_rows(app.cfg, app.store)
    if app.json:
        app.out.json(rows)
        return
    _jobs_table(app, rows)


@daemon.command("run-job")
@click.argument("job_id", metavar="ID")
@pass_app
def run_job(app: AppContext, job_id: str) -> None:
    """Run one job now, as the daemon would (recorded; alerts are sent). Exit 1 if it fails."""
    import sys

    from opsctl.core.runner import Runner
    from opsctl.daemon.alerts import AlertPipeline
    from opsctl.daemon.jobs import JobContext, execute, job_by_id

    spec = job_by_id(app.cfg, job_id)
    pipeline = AlertPipeline(app.cfg, app.store)
    try:
        ctx = JobContext(app.cfg, app.store, pipeline, Runner())
        status, text = execute(ctx, spec, "manual")
        if not pipeline.drain(timeout=120):
            app.out.warn(_("some alert deliveries were still running at exit"))
    finally:
        pipeline.close(timeout=1)
    if app.json:
        app.out.json({"job": job_id, "status": status, "result": text})
    else:
        app.out.info(f"{job_id}: {status}: {text}")
    if status == "failed":
        sys.exit(1)


@daemon.command("ack")
@click.argument("event_id", metavar="EVENT", type=ID)
@click.option("--by", metavar="NAME", shell_complete=PERSON,
              help="Who acknowledges [default: the calling user].")
@pass_app
def ack(app: AppContext, event_id: int, by: str | None) -> None:
    """Acknowledge an alert event: stops its escalation, noted in the duty log."""
    from opsctl.core.identity import current_user
    from opsctl.daemon.alerts import ack as do_ack

    row = do_ack(app.store, event_id, by or current_user(), cfg=app.cfg)
    if app.json:
        app.out.json(row)
    else:
        app.out.info(_("event #{id} acknowledged by {by} at {at}: {message}").format(
            id=row["id"], by=row["acked_by"], at=row["acked_at"], message=row["message"]))


@daemon.command("install-units")
@dry_run_option
@click.option("--prefix", metavar="DIR",
              help="Target directory [default: /etc/systemd/system, /etc/cron.d with --cron].")
@click.option("--bin", "bin_path", metavar="PATH",
              help="opsctl executable for ExecStart [default: the one running now].")
@click.option("--cron", is_flag=True,
              help="Write /etc/cron.d/opsctl instead of the units (no systemd timers).")
@pass_app
def install_units(app: AppContext, dry_run: bool, prefix: str | None,
                  bin_path: str | None, cron: bool) -> None:
    """Install opsctld.service and the inspection/export timers (and their schedules)."""
    import os
    import shutil
    import sys
    from pathlib import Path

    from opsctl.core.errors import ConfigError, OpsError
    from opsctl.daemon.units import enable_commands, opsctl_command, plan_cron, plan_install

    try:
        command = (os.path.abspath(bin_path) if bin_path
                   else opsctl_command(sys.argv[0], sys.executable, shutil.which))
    except ValueError as exc:
        raise OpsError(str(exc)) from None
    if bin_path and not (os.path.isfile(command) and os.access(command, os.X_OK)):
        raise OpsError(f"--bin {bin_path}: not an executable file")
    try:
        cfg = app.cfg
        config = str(Path(cfg.source).resolve())
    except ConfigError as exc:
        raise OpsError(f"install-units needs a valid config: {exc.message}") from None
    try:
        planned = (plan_cron(cfg, prefix, command, config) if cron
                   else plan_install(cfg, prefix, command, config))
    except ValueError as exc:
        raise OpsError(str(exc)) from None
    written = []
    for f in planned:
        if not dry_run:
            try:
                f.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = f.path.with_name(f".{f.path.name}.tmp")
                tmp.write_text(f.text)
                tmp.chmod(f.mode)
                tmp.replace(f.path)
            except PermissionError:
                raise OpsError(f"cannot write {f.path}: permission denied",
                               hint="run as root or pass --prefix") from None
            except OSError as exc:
                raise OpsError(f"cannot write {f.path}: {exc.strerror}") from None
        written.append(str(f.path))
    cmds = [] if cron else enable_commands(cfg)
    if app.json:
        app.out.json({"dry_run": dry_run, "files": [{"path": str(f.path), "text": f.text}
                                                     for f in planned], "next": cmds})
        return
    for f in planned:
        if dry_run:
            app.out.info(_("--- would write {path}").format(path=f.path))
            from opsctl.core.safetext import visible

            click.echo(visible(f.text))
        else:
            app.out.info(_("wrote {path}").format(path=f.path))
    if cmds:
        app.out.info(_("next:") + "\n  " + "\n  ".join(cmds))


# -- silences ----------------------------------------------------------------------------------
@daemon.group("silence")
def silence() -> None:
    """Silences (maintenance windows): matching events are recorded, not sent."""


@silence.command("add")
@click.argument("target", metavar="DEVICE|CHECK")
@click.option("--for", "duration", required=True, metavar="DURATION",
              help="How long: 90m, 2h, 1d (a plain number: seconds).")
@click.option("--reason", required=True, help="Why alerts may stay quiet (logged).")
@click.option("--by", metavar="NAME", shell_complete=PERSON,
              help="Who silences (an engineer) [default: the login's person].")
@pass_app
def silence_add(app: AppContext, target: str, duration: str, reason: str,
                by: str | None) -> None:
    """Silence alerts about DEVICE|CHECK (a device, check, profile, array, event kind or
    source:kind) for a while. Events are still recorded and written to the duty log.
    Needs the engineer role (required_roles.silences)."""
    from opsctl.core.config.power import parse_duration
    from opsctl.core.errors import UsageError
    from opsctl.daemon.silences import add
    from opsctl.handover.people import acting_with_role

    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise UsageError(f"--for: {exc}") from None
    who = acting_with_role(app.cfg, by, app.cfg.required_roles.silences,
                           f"silence alerts for {target}")
    row = add(app.store, target, seconds, reason, who, cfg=app.cfg)
    if app.json:
        app.out.json(row)
    else:
        app.out.info(_("silence #{id}: alerts for {target} are not sent until {until} "
                       "(events are still recorded)").format(
            id=row["id"], target=row["target"], until=_local(app, row["until"])))


@silence.command("list")
@click.option("--all", "show_all", is_flag=True, help="Expired and removed ones too.")
@pass_app
def silence_list(app: AppContext, show_all: bool) -> None:
    """Active silences (with --all: every silence, newest first)."""
    from opsctl.daemon.silences import active, all_silences

    rows = all_silences(app.store) if show_all else active(app.store)
    if app.json:
        app.out.json(rows)
        return
    if not rows:
        app.out.info(_("no active silences") if not show_all else _("no silences"))
        return
    app.out.table([_("id"), _("target"), _("until"), _("by"), _("reason"), _("removed")],
                  [(r["id"], r["target"], _local(app, r["until"]), r["created_by"], r["reason"],
                    _("{at} by {by}").format(at=_local(app, r["removed_at"]), by=r["removed_by"])
                    if r["removed_at"]
                    else "") for r in rows])


@silence.command("remove")
@click.argument("silence_id", metavar="ID", type=ID)
@click.option("--by", metavar="NAME", shell_complete=PERSON,
              help="Who removes it (an engineer) [default: the login's person].")
@pass_app
def silence_remove(app: AppContext, silence_id: int, by: str | None) -> None:
    """End a silence now. Needs the engineer role (required_roles.silences)."""
    from opsctl.daemon.silences import get, remove
    from opsctl.handover.people import acting_with_role

    get(app.store, silence_id)  # an unknown id says so before asking who you are
    who = acting_with_role(app.cfg, by, app.cfg.required_roles.silences,
                           f"remove silence #{silence_id}")
    row = remove(app.store, silence_id, who, cfg=app.cfg)
    if app.json:
        app.out.json(row)
    else:
        app.out.info(_("silence #{id} for {target} removed ({at} by {by})").format(
            id=row["id"], target=row["target"], at=_local(app, row["removed_at"]),
            by=row["removed_by"]))
