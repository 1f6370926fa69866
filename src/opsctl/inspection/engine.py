"""Running a profile: automatic checks concurrently (each with its own time budget),
manual items from answers or the inspector, then one append-only record and follow-ups.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from opsctl.core.errors import NotFoundError, OpsError, Status, worst
from opsctl.core.i18n import _
from opsctl.inspection.answers import Answer, AnswerSet, display, grade, match_answers
from opsctl.inspection.model import InspectionRecord, ItemResult

log = logging.getLogger("opsctl.inspection")

ProgressFn = Callable[[ItemResult, int, int], None]


def _is_manual(item) -> bool:
    from opsctl.core.config.inspection import ManualItem

    return isinstance(item, ManualItem)


def _run_check(cfg, store, item, seq: int, started: dict[int, float]) -> ItemResult:
    """One automatic check; never raises (a broken check is UNKNOWN, not a lost run)."""
    from opsctl.inspection import registry
    from opsctl.inspection.checks.base import CheckResult, ParamError
    from opsctl.inspection.context import CheckContext, RemoteRunner, local_runner

    started[seq] = time.monotonic()
    t0 = started[seq]
    res: CheckResult
    timeout = cfg.inspection.check_timeout
    try:
        cls = registry.get(item.check)
        params = cls.resolve(item.params)
        timeout = params.get("timeout") or timeout
        if item.host:
            host_cfg = cfg.host(item.host)
            runner: Any = RemoteRunner(host_cfg, default_timeout=timeout)
        else:
            runner = local_runner(timeout)
        ctx = CheckContext(cfg=cfg, store=store, runner=runner, item_id=item.id,
                           timeout=timeout, host=item.host)
        res = cls().run(ctx, params)
    except (ParamError, NotFoundError) as exc:
        res = CheckResult.unknown(f"bad item: {exc}")
    except OpsError as exc:
        res = CheckResult.unknown(str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug in one check must not lose the run
        log.exception("check %s (%s) failed", item.id, item.check)
        res = CheckResult.unknown(f"check failed: {type(exc).__name__}: {exc}")
    return ItemResult(seq=seq, item_id=item.id, kind="check", status=res.status,
                      message=res.message, title=item.title or item.check, check=item.check,
                      target=item.host, value=res.value, duration=time.monotonic() - t0,
                      details=res.details)


class _Workers:
    """Daemon worker threads running the checks, at most ``inspection.concurrency`` at a
    time. Daemon threads, unlike a ThreadPoolExecutor's, never keep the process alive
    when a check hangs (a dead NFS mount in statvfs, say)."""

    def __init__(self, cfg, store, checks: list, started: dict[int, float]):
        self.cfg, self.store, self.started = cfg, store, started
        self.todo: queue.Queue = queue.Queue()
        self.out: queue.Queue = queue.Queue()
        self.stopped = False
        for seq, it in checks:
            self.todo.put((seq, it))
        self.n = max(1, min(cfg.inspection.concurrency, len(checks)))
        for _n in range(self.n if checks else 0):
            self._spawn()

    def _spawn(self) -> None:
        threading.Thread(target=self._loop, name="inspect-check", daemon=True).start()

    def _loop(self) -> None:
        while not self.stopped:
            try:
                seq, it = self.todo.get_nowait()
            except queue.Empty:
                return
            self.out.put(_run_check(self.cfg, self.store, it, seq, self.started))

    def replace_stuck(self) -> None:
        """A timed-out check still occupies its thread: start another for the queue."""
        if not self.todo.empty():
            self._spawn()

    def results(self, timeout: float) -> list[ItemResult]:
        got = []
        try:
            got.append(self.out.get(timeout=timeout))
            while True:
                got.append(self.out.get_nowait())
        except queue.Empty:
            pass
        return got

    def stop(self) -> None:
        self.stopped = True


def _timeout_for(cfg, item) -> float:
    raw = item.params.get("timeout") if isinstance(item.params, dict) else None
    if isinstance(raw, int | float) and not isinstance(raw, bool) and raw > 0:
        return float(raw)
    return cfg.inspection.check_timeout


def previous_answers(store, profile_name: str) -> dict[str, dict[str, Any]]:
    """Each manual item's answer in the last run of the profile that answered it."""
    import sqlalchemy as sa

    from opsctl.inspection.schema import items, runs

    out: dict[str, dict[str, Any]] = {}
    with store.read() as conn:
        q = (sa.select(items.c.item_id, items.c.answer, items.c.note, runs.c.started_at)
             .join(runs, runs.c.id == items.c.run_id)
             .where(runs.c.profile == profile_name, items.c.kind == "manual",
                    items.c.skipped.is_(False))
             .order_by(runs.c.started_ts.desc()).limit(500))
        for row in conn.execute(q):
            if row.item_id not in out:
                out[row.item_id] = {"answer": row.answer, "note": row.note,
                                    "when": row.started_at[:16].replace("T", " ")}
    return out


def _manual_result(item, seq: int, answer: Answer | None, invalid: str | None) -> ItemResult:
    base = dict(seq=seq, item_id=item.id, kind="manual", title=item.question)
    if invalid is not None:
        return ItemResult(status=Status.UNKNOWN, message=f"invalid answer: {invalid}",
                          skipped=True, **base)
    if answer is None or answer.value is None:
        note = answer.note if answer else None
        if not item.required:
            return ItemResult(status=Status.OK, message=_("not answered (optional item)"),
                              skipped=True, note=note, **base)
        return ItemResult(status=Status.UNKNOWN, message=_("not answered (skipped)"),
                          skipped=True, note=note, **base)
    status, message = grade(item, answer.value)
    return ItemResult(status=status, message=message, value=display(answer.value),
                      answer=answer.value, note=answer.note, **base)


def _now_ms() -> dt.datetime:
    # Records keep milliseconds; the in-memory record must equal what is read back.
    now = dt.datetime.now().astimezone()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def run_profile(cfg, store, profile, inspector: str, answers: dict | AnswerSet | None = None,
                interactive: bool = False, *, prompter=None, progress: ProgressFn | None = None,
                source: str = "cli", followups: bool = True,
                save: Callable[[InspectionRecord], None] | None = None) -> InspectionRecord:
    """Run ``profile`` (a name or a profile object) and store its record.

    ``answers``: a raw mapping (as read from an answers file) or a matched AnswerSet.
    ``interactive``: ask the inspector (``prompter``, default the terminal) for manual
    items the answers do not cover. Unanswered required items are UNKNOWN, never passed.
    ``save``: stores the finished record instead of the store's own save and follow-ups
    (the daemon: into the store with its write id, or into its spool during an outage).
    """
    if isinstance(profile, str):
        profile = cfg.profile(profile)
    aset = answers if isinstance(answers, AnswerSet) else match_answers(profile, answers)
    started_at = _now_ms()
    items = list(enumerate(profile.items, 1))
    checks = [(seq, it) for seq, it in items if not _is_manual(it)]
    manual = [(seq, it) for seq, it in items if _is_manual(it)]
    results: dict[int, ItemResult] = {}
    total = len(items)
    done = 0

    started: dict[int, float] = {}
    workers = _Workers(cfg, store, checks, started)
    try:
        # Manual items while the checks run: the inspector answers, the machine measures.
        if interactive and manual:
            from opsctl.inspection.prompt import TtyPrompter

            prompter = prompter or TtyPrompter()
            prev = previous_answers(store, profile.name)
            todo = [(seq, it) for seq, it in manual if it.id not in aset.answers]
            if todo:
                prompter.intro(profile, len(todo))
            for n, (_seq, it) in enumerate(todo, 1):
                ans = prompter.ask(it, n, len(todo), prev.get(it.id))
                if ans is not None:
                    aset.answers[it.id] = ans
                    aset.invalid.pop(it.id, None)
        for seq, it in manual:
            results[seq] = _manual_result(it, seq, aset.answers.get(it.id),
                                          aset.invalid.get(it.id))
            done += 1
            if progress:
                progress(results[seq], done, total)
        pending = {seq: it for seq, it in checks}
        while pending:
            for res in workers.results(timeout=0.05):
                if res.seq in pending:
                    del pending[res.seq]
                    results[res.seq] = res
                    done += 1
                    if progress:
                        progress(res, done, total)
            now = time.monotonic()
            for seq, it in list(pending.items()):
                budget = _timeout_for(cfg, it)
                if seq in started and now - started[seq] > budget + 0.5:
                    # The thread is abandoned (a daemon thread: it cannot hold up exit);
                    # its tool calls carry their own timeouts.
                    del pending[seq]
                    results[seq] = ItemResult(
                        seq=seq, item_id=it.id, kind="check", status=Status.UNKNOWN,
                        message=f"timed out after {budget:g} s", title=it.title or it.check,
                        check=it.check, target=it.host, duration=now - started[seq])
                    done += 1
                    workers.replace_stuck()
                    if progress:
                        progress(results[seq], done, total)
    finally:
        workers.stop()
    finished_at = _now_ms()
    ordered = [results[seq] for seq, _ in items]
    record = InspectionRecord(
        profile=profile.name, inspector=inspector, host=socket.gethostname(),
        started_at=started_at, finished_at=finished_at,
        status=worst(r.status for r in ordered), items=ordered, source=source,
        problems=list(aset.problems))
    from opsctl.core.interrupt import critical
    from opsctl.inspection import records

    with critical():  # Ctrl-C: the record and its follow-ups, or nothing
        if save is not None:
            save(record)
        else:
            records.save(store, record)
            if followups:
                open_followups(cfg, store, record)
    return record


def open_followups(cfg, store, record: InspectionRecord,
                   details: dict[str, Any] | None = None) -> None:
    """One pending duty-log entry per failing item, so the handover carries it.

    A check still failing while the item an earlier run opened is open does not open
    another one (8 items in 4 minutes helps nobody): this run is counted against the
    open item instead (``repeat``, ``count`` = runs that saw it, ``first_seen``).
    ``details``: added to each new entry's (a spooled run: when it happened)."""
    failing = record.failing
    if not failing:
        return
    try:
        from opsctl.handover.api import item_open, record_event
    except ImportError as exc:
        log.warning("no follow-ups opened: duty log unavailable (%s)", exc)
        record.problems.append(f"follow-ups not opened: duty log unavailable ({exc})")
        return
    from opsctl.inspection import records

    for it in failing:
        prev = records.last_followup(store, record.profile, it.item_id)
        if prev is not None and item_open(store, prev):
            count, first_seen, _last = records.followup_sightings(store, prev)
            if first_seen:
                first_seen = dt.datetime.fromisoformat(first_seen).isoformat()
            record.followups.append({
                "item_id": it.item_id, "seq": prev, "repeat": True, "count": count + 1,
                "first_seen": first_seen, "last_seen": record.finished_at.isoformat()})
            continue
        crit = it.status == Status.CRITICAL
        # Stored in the site language of this moment and never translated again: the
        # stored text is the record (opsctl.core.i18n).
        where = _(" on {target}").format(target=it.target) if it.target else ""
        text = (_("Inspection #{id} ({profile}, {inspector}): {item}{where} {status}: "
                  "{message}").format(id=record.id, profile=record.profile,
                                      inspector=record.inspector, item=it.item_id,
                                      where=where, status=it.status.name, message=it.message)
                + (_(" — note: {note}").format(note=it.note) if it.note else ""))
        entry: dict[str, Any] = {"item_id": it.item_id}
        try:
            entry["seq"] = record_event(
                store, category="incident" if crit else "patrol", text=text,
                severity="major" if crit else "minor", source="inspection", pending=True,
                author=record.inspector, cfg=cfg,
                details={"inspection_id": record.id, "profile": record.profile,
                         "item": it.item_id, "status": it.status.name, "value": it.value,
                         **(details or {})})
        except Exception as exc:  # noqa: BLE001 - the record stands even if the log fails
            log.warning("follow-up for %s not opened: %s", it.item_id, exc)
            entry["error"] = str(exc)
        record.followups.append(entry)
    records.save_followups(store, record)

