"""The monthly roster: generation from a pattern, checks, approval, requests, who's on.

A roster is a list of *slots* (one shift on one day for one post, with its people and
lead). The generated slots are stored once per month and never edited: approved leave
and swap requests are applied on top to give the effective roster, so every change to
who works when is a recorded, approved request.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from opsctl.core.errors import ConfigError, NotFoundError, SafetyError, UsageError
from opsctl.core.i18n import N_, _
from opsctl.handover import chain
from opsctl.handover.chain import NewEntry
from opsctl.handover.people import acting_person, person, require_role
from opsctl.handover.schema import duty_request, duty_roster
from opsctl.handover.timeutil import UTC, parse_month, site_tz

PATTERNS = ("two-shift", "3+2", "custom")
POSITIONS = "ABCDE"

# Request states as the duty-log text shows them (the record keeps these).
_STATES = (N_("approved"), N_("rejected"))


def month_key(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def month_days(year: int, month: int) -> list[dt.date]:
    first = dt.date(year, month, 1)
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return [first + dt.timedelta(days=i) for i in range((nxt - first).days)]


def month_window(cfg, year: int, month: int) -> tuple[dt.datetime, dt.datetime]:
    tz = site_tz(cfg)
    days = month_days(year, month)
    return (dt.datetime.combine(days[0], dt.time(0), tzinfo=tz),
            dt.datetime.combine(days[-1] + dt.timedelta(days=1), dt.time(0), tzinfo=tz))


def next_month(day: dt.date) -> tuple[int, int]:
    return (day.year + (day.month == 12), day.month % 12 + 1)


# -- generation -------------------------------------------------------------------------
def _shift_times(cfg, day: dt.date, sdef) -> tuple[dt.datetime, dt.datetime]:
    tz = site_tz(cfg)
    h1, m1 = map(int, sdef.start.split(":"))
    h2, m2 = map(int, sdef.end.split(":"))
    start = dt.datetime.combine(day, dt.time(h1, m1), tzinfo=tz)
    end_day = day if (h2, m2) > (h1, m1) else day + dt.timedelta(days=1)
    return start, dt.datetime.combine(end_day, dt.time(h2, m2), tzinfo=tz)


def shift_hours(cfg, sdef, day: dt.date) -> float:
    s, e = _shift_times(cfg, day, sdef)
    return (e.astimezone(UTC) - s.astimezone(UTC)).total_seconds() / 3600


def nominal_hours(sdef) -> float:
    h1, m1 = map(int, sdef.start.split(":"))
    h2, m2 = map(int, sdef.end.split(":"))
    minutes = (h2 * 60 + m2) - (h1 * 60 + m1)
    return (minutes if minutes > 0 else minutes + 24 * 60) / 60


def _teams(cfg) -> list[tuple[str, list[str]]]:
    teams = list(cfg.duty.roster.teams.items())
    for name, members in teams:
        for i, who in enumerate(members):
            if not any(p.name == who for p in cfg.people):
                raise ConfigError(cfg.where(("duty", "roster", "teams", name, i))
                                  + f": unknown person {who!r}")
    return teams


def _crews(cfg, members: list[str], n: int) -> list[list[str]]:
    """Split a team into n crews, dealing the leads out first so each crew gets one."""
    leads = [m for m in members if cfg.person(m).lead]
    others = [m for m in members if not cfg.person(m).lead]
    crews: list[list[str]] = [[] for _ in range(n)]
    for i, m in enumerate(leads + others):
        crews[i % n].append(m)
    return crews


def _day_plan(cfg, pattern: str, day: dt.date) -> list[tuple[Any, str, list[str]]]:
    """(shift definition, team label, people) staffed on ``day`` by the pattern."""
    r = cfg.duty.roster
    shifts = r.shifts
    if not shifts:
        raise ConfigError(cfg.where(("duty", "roster", "shifts")) + ": no shifts defined")
    teams = _teams(cfg)
    n = (day - dt.date.fromisoformat(r.anchor_date)).days
    plan: list[tuple[Any, str, list[str]]] = []
    if pattern == "two-shift":
        if len(teams) < 2:
            raise ConfigError(cfg.where(("duty", "roster", "teams"))
                              + ": the two-shift pattern needs two teams")
        name, members = teams[(n // 4) % 2]  # 4 days on, 4 off
        crews = _crews(cfg, members, len(shifts))
        block = n // 8  # crews move to the next shift each cycle, never mid-block
        for i, sdef in enumerate(shifts):
            plan.append((sdef, name, crews[(i + block) % len(shifts)]))
    elif pattern == "3+2":
        if len(teams) < 3:
            raise ConfigError(cfg.where(("duty", "roster", "teams"))
                              + ": the 3+2 pattern needs teams A, B, C (and D, E)")
        groups = teams[:5]
        if r.role_rotation_days and len(groups) == 5:
            # Every N days each team moves on one position; 5 positions = the 5-month cycle.
            p = (n // r.role_rotation_days) % 5
            groups = [groups[(k - p) % 5] for k in range(5)]
        name, members = groups[(n % 6) // 2]  # A, B, C: 2 days on, 4 off
        crews = _crews(cfg, members, len(shifts))
        cycle = n // 6
        for i, sdef in enumerate(shifts):
            plan.append((sdef, name, crews[(i + cycle) % len(shifts)]))
        day_def = _day_shift(cfg)
        wd = day.weekday()  # Monday 0 … Sunday 6
        for pos, works in ((3, wd <= 5), (4, wd != 5)):  # D Mon–Sat, E Sun–Fri
            if pos < len(groups) and works:
                plan.append((day_def, groups[pos][0], list(groups[pos][1])))
    elif pattern == "custom":
        if not r.rotation:
            raise ConfigError(cfg.where(("duty", "roster", "rotation"))
                              + ": the custom pattern needs a rotation list")
        by_name = {s.name: s for s in shifts}
        for i, w in enumerate(r.rotation):
            if w != "off" and w not in by_name:
                raise ConfigError(cfg.where(("duty", "roster", "rotation", i))
                                  + f": unknown shift {w!r} (known: {', '.join(by_name)})")
        length = len(r.rotation)
        for t, (name, members) in enumerate(teams):
            w = r.rotation[(n + t * length // len(teams)) % length]
            if w != "off":
                plan.append((by_name[w], name, list(members)))
    else:
        raise UsageError(f"unknown pattern {pattern!r}: expected " + ", ".join(PATTERNS))
    return plan


def _day_shift(cfg):
    r = cfg.duty.roster
    want = r.day_shift or "day"
    for s in r.shifts:
        if s.name == want:
            return s
    if r.day_shift:
        raise ConfigError(cfg.where(("duty", "roster", "day_shift"))
                          + f": unknown shift {r.day_shift!r}")
    return r.shifts[0]


def generate_slots(cfg, year: int, month: int, pattern: str) -> list[dict]:
    lo, hi = month_window(cfg, year, month)
    days = month_days(year, month)
    slots: dict[tuple[str, str], dict] = {}
    # The day before too: its night shift may run into the first hours of the month.
    for day in [days[0] - dt.timedelta(days=1), *days]:
        for sdef, team, people in _day_plan(cfg, pattern, day):
            start, end = _shift_times(cfg, day, sdef)
            if end <= lo or start >= hi:
                continue
            key = (str(day), sdef.name)
            slot = slots.get(key)
            if slot is None:
                slot = slots[key] = {
                    "date": str(day), "shift": sdef.name, "post": sdef.post,
                    "kind": sdef.kind, "staff": sdef.staff, "start": start.isoformat(),
                    "end": end.isoformat(), "hours": round(shift_hours(cfg, sdef, day), 2),
                    "teams": [], "people": []}
            slot["teams"].append(team)
            slot["people"].extend(p for p in people if p not in slot["people"])
    out = sorted(slots.values(), key=lambda s: (s["start"], s["shift"]))
    for s in out:
        s["lead"] = _lead(cfg, s["people"])
    return out


def _lead(cfg, people: list[str]) -> str | None:
    for p in people:
        if any(x.name == p and x.lead for x in cfg.people):
            return p
    return None


# -- stored rosters and requests --------------------------------------------------------
@dataclass
class Roster:
    month: str
    pattern: str
    generated_at: str
    generated_by: str
    slots: list[dict]
    approved_by: str | None
    approved_at: str | None
    requests: list[dict]

    @property
    def approved(self) -> bool:
        return self.approved_by is not None

    def to_dict(self) -> dict[str, Any]:
        return {"month": self.month, "pattern": self.pattern,
                "generated_at": self.generated_at, "generated_by": self.generated_by,
                "approved_by": self.approved_by, "approved_at": self.approved_at,
                "requests_applied": [r["id"] for r in self.requests], "slots": self.slots}


def _digest(slots: list[dict]) -> str:
    return hashlib.sha256(json.dumps(slots, sort_keys=True).encode()).hexdigest()


def _log(cfg, store, text: str, author: str, details: dict) -> int:
    key = chain.bind_config(cfg, store)
    with store.write() as conn:
        return chain.append(conn, NewEntry(text=text, category="note", kind="roster",
                                           author=author, source="roster",
                                           details=details), key)


def generate(cfg, store, month: str, pattern: str | None = None, *,
             by: str | None = None) -> Roster:
    year, mon = parse_month(month)
    pattern = pattern or cfg.duty.roster.pattern
    if pattern not in PATTERNS:
        raise UsageError(f"unknown pattern {pattern!r}: expected " + ", ".join(PATTERNS))
    key = month_key(year, mon)
    existing = _load_row(store, key)
    if existing is not None and existing.approved_by:
        raise SafetyError(f"the roster for {key} was approved by {existing.approved_by}; "
                          "it changes only through leave and swap requests")
    slots = generate_slots(cfg, year, mon, pattern)
    author = acting_person(cfg, by)
    now = chain.now_utc()
    with store.write() as conn:
        conn.execute(duty_roster.delete().where(duty_roster.c.month == key))
        conn.execute(duty_roster.insert().values(
            month=key, pattern=pattern, generated_at=now, generated_by=author, slots=slots))
    _log(cfg, store, _("roster {month} generated ({pattern}, {n} shifts)").format(
             month=key, pattern=pattern, n=len(slots)), author,
         {"month": key, "pattern": pattern, "slots_sha256": _digest(slots)})
    return load(cfg, store, key)


def _load_row(store, key: str):
    with store.read() as conn:
        return conn.execute(sa.select(duty_roster).where(duty_roster.c.month == key)).first()


def latest_draft(store) -> str | None:
    """The month of the most recently generated roster still awaiting approval, if any:
    what a bare ``roster check`` means right after ``roster generate``."""
    with store.read() as conn:
        return conn.execute(sa.select(duty_roster.c.month)
                            .where(duty_roster.c.approved_by.is_(None))
                            .order_by(duty_roster.c.generated_at.desc(),
                                      duty_roster.c.month.desc())
                            .limit(1)).scalar()


def _approved_requests(store) -> list[dict]:
    with store.read() as conn:
        rows = conn.execute(sa.select(duty_request).where(duty_request.c.status == "approved")
                            .order_by(duty_request.c.id))
        return [dict(r._mapping) for r in rows]


def load(cfg, store, month: str) -> Roster:
    """The effective roster of a month: generated slots plus approved requests."""
    year, mon = parse_month(month)
    key = month_key(year, mon)
    row = _load_row(store, key)
    if row is None:
        raise NotFoundError(f"no roster for {key}",
                            hint=f"generate it: opsctl duty roster generate --month {key}")
    slots = [dict(s, people=list(s["people"])) for s in row.slots]
    applied = []
    for req in _approved_requests(store):
        if _apply(cfg, slots, req):
            applied.append(req)
    for s in slots:
        s["lead"] = _lead(cfg, s["people"])
    return Roster(key, row.pattern, row.generated_at, row.generated_by, slots,
                  row.approved_by, row.approved_at, applied)


def _apply(cfg, slots: list[dict], req: dict) -> bool:
    lo, hi = req["start_date"], req["end_date"]
    hit = False
    for s in slots:
        if not (lo <= s["date"] <= hi):
            continue
        people = s["people"]
        if req["kind"] == "leave" and req["person"] in people:
            i = people.index(req["person"])
            if req["other"] and req["other"] not in people:
                people[i] = req["other"]
            else:
                people.pop(i)
            hit = True
        elif req["kind"] == "swap":
            a, b = req["person"], req["other"]
            if a in people or b in people:
                s["people"] = [b if p == a else a if p == b else p for p in people]
                hit = True
    return hit


def approve(cfg, store, month: str, *, by: str | None) -> Roster:
    who = require_role(cfg, by, "supervisor", "approve a roster")
    r = load(cfg, store, month)
    if r.approved:
        raise UsageError(f"the roster for {r.month} was already approved by {r.approved_by}")
    result = check(cfg, r)
    if not result.ok:
        first = result.errors[0]["message"]
        raise SafetyError(f"the roster for {r.month} fails its check "
                          f"({len(result.errors)} problem(s), first: {first})",
                          hint=f"opsctl duty roster check --month {r.month}")
    from opsctl.handover import signatures

    digest = _digest(_load_row(store, r.month).slots)
    signature = signatures.sign(cfg, who, "roster approval",
                                {"month": r.month, "slots_sha256": digest})
    now = chain.now_utc()
    with store.write() as conn:
        conn.execute(duty_roster.update().where(duty_roster.c.month == r.month,
                                                duty_roster.c.approved_by.is_(None))
                     .values(approved_by=who, approved_at=now))
    _log(cfg, store, _("roster {month} approved by {who}").format(month=r.month, who=who), who,
         {"month": r.month, "slots_sha256": digest, "signature": signature})
    return load(cfg, store, r.month)


# -- checks -----------------------------------------------------------------------------
@dataclass
class CheckResult:
    month: str
    errors: list[dict]
    hours: dict[str, float]
    shifts: int

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {"month": self.month, "ok": self.ok, "shifts": self.shifts,
                "problems": self.errors, "hours": self.hours}


def _t(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s).astimezone(UTC)


def check(cfg, roster: Roster) -> CheckResult:
    r = cfg.duty.roster
    year, mon = parse_month(roster.month)
    lo, hi = (t.astimezone(UTC) for t in month_window(cfg, year, mon))
    errors: list[dict] = []

    def problem(kind: str, msg: str, day: str | None = None) -> None:
        errors.append({"kind": kind, "date": day, "message": msg})

    for sdef in r.shifts:
        # Nominal (wall-clock) length: a night across a DST change is 7 or 9 h by nature.
        h = nominal_hours(sdef)
        if h > r.max_shift_hours:
            problem("long-shift", f"shift {sdef.name} lasts {h:g} h (max {r.max_shift_hours:g})")
    hours: dict[str, float] = {}
    busy: dict[str, list[tuple[dt.datetime, dt.datetime, str]]] = {}
    for s in roster.slots:
        start, end = _t(s["start"]), _t(s["end"])
        if len(s["people"]) < s["staff"]:
            problem("understaffed", f"{s['date']} {s['shift']}: {len(s['people'])} of "
                                    f"{s['staff']} people", s["date"])
        if s["kind"] == "on-site" and not s["lead"]:
            problem("no-lead", f"{s['date']} {s['shift']}: no lead on the shift", s["date"])
        inside = (min(end, hi) - max(start, lo)).total_seconds() / 3600
        for p in s["people"]:
            hours[p] = round(hours.get(p, 0.0) + max(inside, 0.0), 2)
            busy.setdefault(p, []).append((start, end, f"{s['date']} {s['shift']}"))
    for post in r.staffed_posts:
        onsite = sorted((_t(s["start"]), _t(s["end"]), s) for s in roster.slots
                        if s["post"] == post and s["kind"] == "on-site" and s["people"])
        cursor, prev = lo, None
        for start, end, s in onsite:
            if start > cursor and cursor < hi:
                problem("gap", f"post {post}: nobody on duty from {_local(cfg, cursor)} to "
                               f"{_local(cfg, min(start, hi))}", s["date"])
            elif prev is not None and start < prev[1]:
                problem("overlap", f"post {post}: {s['date']} {s['shift']} overlaps "
                                   f"{prev[2]['date']} {prev[2]['shift']}", s["date"])
            if end > cursor:
                cursor, prev = end, (start, end, s)
        if cursor < hi:
            problem("gap", f"post {post}: nobody on duty from {_local(cfg, cursor)} to "
                           f"{_local(cfg, hi)}")
    for p, spans in sorted(busy.items()):
        spans.sort()
        for (s1, e1, n1), (s2, e2, n2) in zip(spans, spans[1:], strict=False):
            if s2 < e1:
                problem("double-booked", f"{p} is on {n1} and {n2} at the same time")
            elif s2 == e1 and (e2 - s1).total_seconds() / 3600 > r.max_shift_hours:
                problem("long-duty", f"{p} works {n1} and {n2} back to back "
                                     f"({(e2 - s1).total_seconds() / 3600:g} h)")
        if hours.get(p, 0) > r.max_hours_per_month:
            problem("hours", f"{p} works {hours[p]:g} h in {roster.month} "
                             f"(max {r.max_hours_per_month:g})")
    return CheckResult(roster.month, errors, dict(sorted(hours.items())), len(roster.slots))


def _local(cfg, t: dt.datetime) -> str:
    from opsctl.core.i18n import format_datetime

    return format_datetime(t, site_tz(cfg))


# -- who is on duty ---------------------------------------------------------------------
def _months_around(t: dt.datetime) -> list[tuple[int, int]]:
    prev = (t.year - (t.month == 1), (t.month - 2) % 12 + 1)
    return [prev, (t.year, t.month)]


def who(cfg, store, at: dt.datetime) -> list[dict]:
    local = at.astimezone(site_tz(cfg))
    year, mon = local.year, local.month
    roster = load(cfg, store, month_key(year, mon))  # NotFoundError: no roster that month
    slots = list(roster.slots)
    py, pm = _months_around(local)[0]
    with contextlib.suppress(NotFoundError):
        slots += load(cfg, store, month_key(py, pm)).slots
    t = at.astimezone(UTC)
    seen, out = set(), []
    for s in slots:
        if _t(s["start"]) <= t < _t(s["end"]) and (s["date"], s["shift"]) not in seen:
            seen.add((s["date"], s["shift"]))
            out.append(s)
    return sorted(out, key=lambda s: s["start"])


def shift_changes(cfg, store, start: dt.datetime, end: dt.datetime, *,
                  approved_only: bool = False):
    """(time, outgoing names, incoming names) for each shift change in [start, end).

    ``approved_only``: only approved (published) rosters count — what a handover is held
    to; a draft may still change, so it can remind people but not refuse them."""
    slots: dict[tuple[str, str], dict] = {}
    tz = site_tz(cfg)
    y, m = start.astimezone(tz).year, start.astimezone(tz).month
    last = end.astimezone(tz)
    months = [_months_around(start.astimezone(tz))[0]]
    while (y, m) <= (last.year, last.month):
        months.append((y, m))
        y, m = (y + (m == 12), m % 12 + 1)
    for yy, mm in months:
        try:
            month = load(cfg, store, month_key(yy, mm))
        except NotFoundError:
            continue
        if approved_only and not month.approved:
            continue
        for s in month.slots:
            slots[(s["date"], s["shift"])] = s
    lo, hi = start.astimezone(UTC), end.astimezone(UTC)
    changes: dict[dt.datetime, tuple[set[str], set[str]]] = {}
    for s in slots.values():
        if s["kind"] != "on-site":
            continue
        st, en = _t(s["start"]), _t(s["end"])
        if lo <= st < hi:
            changes.setdefault(st, (set(), set()))[1].update(s["people"])
        if lo <= en < hi:
            changes.setdefault(en, (set(), set()))[0].update(s["people"])
    return [(t.astimezone(tz), sorted(out), sorted(inc))
            for t, (out, inc) in sorted(changes.items()) if inc and out != inc]


def roster_reminder(cfg, store, today: dt.date) -> str | None:
    r = cfg.duty.roster
    y, m = next_month(today)
    key = month_key(y, m)
    if today.day < r.approval_deadline_day - r.reminder_days_before:
        return None
    row = _load_row(store, key)
    if row is not None and row.approved_by:
        return None
    late = today.day >= r.approval_deadline_day
    state = "not generated" if row is None else "not approved"
    when = "was due" if late else "is due"
    return (f"roster for {key} is {state}: approval {when} by the "
            f"{r.approval_deadline_day}th ({today:%Y-%m}-{r.approval_deadline_day:02d})")


# -- requests ---------------------------------------------------------------------------
def request(cfg, store, kind: str, who_: str, start: dt.date, end: dt.date | None = None,
            *, other: str | None = None, reason: str, today: dt.date | None = None) -> int:
    if kind not in ("leave", "swap"):
        raise UsageError(f"unknown request kind {kind!r}: expected leave or swap")
    p = person(cfg, who_).name
    o = person(cfg, other).name if other else None
    if kind == "swap" and not o:
        raise UsageError("a swap needs --with NAME")
    if o == p:
        raise UsageError(f"{p} cannot swap with or cover for themselves")
    if not reason or not reason.strip():
        raise UsageError("a request needs --reason TEXT")
    end = end or start
    if end < start:
        raise UsageError(f"--to {end} is before --date {start}")
    today = today or dt.datetime.now(site_tz(cfg)).date()
    notice = cfg.duty.roster.request_notice_days
    if (start - today).days < notice:
        raise SafetyError(f"requests must be made at least {notice} day(s) ahead "
                          f"({start} is {(start - today).days} day(s) away)")
    for d in {start.strftime("%Y-%m"), end.strftime("%Y-%m")}:
        load(cfg, store, d)  # NotFoundError when the month has no roster
    author = acting_person(cfg, None)
    now = chain.now_utc()
    with store.write() as conn:
        rid = conn.execute(duty_request.insert().values(
            kind=kind, person=p, other=o, start_date=str(start), end_date=str(end),
            reason=reason, status="pending", requested_at=now)).inserted_primary_key[0]
    what = (_("swap {person} <-> {other}") if kind == "swap" else _("leave for {person}") + (
        _(" (cover {other})") if o else "")).format(person=p, other=o)
    _log(cfg, store, _("request {id}: {what} {start}..{end}: {reason}").format(
             id=rid, what=what, start=start, end=end, reason=reason), author,
         {"request": rid, "kind": kind, "person": p, "other": o,
          "start": str(start), "end": str(end)})
    return rid


def list_requests(store, status: str | None = None) -> list[dict]:
    q = sa.select(duty_request).order_by(duty_request.c.id)
    if status:
        q = q.where(duty_request.c.status == status)
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def decide(cfg, store, rid: int, approve_: bool, *, by: str | None,
           note: str | None = None) -> dict:
    who_ = require_role(cfg, by, "supervisor",
                        "approve requests" if approve_ else "reject requests")
    if not approve_ and not (note and note.strip()):
        raise UsageError("reject needs --reason TEXT")
    with store.read() as conn:
        row = conn.execute(sa.select(duty_request).where(duty_request.c.id == rid)).first()
    if row is None:
        raise NotFoundError(f"no request {rid}")
    if row.status != "pending":
        raise UsageError(f"request {rid} is already {row.status}")
    status = "approved" if approve_ else "rejected"
    with store.write() as conn:
        conn.execute(duty_request.update().where(duty_request.c.id == rid,
                                                 duty_request.c.status == "pending")
                     .values(status=status, decided_by=who_, decided_at=chain.now_utc(),
                             decision_note=note))
    _log(cfg, store, _("request {id} {status} by {who}").format(id=rid, status=_(status),
                                                                who=who_)
         + (f": {note}" if note else ""),
         who_, {"request": rid, "status": status})
    return _get_request(store, rid)


def _get_request(store, rid: int) -> dict:
    with store.read() as conn:
        return dict(conn.execute(sa.select(duty_request)
                                 .where(duty_request.c.id == rid)).first()._mapping)
