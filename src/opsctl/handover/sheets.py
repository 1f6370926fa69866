"""Printable duty sheets (PDF): the duty log for a day or a month, and a handover sheet.

Each entry row marks its page with its chain position and hash (see opsctl.core.pdf), so
the printed pages of a filed sheet can be checked against each other and against
`opsctl duty log verify`. Times are the site's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from opsctl.core import pdf
from opsctl.core.errors import NotFoundError
from opsctl.core.i18n import N_, _, format_datetime, ngettext
from opsctl.core.pdf import esc
from opsctl.handover import dutylog, workflow
from opsctl.handover.people import full_names, label
from opsctl.handover.signatures import LOGIN_ONLY, SSHSIG
from opsctl.handover.timeutil import local_str, site_tz

ENTRY_HEADERS = [N_("seq"), N_("time"), N_("by"), N_("entry"), N_("status"), N_("text")]
ENTRY_WIDTHS = [6, 18, 13, 12, 7, 44]


def _what(e: dutylog.Entry) -> str:
    # the fixed words as people read them (cli/duty.py marks them for the catalog)
    if e.kind == "entry":
        return _(e.category) + (" " + _(e.severity) if e.severity else "")
    return _(e.kind) + (f" #{e.ref_seq}" if e.ref_seq is not None else "")


def _entry_rows(cfg, entries: list[dutylog.Entry], names: dict[str, str]):
    return [(pdf.mark(f"#{e.seq}", e.hash),
             [str(e.seq), esc(local_str(cfg, e.ts)), esc(label(names, e.author)),
              esc(_what(e)), esc(_(e.status) if e.status in _STATES else (e.status or "")),
              esc(e.text)]) for e in entries]


_STATES = ("open", "closed", "superseded")


def _generated(cfg) -> str:
    tz = site_tz(cfg)
    return _("printed {time} ({zone})").format(time=format_datetime(dt.datetime.now(tz)),
                                                zone=tz)


def _chain_note(entries: list[dutylog.Entry]) -> str:
    if not entries:
        return "<p>" + esc(_("No duty log entries in this period.")) + "</p>"
    return "<p>" + esc(ngettext(
        "{n} entry, chain positions #{first} to #{last}. Each page's footer names the "
        "position and hash of its first and last entry: consecutive pages continue the "
        "chain without a gap.",
        "{n} entries, chain positions #{first} to #{last}. Each page's footer names the "
        "position and hash of its first and last entry: consecutive pages continue the "
        "chain without a gap.", len(entries)).format(
            n=len(entries), first=entries[0].seq, last=entries[-1].seq)) + "</p>"


def log_sheet(cfg, store, start: dt.date, end: dt.date, period: str) -> str:
    """HTML of the duty-log sheet for [start, end] (site days)."""
    entries = dutylog.list_entries(cfg, store, start, end)
    names = full_names(cfg, [e.author for e in entries])
    tz = site_tz(cfg)
    site, when = _("site"), _("period")
    times = _("{period} (times in {zone})").format(period=period, zone=tz)
    body = (f'<table class="meta"><tr><td>{esc(site)}</td><td>{esc(cfg.site.name)}'
            + (f" ({esc(cfg.site.room)})" if cfg.site.room else "") + "</td></tr>"
            f"<tr><td>{esc(when)}</td><td>{esc(times)}</td></tr>"
            + "<tr><td>" + esc(_("printed")) + "</td><td>" + esc(_generated(cfg))
            + "</td></tr></table>"
            + _chain_note(entries)
            + pdf.table([_(h) for h in ENTRY_HEADERS], _entry_rows(cfg, entries, names),
                        ENTRY_WIDTHS)
            + _sign_block([_("reviewed by (supervisor)")]))
    return pdf.document(_("Duty log {period}").format(period=period), cfg.site.name,
                        _generated(cfg), body)


def _sign_block(roles: list[str]) -> str:
    rows = "".join(f"<tr><td>{esc(r)}</td><td></td><td></td></tr>" for r in roles)
    return ('<table class="sign"><thead><tr><th>' + esc(_("role")) + "</th><th>"
            + esc(_("name and signature")) + "</th><th>" + esc(_("date"))
            + f"</th></tr></thead><tbody>{rows}</tbody></table>")


def _signatures(h: workflow.Handover, entries: list[dutylog.Entry]) -> dict[str, dict[str, Any]]:
    """role -> the signature record of the log entry that recorded it."""
    out: dict[str, dict[str, Any]] = {}
    for e in entries:
        d = e.details or {}
        if d.get("handover") == h.id and isinstance(d.get("signature"), dict):
            out[str(d.get("signed"))] = d["signature"] | {"seq": e.seq}
    return out


def handover_sheet(cfg, store, hid: int | None) -> str:
    h = workflow.get(store, hid)
    entries = dutylog.list_entries(cfg, store, since_seq=h.since_seq)
    if h.end_seq is not None:
        entries = [e for e in entries if e.seq <= h.end_seq]
    names = full_names(cfg, [h.outgoing, h.incoming, *(e.author for e in entries)])

    def when(ts: str | None) -> str:
        return esc(local_str(cfg, ts)) if ts else "-"

    meta = [(_("handover"), str(h.id)), (_("outgoing"), label(names, h.outgoing)),
            (_("incoming"), label(names, h.incoming)), (_("state"), _(h.state)),
            (_("started"), local_str(cfg, h.started_at)),
            (_("completed"), local_str(cfg, h.completed_at) if h.completed_at else "-"),
            (_("site"), cfg.site.name + (f" ({cfg.site.room})" if cfg.site.room else "")),
            (_("times in"), str(site_tz(cfg)))]
    body = ['<table class="meta">' + "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>"
                                             for k, v in meta) + "</table>"]

    body.append("<h2>" + esc(_("Items taken over")) + "</h2>")
    rows = []
    for seq, d in sorted(h.items.items(), key=lambda kv: int(kv[0])):
        try:
            text = dutylog.get(store, int(seq)).text
        except NotFoundError:  # purged: the decision is still shown
            text = _("(entry no longer in the log)")
        rows.append(("", [esc(seq), esc(text), esc(_(d["decision"]) if d.get("decision")
                                                   in _DECISIONS else d.get("decision")),
                          esc(d.get("reason") or ""), esc(label(names, d.get("by"))),
                          when(d.get("at"))]))
    body.append(pdf.table([_("item"), _("text"), _("decision"), _("reason"), _("by"), _("at")],
                          rows,
                          [7, 35, 11, 17, 13, 17]))

    body.append("<h2>" + esc(_("Inventory")) + "</h2>")
    rows = []
    for it in cfg.duty.handover.inventory:
        rec = h.inventory.get(it.name) or {}
        counted = rec.get("count")
        cls = ' class="bad"' if counted is not None and counted != it.count else ""
        rows.append(("", [esc(it.name), esc(it.kind), str(it.count),
                          f"<span{cls}>{esc(counted)}</span>", esc(rec.get("note") or ""),
                          when(rec.get("at"))]))
    body.append(pdf.table([_("item"), _("kind"), _("expected"), _("counted"), _("note"),
                           _("counted at")], rows))

    body.append("<h2>" + esc(_("Signatures")) + "</h2>")
    sigs = _signatures(h, entries)
    rows = []
    for role, who, at in (("outgoing", h.outgoing, h.signed_out_at),
                          ("incoming", h.incoming, h.signed_in_at)):
        s = sigs.get(role)
        if not at:
            how = _("not signed")
        elif s and s.get("method") == SSHSIG:
            how = _("SSH-signed (log #{seq}, payload sha256 {sha})").format(
                seq=s["seq"], sha=s.get("payload_sha256"))
        elif s and s.get("method") == LOGIN_ONLY:
            how = _("login only: no SSH key (login {login}, log #{seq})").format(
                login=s.get("login"), seq=s["seq"])
        else:
            how = _("signed (no signature record found)")
        rows.append(("", [esc(_(role)), esc(label(names, who)), when(at), esc(how), ""]))
    body.append(pdf.table([_("role"), _("person"), _("signed at"), _("how"),
                           _("handwritten signature")],
                          rows, [10, 15, 16, 34, 25]))

    body.append("<h2>" + esc(_("Duty log covered by this handover ({n})").format(
        n=len(entries))) + "</h2>")
    body.append(_chain_note(entries))
    body.append(pdf.table(ENTRY_HEADERS, _entry_rows(cfg, entries, names), ENTRY_WIDTHS))
    return pdf.document(_("Handover {id}").format(id=h.id), cfg.site.name, _generated(cfg),
                        "".join(body))


# handover states and item decisions as the sheet shows them (the record keeps these)
_DECISIONS = (N_("accepted"), N_("refused"))
_SHOWN = (N_("complete"), N_("suspended"))


def month_range(month: str) -> tuple[dt.date, dt.date]:
    from opsctl.handover.timeutil import parse_month

    y, m = parse_month(month)
    first = dt.date(y, m, 1)
    nxt = dt.date(y + (m == 12), m % 12 + 1, 1)
    return first, nxt - dt.timedelta(days=1)
