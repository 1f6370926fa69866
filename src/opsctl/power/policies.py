"""Power policies: when the daemon shuts the room down by itself, and brings it back.

A policy watches its UPSes on every poll and moves through these states (persisted, so
a restarted daemon carries on where it stopped)::

    idle ──on battery──▶ armed ──on_battery_for / runtime_below / LB──▶ shutdown
      ▲                    │ mains back (a blip): log entry only          │ plan ends
      │                    ▼                                              ▼
      │                  idle                       down ◀────────────────┘
      │                                               │ mains back (or back during
      │                                               ▼  the shutdown: no new steps)
      └──── restore plan done ◀── restoring ◀── restore-armed
                                   (mains stable restore_after, charge ≥ restore_min_charge)

``evaluate`` is the pure state machine (state + what the UPSes say + the time → new
state + what to do); :class:`PolicyEngine` applies it: it starts plan runs in their own
thread (polling must go on during a shutdown, or mains coming back would go unseen),
stops them from starting new steps, resumes a run a crash interrupted, and reports every
transition through the ``Sink`` the daemon gives it (duty log and alerts).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from opsctl.core import kvstate
from opsctl.core.errors import NotFoundError

log = logging.getLogger("opsctl.power.policies")

KV_NS = "power-policies"
DAEMON_ACTOR = "opsctl-daemon"
STATES = ("idle", "armed", "shutdown", "down", "restore-armed", "restoring")


# -- what a policy sees of its UPSes ------------------------------------------------------------
@dataclass
class UpsView:
    name: str
    reachable: bool
    on_battery: bool        # OB, or silent after last being seen on battery
    low_battery: bool       # LB, or silent after last being seen on battery (NUT's rule)
    online: bool            # answering, on line, not on battery
    runtime: float | None   # seconds
    charge: float | None    # %
    status: str = ""

    def describe(self) -> str:
        if not self.reachable:
            return f"{self.name}: silent" + (" (last seen on battery)" if self.on_battery
                                            else "")
        extra = []
        if self.charge is not None:
            extra.append(f"charge {self.charge:g}%")
        if self.runtime is not None:
            extra.append(f"runtime {self.runtime / 60:.0f} min")
        return f"{self.name}: {self.status or '?'}" + (f" ({', '.join(extra)})" if extra
                                                       else "")


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def ups_views(readings: Sequence[Any], last_ob: dict[str, bool]) -> dict[str, UpsView]:
    """One view per UPS reading; ``last_ob`` (name → last seen on battery) is updated."""
    out: dict[str, UpsView] = {}
    for r in readings:
        if r.kind != "ups":
            continue
        if not r.reachable:
            lost_ob = bool(last_ob.get(r.name))
            out[r.name] = UpsView(r.name, False, lost_ob, lost_ob, False, None, None)
            continue
        tokens = set(r.ups_status)
        ob = "OB" in tokens
        last_ob[r.name] = ob
        out[r.name] = UpsView(r.name, True, ob, "LB" in tokens,
                              "OL" in tokens and not ob,
                              _num(r.values.get("battery.runtime")),
                              _num(r.values.get("battery.charge")),
                              str(r.values.get("ups.status") or ""))
    return out


# -- the state machine ------------------------------------------------------------------------
@dataclass
class Action:
    """What the engine must do: ``log`` (duty log only), ``alert`` (duty log + alert),
    ``start`` (a plan run: ``plan``/``kind``), ``cancel`` (no new steps)."""

    what: str
    text: str = ""
    kind: str = ""          # transition name, for alerts: armed, triggered, ...
    severity: str = "minor"
    plan: str | None = None


@dataclass
class Outcome:
    state: dict
    actions: list[Action] = field(default_factory=list)


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="seconds")


def _parse(s: str | None, default: dt.datetime) -> dt.datetime:
    return dt.datetime.fromisoformat(s) if s else default


def fmt_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    m, s = divmod(seconds, 60)
    if m < 60:
        return f"{m}m{s:02d}s" if s else f"{m}m"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def on_battery(policy: Any, views: dict[str, UpsView]) -> bool:
    flags = [views[u].on_battery if u in views else False for u in policy.ups]
    return all(flags) if policy.when == "all" else any(flags)


def mains_back(policy: Any, views: dict[str, UpsView]) -> bool:
    return all(u in views and views[u].online for u in policy.ups)


def urgent(policy: Any, views: dict[str, UpsView]) -> str | None:
    """Why the plan must start now rather than after on_battery_for (None: no reason)."""
    for u in policy.ups:
        v = views.get(u)
        if v is None or not v.on_battery:
            continue
        if policy.low_battery and v.low_battery:
            return (f"{u} is silent after last being seen on battery (treated as low "
                    "battery)") if not v.reachable else f"{u} reports low battery (LB)"
        if policy.runtime_below is not None and v.runtime is not None \
                and v.runtime < policy.runtime_below:
            return (f"{u} runtime {fmt_duration(v.runtime)} is below runtime_below "
                    f"{fmt_duration(policy.runtime_below)}")
    return None


def charge_ok(policy: Any, views: dict[str, UpsView]) -> tuple[bool, str]:
    if policy.restore_min_charge is None:
        return True, ""
    low = [f"{u} {views[u].charge:g}%" for u in policy.ups
           if u in views and views[u].charge is not None
           and views[u].charge < policy.restore_min_charge]
    unknown = [u for u in policy.ups if u not in views or views[u].charge is None]
    if low or unknown:
        return False, ("charge below " + f"{policy.restore_min_charge:g}%: "
                       + ", ".join(low + [f"{u} unknown" for u in unknown]))
    return True, ""


def evaluate(policy: Any, state: dict, views: dict[str, UpsView], now: dt.datetime,
             run_result: str | None = None) -> Outcome:
    """One step of the machine. ``run_result`` is the final status of the plan run the
    state is waiting for (None while it runs, or when none is running)."""
    st = dict(state) or {"state": "idle", "since": _iso(now)}
    st.setdefault("state", "idle")
    out = Outcome(st)
    since = _parse(st.get("since"), now)
    cur = st["state"]
    seen = "; ".join(views[u].describe() for u in policy.ups if u in views)
    ob, back = on_battery(policy, views), mains_back(policy, views)

    def move(new: str) -> None:
        st["state"] = new
        st["since"] = _iso(now)

    if cur == "idle" and ob:
        move("armed")
        out.actions.append(Action("log", f"power policy {policy.name} armed: on battery "
                                  f"({policy.when} of {', '.join(policy.ups)}; {seen}); "
                                  f"the {policy.plan} plan starts in "
                                  f"{fmt_duration(policy.on_battery_for)} unless mains returns",
                                  "armed"))
        cur, since = "armed", now
    if cur == "armed":
        if not ob:
            move("idle")
            out.actions.append(Action("log", f"power policy {policy.name} stood down: mains "
                                      f"back after {fmt_duration((now - since).total_seconds())} "
                                      f"on battery, shorter than on_battery_for "
                                      f"{fmt_duration(policy.on_battery_for)} (a blip; {seen})",
                                      "blip"))
            return out
        why = urgent(policy, views)
        if why is None and (now - since).total_seconds() >= policy.on_battery_for:
            why = f"on battery for {fmt_duration((now - since).total_seconds())}"
        if why is not None:
            move("shutdown")
            st.pop("cancel", None)
            out.actions.append(Action("alert", f"power policy {policy.name} triggered: {why}; "
                                      f"starting the shutdown plan {policy.plan} ({seen})",
                                      "triggered", "critical"))
            out.actions.append(Action("start", plan=policy.plan, kind="shutdown"))
        return out
    if cur == "shutdown":
        if back and not st.get("cancel"):
            st["cancel"] = True
            st["mains_back_at"] = _iso(now)
            out.actions.append(Action("alert", f"power policy {policy.name}: mains returned "
                                      f"during the shutdown ({seen}); no new steps are "
                                      "started (shutdown cancelled)", "cancelled", "major"))
            out.actions.append(Action("cancel"))
        if run_result is not None:
            cancelled = st.pop("cancel", False)
            if cancelled:
                st["state"] = "restore-armed"
                st["since"] = st.pop("mains_back_at", _iso(now))
                out.actions.append(_restore_armed(policy, seen))
            else:
                move("down")
                out.actions.append(Action("alert", f"power policy {policy.name}: shutdown plan "
                                          f"{policy.plan} done ({run_result})", "plan-done",
                                          "major" if run_result != "ok" else "minor"))
        return out
    if cur == "down" and back:
        move("restore-armed")
        out.actions.append(_restore_armed(policy, seen))
        return out
    if cur == "restore-armed":
        if ob:
            move("armed")
            out.actions.append(Action("alert", f"power policy {policy.name}: on battery again "
                                      f"before the restore ({seen}); re-armed", "armed",
                                      "major"))
            return out
        if not back:
            move("restore-armed")  # mains must be stable: the clock starts again
            return out
        ok, why = charge_ok(policy, views)
        if (now - since).total_seconds() >= policy.restore_after and ok:
            if policy.restore_plan is None:
                move("idle")
                out.actions.append(Action("alert", f"power policy {policy.name}: mains stable "
                                          f"for {fmt_duration(policy.restore_after)}; no restore "
                                          "plan configured, restore done", "restore-done"))
            else:
                move("restoring")
                out.actions.append(Action("alert", f"power policy {policy.name}: mains stable "
                                          f"for {fmt_duration((now - since).total_seconds())} "
                                          f"({seen}); starting the restore plan "
                                          f"{policy.restore_plan}", "restore-started"))
                out.actions.append(Action("start", plan=policy.restore_plan, kind="restore"))
        elif not ok:
            st["waiting"] = why
        return out
    if cur == "restoring" and run_result is not None:
        move("idle")
        out.actions.append(Action("alert", f"power policy {policy.name}: restore plan "
                                  f"{policy.restore_plan} done ({run_result})", "restore-done",
                                  "major" if run_result != "ok" else "minor"))
    return out


def _restore_armed(policy: Any, seen: str) -> Action:
    if policy.restore_plan is None:
        then = "no restore plan is configured"
    else:
        then = f"the restore plan {policy.restore_plan} starts once mains has been stable " \
               f"for {fmt_duration(policy.restore_after)}"
        if policy.restore_min_charge is not None:
            then += f" and every battery is charged to {policy.restore_min_charge:g}%"
    return Action("alert", f"power policy {policy.name} restore armed: mains back ({seen}); "
                  f"{then}", "restore-armed")


# -- the engine --------------------------------------------------------------------------------
class Sink(Protocol):
    """Where transitions go: ``alert`` writes a duty-log entry and sends an alert;
    ``log`` writes a duty-log entry only."""

    def alert(self, policy: str, kind: str, severity: str, text: str,
              details: dict | None = None, duty_log: bool = True) -> None: ...

    def log(self, policy: str, kind: str, text: str, details: dict | None = None) -> None: ...


def find_policy(cfg: Any, name: str) -> Any:
    for p in cfg.power.policies:
        if p.name == name:
            return p
    known = ", ".join(p.name for p in cfg.power.policies) or "none configured"
    raise NotFoundError(f"unknown power policy {name!r} (known: {known})")


def load_states(store: Any) -> dict[str, dict]:
    return kvstate.items(store, KV_NS)


@dataclass
class _Running:
    thread: threading.Thread
    stop: threading.Event
    kind: str
    result: dict = field(default_factory=dict)


class PolicyEngine:
    """Applies the policies on each poll; owns the threads running their plans."""

    def __init__(self, store: Any, sink: Sink, clock: Callable[[], dt.datetime] | None = None):
        self.store = store
        self.sink = sink
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()

    def evaluate(self, cfg: Any, readings: Sequence[Any]) -> list[str]:
        """Run every policy once against this poll; returns one line per busy policy."""
        if not cfg.power.policies:
            return []
        now = self.clock()
        last_ob: dict[str, bool] = kvstate.get(self.store, KV_NS, "_last_on_battery", {}) or {}
        views = ups_views(readings, last_ob)
        kvstate.put(self.store, KV_NS, "_last_on_battery", last_ob)
        notes = []
        with self._lock:
            for policy in cfg.power.policies:
                try:
                    note = self._one(cfg, policy, views, now)
                except Exception as exc:  # noqa: BLE001 - one broken policy must not stop others
                    log.exception("power policy %s failed", policy.name)
                    self.sink.alert(policy.name, "error", "major",
                                    f"power policy {policy.name} could not be evaluated: "
                                    f"{exc}")
                    note = f"{policy.name}: error"
                if note:
                    notes.append(note)
        return notes

    def _one(self, cfg: Any, policy: Any, views: dict[str, UpsView], now: dt.datetime) -> str:
        state = kvstate.get(self.store, KV_NS, policy.name, None) or {}
        result = self._run_result(cfg, policy, state)
        out = evaluate(policy, state, views, now, result)
        st = out.state
        if result is not None:
            st.pop("run_started", None)
        for a in out.actions:
            details = {"policy": policy.name, "state": st["state"],
                       "ups": {u: vars(views[u]) for u in policy.ups if u in views}}
            if a.what == "log":
                self.sink.log(policy.name, a.kind, a.text, details)
            elif a.what == "alert":
                self.sink.alert(policy.name, a.kind, a.severity, a.text, details)
            elif a.what == "cancel":
                running = self._running.get(policy.name)
                if running is not None:
                    running.stop.set()
            elif a.what == "start":
                st["run_started"] = _iso(now)
                st["run_kind"] = a.kind
                self._start(cfg, policy, a.plan, a.kind, None)
        kvstate.put(self.store, KV_NS, policy.name, st)
        return "" if st["state"] == "idle" else f"{policy.name}: {st['state']}"

    def _run_result(self, cfg: Any, policy: Any, state: dict) -> str | None:
        """The final status of this policy's current run, or None while it runs (or when
        none is due). A run a crash interrupted is resumed here."""
        if state.get("state") not in ("shutdown", "restoring") or "run_started" not in state:
            return None
        running = self._running.get(policy.name)
        if running is not None:
            if running.thread.is_alive():
                if state.get("cancel"):
                    running.stop.set()
                return None
            del self._running[policy.name]
            return running.result.get("status", "failed")
        from opsctl.power.plans import runs

        # No thread of ours: the daemon restarted. Find the run it was doing.
        mine = [r for r in runs.history(self.store, limit=20)
                if r["policy"] == policy.name and r["started_at"] >= state["run_started"]]
        if not mine:
            # The crash came before the run was recorded: start it now.
            plan = policy.plan if state["state"] == "shutdown" else policy.restore_plan
            self._start(cfg, policy, plan, state.get("run_kind", "shutdown"), None)
            return None
        latest = mine[0]
        if latest["status"] != "running":
            return latest["status"]
        if latest["id"] in {r["id"] for r in runs.orphaned_runs(self.store)}:
            self.sink.log(policy.name, "resume", f"power policy {policy.name}: resuming "
                          f"{latest['kind']} plan run #{latest['id']} after a restart")
            plan = latest["plan"]
            self._start(cfg, policy, plan, latest["kind"], latest["id"],
                        cancel=bool(state.get("cancel")))
        return None

    def _start(self, cfg: Any, policy: Any, plan_name: str | None, kind: str,
               resume: int | None, cancel: bool = False) -> None:
        from opsctl.power.plans import build_plan, run_plan

        if plan_name is None:
            return
        plan = build_plan(cfg, plan_name, kind)
        stop = threading.Event()
        if cancel:
            stop.set()
        running = _Running(threading.Thread(), stop, kind)
        sink = self.sink
        name = policy.name

        def on_step(event: str, step: Any, res: Any) -> None:
            # The plan writes its own duty-log entry per step: here only the alert.
            if event in ("done", "cancelled"):
                sev = "major" if res.status == "failed" else "minor"
                sink.alert(name, f"step-{step.index}", sev,
                           f"power policy {name}: {kind} plan {plan.name} step {step.index} "
                           f"'{step.name}' on {step.where}: {res.status}"
                           + (f" — {res.message}" if res.message else ""),
                           {"policy": name, "step": res.to_dict()}, duty_log=False)

        def target() -> None:
            try:
                run = run_plan(plan, cfg=cfg, store=self.store, actor=DAEMON_ACTOR,
                               policy=name, reason=f"power policy {name}",
                               should_stop=stop.is_set, on_step=on_step, resume=resume)
                running.result.update(status=run.status, run_id=run.run_id)
            except Exception as exc:  # noqa: BLE001 - reported, and the policy sees "failed"
                log.exception("plan %s of policy %s failed to run", plan.name, name)
                running.result.update(status="failed", error=str(exc))
                sink.alert(name, "plan-error", "critical",
                           f"power policy {name}: the {kind} plan {plan.name} could not run: "
                           f"{exc}")

        sink.alert(name, f"{kind}-plan-started", "critical" if kind == "shutdown" else "minor",
                   f"power policy {name}: {kind} plan {plan.name} "
                   + ("resumed" if resume else "started") + f" ({len(plan.steps)} steps)",
                   {"policy": name, "resume": resume}, duty_log=False)
        running.thread = threading.Thread(target=target, name=f"opsctl-policy-{name}",
                                          daemon=True)
        self._running[name] = running
        running.thread.start()

    def busy(self) -> bool:
        return any(r.thread.is_alive() for r in self._running.values())


def policy_table(cfg: Any, store: Any) -> list[dict]:
    """Each configured policy with its persisted state (for ``opsctl power policies``)."""
    states = load_states(store) if store is not None else {}
    out = []
    for p in cfg.power.policies:
        st = states.get(p.name) or {}
        out.append({"name": p.name, "ups": list(p.ups), "when": p.when,
                    "on_battery_for": p.on_battery_for, "runtime_below": p.runtime_below,
                    "low_battery": p.low_battery, "plan": p.plan,
                    "restore_plan": p.restore_plan, "restore_after": p.restore_after,
                    "restore_min_charge": p.restore_min_charge,
                    "state": st.get("state", "idle"), "since": st.get("since"),
                    "waiting": st.get("waiting"), "cancelling": bool(st.get("cancel"))})
    return out
