"""What a run produces: one ItemResult per profile item, one InspectionRecord per run."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from opsctl.core.errors import Status


@dataclass
class ItemResult:
    seq: int
    item_id: str
    kind: str                       # "check" or "manual"
    status: Status
    message: str
    title: str | None = None
    check: str | None = None
    target: str | None = None       # remote host name for items with host:
    value: Any = None
    answer: Any = None
    note: str | None = None
    skipped: bool = False           # a manual item nobody answered
    duration: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "id": self.item_id, "kind": self.kind,
                "check": self.check, "title": self.title, "target": self.target,
                "status": self.status.name, "value": self.value, "message": self.message,
                "answer": self.answer, "note": self.note, "skipped": self.skipped,
                "duration": None if self.duration is None else round(self.duration, 3),
                "details": self.details}


@dataclass
class InspectionRecord:
    profile: str
    inspector: str
    host: str
    started_at: dt.datetime
    finished_at: dt.datetime
    status: Status
    items: list[ItemResult]
    source: str = "cli"
    problems: list[str] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)
    id: int | None = None
    stored_counts: dict[str, int] | None = None  # read back without the items

    @property
    def counts(self) -> dict[str, int]:
        if self.stored_counts is not None and not self.items:
            return dict(self.stored_counts)
        out = {s.name: 0 for s in Status}
        for it in self.items:
            out[it.status.name] += 1
        return out

    @property
    def walked(self) -> bool:
        """Whether a person did this run: a profile with questions needs at least one
        answered. A timer or daemon run with every question "not answered" checked the
        machines, but nobody walked the room, so it is no patrol (SPEC §5)."""
        manual = [it for it in self.items if it.kind == "manual"]
        return not manual or any(not it.skipped for it in manual)

    @property
    def failing(self) -> list[ItemResult]:
        return [it for it in self.items if it.status in (Status.WARNING, Status.CRITICAL)]

    def to_dict(self, *, details: bool = True) -> dict[str, Any]:
        d = {"id": self.id, "profile": self.profile, "inspector": self.inspector,
             "host": self.host, "source": self.source,
             "started_at": self.started_at.isoformat(timespec="seconds"),
             "finished_at": self.finished_at.isoformat(timespec="seconds"),
             "duration": round((self.finished_at - self.started_at).total_seconds(), 3),
             "status": self.status.name, "counts": self.counts, "problems": self.problems,
             "followups": self.followups}
        if details:
            d["items"] = [it.to_dict() for it in self.items]
        return d
