"""Run a plan: steps in order, each command then its wait, every step recorded.

Records: the whole run is one change in the journal (domain ``power``, action
``shutdown-plan`` / ``restore-plan``) and every step is its own change row, finished as
soon as the step is — so when the machine running opsctl loses power half-way, the
journal still shows which steps ran. When the duty log is available
(``opsctl.handover.api``), the start, every step and the end are also written there.
Dry-run runs nothing, connects nowhere and records nothing.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as dt
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsctl.core.errors import OpsError
from opsctl.power.plans.model import (
    LocalCommand,
    Plan,
    RemoteCommand,
    Step,
    WaitPort,
    WakeOnLanAction,
)
from opsctl.power.plans.waits import Poller, tcp_answers, wait_for

log = logging.getLogger("opsctl.power.plans")

# Stored stdout/stderr per command are cut to this many characters (the tail matters).
_KEEP = 4000


class PlanFailed(OpsError):
    """A step failed and the plan stopped (or finished with failed steps)."""


@dataclass
class StepResult:
    index: int
    name: str
    where: str
    status: str  # ok | failed | skipped | cancelled | interrupted | planned
    message: str = ""
    started_at: str | None = None
    duration: float = 0.0
    command: dict | None = None
    wait: dict | None = None
    skip_wait: bool = False  # the command found the host already down

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "planned")

    def to_dict(self) -> dict:
        return {"index": self.index, "name": self.name, "where": self.where,
                "status": self.status, "message": self.message,
                "started_at": self.started_at, "duration": round(self.duration, 3),
                "command": self.command, "wait": self.wait}


@dataclass
class PlanRun:
    plan: Plan
    dry_run: bool
    status: str = "planned"  # planned | ok | failed
    steps: list[StepResult] = field(default_factory=list)
    change_id: int | None = None
    duration: float = 0.0
    run_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "planned")

    @property
    def failed_step(self) -> StepResult | None:
        return next((s for s in self.steps if s.status in ("failed", "interrupted")), None)

    def to_dict(self) -> dict:
        return {"plan": self.plan.name, "kind": self.plan.kind, "dry_run": self.dry_run,
                "status": self.status, "run_id": self.run_id, "change_id": self.change_id,
                "duration": round(self.duration, 3),
                "steps": [s.to_dict() for s in self.steps],
                "definition": self.plan.to_dict()}


StepCallback = Callable[[str, Step, StepResult | None], None]


def _now() -> str:
    return dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds")


def run_plan(plan: Plan, *, cfg: Any = None, store: Any = None, dry_run: bool = False,
             on_step: StepCallback | None = None, poller: Poller | None = None,
             runner: Any = None, actor: str | None = None, policy: str | None = None,
             reason: str | None = None, should_stop: Callable[[], bool] | None = None,
             resume: int | None = None) -> PlanRun:
    """Execute (or, with ``dry_run``, only describe) ``plan``. A failed step is not raised:
    ``PlanRun.status`` says ``failed`` and which step it was. Raises ``OpsError`` only when
    another plan is running on this state directory.

    ``actor`` is who the run is recorded for (the person, or the daemon for a policy);
    ``should_stop`` is asked before every batch of steps: once it says yes, no new step
    starts (mains came back during a shutdown); ``resume`` is the id of an unfinished run
    to take over (its steps that ran, or were running, are not started again).
    """
    run = PlanRun(plan, dry_run)
    notify = on_step or (lambda *_: None)
    if dry_run:
        for step in plan.steps:
            res = StepResult(step.index, step.name, step.where, "planned",
                             command=step.to_dict()["command"], wait=step.to_dict()["wait"])
            run.steps.append(res)
            notify("planned", step, res)
        return run
    if store is None:
        raise ValueError("a real run needs the store: every step is recorded")
    from opsctl.core.identity import current_user

    opts = _RunOptions(actor or current_user(), policy, reason,
                       should_stop or (lambda: False), resume)
    with _one_plan_at_a_time(store):
        return _execute(plan, run, notify, cfg, store, poller, runner, opts)


@dataclass
class _RunOptions:
    actor: str
    policy: str | None
    reason: str | None
    should_stop: Callable[[], bool]
    resume: int | None


@contextlib.contextmanager
def _one_plan_at_a_time(store: Any) -> Iterator[None]:
    """An flock next to the store: the daemon and an operator must not run plans at once.

    The kernel drops the lock when the process dies, so a crash never leaves it stuck.
    """
    path = getattr(store, "path", None)
    if path is None:
        yield
        return
    lock = Path(path).parent / "power-plan.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "?"
            raise OpsError(f"another power plan is running ({holder}); not starting a "
                           "second one") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def _execute(plan: Plan, run: PlanRun, notify: StepCallback, cfg: Any, store: Any,
             poller: Poller | None, runner: Any, opts: _RunOptions) -> PlanRun:
    from opsctl.core.journal import ChangeRecord, recorded_change
    from opsctl.power.plans import runs

    started = time.monotonic()
    duty = _DutyLog(store, cfg, opts.actor)
    label = f"power {plan.kind} plan '{plan.name}'"
    earlier: dict[int, dict] = {}
    if opts.resume is None:
        run.run_id = runs.create_run(store, plan, actor=opts.actor, policy=opts.policy,
                                     reason=opts.reason)
        duty.write(f"{label} started as run #{run.run_id} ({len(plan.steps)} steps"
                   + (f", policy {opts.policy}" if opts.policy else "")
                   + f", by {opts.actor})",
                   severity="major" if plan.kind == "shutdown" else None,
                   details={"run_id": run.run_id, **plan.to_dict()})
    else:
        run.run_id = opts.resume
        earlier = runs.claim_for_resume(store, opts.resume)
        lost = [i for i, r in earlier.items() if r["status"] == "interrupted"]
        duty.write(f"{label} run #{run.run_id} resumed after a restart: "
                   f"{len(earlier)} of {len(plan.steps)} steps not run again"
                   + (f" (interrupted, outcome unknown: steps {', '.join(map(str, lost))})"
                      if lost else ""),
                   severity="major", details={"run_id": run.run_id, "interrupted": lost})
    rec = ChangeRecord(domain="power", action=f"{plan.kind}-plan", target=plan.name,
                       reason=opts.reason or plan.description, actor=opts.actor,
                       before={"plan": plan.to_dict(), "run_id": run.run_id,
                               "resumed": opts.resume is not None})
    final = plan.final_steps()
    first_final = final[0].index if final else None
    try:
        with recorded_change(store, rec):
            run.change_id = rec.id
            stopped = cancelled = False
            for batch in plan.batches():
                todo: list[Step] = []
                for step in batch:
                    if step.index in earlier:
                        res = _from_row(step, earlier[step.index])
                        run.steps.append(res)
                        notify("earlier", step, res)
                    elif stopped:
                        _not_run(store, run, notify, step, "skipped",
                                 "not run: an earlier step failed")
                    elif cancelled or opts.should_stop():
                        cancelled = True
                        _not_run(store, run, notify, step, "cancelled",
                                 "not started: mains power returned")
                    else:
                        todo.append(step)
                if not todo:
                    continue
                # NUT's FINALDELAY: the others get their last seconds before this host
                # goes; mains coming back meanwhile still cancels.
                if todo[0].index == first_final and plan.final_delay > 0 and \
                        _sleep_unless(plan.final_delay, opts.should_stop):
                    cancelled = True
                    for step in todo:
                        _not_run(store, run, notify, step, "cancelled",
                                 "not started: mains power returned")
                    continue
                for step, res in _run_batch(todo, plan, run, store, cfg, poller, runner,
                                            notify, opts.actor):
                    run.steps.append(res)
                    duty.write(f"{label} step {step.index} '{step.name}': "
                               f"{res.status}" + (f" — {res.message}" if res.message else ""),
                               severity="major" if res.status == "failed" else None,
                               details={"run_id": run.run_id, **res.to_dict()})
                    if res.status == "failed" and not (step.continue_on_error
                                                       or plan.best_effort):
                        stopped = True
            run.steps.sort(key=lambda r: r.index)
            rec.commands = [s.command for s in run.steps if s.command]
            rec.after = {"steps": [s.to_dict() for s in run.steps]}
            if cancelled:
                run.status = "cancelled"
            elif any(s.status in ("failed", "interrupted") for s in run.steps):
                run.status = "failed"
            else:
                run.status = "ok"
            if run.status == "failed":
                bad = run.failed_step
                raise PlanFailed(f"{plan.kind} plan {plan.name!r} failed at step "
                                 f"{bad.index} {bad.name!r}: {bad.message}")
    except PlanFailed:
        pass
    finally:
        run.duration = time.monotonic() - started
        runs.finish_run(store, run.run_id, run.status if run.status != "planned" else "failed",
                        run.change_id)
    summary = "; ".join(f"{s.index}. {s.name}: {s.status}" for s in run.steps)
    duty.write(f"{label} run #{run.run_id} finished {run.status.upper()} in "
               f"{run.duration:.0f}s ({summary})",
               severity="major" if run.status == "failed" else None,
               details={"run_id": run.run_id, "change_id": run.change_id,
                        "status": run.status})
    return run


def _sleep_unless(seconds: float, should_stop: Callable[[], bool]) -> bool:
    """Sleep ``seconds``; True (early) when ``should_stop`` says so meanwhile."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if should_stop():
            return True
        time.sleep(min(0.5, left))
    return should_stop()


def _not_run(store: Any, run: PlanRun, notify: StepCallback, step: Step, status: str,
             why: str) -> None:
    from opsctl.power.plans import runs

    res = StepResult(step.index, step.name, step.where, status, why)
    runs.mark_step(store, run.run_id, step.index, status, message=why)
    run.steps.append(res)
    notify("skipped" if status == "skipped" else status, step, res)


def _from_row(step: Step, row: dict) -> StepResult:
    res = StepResult(step.index, step.name, step.where, row["status"], row.get("message") or "",
                     started_at=row.get("started_at"))
    result = row.get("result") or {}
    res.command, res.wait = result.get("command"), result.get("wait")
    res.duration = float(result.get("duration") or 0.0)
    return res


def _run_batch(batch: list[Step], plan: Plan, run: PlanRun, store: Any, cfg: Any,
               poller: Poller | None, runner: Any,
               notify: StepCallback, actor: str) -> list[tuple[Step, StepResult]]:
    """Run one batch (a group runs in parallel); results in step order."""
    from opsctl.power.plans import runs

    def one(step: Step) -> StepResult:
        # Written (and fsync'd) before anything happens: after a crash this step is
        # known to have started and is never started again.
        runs.mark_step(store, run.run_id, step.index, "running")
        notify("start", step, None)
        res = _run_recorded_step(step, plan, store, cfg, poller, runner, actor)
        runs.mark_step(store, run.run_id, step.index, res.status, message=res.message,
                       result=res.to_dict())
        notify("done", step, res)
        return res

    if len(batch) == 1:
        return [(batch[0], one(batch[0]))]
    with cf.ThreadPoolExecutor(max_workers=len(batch),
                               thread_name_prefix="opsctl-plan") as pool:
        futures = [(step, pool.submit(one, step)) for step in batch]
        return [(step, fut.result()) for step, fut in futures]


def _run_recorded_step(step: Step, plan: Plan, store: Any, cfg: Any, poller: Poller | None,
                       runner: Any, actor: str) -> StepResult:
    from opsctl.core.journal import ChangeRecord, recorded_change

    rec = ChangeRecord(domain="power", action="plan-step",
                       target=f"{plan.name}#{step.index} {step.name}",
                       reason=f"{plan.kind} plan {plan.name}", before=step.to_dict(),
                       actor=actor)
    res = StepResult(step.index, step.name, step.where, "ok", started_at=_now())
    try:
        with recorded_change(store, rec):
            _run_step(step, res, cfg, poller, runner)
            rec.commands = [res.command] if res.command else []
            rec.after = res.to_dict()
            if res.status == "failed":
                raise PlanFailed(res.message)
    except PlanFailed:
        pass
    return res


def _run_step(step: Step, res: StepResult, cfg: Any, poller: Poller | None,
              runner: Any) -> None:
    t0 = time.monotonic()
    try:
        if step.command is not None:
            ok, note = _run_command(step, res, runner)
            if not ok:
                res.status, res.message = "failed", note
                return
            res.message = note
        if step.wait is not None and not res.skip_wait:
            outcome = wait_for(step.wait, cfg=cfg, poller=poller)
            res.wait = {**step.to_dict()["wait"], **outcome.to_dict()}
            if not outcome.satisfied:
                res.status, res.message = "failed", _join(res.message, outcome.detail)
                return
            res.message = _join(res.message, outcome.detail)
    except OpsError as exc:
        res.status, res.message = "failed", _join(res.message, str(exc))
    except Exception as exc:  # noqa: BLE001 - a step's crash must still be recorded
        log.exception("step %s crashed", step.name)
        res.status = "failed"
        res.message = _join(res.message, f"internal error: {type(exc).__name__}: {exc}")
    finally:
        res.duration = time.monotonic() - t0


def _run_command(step: Step, res: StepResult, runner: Any) -> tuple[bool, str]:
    """Run the step's command; returns (ok, note) and fills ``res.command``."""
    cmd = step.command
    base = step.to_dict()["command"]
    if isinstance(cmd, WakeOnLanAction):
        from opsctl.power.plans.wol import send_magic_packet

        try:
            sent = send_magic_packet(cmd.mac, cmd.address, cmd.port, cmd.count)
        except (OSError, ValueError) as exc:
            res.command = {**base, "error": str(exc)}
            return False, f"wake-on-lan to {cmd.address}:{cmd.port} failed: {exc}"
        res.command = {**base, "bytes_sent": sent}
        return True, f"magic packet for {cmd.mac} sent"
    if isinstance(cmd, LocalCommand):
        from opsctl.core.runner import Runner

        r = (runner or Runner()).run(cmd.argv, timeout=cmd.timeout, check=False, changes=True)
        res.command = {**base, **_result_dict(r)}
        return (True, "") if r.ok else (False, _failure(r))
    assert isinstance(cmd, RemoteCommand)
    from opsctl.core.ssh import SshDisconnected, SshUnreachable, run_remote

    try:
        r = run_remote(cmd.host, cmd.argv, cmd.timeout)
    except SshDisconnected as exc:
        res.command = {**base, "returncode": None, "stdout": exc.stdout[-_KEEP:],
                       "stderr": exc.stderr[-_KEEP:], "duration": round(exc.duration, 3),
                       "disconnected": True}
        if cmd.disconnect_ok:
            return True, "connection dropped after the command was sent (expected)"
        return False, str(exc)
    except SshUnreachable as exc:
        res.command = {**base, "returncode": None, "error": str(exc)}
        # A host a shutdown step wants down that is already down is done, not failed.
        w = step.wait
        if cmd.disconnect_ok and isinstance(w, WaitPort) and not w.want_open and \
                not tcp_answers(w.address, w.port, 2.0):
            res.skip_wait = True
            return True, f"already down: {exc}"
        return False, str(exc)
    res.command = {**base, **_result_dict(r)}
    return (True, "") if r.ok else (False, _failure(r))


def _result_dict(r: Any) -> dict:
    d = r.to_dict()
    d["stdout"] = d["stdout"][-_KEEP:]
    d["stderr"] = d["stderr"][-_KEEP:]
    return d


def _failure(r: Any) -> str:
    lines = (r.stderr or r.stdout).strip().splitlines()
    tail = "; ".join(lines[-3:]) if lines else "no output"
    return f"exit {r.returncode}: {tail}"


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a and b else (a or b)


class _DutyLog:
    """Duty-log entries when the handover domain is installed; never breaks a plan."""

    def __init__(self, store: Any, cfg: Any = None, author: str = "opsctl"):
        self.store = store
        self.author = author
        self.cfg = cfg  # the duty log is HMAC-keyed from the config when configured
        try:
            from opsctl.handover.api import record_event
        except ImportError:
            record_event = None
        self._record = record_event

    def write(self, text: str, *, severity: str | None = None, details: Any = None) -> None:
        if self._record is None:
            return
        try:
            self._record(self.store, category="change", text=text, severity=severity,
                         source="power", details=details, cfg=self.cfg,
                         author=self.author)
        except Exception as exc:  # noqa: BLE001 - the shutdown matters more than the log line
            log.warning("could not write the duty log: %s", exc)
