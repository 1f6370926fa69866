"""The shift handover: start, accept/refuse open items, count inventory, snapshot,
suspend/resume, sign by both people.

The ``duty_handover`` row is the working state; every step is also written to the duty
log so the tamper-evident record holds the whole handover.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from opsctl.core.errors import NotFoundError, SafetyError, UsageError
from opsctl.core.i18n import N_, _
from opsctl.handover import chain, dutylog, signatures
from opsctl.handover.chain import NewEntry
from opsctl.handover.people import full_names, person
from opsctl.handover.schema import duty_handover, duty_log

log = logging.getLogger("opsctl.handover")

ACTIVE = ("open", "suspended")

# Values stored in records that the duty-log texts show translated (the records keep these).
_SHOWN = (N_("inspection run"), N_("latest stored inspection record"), N_("none"),
          N_("outgoing"), N_("incoming"))


@dataclass
class Handover:
    id: int
    outgoing: str
    incoming: str
    state: str
    started_at: str
    since_seq: int
    start_seq: int | None
    items: dict[str, dict]
    inventory: dict[str, dict]
    snapshot: dict | None
    alarms: dict | None
    suspensions: list[dict]
    signed_out_at: str | None
    signed_in_at: str | None
    completed_at: str | None
    end_seq: int | None
    roster: dict | None = None

    @classmethod
    def from_row(cls, r) -> Handover:
        return cls(**{c: getattr(r, c, None) for c in cls.__dataclass_fields__})

    def to_dict(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in self.__dataclass_fields__}


# -- what blocks a handover -------------------------------------------------------------
def storage_activity(store) -> str | None:
    if importlib.util.find_spec("opsctl.storage.api") is not None:
        api = importlib.import_module("opsctl.storage.api")
        if hasattr(api, "storage_busy"):
            return api.storage_busy(store)
    from opsctl.core.store_schema import changes

    with store.read() as conn:
        row = conn.execute(sa.select(changes).where(changes.c.status == "running")
                           .order_by(changes.c.id)).first()
    if row is None:
        return None
    return f"{row.domain} operation in progress: {row.action} {row.target or ''}".rstrip()


def blockers(cfg, store, *, for_sign: bool = False) -> list[str]:
    out: list[str] = []
    busy = storage_activity(store)
    if busy:
        out.append(busy)
    items = dutylog.open_items(store)
    for it in items:
        e = it.latest
        if e.category == "incident" and e.severity == "critical":
            out.append(f"critical incident {it.root} is open: {e.text}")
    for it in items:
        if not it.status_note and not (it.latest.category == "incident"
                                       and it.latest.severity == "critical"):
            out.append(f"open item {it.root} has no status note (why it is still open): "
                       f"amend it with --status")
    last = _last_complete(store)
    since = last.end_seq if last and last.end_seq else 0
    with store.read() as conn:
        bad = conn.execute(sa.select(duty_log.c.seq).where(
            duty_log.c.seq > since, duty_log.c.kind.in_(("entry", "amend")),
            duty_log.c.category == "incident", duty_log.c.severity.is_(None))).all()
        amended = {r.ref_seq for r in conn.execute(sa.select(duty_log.c.ref_seq).where(
            duty_log.c.kind == "amend", duty_log.c.seq > since))}
    for r in bad:
        if r.seq not in amended:  # a correction supersedes it; the correction counts
            out.append(f"incident entry {r.seq} has no severity: amend it with --severity")
    if not for_sign:
        cur = _active(store)
        if cur is not None:
            out.append(f"handover {cur.id} ({cur.outgoing} -> {cur.incoming}) is still "
                       f"{cur.state}")
    return out


# -- reading ----------------------------------------------------------------------------
def _active(store) -> Handover | None:
    with store.read() as conn:
        row = conn.execute(sa.select(duty_handover).where(duty_handover.c.state.in_(ACTIVE))
                           .order_by(duty_handover.c.id.desc())).first()
    return Handover.from_row(row) if row else None


def _last_complete(store) -> Handover | None:
    with store.read() as conn:
        row = conn.execute(sa.select(duty_handover).where(duty_handover.c.state == "complete")
                           .order_by(duty_handover.c.id.desc())).first()
    return Handover.from_row(row) if row else None


def get(store, hid: int | None = None) -> Handover:
    if hid is None:
        cur = _active(store)
        if cur is None:
            raise NotFoundError("no handover in progress",
                                hint="start one: opsctl duty handover start --from A --to B")
        return cur
    with store.read() as conn:
        row = conn.execute(sa.select(duty_handover).where(duty_handover.c.id == hid)).first()
    if row is None:
        raise NotFoundError(f"no handover {hid}")
    return Handover.from_row(row)


def list_all(store) -> list[Handover]:
    with store.read() as conn:
        return [Handover.from_row(r) for r in conn.execute(
            sa.select(duty_handover).order_by(duty_handover.c.id))]


def briefing(cfg, store, h: Handover) -> dict[str, Any]:
    """What the incoming person reads: entries since the last handover, open items,
    latest inspection, alarms, inventory checklist, and what is still missing."""
    entries = dutylog.list_entries(cfg, store, since_seq=h.since_seq)
    items = dutylog.open_items(store)
    return {
        "handover": h.to_dict(),
        "entries": [e.to_dict() for e in entries],
        "open_items": [{"seq": i.root, "latest_seq": i.latest.seq, "text": i.latest.text,
                        "category": i.latest.category, "severity": i.latest.severity,
                        "status": i.status_note,
                        "decision": h.items.get(str(i.root))} for i in items],
        "inventory": [{"name": it.name, "kind": it.kind, "expected": it.count,
                       "counted": (h.inventory.get(it.name) or {}).get("count")}
                      for it in cfg.duty.handover.inventory],
        "inspection": latest_inspection(store),
        "alarms": h.alarms,
        "snapshot": h.snapshot,
        "missing": missing(cfg, store, h),
        "roster": roster_view(cfg, store, h),
        "full_names": full_names(cfg, [h.outgoing, h.incoming]),
    }


# A handover belongs to the shift change nearest its start, within this window.
WINDOW = dt.timedelta(hours=2)


def rostered_change(cfg, store, at: dt.datetime) -> dict | None:
    """The approved roster's shift change nearest ``at`` (within 2 h) and who is rostered
    out and in; None when no approved roster covers that time."""
    from opsctl.handover import roster

    try:
        changes = roster.shift_changes(cfg, store, at - WINDOW, at + WINDOW,
                                       approved_only=True)
    except NotFoundError:
        changes = []
    if not changes:
        return None
    when, out, inc = min(changes, key=lambda c: abs((c[0] - at).total_seconds()))
    return {"shift_change": when.isoformat(), "outgoing": out, "incoming": inc}


def arrival(cfg, started_at: str, shift_change: str | None) -> dict:
    """The incoming's arrival — the start of the handover, when the briefing is opened for
    them to read — against the shift change: SPEC §4 wants them there
    ``arrive_early_minutes`` (15) before it."""
    need = cfg.duty.handover.arrive_early_minutes
    out: dict[str, Any] = {"at": started_at, "required_minutes_early": need,
                           "minutes_early": None, "early_enough": None}
    if shift_change:
        early = (dt.datetime.fromisoformat(shift_change)
                 - dt.datetime.fromisoformat(started_at)).total_seconds() / 60
        out["minutes_early"] = round(early, 1)
        out["early_enough"] = early >= need
    return out


def arrival_text(a: dict | None) -> str:
    if not a or a.get("minutes_early") is None:
        return _("no rostered shift change to compare with")
    m = a["minutes_early"]
    when = (_("{m:g} min early") if m >= 0 else _("{m:g} min late")).format(m=abs(m))
    ok = _("as required") if a["early_enough"] else \
        _("required: {m} min early").format(m=a["required_minutes_early"])
    return _("{when} ({ok})").format(when=when, ok=ok)


def roster_check(cfg, store, outgoing: str, incoming: str, at: dt.datetime,
                 reason: str | None) -> dict:
    """What the handover records about the roster; refuses a pair that is not the one
    rostered at the shift change unless ``reason`` says why (a swap made at the console,
    sickness): that reason is then part of the record."""
    change = rostered_change(cfg, store, at)
    reason = reason.strip() if reason and reason.strip() else None
    if change is None:
        return {"status": "no roster", "shift_change": None, "outgoing": [], "incoming": [],
                "reason": reason, "note": "no approved roster has a shift change within "
                                          "2 h of the handover"}
    off = []
    if outgoing not in change["outgoing"]:
        off.append(f"{outgoing} is not rostered on the outgoing shift "
                   f"({', '.join(change['outgoing'])})")
    if incoming not in change["incoming"]:
        off.append(f"{incoming} is not rostered on the incoming shift "
                   f"({', '.join(change['incoming'])})")
    if off and reason is None:
        from opsctl.handover.timeutil import local_str

        raise UsageError(
            f"handover refused: the roster has {', '.join(change['outgoing'])} -> "
            f"{', '.join(change['incoming'])} at the shift change "
            f"{local_str(cfg, change['shift_change'])}; " + "; ".join(off),
            hint="hand over between the rostered people, or say why with --reason TEXT "
                 "(recorded in the handover and the duty log)")
    return {"status": "off roster" if off else "matches", **change, "reason": reason,
            "note": "; ".join(off) or "matches the roster"}


def roster_view(cfg, store, h: Handover) -> dict[str, Any]:
    """The roster this handover was held to, with the incoming's arrival. Handovers made
    before this was recorded get it worked out now (advice only)."""
    rec = dict(h.roster) if h.roster else None
    if rec is None:
        change = rostered_change(cfg, store, dt.datetime.fromisoformat(h.started_at))
        if change is None:
            rec = {"status": "no roster", "shift_change": None, "outgoing": [],
                   "incoming": [], "reason": None,
                   "note": "no rostered shift change within 2 h"}
        else:
            off = [f"{n} is not rostered on the {side} shift ({', '.join(change[side])})"
                   for n, side in ((h.outgoing, "outgoing"), (h.incoming, "incoming"))
                   if n not in change[side]]
            rec = {"status": "off roster" if off else "matches", **change, "reason": None,
                   "note": "; ".join(off) or "matches the roster"}
        rec["arrival"] = arrival(cfg, h.started_at, rec["shift_change"])
    return rec


def missing(cfg, store, h: Handover) -> list[str]:
    """What still prevents signing."""
    out: list[str] = []
    if h.state == "suspended":
        out.append(f"suspended: {h.suspensions[-1]['reason']}")
    for it in dutylog.open_items(store):
        d = h.items.get(str(it.root))
        if d is None:
            out.append(f"open item {it.root} not yet accepted by {h.incoming}")
        elif d["decision"] == "refused":
            out.append(f"open item {it.root} refused ({d['reason']}): {h.outgoing} must "
                       "resolve it first")
    for it in cfg.duty.handover.inventory:
        if it.name not in h.inventory:
            out.append(f"inventory not counted: {it.name}")
    if h.snapshot is None:
        out.append("no equipment snapshot attached (opsctl duty handover snapshot)")
    return out


# -- the inspection and alarm side ------------------------------------------------------
def latest_inspection(store) -> dict | None:
    """The newest stored inspection record, if the inspection domain keeps any."""
    if importlib.util.find_spec("opsctl.inspection.api") is not None:
        api = importlib.import_module("opsctl.inspection.api")
        for name in ("last_run", "latest_record", "last_record"):
            fn = getattr(api, name, None)
            if fn is not None:
                try:
                    rec = fn(store)
                except TypeError:
                    continue
                return _record_dict(rec) if rec is not None else None
    return None


def _record_dict(rec) -> dict:
    if isinstance(rec, dict):
        return rec
    from opsctl.core.output import to_jsonable

    d = to_jsonable(rec)
    return d if isinstance(d, dict) else {"record": d}


def current_alarms(cfg, store) -> dict[str, Any]:
    alarms: dict[str, Any] = {"power": None, "raid": None}
    if importlib.util.find_spec("opsctl.power.api") is not None:
        api = importlib.import_module("opsctl.power.api")
        if hasattr(api, "last_readings"):
            try:
                readings = api.last_readings(store)
                alarms["power"] = [r for r in (_record_dict(x) for x in readings)
                                   if str(r.get("status", "OK")).upper() not in ("OK", "0")]
            except Exception as exc:  # noqa: BLE001 - a handover must not fail on this
                alarms["power"] = {"error": str(exc)}
    if importlib.util.find_spec("opsctl.storage.api") is not None:
        api = importlib.import_module("opsctl.storage.api")
        if hasattr(api, "raid_health"):
            from opsctl.core.runner import Runner

            try:
                arrays = api.raid_health(Runner())
                alarms["raid"] = [_record_dict(a) for a in arrays
                                  if str(_record_dict(a).get("health", "OK")).upper()
                                  not in ("OK", "0")]
            except Exception as exc:  # noqa: BLE001 - no md on this host is not an alarm
                alarms["raid"] = {"unavailable": str(exc)}
    return alarms


# -- steps ------------------------------------------------------------------------------
def _log(cfg, store, text: str, author: str, details: dict, **kw) -> int:
    key = chain.bind_config(cfg, store)
    entry = NewEntry(text=text, category=kw.pop("category", "note"),
                     kind=kw.pop("kind", "handover"), author=author, source="handover",
                     details=details, **kw)
    with store.write() as conn:
        return chain.append(conn, entry, key)


def _mutate(store, hid: int, fn) -> Handover:
    """Read the handover and write ``fn(h)``'s values in one write transaction, so two
    terminals working on one handover (accepting items, signing) never lose an update."""
    with store.write() as conn:
        row = conn.execute(sa.select(duty_handover).where(duty_handover.c.id == hid)).first()
        h = Handover.from_row(row)
        values = fn(h)
        conn.execute(duty_handover.update().where(duty_handover.c.id == hid).values(**values))
    for k, v in values.items():
        setattr(h, k, v)
    return h


def _save(store, h: Handover, **values) -> None:
    with store.write() as conn:
        conn.execute(duty_handover.update().where(duty_handover.c.id == h.id).values(**values))
    for k, v in values.items():
        setattr(h, k, v)


def start(cfg, store, outgoing: str, incoming: str, *, reason: str | None = None) -> Handover:
    out_p, in_p = person(cfg, outgoing).name, person(cfg, incoming).name
    if out_p == in_p:
        raise UsageError(f"{out_p} cannot hand over to themselves: outgoing and incoming "
                         "must be two different people")
    now = chain.now_utc()
    ros = roster_check(cfg, store, out_p, in_p, dt.datetime.fromisoformat(now), reason)
    ros["arrival"] = arrival(cfg, now, ros["shift_change"])
    blocked = blockers(cfg, store)
    if blocked:
        raise SafetyError("handover not allowed: " + "; ".join(blocked),
                          hint="resolve these first (the outgoing shift handles faults, "
                               "then hands over)")
    last = _last_complete(store)
    since = last.end_seq if last and last.end_seq else 0
    alarms = current_alarms(cfg, store)
    with store.write() as conn:
        other = conn.execute(sa.select(duty_handover.c.id).where(
            duty_handover.c.state.in_(ACTIVE))).first()
        if other is not None:  # started from another terminal a moment ago
            raise SafetyError(f"handover {other.id} is already in progress")
        hid = conn.execute(duty_handover.insert().values(
            outgoing=out_p, incoming=in_p, state="open", started_at=now, since_seq=since,
            items={}, inventory={}, snapshot=None, alarms=alarms, suspensions=[],
            roster=ros,
        )).inserted_primary_key[0]
    open_roots = [i.root for i in dutylog.open_items(store)]
    # Duty-log texts are stored in the site language of this moment (never re-translated).
    how = {"matches": _("as rostered"), "no roster": _("no roster"),
           "off roster": _("not as rostered: {reason}").format(reason=ros["reason"])
           }[ros["status"]]
    if ros["shift_change"]:
        how += _("; incoming {arrival}").format(arrival=arrival_text(ros["arrival"]))
    seq = _log(cfg, store, _("handover {id} started: {outgoing} -> {incoming} ({how})").format(
                   id=hid, outgoing=out_p, incoming=in_p, how=how), out_p,
               {"handover": hid, "since_seq": since, "open_items": open_roots,
                "roster": ros})
    h = get(store, hid)
    _save(store, h, start_seq=seq)
    return h


def relieved(store, when: dt.datetime) -> int | None:
    """The completed handover that relieved the shift change at ``when``: one recorded
    against that change, or one with no rostered change (no approved roster when it
    started, or started over 2 h late) that started after ``when - 2 h``."""
    lo = (when - WINDOW).astimezone(dt.UTC).isoformat(timespec="microseconds")
    with store.read() as conn:
        rows = conn.execute(sa.select(duty_handover.c.id, duty_handover.c.roster)
                            .where(duty_handover.c.state == "complete",
                                   duty_handover.c.started_at >= lo)
                            .order_by(duty_handover.c.id)).all()
    for r in rows:
        sc = (r.roster or {}).get("shift_change")
        if sc is None or dt.datetime.fromisoformat(sc) == when:
            return r.id
    return None


def _require_open(h: Handover) -> None:
    if h.state == "suspended":
        raise SafetyError(f"handover {h.id} is suspended "
                          f"({h.suspensions[-1]['reason']}); resume it first")
    if h.state != "open":
        raise UsageError(f"handover {h.id} is {h.state}")


def _require_incoming(cfg, h: Handover, by: str | None) -> str:
    if by is None:
        return h.incoming
    name = person(cfg, by).name
    if name != h.incoming:
        raise SafetyError(f"only the incoming person ({h.incoming}) accepts items and "
                          f"counts inventory, not {name}")
    return name


def decide_item(cfg, store, seq: int, *, accept: bool, reason: str | None = None,
                by: str | None = None, hid: int | None = None) -> Handover:
    h = get(store, hid)
    _require_open(h)
    who = _require_incoming(cfg, h, by)
    st = dutylog.item_states(store)
    root = st.root.get(seq, seq)
    if root not in {i.root for i in dutylog.open_items(store, st)}:
        raise UsageError(f"entry {seq} is not an open item")
    if not accept and not (reason and reason.strip()):
        raise UsageError("refuse needs --reason TEXT")
    decision = {"decision": "accepted" if accept else "refused", "by": who,
                "at": chain.now_utc()}
    if reason:
        decision["reason"] = reason
    h = _mutate(store, h.id, lambda cur: {"items": {**cur.items, str(root): decision}})
    text = (_("handover {id}: item {item} accepted by {who}") if accept else
            _("handover {id}: item {item} refused ({reason}) by {who}"))
    _log(cfg, store, text.format(id=h.id, item=root, who=who, reason=reason), who,
         {"handover": h.id, "item": root, **decision}, ref_seq=root)
    return h


def count_inventory(cfg, store, name: str, count: int, *, note: str | None = None,
                    by: str | None = None, hid: int | None = None) -> tuple[Handover, int | None]:
    h = get(store, hid)
    _require_open(h)
    who = _require_incoming(cfg, h, by)
    items = {i.name: i for i in cfg.duty.handover.inventory}
    if name not in items:
        known = ", ".join(items) or "none configured"
        raise NotFoundError(f"unknown inventory item {name!r} (known: {known})")
    if count < 0:
        raise UsageError("a count cannot be negative")
    expected = items[name].count
    rec = {"count": count, "expected": expected, "by": who, "at": chain.now_utc()}
    if note:
        rec["note"] = note
    h = _mutate(store, h.id, lambda cur: {"inventory": {**cur.inventory, name: rec}})
    discrepancy = None
    if count != expected:
        # A discrepancy is an incident of its own: it stays open until resolved.
        discrepancy = _log(
            cfg, store, _("inventory discrepancy at handover {id}: {name} counted {count} of "
                          "{expected}").format(id=h.id, name=name, count=count,
                                               expected=expected)
            + (f" ({note})" if note else ""), who,
            {"handover": h.id, "item": name, "count": count, "expected": expected,
             "status": f"found at handover {h.id}; to be traced by {h.outgoing}"},
            kind="entry", category="incident", severity="minor", pending=True)
    else:
        _log(cfg, store, _("handover {id}: {name} counted {count} of {expected}").format(
                 id=h.id, name=name, count=count, expected=expected), who,
             {"handover": h.id, "item": name, "count": count, "expected": expected})
    return h, discrepancy


def take_snapshot(cfg, store, *, by: str | None = None, hid: int | None = None,
                  answers: dict | None = None) -> Handover:
    """Attach the quick inspection snapshot: run the snapshot profile when the inspection
    domain can, else attach the latest stored inspection record and say so."""
    h = get(store, hid)
    _require_open(h)
    who = _require_incoming(cfg, h, by)
    snap: dict[str, Any] = {"at": chain.now_utc(), "by": who}
    profile = cfg.duty.handover.snapshot_profile or cfg.inspection.default_profile
    api = None
    if importlib.util.find_spec("opsctl.inspection.api") is not None:
        api = importlib.import_module("opsctl.inspection.api")
    if api is not None and hasattr(api, "run_profile") and profile:
        # No follow-ups from a snapshot: the handover itself records what it finds.
        rec = api.run_profile(cfg, store, profile, who, answers=answers, interactive=False,
                              source="handover", followups=False)
        status = getattr(rec, "status", None)
        snap.update(source="inspection run", profile=profile,
                    record_id=getattr(rec, "id", None),
                    status=getattr(status, "name", str(status)))
    else:
        latest = latest_inspection(store)
        why = ("no inspection profile configured" if not profile
               else "the inspection module is not available")
        snap.update(source="latest stored inspection record" if latest else "none",
                    note=f"quick inspection not run: {why}", record=latest)
    snap["alarms"] = current_alarms(cfg, store)
    _save(store, h, snapshot=snap)
    state = f", {snap['status']}" if snap.get("status") else ""
    _log(cfg, store, _("handover {id}: equipment snapshot attached ({source})").format(
             id=h.id, source=_(snap["source"]) + state),
         who, {"handover": h.id, "snapshot": {k: v for k, v in snap.items()
                                              if k not in ("record", "alarms")}})
    return h


def suspend(cfg, store, reason: str, *, by: str | None = None,
            hid: int | None = None) -> Handover:
    if not reason or not reason.strip():
        raise UsageError("suspend needs --reason TEXT")
    h = get(store, hid)
    _require_open(h)
    who = person(cfg, by).name if by else h.outgoing
    def _suspend(cur: Handover) -> dict:
        _require_open(cur)
        return {"state": "suspended", "suspensions": [
            *cur.suspensions, {"reason": reason, "by": who, "at": chain.now_utc()}]}

    h = _mutate(store, h.id, _suspend)
    _log(cfg, store, _("handover {id} suspended: {reason} ({outgoing} handles the fault)").format(
             id=h.id, reason=reason, outgoing=h.outgoing),
         who, {"handover": h.id, "reason": reason})
    return h


def resume(cfg, store, *, by: str | None = None, hid: int | None = None) -> Handover:
    h = get(store, hid)
    if h.state != "suspended":
        raise UsageError(f"handover {h.id} is {h.state}, not suspended")
    who = person(cfg, by).name if by else h.outgoing
    def _resume(cur: Handover) -> dict:
        if cur.state != "suspended":
            raise UsageError(f"handover {cur.id} is {cur.state}, not suspended")
        sus = [dict(x) for x in cur.suspensions]
        sus[-1]["resumed_at"] = chain.now_utc()
        return {"state": "open", "suspensions": sus}

    h = _mutate(store, h.id, _resume)
    _log(cfg, store, _("handover {id} resumed").format(id=h.id), who, {"handover": h.id})
    return h


def sign(cfg, store, as_name: str, *, hid: int | None = None) -> Handover:
    h = get(store, hid)
    name = person(cfg, as_name).name
    _require_open(h)
    if name not in (h.outgoing, h.incoming):
        raise SafetyError(f"{name} is neither the outgoing ({h.outgoing}) nor the incoming "
                          f"({h.incoming}) person of handover {h.id}")
    side = "out" if name == h.outgoing else "in"
    if getattr(h, f"signed_{side}_at"):
        raise UsageError(f"{name} has already signed handover {h.id}")
    todo = missing(cfg, store, h) + blockers(cfg, store, for_sign=True)
    if todo:
        raise SafetyError(f"handover {h.id} cannot be signed yet: " + "; ".join(todo))
    role = "outgoing" if side == "out" else "incoming"
    # What the signer vouches for: who hands over to whom, the items and the counts.
    signature = signatures.sign(cfg, name, "handover", {
        "handover": h.id, "role": role, "outgoing": h.outgoing, "incoming": h.incoming,
        "start_seq": h.start_seq, "items": h.items, "inventory": h.inventory})

    def _sign(cur: Handover) -> dict:
        _require_open(cur)
        if getattr(cur, f"signed_{side}_at"):
            raise UsageError(f"{name} has already signed handover {cur.id}")
        return {f"signed_{side}_at": chain.now_utc()}

    h = _mutate(store, h.id, _sign)
    how = "" if signature["method"] == signatures.SSHSIG else _(" (login only: no SSH key)")
    _log(cfg, store, _("handover {id} signed by {name} ({role})").format(
             id=h.id, name=name, role=_(role)) + how, name,
         {"handover": h.id, "signed": role, "signature": signature})
    if h.signed_out_at and h.signed_in_at:
        seq = _log(cfg, store, _("handover {id} complete: {outgoing} -> {incoming}").format(
                       id=h.id, outgoing=h.outgoing, incoming=h.incoming),
                   name, {"handover": h.id, "items": h.items, "inventory": h.inventory})
        _save(store, h, state="complete", completed_at=chain.now_utc(), end_seq=seq)
    return h
