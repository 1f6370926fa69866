"""``opsctl power plans|shutdown|restore``: ordered shutdown / restore plans over SSH.

Registered on the ``power`` group by ``register(power)`` (see cli/power.py).
"""

from __future__ import annotations

import click

from opsctl.cli.context import AppContext, pass_app
from opsctl.cli.options import confirm, dry_run_option, yes_option


def register(group: click.Group) -> None:
    group.add_command(plans)
    group.add_command(shutdown)
    group.add_command(restore)


@click.command("plans")
@pass_app
def plans(app: AppContext) -> None:
    """List the shutdown / restore plans of the config (hosts and UPS checked)."""
    from opsctl.power.plans import validate_plans

    resolved = validate_plans(app.cfg)
    if app.json:
        app.out.json([p.to_dict() for p in resolved])
        return
    if not resolved:
        app.out.info("no power plans configured (power.plans in the config)")
        return
    rows = []
    for p in resolved:
        hosts = []
        for s in p.steps:
            if s.where != "local" and s.where not in hosts:
                hosts.append(s.where)
        rows.append((p.name, p.kind, len(p.steps), " → ".join(hosts) or "-", p.ups or "-",
                     p.description or ""))
    app.out.table(["plan", "kind", "steps", "hosts in order", "ups", "description"], rows)


def _plan_command(kind: str):
    @click.command(kind, help=f"Run a {kind} plan: its steps in order over SSH "
                   "(--dry-run prints the exact commands and waits).")
    @click.option("--plan", "plan_name", required=True, metavar="NAME",
                  help="Plan name from power.plans in the config.")
    @dry_run_option
    @yes_option
    @pass_app
    def cmd(app: AppContext, plan_name: str, dry_run: bool, yes: bool) -> None:
        _run(app, kind, plan_name, dry_run, yes)

    return cmd


shutdown = _plan_command("shutdown")
restore = _plan_command("restore")


def _run(app: AppContext, kind: str, plan_name: str, dry_run: bool, yes: bool) -> None:
    from opsctl.power.plans import build_plan, run_plan

    cfg = app.cfg
    plan = build_plan(cfg, plan_name, kind)
    if dry_run:
        run = run_plan(plan, cfg=cfg, dry_run=True)
        if app.json:
            app.out.json(run.to_dict())
        else:
            _print_plan(app, plan)
        return
    hosts = ", ".join(dict.fromkeys(s.where for s in plan.steps if s.where != "local"))
    confirm(app, f"Run {kind} plan {plan.name!r} ({len(plan.steps)} steps"
            + (f"; hosts: {hosts}" if hosts else "") + ")?", yes)
    store = app.store
    run = run_plan(plan, cfg=cfg, store=store, on_step=_progress(app, len(plan.steps)))
    if app.json:
        app.out.json(run.to_dict())
    else:
        _print_results(app, run)
    if not run.ok:
        from opsctl.power.plans.execute import PlanFailed

        bad = run.failed_step
        where = f" at step {bad.index} {bad.name!r}: {bad.message}" if bad else ""
        raise PlanFailed(f"{kind} plan {plan.name!r} failed{where} "
                         f"(recorded as journal change {run.change_id})")


def _print_plan(app: AppContext, plan) -> None:
    # Plain lines, never wrapped: the commands must be exact and copyable.
    head = f"{plan.kind} plan {plan.name}" + (f" — {plan.description}" if plan.description
                                               else "")
    lines = [f"{head} (dry run: nothing is run, nothing is recorded)"]
    for s in plan.steps:
        on_error = "continue" if s.continue_on_error else "stop the plan"
        lines.append(f"{s.index:>3}. {s.name} [{s.where}; on error: {on_error}]")
        if s.command is not None:
            notes = []
            if getattr(s.command, "timeout", None):
                notes.append(f"timeout {s.command.timeout:g}s")
            if getattr(s.command, "disconnect_ok", False):
                notes.append("the connection may drop (expected)")
            lines.append(f"       run:  {s.command.describe()}"
                         + (f"  ({'; '.join(notes)})" if notes else ""))
        if s.wait is not None:
            lines.append(f"       then: {s.wait.describe()}")
    click.echo("\n".join(lines))


def _progress(app: AppContext, total: int):
    def on_step(event: str, step, res) -> None:
        if event == "start":
            what = step.command.describe() if step.command else step.wait.describe()
            app.out.info(f"[{step.index}/{total}] {step.name}: {what}")
        elif event == "done":
            note = f" — {res.message}" if res.message else ""
            app.out.info(f"[{step.index}/{total}] {step.name}: {res.status} "
                         f"({res.duration:.1f}s){note}")
        elif event == "skipped":
            app.out.info(f"[{step.index}/{total}] {step.name}: skipped")

    return on_step


def _print_results(app: AppContext, run) -> None:
    rows = [(s.index, s.name, s.where, s.status.upper(), f"{s.duration:.1f}", s.message)
            for s in run.steps]
    app.out.table(["#", "step", "where", "result", "s", "detail"], rows,
                  title=f"{run.plan.kind} plan {run.plan.name}: {run.status.upper()} "
                        f"in {run.duration:.0f}s (journal change {run.change_id})")
