"""``opsctl inspect``: Machine-room inspections and patrols."""

from __future__ import annotations

import sys

import click

from opsctl.cli import nagios
from opsctl.cli.completion import PERSON, PROFILE
from opsctl.cli.context import pass_app
from opsctl.cli.nagios import format_option
from opsctl.cli.options import ID
from opsctl.core.i18n import N_, _, ngettext


@click.group()
def inspect() -> None:
    """Machine-room inspections and patrols.

    \b
    Profiles (checklists) live in the config under inspection.profiles; each item is an
    automatic check (see `opsctl inspect checks`) or a question for the inspector.
    `inspect run` exits with the worst status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    """


def _profile_name(cfg, name: str | None) -> str:
    from opsctl.core.errors import UsageError

    if name:
        return cfg.profile(name).name
    if cfg.inspection.default_profile:
        return cfg.inspection.default_profile
    if len(cfg.inspection.profiles) == 1:
        return cfg.inspection.profiles[0].name
    known = ", ".join(p.name for p in cfg.inspection.profiles) or "none configured"
    raise UsageError(f"which profile? use --profile (profiles: {known})")


def _inspector(cfg, name: str | None) -> str:
    from opsctl.core.identity import current_user, person_for_user

    if name:
        return cfg.person(name).name if cfg.people else name
    person = person_for_user(cfg)
    return person.name if person else current_user()


def _shown(value) -> str:
    from opsctl.inspection.answers import display

    if isinstance(value, dict):
        return ", ".join(f"{k}={_shown(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return display(value) if value is not None else "-"


def _item_rows(rec):
    for it in rec.items:
        value = it.value if it.kind == "check" else it.answer
        msg = it.message + (_(" — note: {note}").format(note=it.note) if it.note else "")
        yield [it.seq, it.item_id + (f"@{it.target}" if it.target else ""), _(it.kind),
               it.status, _shown(value), msg]


# Item kinds as shown (the record keeps "check"/"manual").
_KINDS = (N_("check"), N_("manual"))
ITEM_COLUMNS = ["#", N_("item"), N_("kind"), N_("status"), N_("value / answer"), N_("message")]


@inspect.command("run")
@click.option("--profile", "-p", metavar="NAME", shell_complete=PROFILE,
              help="Profile to run [default: "
              "inspection.default_profile].")
@click.option("--inspector", "-i", metavar="NAME", shell_complete=PERSON,
              help="Who inspects [default: the person "
              "mapped to your login, else your login].")
@click.option("--answers", "-a", "answers_file", metavar="FILE",
              type=click.Path(dir_okay=False), help="YAML/JSON answers for manual items.")
@click.option("--interactive/--no-interactive", default=None,
              help="Ask for manual items on the terminal [default: when stdin is a terminal "
                   "and no --answers is given].")
@format_option
@pass_app
def run_cmd(app, profile: str | None, inspector: str | None, answers_file: str | None,
            interactive: bool | None, fmt: str) -> None:
    """Run a profile: checks, questions, a stored record; exit code = worst status."""
    from opsctl.inspection.answers import match_answers, read_answers_file
    from opsctl.inspection.engine import run_profile

    cfg = app.cfg
    prof = cfg.profile(_profile_name(cfg, profile))
    who = _inspector(cfg, inspector)
    raw = read_answers_file(answers_file) if answers_file else None
    aset = match_answers(prof, raw)
    for problem in aset.problems:
        app.out.warn(problem)
    if interactive is None:
        interactive = sys.stdin.isatty() and answers_file is None
    out = app.out

    def progress(item, done: int, total: int) -> None:
        if app.json or fmt == "nagios":
            return
        value = item.value if item.kind == "check" else item.answer
        out.err(f"  [{done}/{total}] {item.item_id:<20} {item.status.name:<8} "
                f"{_shown(value)}")

    store = app.store
    rec = run_profile(cfg, store, prof, who, aset, interactive, progress=progress,
                      source="cli")
    if fmt == "nagios":
        nagios.inspection(rec)
    from opsctl.handover.people import full_names, label

    names = full_names(cfg, [rec.inspector])
    if app.json:
        # the same record `inspect show --json` prints
        out.json(rec.to_dict() | {"inspector_full_name": names.get(rec.inspector)})
    else:
        out.table([_(c) for c in ITEM_COLUMNS], _item_rows(rec),
                  title=_("Inspection #{id} {profile} — {inspector} on {host}").format(
                      id=rec.id, profile=rec.profile, inspector=label(names, rec.inspector),
                      host=rec.host))
        counts = ", ".join(f"{n} {s}" for s, n in rec.counts.items() if n)
        out.print(_("Inspection #{id} {profile}: ").format(id=rec.id, profile=rec.profile),
                  out.status_text(rec.status), f" ({counts})", sep="")
        opened = [f for f in rec.followups if f.get("seq") is not None and not f.get("repeat")]
        if opened:
            out.info(ngettext("{n} follow-up opened in the duty log: {items}",
                              "{n} follow-ups opened in the duty log: {items}",
                              len(opened)).format(
                n=len(opened),
                items=", ".join(f"#{f['seq']} {f['item_id']}" for f in opened)))
        still = [f for f in rec.followups if f.get("repeat")]
        if still:
            out.info(_("still open (not opened again): {items}").format(items=", ".join(
                _("#{seq} {item} (seen in {count} runs since {since})").format(
                    seq=f["seq"], item=f["item_id"], count=f["count"],
                    since=f.get("first_seen") or "?") for f in still)))
        for f in rec.followups:
            if f.get("seq") is None:
                out.warn(_("follow-up for {item} not opened: {error}").format(
                    item=f["item_id"], error=f.get("error")))
    sys.exit(int(rec.status))


def _range(cfg, date_from: str | None, date_to: str | None, default_days: int):
    import datetime as dt

    from opsctl.cli.options import parse_date
    from opsctl.core.errors import UsageError
    from opsctl.inspection.report import site_tz

    today = dt.datetime.now(site_tz(cfg)).date()
    end = parse_date(date_to, "--to") or today
    start = parse_date(date_from, "--from") or (end - dt.timedelta(days=default_days - 1))
    if start > end:
        raise UsageError(f"--from {start} is after --to {end}")
    return start, end


@inspect.command("list")
@click.option("--from", "date_from", metavar="DATE", help="First day (YYYY-MM-DD) [default: "
              "30 days ago].")
@click.option("--to", "date_to", metavar="DATE", help="Last day, inclusive [default: today].")
@click.option("--profile", "-p", metavar="NAME", shell_complete=PROFILE,
              help="Only this profile.")
@pass_app
def list_cmd(app, date_from: str | None, date_to: str | None, profile: str | None) -> None:
    """List stored inspection records."""
    from opsctl.core.errors import Status
    from opsctl.inspection.records import find
    from opsctl.inspection.report import day_bounds

    cfg = app.cfg
    start, end = _range(cfg, date_from, date_to, 30)
    lo, hi = day_bounds(cfg, start, end)
    recs = find(app.store, start=lo, end=hi, profile=profile)
    from opsctl.handover.people import full_names, label

    names = full_names(cfg, [r.inspector for r in recs])
    if app.json:
        app.out.json([r.to_dict(details=False) | {"inspector_full_name": names.get(r.inspector)}
                      for r in recs])
        return
    from opsctl.core.i18n import format_datetime
    from opsctl.inspection.report import site_tz

    tz = site_tz(cfg)
    rows = []
    for r in recs:
        c = r.counts
        rows.append([r.id, format_datetime(r.started_at, tz), r.profile,
                     label(names, r.inspector),
                     r.host, r.status, *(c.get(s.name, 0) for s in Status)])
    app.out.table([_("id"), _("started"), _("profile"), _("inspector"), _("host"), _("status"),
                   _("ok"), _("warn"), _("crit"), _("unknown")], rows,
                  title=_("Inspections {start} to {end}").format(start=start, end=end)
                  + (f" ({profile})" if profile else ""))


@inspect.command("show")
@click.argument("run_id", type=ID, metavar="ID")
@pass_app
def show_cmd(app, run_id: int) -> None:
    """Show one inspection record with every item."""
    from opsctl.handover.people import full_names, label
    from opsctl.inspection.records import get

    rec = get(app.store, run_id)
    names = full_names(app.cfg, [rec.inspector])
    if app.json:
        app.out.json(rec.to_dict() | {"inspector_full_name": names.get(rec.inspector)})
        return
    app.out.kv([("id", rec.id), ("profile", rec.profile),
                ("inspector", label(names, rec.inspector)),
                ("host", rec.host), ("source", rec.source), ("started", rec.started_at),
                ("finished", rec.finished_at), ("status", rec.status),
                *(("problem", p) for p in rec.problems),
                *(("follow-up", f"{f['item_id']} → duty log #{f['seq']}"
                   if f.get("seq") is not None else f"{f['item_id']}: {f.get('error')}")
                  for f in rec.followups)],
               title=f"Inspection #{rec.id}")
    app.out.table(ITEM_COLUMNS, _item_rows(rec))


@inspect.command("report")
@click.option("--from", "date_from", metavar="DATE", help="First day [default: 6 days "
              "before --to].")
@click.option("--to", "date_to", metavar="DATE", help="Last day, inclusive [default: today].")
@click.option("--profile", "-p", metavar="NAME", shell_complete=PROFILE,
              help="Only this profile.")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "json", "pdf"]),
              default=None, help="Output format [default: md, or json with --json]; pdf "
              "(printable, page x of y, needs -o).")
@click.option("-o", "--output", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write to FILE instead of stdout.")
@pass_app
def report_cmd(app, date_from: str | None, date_to: str | None, profile: str | None,
               fmt: str | None, output: str | None) -> None:
    """Report: runs per day/month, failing items, missed patrols, every run's details."""
    from opsctl.core.output import dumps
    from opsctl.inspection import report

    cfg = app.cfg
    if profile:
        cfg.profile(profile)
    start, end = _range(cfg, date_from, date_to, 7)
    data = report.build(cfg, app.store, start, end, profile)
    fmt = fmt or ("json" if app.json else "md")
    if fmt == "pdf":
        from opsctl.core.errors import UsageError
        from opsctl.core.pdf import write_pdf

        if not output:
            raise UsageError("--format pdf needs -o FILE.pdf")
        pages = write_pdf(report.render_pdf_html(data), output)
        if app.json:
            app.out.json({"file": output, "format": fmt, "pages": pages, **data["summary"]})
        else:
            app.out.info(f"report written to {output} (pdf, {pages} pages, "
                         f"{data['summary']['runs']} runs, "
                         f"{data['summary']['missed_patrols']} missed patrols)")
        return
    text = {"md": report.render_md, "html": report.render_html,
            "json": lambda d: dumps(d) + "\n"}[fmt](data)
    if output:
        from pathlib import Path

        from opsctl.core.errors import UsageError

        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
        if app.json and fmt != "json":
            app.out.json({"file": output, "format": fmt, **data["summary"]})
        else:
            app.out.info(f"report written to {output} ({fmt}, {data['summary']['runs']} runs, "
                         f"{data['summary']['missed_patrols']} missed patrols)")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


@inspect.command("checks")
@click.argument("name", required=False)
@pass_app
def checks_cmd(app, name: str | None) -> None:
    """List the automatic checks and their parameters."""
    from opsctl.inspection import registry

    checks = [registry.get(name)] if name else registry.all_checks()
    if app.json:
        app.out.json([{"name": c.name, "summary": c.summary, "remote": c.remote,
                       "params": [p.to_dict() for p in c.all_params()]} for c in checks])
        return
    for c in checks:
        app.out.table(["parameter", "type", "default", "description"],
                      [[p.name, p.type_label, p.default_label, p.description]
                       for p in c.all_params()],
                      title=f"{c.name} — {c.summary}" + ("  [remote: host:]" if c.remote
                                                          else ""))


@inspect.group("baseline")
def baseline_group() -> None:
    """Recorded baselines (IP addresses) that ip_baseline compares against."""


@baseline_group.command("show")
@pass_app
def baseline_show(app) -> None:
    """Show the recorded baselines."""
    import datetime as dt

    from opsctl.inspection import baseline

    data = baseline.all_baselines(app.cfg, app.store)
    if app.json:
        app.out.json(data)
        return
    rows = []
    for key, val in sorted(data.items()):
        when = dt.datetime.fromtimestamp(val.get("recorded_at", 0)).astimezone()
        for iface, addrs in sorted((val.get("addresses") or {}).items()):
            rows.append([key, when, iface, ", ".join(addrs)])
    app.out.table(["host/item", "recorded", "interface", "addresses"], rows,
                  title="IP baselines")


@baseline_group.command("reset")
@click.argument("key", required=False, metavar="[HOST/ITEM]")
@pass_app
def baseline_reset(app, key: str | None) -> None:
    """Forget a baseline (or all): the next run records the current addresses."""
    from opsctl.core.errors import NotFoundError
    from opsctl.inspection import baseline

    n = baseline.forget(app.cfg, app.store, key)
    if key and not n:
        raise NotFoundError(f"no baseline {key!r} (see `opsctl inspect baseline show`)")
    if app.json:
        app.out.json({"removed": n})
    else:
        app.out.info(f"{n} baseline(s) removed; the next run records them afresh")
