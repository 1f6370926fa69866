"""Inspection reports: per-run details, runs per day and month per profile, the items
failing most often, and missed patrols (a day with fewer runs of a profile than its
``runs_per_day`` that a person walked: runs with every question unanswered do not count).
Days are calendar days in the site's time zone."""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter, defaultdict
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from opsctl.core.errors import Status
from opsctl.core.i18n import N_, _
from opsctl.core.safetext import visible


def site_tz(cfg) -> dt.tzinfo:
    try:
        return ZoneInfo(cfg.site.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.datetime.now().astimezone().tzinfo or dt.UTC


def day_bounds(cfg, start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start 00:00, end+1 00:00) in the site's time zone."""
    tz = site_tz(cfg)
    return (dt.datetime.combine(start, dt.time(), tz),
            dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tz))


def build(cfg, store, start: dt.date, end: dt.date, profile: str | None = None,
          now: dt.datetime | None = None) -> dict[str, Any]:
    from opsctl.inspection.records import find

    tz = site_tz(cfg)
    now = (now or dt.datetime.now(dt.UTC)).astimezone(tz)
    lo, hi = day_bounds(cfg, start, end)
    recs = find(store, start=lo, end=hi, profile=profile, with_items=True)
    for r in recs:  # shown in the site's time, like the days they are counted in
        r.started_at, r.finished_at = r.started_at.astimezone(tz), r.finished_at.astimezone(tz)
    required = {p.name: p.runs_per_day for p in cfg.inspection.profiles}
    names = sorted({r.profile for r in recs} | {p for p, n in required.items() if n > 0})
    if profile is not None:
        names = [profile]

    by_day: dict[tuple[str, dt.date], list] = defaultdict(list)
    for r in recs:
        by_day[(r.profile, r.started_at.astimezone(tz).date())].append(r)

    # Days before the first inspection ever recorded are not "missed": records had not
    # begun (a fresh install would otherwise report every past day).
    begun = first_run_date(store, tz)
    per_day, missed = [], []
    day = max(start, begun) if begun else end + dt.timedelta(days=1)
    while day <= end:
        if day > now.date():
            break
        for name in names:
            runs = by_day.get((name, day), [])
            walked = sum(1 for r in runs if r.walked)
            need = required.get(name, 0)
            today = day == now.date()
            row = {"date": day.isoformat(), "profile": name, "runs": len(runs),
                   "walked": walked, "required": need,
                   "status": _worst_name(runs) if runs else None,
                   "missed": bool(need and walked < need and not today),
                   "in_progress": today}
            per_day.append(row)
            if row["missed"]:
                missed.append({"date": row["date"], "profile": name, "runs": len(runs),
                               "walked": walked, "required": need})
        day += dt.timedelta(days=1)

    per_month: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for r in recs:
        key = (r.started_at.astimezone(tz).strftime("%Y-%m"), r.profile)
        per_month[key]["runs"] += 1
        per_month[key][r.status.name] += 1
    months = [{"month": m, "profile": p, "runs": c["runs"],
               **{s.name: c[s.name] for s in Status}}
              for (m, p), c in sorted(per_month.items())]
    months_missed = Counter((m["date"][:7], m["profile"]) for m in missed)
    for m in months:
        m["missed_days"] = months_missed.get((m["month"], m["profile"]), 0)

    fails: dict[tuple[str, str], dict[str, Any]] = {}
    for r in recs:
        for it in r.items:
            if it.status not in (Status.WARNING, Status.CRITICAL):
                continue
            f = fails.setdefault((r.profile, it.item_id), {
                "profile": r.profile, "item": it.item_id, "title": it.title,
                "failures": 0, "WARNING": 0, "CRITICAL": 0, "last": None,
                "last_message": None})
            f["failures"] += 1
            f[it.status.name] += 1
            f["last"] = r.started_at.isoformat(timespec="seconds")
            f["last_message"] = it.message
    failing = sorted(fails.values(), key=lambda f: (-f["failures"], f["profile"], f["item"]))
    names = {p.name: p.full_name for p in cfg.people
             if p.full_name and any(r.inspector == p.name for r in recs)}

    return {
        "site": cfg.site.name, "room": getattr(cfg.site, "room", None),
        "timezone": str(tz), "from": start.isoformat(), "to": end.isoformat(),
        "profile": profile,
        "generated_at": now.isoformat(timespec="seconds"),
        "summary": {"runs": len(recs),
                    "by_status": {s.name: sum(1 for r in recs if r.status == s)
                                  for s in Status},
                    "missed_patrols": len(missed)},
        "per_day": per_day, "per_month": months, "missed_patrols": missed,
        "failing_items": failing[:20],
        "runs": [_with_name(r.to_dict(), names) for r in recs],
        "full_names": names,
    }


def _with_name(run: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    run["inspector_full_name"] = names.get(run["inspector"])
    return run


def first_run_date(store, tz: dt.tzinfo) -> dt.date | None:
    import sqlalchemy as sa

    from opsctl.inspection.schema import runs

    with store.read() as conn:
        ts = conn.execute(sa.select(sa.func.min(runs.c.started_ts))).scalar()
    return None if ts is None else dt.datetime.fromtimestamp(ts, tz).date()


def _worst_name(runs) -> str:
    from opsctl.core.errors import worst

    return worst(r.status for r in runs).name


# -- Markdown ------------------------------------------------------------------------------
def _md_cell(v: Any) -> str:
    if v is None:
        return "-"
    text = _plain(v)
    return text.replace("|", "\\|").replace("\n", " ")


def _plain(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k}={_plain(x)}" for k, x in v.items())
    if isinstance(v, bool):
        return _("yes") if v else _("no")
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _md_table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return out + [""]


def sections(data: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    """The report's tables (title, headers, rows), shared by every format but JSON."""
    out = []
    s = data["summary"]
    # Status names (OK, WARNING, MISSED) stay as they are: the monitoring words, and the
    # HTML colours them by name.
    out.append((_("Summary"), [_("runs"), *s["by_status"].keys(), _("missed patrols")],
                [[s["runs"], *s["by_status"].values(), s["missed_patrols"]]]))
    out.append((_("Missed patrols"), [_("date"), _("profile"), _("runs"), _("walked"),
                                      _("required")],
                [[m["date"], m["profile"], m["runs"], m["walked"], m["required"]]
                 for m in data["missed_patrols"]]))
    out.append((_("Runs per day"), [_("date"), _("profile"), _("runs"), _("walked"),
                                    _("required"), _("worst"), _("note")],
                [[d["date"], d["profile"], d["runs"], d["walked"], d["required"], d["status"],
                  "MISSED" if d["missed"] else (_("today") if d["in_progress"] else "")]
                 for d in data["per_day"]]))
    out.append((_("Runs per month"), [_("month"), _("profile"), _("runs"), "OK", "WARNING",
                                      "CRITICAL", "UNKNOWN", _("missed days")],
                [[m["month"], m["profile"], m["runs"], m["OK"], m["WARNING"], m["CRITICAL"],
                  m["UNKNOWN"], m["missed_days"]] for m in data["per_month"]]))
    out.append((_("Items failing most often"), [_("profile"), _("item"), _("failures"),
                                                "WARNING", "CRITICAL", _("last"),
                                                _("last message")],
                [[f["profile"], f["item"], f["failures"], f["WARNING"], f["CRITICAL"],
                  _when(data["timezone"], f["last"]), f["last_message"]]
                 for f in data["failing_items"]]))
    return out


def _run_rows(run: dict[str, Any]) -> list[list[Any]]:
    return [[it["id"], it["status"], it["value"] if it["kind"] == "check" else it["answer"],
             it["message"], it["note"], it["target"]] for it in run["items"]]


RUN_HEADERS = [N_("item"), N_("status"), N_("value / answer"), N_("message"), N_("note"),
               N_("host")]


def _when(data_or_tz, iso: str) -> str:
    """A stored moment as the report shows it: ISO 8601 in English (as before), the
    language's format in the site's zone otherwise."""
    from opsctl.core import i18n

    if i18n.language() == i18n.SOURCE_LANGUAGE or not iso:
        return iso
    try:
        tz = ZoneInfo(data_or_tz) if isinstance(data_or_tz, str) else data_or_tz
    except (ZoneInfoNotFoundError, ValueError):
        tz = None
    return i18n.format_datetime(dt.datetime.fromisoformat(iso), tz)


def _run_title(run: dict[str, Any], tz: str | None = None) -> str:
    who = run["inspector"] + (f" ({run['inspector_full_name']})"
                              if run.get("inspector_full_name") else "")
    return _("#{id} {profile} — {started} — {who} on {host} — {status}").format(
        id=run["id"], profile=run["profile"], started=_when(tz, run["started_at"]), who=who,
        host=run["host"], status=run["status"])


def _period(data: dict[str, Any]) -> str:
    return (_("Period {start} to {end} ({zone})").format(
                start=data["from"], end=data["to"], zone=data["timezone"])
            + (_(", profile {profile}").format(profile=data["profile"])
               if data.get("profile") else ""))


def _generated(data: dict[str, Any]) -> str:
    return _("; generated {time}.").format(
        time=_when(data["timezone"], data["generated_at"]))


def render_md(data: dict[str, Any]) -> str:
    tz = data["timezone"]
    lines = [_("# Inspection report: {site}").format(site=data["site"])
             + (f" ({data['room']})" if data.get("room") else ""), "",
             _period(data) + _generated(data), ""]
    for title, headers, rows in sections(data):
        lines += [f"## {title}", ""]
        lines += _md_table(headers, rows) if rows else [_("none"), ""]
    lines += [_("## Runs"), ""]
    if not data["runs"]:
        lines += [_("none"), ""]
    for run in data["runs"]:
        lines += [f"### {_run_title(run, tz)}", ""]
        if run["problems"]:
            lines += [_("- problem: {problem}").format(problem=p)
                      for p in run["problems"]] + [""]
        lines += _md_table([_(h) for h in RUN_HEADERS], _run_rows(run))
        if run["followups"]:
            lines += [_("Follow-ups: {items}").format(items=", ".join(
                _("{item} → duty log #{seq}").format(item=f["item_id"], seq=f["seq"])
                if f.get("seq") is not None
                else _("{item} (not opened: {error})").format(item=f["item_id"],
                                                             error=f.get("error"))
                for f in run["followups"])), ""]
    # A report is read on terminals and in editors: controls from answers, notes or check
    # output are spelled out (\x1b), never written raw.
    return visible("\n".join(lines))


_STATUS_CSS = {"OK": "ok", "WARNING": "warn", "CRITICAL": "crit", "UNKNOWN": "unknown",
               "MISSED": "crit"}


def _html_table(headers: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return "<p>" + html.escape(_("none")) + "</p>"
    out = ["<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in headers)
           + "</tr></thead><tbody>"]
    for row in rows:
        cells = []
        for c in row:
            text = "-" if c is None else _plain(c)
            cls = _STATUS_CSS.get(text)
            cells.append(f'<td class="{cls}">{html.escape(text)}</td>' if cls
                         else f"<td>{html.escape(text)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "".join(out) + "</tbody></table>"


def render_html(data: dict[str, Any]) -> str:
    from opsctl.core import i18n

    e = html.escape
    tz = data["timezone"]
    title = _("Inspection report: {site}").format(site=data["site"])
    # lang tells the browser which CJK glyphs (and fonts) to use: zh-CN, not ja
    lang = i18n.language().replace("_", "-")
    parts = [
        "<!DOCTYPE html>", f'<html lang="{e(lang)}"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin-bottom:1em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
        ".ok{color:#070}.warn{color:#a60}.crit{color:#c00;font-weight:bold}"
        ".unknown{color:#808}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f"<p>{e(_period(data) + _generated(data))}</p>",
    ]
    for sec_title, headers, rows in sections(data):
        parts += [f"<h2>{e(sec_title)}</h2>", _html_table(headers, rows)]
    parts.append("<h2>" + e(_("Runs")) + "</h2>")
    if not data["runs"]:
        parts.append("<p>" + e(_("none")) + "</p>")
    for run in data["runs"]:
        parts.append(f"<h3>{e(_run_title(run, tz))}</h3>")
        for p in run["problems"]:
            parts.append("<p>" + e(_("problem: {problem}").format(problem=p)) + "</p>")
        parts.append(_html_table([_(h) for h in RUN_HEADERS], _run_rows(run)))
    parts.append("</body></html>")
    return visible("\n".join(parts)) + "\n"


# -- PDF (printable, to sign and file) -----------------------------------------------------
def run_digest(run: dict[str, Any]) -> str:
    """SHA-256 of a run's record as reported (inspection runs are not hash-chained, so the
    page footer carries this digest: a page missing from a filed report shows as a gap in
    the run numbers and digests listed in the summary)."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(run, sort_keys=True, ensure_ascii=False,
                                     default=str).encode()).hexdigest()


def render_pdf_html(data: dict[str, Any]) -> str:
    """The report as HTML for paged media (opsctl.core.pdf renders it)."""
    from opsctl.core import pdf
    from opsctl.core.pdf import esc

    tz = data["timezone"]
    period = _period(data)
    parts = [f"<p>{esc(data['site'])}" + (f" ({esc(data['room'])})" if data.get("room")
                                          else "")
             + f" — {esc(period + _generated(data))}</p>"]
    for title, headers, rows in sections(data):
        parts.append(f"<h2>{esc(title)}</h2>")
        parts.append(pdf.table(headers, [("", [esc(_plain(c) if c is not None else None)
                                                for c in row]) for row in rows]))
    parts.append("<h2>" + esc(_("Runs")) + "</h2>")
    parts.append(pdf.table([_("run"), _("started"), _("inspector"), _("status"),
                            _("record sha256")], [
        ("", [esc(r["id"]), esc(_when(tz, r["started_at"])), esc(r["inspector"] + (
             f" ({r['inspector_full_name']})" if r.get("inspector_full_name") else "")),
          esc(r["status"]), f'<span class="mono">{run_digest(r)}</span>'])
        for r in data["runs"]], [8, 22, 20, 12, 38]))
    for run in data["runs"]:
        tag = pdf.mark(f"run #{run['id']}", run_digest(run))
        parts.append(f"<h2 {tag}>{esc(_run_title(run, tz))}</h2>")
        parts += ["<p>" + esc(_("problem: {problem}").format(problem=p)) + "</p>"
                  for p in run["problems"]]
        parts.append(pdf.table([_(h) for h in RUN_HEADERS], [
            ("", [esc(_plain(c) if c is not None else None) for c in row])
            for row in _run_rows(run)]))
        parts.append('<table class="sign"><tbody><tr><td>' + esc(_("walked by (signature)"))
                     + "</td><td></td></tr></tbody></table>")
    return pdf.document(_("Inspection report: {site}").format(site=data["site"]), data["site"],
                        period,
                        "".join(parts))
