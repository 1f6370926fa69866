"""``opsctl power simulate``: the timeline a policy would follow, touching nothing.

Nothing is polled, connected to, run or recorded: the timeline is derived from the
config alone. Step times are upper bounds (a command's timeout plus its wait's timeout);
a real run is usually much faster, and a group's steps run side by side, so a group
takes as long as its slowest step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opsctl.power.plans.model import Plan, Sleep, Step, build_plan
from opsctl.power.policies import find_policy, fmt_duration

EVENTS = ("on-battery", "low-battery", "mains-back")


@dataclass
class Moment:
    at: float            # seconds after the event
    text: str
    upper_bound: bool = False  # "at the latest"

    def to_dict(self) -> dict:
        return {"at": self.at, "at_text": "+" + fmt_duration(self.at), "text": self.text,
                "upper_bound": self.upper_bound}


def _worst(step: Step) -> float:
    t = float(getattr(step.command, "timeout", 0) or 0)
    w = step.wait
    if isinstance(w, Sleep):
        t += w.seconds
    elif w is not None:
        t += float(getattr(w, "timeout", 0) or 0)
    return t


def _plan_moments(plan: Plan, start: float, out: list[Moment]) -> float:
    """Append the plan's steps from ``start``; returns the latest possible end."""
    t = start
    final = plan.final_steps()
    first_final = final[0].index if final else None
    for batch in plan.batches():
        if batch[0].index == first_final and plan.final_delay:
            out.append(Moment(t, f"final delay {fmt_duration(plan.final_delay)} before this host's "
                              "own steps (FINALDELAY)", t > start))
            t += plan.final_delay
        together = " (in parallel)" if len(batch) > 1 else ""
        for s in batch:
            what = s.command.describe() if s.command is not None else s.wait.describe()
            then = f"; then {s.wait.describe()}" if s.command is not None and s.wait else ""
            out.append(Moment(t, f"{plan.kind} step {s.index} '{s.name}' on {s.where}"
                              f"{together}: {what}{then}", t > start))
        t += max(_worst(s) for s in batch)
    policy_note = "a failed step does not stop the rest" if plan.best_effort else \
        "a failed step stops the plan"
    out.append(Moment(t, f"{plan.kind} plan {plan.name} done at the latest ({policy_note})",
                      True))
    return t


def simulate(cfg: Any, policy_name: str, event: str) -> dict:
    pol = find_policy(cfg, policy_name)
    if event not in EVENTS:
        raise ValueError(f"event must be one of {', '.join(EVENTS)}")
    shutdown = build_plan(cfg, pol.plan, "shutdown")
    restore = build_plan(cfg, pol.restore_plan, "restore") if pol.restore_plan else None
    ups = f"{pol.when} of {', '.join(pol.ups)}" if len(pol.ups) > 1 else pol.ups[0]
    out: list[Moment] = []
    if event in ("on-battery", "low-battery"):
        if event == "low-battery" and pol.low_battery:
            out.append(Moment(0, f"low battery on {ups}: policy {pol.name} triggered at once "
                              "(low_battery: true) — duty-log entry and alert"))
        else:
            if event == "low-battery":
                out.append(Moment(0, "low battery does not trigger this policy "
                                  "(low_battery: false): on_battery_for applies"))
            out.append(Moment(0, f"mains fails, {ups} on battery: policy {pol.name} armed "
                              "— duty-log entry only (no alert)"))
            out.append(Moment(0, f"mains back before +{fmt_duration(pol.on_battery_for)}: a blip — "
                              "stood down, one duty-log entry, nothing else"))
            if pol.runtime_below is not None:
                out.append(Moment(0, f"a UPS on battery reporting runtime below "
                                  f"{fmt_duration(pol.runtime_below)}: triggered at once"))
            if pol.low_battery:
                out.append(Moment(0, "a UPS reporting LB, or silent after being seen on "
                                  "battery: triggered at once"))
            out.append(Moment(pol.on_battery_for, f"still on battery after "
                              f"{fmt_duration(pol.on_battery_for)}: policy triggered — duty-log "
                              "entry and alert"))
        t0 = 0.0 if (event == "low-battery" and pol.low_battery) else pol.on_battery_for
        out.append(Moment(t0, f"shutdown plan {shutdown.name} started ({len(shutdown.steps)} "
                          "steps; each step a duty-log entry and an alert)"))
        end = _plan_moments(shutdown, t0, out)
        out.append(Moment(end, "mains back at any time during the plan: no new step starts; "
                          "the restore follows the mains-back timeline", True))
    else:
        out.append(Moment(0, f"mains back on {ups}: a running shutdown starts no new step "
                          "(cancelled — duty-log entry and alert); restore armed"))
        if restore is None:
            out.append(Moment(pol.restore_after, "mains stable for "
                              f"{fmt_duration(pol.restore_after)}: no restore plan "
                              "configured — restore done"))
        else:
            cond = f"mains stable for {fmt_duration(pol.restore_after)}"
            if pol.restore_min_charge is not None:
                cond += (f" and every battery charged to {pol.restore_min_charge:g}% "
                         "(later if charging takes longer)")
            out.append(Moment(pol.restore_after, f"{cond}: restore plan {restore.name} "
                              f"started ({len(restore.steps)} steps)"))
            out.append(Moment(pol.restore_after, "mains failing again before that: re-armed "
                              "(the on-battery timeline starts again)"))
            end = _plan_moments(restore, pol.restore_after, out)
            out.append(Moment(end, f"policy {pol.name} back to idle (restore done — "
                              "duty-log entry and alert)", True))
    return {"policy": pol.name, "event": event, "touches_nothing": True,
            "timeline": [m.to_dict() for m in out]}
