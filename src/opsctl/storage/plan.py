"""A plan: an ordered list of typed actions, printed before and executed after.

Executing stops at the first failure and undoes, in reverse order, what the plan had
already done, so a multi-step operation either completes or leaves the system as it
was. Every execution is a change record with before/after snapshots.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsctl.core import interrupt
from opsctl.core.errors import OpsError
from opsctl.storage.actions import Action, EditFile, ExecContext

MAX_OUTPUT = 4000


@dataclass
class Plan:
    title: str
    target: str | None = None
    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Read back after execution (sizes, states) and reported to the user.
    readback: Callable[[ExecContext], dict[str, Any]] | None = None

    def add(self, action: Action) -> Action:
        self.actions.append(action)
        return action

    @property
    def empty(self) -> bool:
        return not self.actions

    @property
    def destructive(self) -> bool:
        return any(a.destructive for a in self.actions)

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "target": self.target, "changes": not self.empty,
                "notes": self.notes, "actions": [a.to_dict() for a in self.actions]}

    def render_lines(self) -> list[str]:
        if self.empty:
            return ["no changes"]
        lines = []
        for i, a in enumerate(self.actions, 1):
            lines.append(f"{i:>2}. {a.summary}")
            for c in a.commands():
                lines.append(f"      $ {c}" if not c.startswith(("edit ", "  ")) else f"      {c}")
        return lines


def _trim(s: str) -> str:
    return s if len(s) <= MAX_OUTPUT else s[:MAX_OUTPUT] + f"... ({len(s)} chars)"


def file_snapshot(paths: list[Path]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for p in paths:
        try:
            out[str(p)] = Path(p).read_text()
        except OSError:
            out[str(p)] = None
    return out


def state_snapshot(ctx: ExecContext, files: list[Path], snap=None) -> dict[str, Any]:
    from opsctl.storage.probe import snapshot

    try:
        state = (snap if snap is not None else snapshot(ctx.runner)).to_dict()
    except OpsError as exc:
        state = {"error": str(exc)}
    return {"files": file_snapshot(files), "state": state}


def execute(plan: Plan, ctx: ExecContext, *, store, files: list[Path], action: str,
            reason: str | None = None, detail: dict[str, Any] | None = None,
            before=None, cfg=None) -> dict[str, Any]:
    """Run ``plan`` as one recorded change; returns the read-back facts.

    ``before`` is the probe the plan was made from (saves probing twice; on the slow
    machines LVM takes half a second per call)."""
    from opsctl.core.journal import ChangeRecord, now_iso, recorded_change
    from opsctl.storage.schema import storage_ops

    rec = ChangeRecord(domain="storage", action=action, target=plan.target, reason=reason,
                       detail=dict(detail or {}))
    if cfg is not None:
        from opsctl.core.identity import person_for_user

        me = person_for_user(cfg)
        if me is not None:          # the person, not the login, is who did it
            rec.actor = me.name
    rec.before = state_snapshot(ctx, files, before)
    rec.detail["plan"] = [a.to_dict() for a in plan.actions]
    start = len(ctx.runner.history)
    done: list[Action] = []
    result: dict[str, Any] = {}
    try:
        # Ctrl-C raises KeyboardInterrupt in here, as Python's default does, so the steps
        # done are undone and recorded (elsewhere the CLI stops at once: core.interrupt).
        with interrupt.raising(), recorded_change(store, rec):
            with store.write() as conn:
                op_id = conn.execute(storage_ops.insert().values(
                    change_id=rec.id, action=action, target=plan.target,
                    host=socket.gethostname(), pid=os.getpid(), started_at=now_iso(),
                )).inserted_primary_key[0]
            try:
                for i, a in enumerate(plan.actions, 1):
                    ctx.info(f"[{i}/{len(plan.actions)}] {a.summary}")
                    try:
                        a.execute(ctx)
                    except BaseException as exc:
                        rec.detail["failed_step"] = a.summary
                        # A failed command undid nothing itself (its undo could hit a device it
                        # refused); a file edit that failed validation must be put back.
                        undo_errors = _undo(done + ([a] if isinstance(a, EditFile) else []), ctx)
                        rec.detail["rolled_back"] = True
                        rec.detail["undo_errors"] = undo_errors
                        msg = f"step {i} ({a.summary}) failed: {exc}"
                        if done:
                            msg += f"; undid the {len(done)} step(s) before it"
                        if undo_errors:
                            msg += f"; undo problems: {'; '.join(undo_errors)}"
                        if isinstance(exc, KeyboardInterrupt):
                            raise
                        raise OpsError(msg, hint=getattr(exc, "hint", None)) from exc
                    done.append(a)
                if plan.readback is not None:
                    result = plan.readback(ctx)
                    rec.detail["readback"] = result
            finally:
                rec.commands = [_cmd_dict(r) for r in ctx.runner.history[start:]]
                rec.after = state_snapshot(ctx, files)
                with store.write() as conn:
                    conn.execute(storage_ops.update().where(storage_ops.c.id == op_id)
                                 .values(finished_at=now_iso()))
    finally:
        _duty_log(store, rec, plan, cfg)
    return result


def _undo(actions: list[Action], ctx: ExecContext) -> list[str]:
    errors = []
    for a in reversed(actions):
        if not a.undo_argv and type(a).undo is Action.undo:
            continue
        ctx.warn(f"undo: {a.summary}")
        try:
            a.undo(ctx)
        except Exception as exc:  # noqa: BLE001 - keep undoing the rest
            errors.append(f"{a.summary}: {exc}")
    return errors


def _cmd_dict(r) -> dict[str, Any]:
    d = r.to_dict()
    d["stdout"] = _trim(d["stdout"])
    d["stderr"] = _trim(d["stderr"])
    return d


def _duty_log(store, rec, plan: Plan, cfg=None) -> None:
    """Mirror the change into the duty log when the handover domain is installed."""
    try:
        from opsctl.handover.api import record_event
    except ImportError:
        return
    status = "failed (rolled back)" if rec.detail.get("rolled_back") else (
        "failed" if rec.detail.get("error") else "done")
    text = f"storage {rec.action} {plan.target or ''}: {status}".replace("  ", " ")
    try:
        record_event(store, category="change", text=text, source="storage",
                     author=rec.actor, cfg=cfg,
                     details={"change_id": rec.id, "status": rec.detail.get("error") or "ok",
                              "steps": [a.summary for a in plan.actions]})
    except Exception as exc:  # noqa: BLE001 - the change itself is recorded; the log is a mirror
        import logging

        logging.getLogger("opsctl.storage").warning("duty log entry not written: %s", exc)
