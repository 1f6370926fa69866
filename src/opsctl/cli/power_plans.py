"""``opsctl power plans|shutdown|restore``: ordered shutdown / restore plans over SSH.

Registered on the ``power`` group by ``register(power)`` (see cli/power.py).
"""

from __future__ import annotations

import click

from opsctl.cli.completion import PERSON, RESTORE_PLAN, SHUTDOWN_PLAN
from opsctl.cli.context import AppContext, pass_app
from opsctl.cli.options import confirm, dry_run_option, yes_option


def register(group: click.Group) -> None:
    group.add_command(plans)
    group.add_command(plan_group)
    group.add_command(policies)
    group.add_command(simulate)
    group.add_command(shutdown)
    group.add_command(restore)


@click.command("policies")
@pass_app
def policies(app: AppContext) -> None:
    """Each power policy (power.policies) and the state the daemon has it in."""
    from opsctl.power.policies import fmt_duration as fmt
    from opsctl.power.policies import policy_table

    rows = policy_table(app.cfg, app.store if app.cfg.power.policies else None)
    if app.json:
        app.out.json(rows)
        return
    if not rows:
        app.out.info("no power policies configured (power.policies in the config)")
        return
    table = []
    for r in rows:
        trig = [f"on battery {fmt(r['on_battery_for'])}"]
        if r["runtime_below"] is not None:
            trig.append(f"runtime < {fmt(r['runtime_below'])}")
        if r["low_battery"]:
            trig.append("LB")
        restore = "-"
        if r["restore_plan"]:
            restore = f"{r['restore_plan']} after {fmt(r['restore_after'])}"
            if r["restore_min_charge"] is not None:
                restore += f", charge ≥ {r['restore_min_charge']:g}%"
        state = r["state"] + (" (cancelling)" if r["cancelling"] else "")
        if r["waiting"] and r["state"] == "restore-armed":
            state += f" — waiting: {r['waiting']}"
        table.append((r["name"], f"{r['when']} of {', '.join(r['ups'])}", " or ".join(trig),
                      r["plan"], restore, state, r["since"] or "-"))
    app.out.table(["policy", "ups", "shutdown when", "plan", "restore", "state", "since"],
                  table)


@click.command("simulate")
@click.argument("policy")
@click.option("--event", required=True,
              type=click.Choice(["on-battery", "low-battery", "mains-back"]),
              help="What happens to the mains.")
@pass_app
def simulate(app: AppContext, policy: str, event: str) -> None:
    """Print the timeline POLICY would follow after EVENT. Touches nothing: no poll, no
    connection, no record."""
    from opsctl.power.simulate import simulate as _simulate

    result = _simulate(app.cfg, policy, event)
    if app.json:
        app.out.json(result)
        return
    lines = [f"policy {result['policy']}, event {event} (simulation: nothing is polled, run "
             "or recorded; '≤' marks latest possible times)"]
    for m in result["timeline"]:
        mark = "≤" if m["upper_bound"] else " "
        lines.append(f"{mark}{m['at_text']:>9}  {m['text']}")
    from opsctl.core.safetext import visible

    click.echo(visible("\n".join(lines)))


@click.group("plan")
def plan_group() -> None:
    """Past runs of shutdown / restore plans."""


@plan_group.command("history")
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="How many runs, newest first.")
@click.option("--run", "run_id", type=int, metavar="ID", help="Only this run.")
@pass_app
def history(app: AppContext, limit: int, run_id: int | None) -> None:
    """List past plan runs step by step (by hand or by a policy; resumed runs included)."""
    from opsctl.core.errors import NotFoundError
    from opsctl.power.plans.runs import history as _history

    runs = _history(app.store, limit, run_id)
    if run_id is not None and not runs:
        raise NotFoundError(f"no plan run #{run_id}")
    if app.json:
        app.out.json(runs)
        return
    if not runs:
        app.out.info("no plan has run yet")
        return
    for r in runs:
        by = f"policy {r['policy']}" if r["policy"] else "by hand"
        resumed = f", resumed {r['resumed']}x" if r["resumed"] else ""
        rows = [(s["index"], s["name"], s["group"] or "", s["where"], s["status"].upper(),
                 s["started_at"] or "", s["message"] or "") for s in r["steps"]]
        app.out.table(["#", "step", "group", "where", "result", "started", "detail"], rows,
                      title=f"run #{r['id']}: {r['kind']} plan {r['plan']} — "
                            f"{r['status'].upper()} ({by}, {r['actor']}{resumed}; "
                            f"{r['started_at']} → {r['finished_at'] or 'still running'})")


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
                  help="Plan name from power.plans in the config.",
                  shell_complete=SHUTDOWN_PLAN if kind == "shutdown" else RESTORE_PLAN)
    @click.option("--by", "by", metavar="PERSON", shell_complete=PERSON,
                  help="The engineer running it (default: the person your login maps to).")
    @dry_run_option
    @yes_option
    @pass_app
    def cmd(app: AppContext, plan_name: str, by: str | None, dry_run: bool,
            yes: bool) -> None:
        _run(app, kind, plan_name, dry_run, yes, by)

    return cmd


shutdown = _plan_command("shutdown")
restore = _plan_command("restore")


def engineer(app: AppContext, by: str | None, action: str) -> str:
    """The person running a plan by hand: must have the engineer role (SPEC §6; or the
    one in required_roles.power_plans)."""
    from opsctl.handover.people import acting_with_role

    return acting_with_role(app.cfg, by, app.cfg.required_roles.power_plans, action)


def _run(app: AppContext, kind: str, plan_name: str, dry_run: bool, yes: bool,
         by: str | None = None) -> None:
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
    actor = engineer(app, by, f"run the {kind} plan {plan.name!r}")
    hosts = ", ".join(dict.fromkeys(s.where for s in plan.steps if s.where != "local"))
    confirm(app, f"Run {kind} plan {plan.name!r} ({len(plan.steps)} steps"
            + (f"; hosts: {hosts}" if hosts else "") + ")?", yes)
    store = app.store
    run = run_plan(plan, cfg=cfg, store=store, on_step=_progress(app, len(plan.steps)),
                   actor=actor, reason=f"{kind} plan run by hand by {actor}")
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
    from opsctl.core.safetext import visible

    click.echo(visible("\n".join(lines)))


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
