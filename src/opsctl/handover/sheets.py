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
from opsctl.core.pdf import esc
from opsctl.handover import dutylog, workflow
from opsctl.handover.people import full_names, label
from opsctl.handover.signatures import LOGIN_ONLY, SSHSIG
from opsctl.handover.timeutil import local_str, site_tz

ENTRY_HEADERS = ["seq", "time", "by", "entry", "status", "text"]
ENTRY_WIDTHS = [6, 18, 13, 12, 7, 44]


def _what(e: dutylog.Entry) -> str:
    if e.kind == "entry":
        return e.category + (f" {e.severity}" if e.severity else "")
    return e.kind + (f" #{e.ref_seq}" if e.ref_seq is not None else "")


def _entry_rows(cfg, entries: list[dutylog.Entry], names: dict[str, str]):
    return [(pdf.mark(f"#{e.seq}", e.hash),
             [str(e.seq), esc(local_str(cfg, e.ts)), esc(label(names, e.author)),
              esc(_what(e)), esc(e.status or ""), esc(e.text)]) for e in entries]


def _generated(cfg) -> str:
    tz = site_tz(cfg)
    return f"printed {dt.datetime.now(tz).strftime('%Y-%m-%d %H:%M')} ({tz})"


def _chain_note(entries: list[dutylog.Entry]) -> str:
    if not entries:
        return "<p>No duty log entries in this period.</p>"
    return (f"<p>{len(entries)} entries, chain positions #{entries[0].seq} to "
            f"#{entries[-1].seq}. Each page's footer names the position and hash of its "
            "first and last entry: consecutive pages continue the chain without a gap.</p>")


def log_sheet(cfg, store, start: dt.date, end: dt.date, period: str) -> str:
    """HTML of the duty-log sheet for [start, end] (site days)."""
    entries = dutylog.list_entries(cfg, store, start, end)
    names = full_names(cfg, [e.author for e in entries])
    tz = site_tz(cfg)
    body = (f'<table class="meta"><tr><td>site</td><td>{esc(cfg.site.name)}'
            + (f" ({esc(cfg.site.room)})" if cfg.site.room else "") + "</td></tr>"
            f"<tr><td>period</td><td>{esc(period)} (times in {esc(str(tz))})</td></tr>"
            f"<tr><td>printed</td><td>{esc(_generated(cfg))}</td></tr></table>"
            + _chain_note(entries)
            + pdf.table(ENTRY_HEADERS, _entry_rows(cfg, entries, names), ENTRY_WIDTHS)
            + _sign_block(["reviewed by (supervisor)"]))
    return pdf.document(f"Duty log {period}", cfg.site.name, _generated(cfg), body)


def _sign_block(roles: list[str]) -> str:
    rows = "".join(f"<tr><td>{esc(r)}</td><td></td><td></td></tr>" for r in roles)
    return ('<table class="sign"><thead><tr><th>role</th><th>name and signature</th>'
            f"<th>date</th></tr></thead><tbody>{rows}</tbody></table>")


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

    meta = [("handover", str(h.id)), ("outgoing", label(names, h.outgoing)),
            ("incoming", label(names, h.incoming)), ("state", h.state),
            ("started", local_str(cfg, h.started_at)),
            ("completed", local_str(cfg, h.completed_at) if h.completed_at else "-"),
            ("site", cfg.site.name + (f" ({cfg.site.room})" if cfg.site.room else "")),
            ("times in", str(site_tz(cfg)))]
    body = ['<table class="meta">' + "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>"
                                             for k, v in meta) + "</table>"]

    body.append("<h2>Items taken over</h2>")
    rows = []
    for seq, d in sorted(h.items.items(), key=lambda kv: int(kv[0])):
        try:
            text = dutylog.get(store, int(seq)).text
        except NotFoundError:  # purged: the decision is still shown
            text = "(entry no longer in the log)"
        rows.append(("", [esc(seq), esc(text), esc(d.get("decision")),
                          esc(d.get("reason") or ""), esc(label(names, d.get("by"))),
                          when(d.get("at"))]))
    body.append(pdf.table(["item", "text", "decision", "reason", "by", "at"], rows,
                          [7, 35, 11, 17, 13, 17]))

    body.append("<h2>Inventory</h2>")
    rows = []
    for it in cfg.duty.handover.inventory:
        rec = h.inventory.get(it.name) or {}
        counted = rec.get("count")
        cls = ' class="bad"' if counted is not None and counted != it.count else ""
        rows.append(("", [esc(it.name), esc(it.kind), str(it.count),
                          f"<span{cls}>{esc(counted)}</span>", esc(rec.get("note") or ""),
                          when(rec.get("at"))]))
    body.append(pdf.table(["item", "kind", "expected", "counted", "note", "counted at"], rows))

    body.append("<h2>Signatures</h2>")
    sigs = _signatures(h, entries)
    rows = []
    for role, who, at in (("outgoing", h.outgoing, h.signed_out_at),
                          ("incoming", h.incoming, h.signed_in_at)):
        s = sigs.get(role)
        if not at:
            how = "not signed"
        elif s and s.get("method") == SSHSIG:
            how = f"SSH-signed (log #{s['seq']}, payload sha256 {s.get('payload_sha256')})"
        elif s and s.get("method") == LOGIN_ONLY:
            how = f"login only: no SSH key (login {s.get('login')}, log #{s['seq']})"
        else:
            how = "signed (no signature record found)"
        rows.append(("", [esc(role), esc(label(names, who)), when(at), esc(how), ""]))
    body.append(pdf.table(["role", "person", "signed at", "how", "handwritten signature"],
                          rows, [10, 15, 16, 34, 25]))

    body.append(f"<h2>Duty log covered by this handover ({len(entries)})</h2>")
    body.append(_chain_note(entries))
    body.append(pdf.table(ENTRY_HEADERS, _entry_rows(cfg, entries, names), ENTRY_WIDTHS))
    return pdf.document(f"Handover {h.id}", cfg.site.name, _generated(cfg), "".join(body))


def month_range(month: str) -> tuple[dt.date, dt.date]:
    from opsctl.handover.timeutil import parse_month

    y, m = parse_month(month)
    first = dt.date(y, m, 1)
    nxt = dt.date(y + (m == 12), m % 12 + 1, 1)
    return first, nxt - dt.timedelta(days=1)
