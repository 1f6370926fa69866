"""Run a plan: steps in order, each command then its wait, every step recorded.

Records: the whole run is one change in the journal (domain ``power``, action
``shutdown-plan`` / ``restore-plan``) and every step is its own change row, finished as
soon as the step is — so when the machine running opsctl loses power half-way, the
journal still shows which steps ran. When the duty log is available
(``opsctl.handover.api``), the start, every step and the end are also written there.
Dry-run runs nothing, connects nowhere and records nothing.
"""

from __future__ import annotations

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
    status: str  # ok | failed | skipped | planned
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

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "planned")

    @property
    def failed_step(self) -> StepResult | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    def to_dict(self) -> dict:
        return {"plan": self.plan.name, "kind": self.plan.kind, "dry_run": self.dry_run,
                "status": self.status, "change_id": self.change_id,
                "duration": round(self.duration, 3),
                "steps": [s.to_dict() for s in self.steps],
                "definition": self.plan.to_dict()}


StepCallback = Callable[[str, Step, StepResult | None], None]


def _now() -> str:
    return dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds")


def run_plan(plan: Plan, *, cfg: Any = None, store: Any = None, dry_run: bool = False,
             on_step: StepCallback | None = None, poller: Poller | None = None,
             runner: Any = None) -> PlanRun:
    """Execute (or, with ``dry_run``, only describe) ``plan``. A failed step is not raised:
    ``PlanRun.status`` says ``failed`` and which step it was. Raises ``OpsError`` only when
    another plan is running on this state directory."""
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
    with _one_plan_at_a_time(store):
        return _execute(plan, run, notify, cfg, store, poller, runner)


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
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o640)
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
             poller: Poller | None, runner: Any) -> PlanRun:
    from opsctl.core.journal import ChangeRecord, recorded_change

    started = time.monotonic()
    duty = _DutyLog(store, cfg)
    duty.write(f"power {plan.kind} plan '{plan.name}' started ({len(plan.steps)} steps)",
               severity="major" if plan.kind == "shutdown" else None, details=plan.to_dict())
    rec = ChangeRecord(domain="power", action=f"{plan.kind}-plan", target=plan.name,
                       reason=plan.description, before={"plan": plan.to_dict()})
    try:
        with recorded_change(store, rec):
            run.change_id = rec.id
            stopped = False
            for step in plan.steps:
                if stopped:
                    res = StepResult(step.index, step.name, step.where, "skipped",
                                     "not run: an earlier step failed")
                    run.steps.append(res)
                    notify("skipped", step, res)
                    continue
                notify("start", step, None)
                res = _run_recorded_step(step, plan, store, cfg, poller, runner)
                run.steps.append(res)
                notify("done", step, res)
                duty.write(f"power {plan.kind} plan '{plan.name}' step {step.index} "
                           f"'{step.name}': {res.status}"
                           + (f" — {res.message}" if res.message else ""),
                           severity="major" if res.status == "failed" else None,
                           details=res.to_dict())
                if res.status == "failed" and not step.continue_on_error:
                    stopped = True
            rec.commands = [s.command for s in run.steps if s.command]
            rec.after = {"steps": [s.to_dict() for s in run.steps]}
            run.status = "failed" if any(s.status == "failed" for s in run.steps) else "ok"
            if run.status == "failed":
                bad = run.failed_step
                raise PlanFailed(f"{plan.kind} plan {plan.name!r} failed at step "
                                 f"{bad.index} {bad.name!r}: {bad.message}")
    except PlanFailed:
        pass
    finally:
        run.duration = time.monotonic() - started
    summary = "; ".join(f"{s.index}. {s.name}: {s.status}" for s in run.steps)
    duty.write(f"power {plan.kind} plan '{plan.name}' finished {run.status.upper()} in "
               f"{run.duration:.0f}s ({summary})",
               severity="major" if run.status == "failed" else None,
               details={"change_id": run.change_id, "status": run.status})
    return run


def _run_recorded_step(step: Step, plan: Plan, store: Any, cfg: Any, poller: Poller | None,
                       runner: Any) -> StepResult:
    from opsctl.core.journal import ChangeRecord, recorded_change

    rec = ChangeRecord(domain="power", action="plan-step",
                       target=f"{plan.name}#{step.index} {step.name}",
                       reason=f"{plan.kind} plan {plan.name}", before=step.to_dict())
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

    def __init__(self, store: Any, cfg: Any = None):
        self.store = store
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
                         source="power", details=details, cfg=self.cfg)
        except Exception as exc:  # noqa: BLE001 - the shutdown matters more than the log line
            log.warning("could not write the duty log: %s", exc)
