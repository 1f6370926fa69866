"""Exports of the duty log, handovers and inspection summaries for a date range.

Output is deterministic (same records, same bytes: no generation time in the files),
each file is written atomically (temp file, fsync, rename) with owner/group-only
permissions, and a manifest lists the SHA-256 of every file plus the head of the hash
chain, so a reader can check that nothing was altered and tie the export to the log.
If anything fails, no file of the export is left behind.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import html
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from opsctl.core import interrupt, readahead
from opsctl.core.errors import OpsError, StoreError, UsageError
from opsctl.handover import chain, seal
from opsctl.handover.schema import duty_handover
from opsctl.handover.timeutil import day_range_utc, local_midnight, site_tz

FORMATS = ("csv", "json", "md", "html")
FILE_MODE = 0o640
LOG_COLUMNS = ("seq", "time_utc", "local_time", "kind", "category", "severity", "author",
               "author_name", "source", "pending", "ref_seq", "text", "details", "alg",
               "prev_hash", "hash")
HANDOVER_COLUMNS = ("id", "outgoing", "outgoing_name", "incoming", "incoming_name", "state",
                    "started_at", "signed_out_at", "signed_in_at", "completed_at", "items",
                    "inventory", "suspensions")
INSPECTION_COLUMNS = ("id", "profile", "inspector", "inspector_name", "started_at", "status",
                      "counts")
# People's full names (people[].full_name) are shown beside the login; they are not part of
# the hashed record (the login is), so a renamed person does not "alter" an old export.
_NAME_OF = {"outgoing_name": "outgoing", "incoming_name": "incoming",
            "inspector_name": "inspector"}

# CSV injection (OWASP): a spreadsheet runs a cell starting with one of these as a
# formula. Such a cell is written with a leading "'"; so that this stays reversible (the
# rows' hashes are recomputed from the file), a cell already starting with "'" gets one
# too, and readers strip exactly one leading "'" from every cell. JSON is written raw.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")
BOM = "\ufeff"


def neutral(value: str) -> str:
    return "'" + value if value[:1] in FORMULA_START else value


def unneutral(value: str) -> str:
    return value[1:] if value[:1] == "'" else value


def full_names(cfg) -> dict[str, str]:
    return {p.name: p.full_name for p in cfg.people if p.full_name}


# -- collecting -------------------------------------------------------------------------
_LOG_SELECT = ("SELECT seq, ts, kind, category, severity, author, source, pending, ref_seq, "
               "text, details, alg, prev_hash, hash FROM duty_log "
               "WHERE ts >= ? AND ts < ? ORDER BY seq")


def _log_rows(cfg, cur) -> Iterator[tuple]:
    """Rows of a ``_LOG_SELECT`` cursor as export rows (LOG_COLUMNS order), one at a
    time, local time added. Text is exported as written: the rows are evidence and their
    hashes are recomputed from the file (``log add`` warns about a secret in an entry)."""
    tz = site_tz(cfg)
    names = full_names(cfg)
    fromiso = dt.datetime.fromisoformat
    # Per UTC hour, the local "YYYY-MM-DD HH" when the offset is whole hours (then the
    # minutes and seconds are the stored ones): one tz lookup an hour, not one a row.
    hours: dict[str, str | None] = {}
    while True:
        batch = cur.fetchmany(2000)
        if not batch:
            return
        for (seq, ts, kind, cat, sev, author, source, pending, ref, text, details, alg,
             prev, digest) in batch:
            hour = ts[:13]
            prefix = hours.get(hour, "")
            if prefix == "":
                t = fromiso(ts)
                off = t.astimezone(tz).utcoffset()
                whole = (len(ts) >= 19 and ts[10] == "T" and ts[13] == ":"
                         and t.utcoffset() == dt.timedelta(0) and off is not None
                         and off.total_seconds() % 3600 == 0)
                prefix = hours[hour] = (t + off).isoformat(sep=" ")[:13] if whole else None
            if prefix is not None:
                local = prefix + ts[13:19]
            else:
                t = fromiso(ts)
                local = (t + t.astimezone(tz).utcoffset()).isoformat(sep=" ")[:19]
            yield (seq, ts, local, kind, cat, sev, author, names.get(author), source, pending,
                   ref, text, details, alg, prev, digest)


def _sql(conn, sql: str) -> str:
    """The DB-API form of a ``?``-parameter statement: psycopg's placeholder is %s."""
    return sql if conn.dialect.name == "sqlite" else sql.replace("?", "%s")


def collect(cfg, store, start: dt.date, end: dt.date) -> dict[str, Any]:
    lo, hi = day_range_utc(cfg, start, end)
    with store.read() as conn:
        cur = conn.connection.dbapi_connection.cursor()
        try:
            cur.execute(_sql(conn, _LOG_SELECT), (lo, hi))
            log = list(_log_rows(cfg, cur))
        finally:
            cur.close()
    return {**_companions(cfg, store, start, end), "duty_log": log}


def _companions(cfg, store, start: dt.date, end: dt.date) -> dict[str, Any]:
    """Everything of an export but the duty log rows (small: handovers, inspections)."""
    lo, hi = day_range_utc(cfg, start, end)
    with store.read() as conn:
        hrows = conn.execute(sa.select(duty_handover).where(
            duty_handover.c.started_at >= lo, duty_handover.c.started_at < hi)
            .order_by(duty_handover.c.id)).all()
    names = full_names(cfg)
    handovers = [{c: names.get(getattr(r, _NAME_OF[c])) if c in _NAME_OF else getattr(r, c)
                  for c in HANDOVER_COLUMNS} for r in hrows]
    inspections = [{**r, "inspector_name": names.get(r["inspector"])} for r in
                   _inspections(store, local_midnight(cfg, start),
                                local_midnight(cfg, end + dt.timedelta(days=1)))]
    return {"from": str(start), "to": str(end), "site": cfg.site.name,
            "handovers": handovers, "inspections": inspections}


def _inspections(store, lo: dt.datetime, hi: dt.datetime) -> list[dict]:
    import importlib
    import importlib.util

    if importlib.util.find_spec("opsctl.inspection.api") is None:
        return []
    api = importlib.import_module("opsctl.inspection.api")
    if not hasattr(api, "runs_between"):
        return []
    out = []
    for r in api.runs_between(store, lo, hi):
        out.append({c: r.get(c) for c in INSPECTION_COLUMNS if c not in _NAME_OF})
    return sorted(out, key=lambda r: (str(r["started_at"]), r["id"] or 0))


# -- rendering --------------------------------------------------------------------------
def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, dict | list):
        return json.dumps(v, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return str(v)


def _field(value: str) -> str:
    # Quoted as csv.QUOTE_MINIMAL does, but a carriage return is always quoted: Python's
    # csv writer leaves a lone CR bare under an LF terminator, and every reader (its own
    # included) then splits the record there.
    if "," in value or '"' in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def _line(values) -> str:
    """One CSV record (no line end), every cell neutralised."""
    return ",".join(_field(neutral(_cell(v))) for v in values)


def _eol(excel: bool) -> str:
    """For Excel UTF-8 with a BOM (Excel on a Chinese Windows reads a CSV without one as
    GBK) and CRLF line ends; otherwise plain UTF-8 and LF. Line ends go between records
    only: a line break inside a quoted field is data."""
    return "\r\n" if excel else "\n"


def _csv_doc(columns: tuple[str, ...], rows, excel: bool) -> bytes:
    eol = _eol(excel)
    head = (BOM if excel else "") + ",".join(columns) + eol
    return (head + "".join(_line(r) + eol for r in rows)).encode()


def _csv(columns: tuple[str, ...], rows: list[dict], excel: bool = False) -> bytes:
    return _csv_doc(columns, ([r[c] for c in columns] for r in rows), excel)


def _log_csv(rows: list[tuple], excel: bool = False) -> bytes:
    return _csv_doc(LOG_COLUMNS, rows, excel)


def _log_dicts(rows: list[tuple]) -> list[dict]:
    out = []
    for r in rows:
        d = dict(zip(LOG_COLUMNS, r, strict=True))
        d["details"] = json.loads(d["details"]) if d["details"] else None
        out.append(d)
    return out


def _md_table(columns: tuple[str, ...], rows: list[dict]) -> str:
    def esc(v: Any) -> str:
        return _cell(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(esc(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _html_table(columns: tuple[str, ...], rows: list[dict]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(_cell(r[c]))}</td>" for c in columns)
                     + "</tr>" for r in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


_MD_LOG = ("seq", "local_time", "kind", "category", "severity", "author", "author_name",
           "pending", "ref_seq", "text")
_MD_HANDOVER = HANDOVER_COLUMNS[:10]


class _Span:
    """Count and first/last seq of the exported log rows, kept while they stream by."""

    def __init__(self) -> None:
        self.count = 0
        self.first: int | None = None
        self.last: int | None = None

    def add_all(self, rows: list[tuple]) -> None:
        if rows:
            self.count, self.first, self.last = len(rows), rows[0][0], rows[-1][0]


def stream_log_csv(cfg, store, start: dt.date, end: dt.date, out, span: _Span,
                   excel: bool = False):
    """The duty log CSV of the range, written to ``out`` from one read snapshot: the
    same bytes as ``render(collect(...), "csv")[""]`` in constant memory. Returns the
    newest entry (seq, hash, alg) of the same read snapshot.

    SQLite builds each CSV line itself (quoting as ``_field`` does, the site's
    local time from the UTC offsets in force over the range, formula cells neutralised as
    ``neutral`` does), and a batch of lines comes back as one string, built on worker
    threads on every core (opsctl.core.readahead) and written in seq order. A row whose
    timestamp is not in the standard form comes back without a line, and its batch is
    rendered row by row here (by the Python path for that row).
    """
    lo, hi = day_range_utc(cfg, start, end)
    eol = _eol(excel)
    out.write(_csv_doc(LOG_COLUMNS, [], excel).decode())
    count, first, last = 0, None, None
    with store.read() as conn:
        if conn.dialect.name != "sqlite":
            return _stream_csv_python(cfg, conn, lo, hi, out, span, eol)
        sql, params = _csv_line_sql(cfg, lo, hi)
        cur = conn.connection.dbapi_connection.cursor()
        try:
            # The rows of the range are found on the ts index, then read in seq order by
            # their seq range (filtered on ts again): ordering the ts index's hits by seq
            # would sort the whole year's CSV lines in a temporary B-tree first.
            lo_seq, hi_seq = cur.execute(
                "SELECT min(seq), max(seq) FROM duty_log WHERE ts >= ? AND ts < ?",
                (lo, hi)).fetchone()
            oldest = cur.execute("SELECT min(seq) FROM duty_log").fetchone()[0]
            jobs = ([] if lo_seq is None else
                    [(a, min(a + CSV_BATCH - 1, hi_seq), sql, params, eol)
                     for a in range(lo_seq, hi_seq + 1, CSV_BATCH)])

            def same_log(wcur) -> None:
                # A worker's snapshot is a moment later than ours: appends after ours
                # are past hi_seq, but a purge in between would lose rows.
                if wcur.execute("SELECT min(seq) FROM duty_log").fetchone()[0] != oldest:
                    raise StoreError("the duty log was purged during the export")

            with readahead.Ordered(store, jobs, _csv_batch, setup=same_log) as batches:
                for (a, b, *_), res in zip(jobs, batches, strict=True):
                    if isinstance(res, tuple) and res[0] == res[1]:
                        n, _, bfirst, blast, text = res
                    else:  # an error, or rows without a line: this batch here, by row
                        n, bfirst, blast, text = _csv_rows(cfg, conn, cur, sql, params,
                                                           a, b, eol)
                    if not n:
                        continue
                    out.write(text)
                    out.write(eol)
                    if first is None:
                        first = bfirst
                    count += n
                    last = blast
            head = cur.execute("SELECT seq, hash, alg FROM duty_log "
                               "ORDER BY seq DESC LIMIT 1").fetchone()
        finally:
            cur.close()
    span.count, span.first, span.last = count, first, last
    return head


CSV_BATCH = 5000


def _csv_batch(cur, a: int, b: int, sql: str, params: dict, eol: str) -> tuple:
    """(rows, lines, first seq, last seq, the lines joined by ``eol`` as UTF-8 bytes) of
    the range a..b. The subquery's ORDER BY keeps group_concat in seq order (the rows
    are read in that order off the primary key anyway)."""
    return cur.execute(
        "SELECT count(*), count(line), min(seq), max(seq), "
        f"CAST(group_concat(line, :eol) AS BLOB) FROM ({sql})",  # noqa: S608
        {**params, "first": a, "last": b, "eol": eol}).fetchone()


def _csv_rows(cfg, conn, cur, sql: str, params: dict, a: int, b: int, eol: str) -> tuple:
    """A batch row by row on the caller's own connection: rows without an SQL-built
    line are rendered by the Python path."""
    cur.execute(sql, {**params, "first": a, "last": b})
    rows = cur.fetchall()
    lines = [line if line is not None else _python_line(cfg, conn, seq)
             for seq, line in rows]
    if not rows:
        return 0, None, None, ""
    return len(rows), rows[0][0], rows[-1][0], eol.join(lines)


def _stream_csv_python(cfg, conn, lo: str, hi: str, out, span: _Span, eol: str):
    """PostgreSQL: the rows rendered in Python (the SQL-built lines are SQLite's), a
    server-side cursor's batch at a time."""
    rows = conn.execution_options(stream_results=True, yield_per=5000).exec_driver_sql(
        _sql(conn, _LOG_SELECT), (lo, hi))
    count, first, last = 0, None, None
    lines: list[str] = []
    for row in _log_rows(cfg, rows):
        lines.append(_line(row) + eol)
        if first is None:
            first = row[0]
        count += 1
        last = row[0]
        if count % 5000 == 0:
            out.write("".join(lines))
            lines = []
    out.write("".join(lines))
    head = conn.exec_driver_sql("SELECT seq, hash, alg FROM duty_log "
                                "ORDER BY seq DESC LIMIT 1").first()
    span.count, span.first, span.last = count, first, last
    return head


def _python_line(cfg, conn, seq: int) -> str:
    cur = conn.connection.dbapi_connection.cursor()
    try:
        cur.execute(_LOG_SELECT.replace("WHERE ts >= ? AND ts < ?", "WHERE seq = ?"), (seq,))
        return "".join(_line(r) for r in _log_rows(cfg, cur))
    finally:
        cur.close()


# The form opsctl stores (UTC, microseconds): nothing in it needs CSV quoting.
_STANDARD_TS = ("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]"
                ".[0-9][0-9][0-9][0-9][0-9][0-9]+00:00")


def _csv_line_sql(cfg, lo: str, hi: str) -> tuple[str, dict]:
    params: dict[str, Any] = {"lo": lo, "hi": hi, "std": _STANDARD_TS}
    cr = " OR instr({x}, char(13))"
    # The first character's code (= + - @ TAB CR ') is cheaper to test than substr().
    formula = "unicode({x}) IN (61, 43, 45, 64, 9, 13, 39)"

    def q(x: str) -> str:  # QUOTE_MINIMAL: quotes, delimiter, line ends; %w doubles "
        # The "'" of a neutralised cell needs no quoting itself, so the test is on x.
        test = ("instr({x}, '\"') OR instr({x}, ',') OR instr({x}, char(10))" + cr
                ).format(x=x)
        pre = f"CASE WHEN {formula.format(x=x)} THEN '''' ELSE '' END"
        return f"CASE WHEN {test} THEN printf('\"%s%w\"', {pre}, {x}) ELSE {pre} || {x} END"

    names = full_names(cfg)
    name = "NULL"
    if names:
        name = "CASE author"
        for i, (login, full) in enumerate(sorted(names.items())):
            params[f"p{i}"], params[f"n{i}"] = login, full
            name += f" WHEN :p{i} THEN :n{i}"
        name += " END"

    # Local time: datetime() of the whole seconds plus the offset in force (exact, like
    # adding the offset in Python and cutting to seconds).
    segments = _offsets(site_tz(cfg), lo, hi)
    local = "CASE" if len(segments) > 1 else ""
    for i, (until, secs) in enumerate(segments):
        params[f"o{i}"] = f"{secs:+d} seconds"
        if until is None:
            local += (f" ELSE datetime(substr(ts, 1, 19), :o{i}) END" if local
                      else f"datetime(substr(ts, 1, 19), :o{i})")
        else:
            params[f"t{i}"] = until
            local += f" WHEN ts < :t{i} THEN datetime(substr(ts, 1, 19), :o{i})"
    # Free text is quoted as needed; the other columns are written as they are when they
    # hold what opsctl writes (its words, integers, hex hashes), which is checked here: a
    # row that holds anything else (edited behind opsctl's back) gets no line and is
    # rendered by the Python path.
    words = {"kind": chain.KINDS, "category": chain.CATEGORIES, "alg": (chain.ALG_PLAIN,
                                                                        chain.ALG_HMAC)}
    safe = [f"{c} IN ({', '.join(repr(w) for w in ws)})" for c, ws in words.items()]
    safe += [f"(severity IS NULL OR severity IN ({', '.join(map(repr, chain.SEVERITIES))}))",
             "typeof(pending) = 'integer' AND pending >= 0",
             "(ref_seq IS NULL OR (typeof(ref_seq) = 'integer' AND ref_seq >= 0))"]
    safe += [f"NOT (instr({h}, ',') OR instr({h}, '\"') OR instr({h}, char(10)){cr.format(x=h)}"
             f" OR {formula.format(x=h)})" for h in ("prev_hash", "hash")]
    line = ("printf('" + ",".join(["%s"] * len(LOG_COLUMNS)) + "', seq, ts, " + local
            + ", kind, category, severity, " + q("author") + ", " + q(f"({name})") + ", "
            + q("source") + ", pending, ref_seq, " + q("text") + ", " + q("details")
            + ", alg, prev_hash, hash)")
    sql = (f"SELECT seq, CASE WHEN ts GLOB :std AND {' AND '.join(safe)} "  # noqa: S608
           f"THEN {line} END AS line FROM duty_log WHERE seq BETWEEN :first AND :last "
           # unary +: the range filter, not a second index to choose
           "AND +ts >= :lo AND +ts < :hi ORDER BY seq")
    return sql, params


def _offsets(tz, lo: str, hi: str) -> list[tuple[str | None, int]]:
    """The site's UTC offsets over [lo, hi): (UTC instant it ends, seconds), the last
    one open-ended. Sampled every 6 hours, each change pinned to its second."""
    def off(t: dt.datetime) -> int:
        return int(t.astimezone(tz).utcoffset().total_seconds())

    start = dt.datetime.fromisoformat(lo).astimezone(dt.UTC)
    end = min(dt.datetime.fromisoformat(hi).astimezone(dt.UTC),
              dt.datetime(9999, 12, 30, tzinfo=dt.UTC))
    step = dt.timedelta(hours=6)
    out: list[tuple[str | None, int]] = []
    t, cur = start, off(start)
    while t < end:
        nxt = min(t + step, end)
        if off(nxt) != cur:
            a, b = t, nxt  # off(a) == cur != off(b): the change is in (a, b]
            while (b - a) > dt.timedelta(seconds=1):
                mid = a + (b - a) / 2
                mid = mid.replace(microsecond=0)
                if mid <= a:
                    break
                a, b = (mid, b) if off(mid) == cur else (a, mid)
            out.append((b.isoformat(timespec="microseconds"), cur))
            cur = off(b)
        t = nxt
    out.append((None, cur))
    return out


def render(data: dict[str, Any], fmt: str, *, excel: bool = False) -> dict[str, bytes]:
    """suffix -> bytes; the main document has suffix '' (csv has companions). The CSV
    log itself is not rendered here when ``data["duty_log"]`` is None (streamed).
    ``excel``: the CSV files for Excel (BOM, CRLF)."""
    title = f"Duty log {data['site']} {data['from']} .. {data['to']}"
    if fmt == "csv":
        docs = {"": _log_csv(data["duty_log"], excel)} if data["duty_log"] is not None else {}
        return {**docs, ".handovers": _csv(HANDOVER_COLUMNS, data["handovers"], excel),
                ".inspections": _csv(INSPECTION_COLUMNS, data["inspections"], excel)}
    data = {**data, "duty_log": _log_dicts(data["duty_log"])}
    if fmt == "json":
        return {"": (json.dumps(data, sort_keys=True, ensure_ascii=False, indent=1)
                     + "\n").encode()}
    if fmt == "md":
        parts = [f"# {title}", "", f"## Duty log ({len(data['duty_log'])} entries)", "",
                 _md_table(_MD_LOG, data["duty_log"]), "",
                 f"## Handovers ({len(data['handovers'])})", "",
                 _md_table(_MD_HANDOVER, data["handovers"]), "",
                 f"## Inspections ({len(data['inspections'])})", "",
                 _md_table(INSPECTION_COLUMNS, data["inspections"]), ""]
        return {"": "\n".join(parts).encode()}
    if fmt == "html":
        t = html.escape(title)
        parts = [
            "<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\">",
            f"<title>{t}</title></head><body>", f"<h1>{t}</h1>",
            f"<h2>Duty log ({len(data['duty_log'])} entries)</h2>",
            _html_table(_MD_LOG, data["duty_log"]),
            f"<h2>Handovers ({len(data['handovers'])})</h2>",
            _html_table(_MD_HANDOVER, data["handovers"]),
            f"<h2>Inspections ({len(data['inspections'])})</h2>",
            _html_table(INSPECTION_COLUMNS, data["inspections"]),
            "</body></html>", ""]
        return {"": "\n".join(parts).encode()}
    raise UsageError(f"unknown export format {fmt!r}: expected " + ", ".join(FORMATS))


# -- writing ----------------------------------------------------------------------------
class _Staged:
    """Files written to temporaries first and renamed into place together."""

    def __init__(self) -> None:
        self.pending: list[tuple[Path, Path]] = []
        self.done: list[Path] = []
        self.stale: list[Path] = []

    def add(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        interrupt.discard_on_exit(tmp)  # Ctrl-C before commit: no temporary left behind
        try:
            os.fchmod(fd, FILE_MODE)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            interrupt.keep(tmp)
            raise
        os.close(fd)
        self.pending.append((tmp, path))

    @contextlib.contextmanager
    def stream(self, path: Path) -> Iterator[_HashingFile]:
        """A file written piece by piece (memory flat at any size), hashed as it goes."""
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        # Ctrl-C while the file streams (seconds for a year): no temporary left behind.
        interrupt.discard_on_exit(tmp)
        try:
            os.fchmod(fd, FILE_MODE)
            with open(fd, "wb", closefd=False) as raw:
                out = _HashingFile(raw)
                yield out
                out.flush()
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            interrupt.keep(tmp)
            raise
        os.close(fd)
        self.pending.append((tmp, path))

    def commit(self) -> None:
        # Ctrl-C waits for the renames: an export is all its files or none of them.
        with interrupt.critical():
            for tmp, path in self.pending:
                os.replace(tmp, path)
                interrupt.keep(tmp)
                self.done.append(path)
            for path in self.stale:
                path.unlink(missing_ok=True)
            dirs = {p.parent for _, p in self.pending}
            for d in dirs:
                fd = os.open(d, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            self.pending = []

    def abort(self) -> None:
        for tmp, _ in self.pending:
            tmp.unlink(missing_ok=True)
            interrupt.keep(tmp)
        for path in self.done:
            path.unlink(missing_ok=True)


class _HashingFile:
    """A sink for text or UTF-8 bytes: buffers, then hashes and writes in blocks (the
    hash over the bytes as written)."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()
        self.bytes = 0
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, data: str | bytes) -> None:
        if isinstance(data, str):
            data = data.encode()
        self.parts.append(data)
        self.size += len(data)
        if self.size > 1 << 20:
            self.flush()

    def flush(self) -> None:
        if self.parts:
            blob = b"".join(self.parts)
            self.hash.update(blob)
            self.bytes += len(blob)
            self.raw.write(blob)
            self.parts, self.size = [], 0
        self.raw.flush()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def export(cfg, store, start: dt.date, end: dt.date, formats: list[str], outdir: Path,
           *, main_file: Path | None = None, verify_chain: bool = False,
           excel: bool | None = None, by: str | None = None, sign: bool = True) -> Path:
    """Write the export; returns the manifest path. ``main_file`` (one format only)
    names the main document instead of the default ``duty-FROM_TO.EXT`` in ``outdir``.
    ``verify_chain`` walks the whole chain first and refuses a broken log (otherwise the
    manifest records the head as stored, and ``duty log verify`` is the check).
    ``excel`` (default ``duty.export_excel``): CSV files with a BOM and CRLF. The manifest
    is signed by ``by`` (else the caller's person) with their SSH key, or "login only"."""
    from opsctl.handover import export_signing

    if excel is None:
        excel = cfg.duty.export_excel
    signed_by, signer = export_signing.signer_record(cfg, by, sign=sign)
    if not formats:
        raise UsageError("no export format given")
    for f in formats:
        if f not in FORMATS:
            raise UsageError(f"unknown export format {f!r}: expected " + ", ".join(FORMATS))
    if main_file is not None and len(formats) != 1:
        raise UsageError("-o FILE takes one format")
    if main_file is not None:
        outdir = main_file.parent
        base = main_file.name[: -len(main_file.suffix)] if main_file.suffix else main_file.name
    else:
        base = f"duty-{start}_{end}"
    # The CSV log is streamed from the database to its file; the other formats render
    # whole documents from the collected rows.
    data = (collect(cfg, store, start, end) if set(formats) - {"csv"}
            else {**_companions(cfg, store, start, end), "duty_log": None})
    res = chain.verify(store, chain.key_for_config(cfg)) if verify_chain else _head(store)
    if not res.ok:
        raise StoreError(f"duty log chain broken, export refused: {res.message}",
                         hint="opsctl duty log verify")
    try:
        outdir.mkdir(parents=True, exist_ok=True, mode=0o750)
    except OSError as exc:
        raise OpsError(f"cannot create export directory {outdir}: {exc.strerror}") from None
    staged = _Staged()
    files = []
    span = _Span()
    if data["duty_log"] is not None:
        span.add_all(data["duty_log"])
    try:
        for fmt in formats:
            if fmt == "csv" and data["duty_log"] is None:
                path = main_file or outdir / f"{base}.csv"
                with staged.stream(path) as out:
                    head = stream_log_csv(cfg, store, start, end, out, span, excel)
                if not verify_chain:  # the head as of the rows written (one snapshot)
                    res = _head_result(head)
                files.append({"name": path.name, "sha256": out.hash.hexdigest(),
                              "bytes": out.bytes})
            for suffix, blob in render(data, fmt, excel=excel).items():
                if main_file is not None and not suffix:
                    path = main_file
                else:
                    path = outdir / f"{base}{suffix}.{fmt}"
                staged.add(path, blob)
                files.append({"name": path.name, "sha256": _sha256(blob), "bytes": len(blob)})
        with store.read() as conn:
            seals = seal.export_evidence(conn, span.first, span.last)
        manifest = {
            "manifest_version": 2, "site": cfg.site.name, "from": str(start), "to": str(end),
            "entries": span.count, "handovers": len(data["handovers"]),
            "inspections": len(data["inspections"]),
            "first_seq": span.first, "last_seq": span.last,
            "chain_head": {"seq": res.last_seq, "hash": res.head_hash,
                           "verified": verify_chain, "intact": res.ok if verify_chain else None,
                           "keyed": res.keyed},
            "seals": seals,
            "csv": {"encoding": "utf-8-sig" if excel else "utf-8",
                    "line_end": "crlf" if excel else "lf", "formula_prefix": "'"},
            "signed_by": signed_by,
            "files": sorted(files, key=lambda f: f["name"]),
        }
        mpath = outdir / f"{base}.manifest.json"
        mbytes = (json.dumps(manifest, sort_keys=True, indent=1, ensure_ascii=False)
                  + "\n").encode()
        staged.add(mpath, mbytes)
        if signed_by["method"] == "sshsig":
            # Before anything is renamed into place: no key in the agent, no export.
            staged.add(export_signing.sig_path(mpath),
                       export_signing.sign(signer, mbytes).encode())
        else:  # an earlier export's signature must not sit beside this manifest
            staged.stale.append(export_signing.sig_path(mpath))
        staged.commit()
    except OSError as exc:
        staged.abort()
        raise OpsError(f"export failed, nothing written: {exc.strerror or exc}: "
                       f"{exc.filename or outdir}") from None
    except BaseException:
        staged.abort()
        raise
    return mpath


def _head(store) -> chain.VerifyResult:
    """The newest entry as stored (seq, hash), without walking the chain."""
    from opsctl.handover.schema import duty_log

    with store.read() as conn:
        row = conn.execute(sa.select(duty_log.c.seq, duty_log.c.hash, duty_log.c.alg)
                           .order_by(duty_log.c.seq.desc()).limit(1)).first()
    return _head_result(row)


def _head_result(row) -> chain.VerifyResult:
    return chain.VerifyResult(ok=True, entries=0, first_seq=None,
                              last_seq=row[0] if row else None,
                              head_hash=row[1] if row else None,
                              keyed=bool(row and row[2] == chain.ALG_HMAC))


class ExportCheck:
    """What ``check_export`` found: problems (empty: intact), and what it checked."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.signature: dict[str, Any] | None = None
        self.seals: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": not self.problems, "problems": self.problems,
                "signature": self.signature, "seals": self.seals}


def verify_export(manifest_path: Path, store=None, key: bytes | None = None) -> list[str]:
    """Problems found (empty: the export is intact and, with a store, matches the log)."""
    return check_export(manifest_path, store, key).problems


def check_export(manifest_path: Path, store=None, key: bytes | None = None, *,
                 signers: str | None = None, require_signature: bool = False,
                 vkey: seal.VerificationKey | None = None) -> ExportCheck:
    """Every file against the manifest; the exported log rows' hashes, links and count
    against the manifest (a cut-off head is truncation); the chain head against the store
    when there is one; the manifest's SSH signature against ``signers`` (an
    allowed-signers text); with ``vkey`` the recorded seals and that they cover the rows."""
    from opsctl.handover import export_signing

    out = ExportCheck()
    try:
        raw = manifest_path.read_bytes()
        manifest = json.loads(raw)
        files = manifest["files"]
    except FileNotFoundError:
        raise UsageError(f"no manifest {manifest_path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {manifest_path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError):
        out.problems.append(f"{manifest_path}: not a valid export manifest")
        return out
    if signers is not None or manifest.get("signed_by"):
        sig = export_signing.verify(manifest_path, raw, manifest.get("signed_by"), signers,
                                    required=require_signature)
        out.signature = sig.to_dict()
        if not sig.ok:
            out.problems.append(f"manifest signature: {sig.verdict}")
    problems = out.problems
    for f in files:
        p = manifest_path.parent / f["name"]
        try:
            digest = _sha256(p.read_bytes())
        except FileNotFoundError:
            problems.append(f"{f['name']}: missing")
            continue
        if digest != f["sha256"]:
            problems.append(f"{f['name']}: SHA-256 does not match the manifest (altered)")
    head = manifest.get("chain_head") or {}
    hashes: dict[int, str] = {}
    if not problems:
        for f in files:
            if f["name"].endswith((".json", ".csv")) and not f["name"].endswith(
                    (".handovers.csv", ".inspections.csv", ".manifest.json")):
                rows, found = _check_rows(manifest_path.parent / f["name"], key)
                problems += found
                if rows is not None:
                    problems += _truncation(f["name"], rows, manifest, head)
                    hashes = {r["seq"]: r["hash"] for r in rows}
    if store is not None and head.get("seq"):
        from opsctl.handover.schema import duty_log

        with store.read() as conn:
            row = conn.execute(sa.select(duty_log.c.hash)
                               .where(duty_log.c.seq == head["seq"])).first()
            newest = conn.execute(sa.select(sa.func.max(duty_log.c.seq))).scalar()
        if row is None:
            problems.append(f"chain head entry {head['seq']} of the export is not in the log "
                            f"(the log ends at {newest or 'no entry'}): the log was truncated")
        elif row.hash != head["hash"]:
            problems.append(f"chain head entry {head['seq']} differs from the log "
                            "(the log or the export was altered)")
    if vkey is not None:
        res = seal.verify_export_seals(manifest.get("seals"), vkey, hashes,
                                       (head.get("seq"), head.get("hash")))
        out.seals = res.to_dict()
        if not res.ok:
            problems.append(f"seals: {res.message}")
    return out


def _truncation(name: str, rows: list[dict], manifest: dict, head: dict) -> list[str]:
    """The exported rows are all the manifest says: a file cut short (its head row gone)
    is truncated, not intact."""
    want_n, want_last = manifest.get("entries"), manifest.get("last_seq")
    ends = rows[-1]["seq"] if rows else None
    where = f"file ends at {ends}" if ends is not None else "file has no entry"
    if want_n is not None and (len(rows) < want_n or (want_last is not None and
                                                       (ends or 0) < want_last)):
        return [f"{name}: truncated: manifest says {want_n} entries / head "
                f"{want_last if want_last is not None else head.get('seq')}, {where} "
                f"({len(rows)} entries)"]
    if want_n is not None and len(rows) != want_n or ends != want_last:
        return [f"{name}: manifest says {want_n} entries up to {want_last}, {where} "
                f"({len(rows)} entries)"]
    if rows and head.get("seq") == ends and rows[-1]["hash"] != head.get("hash"):
        return [f"{name}: entry {ends} is not the chain head the manifest records"]
    return []


def _read_log_rows(path: Path) -> list[dict]:
    if path.suffix == ".json":
        rows = json.loads(path.read_text())["duty_log"]
        for r in rows:
            d = r["details"]
            r["details"] = None if d is None else json.dumps(
                d, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return rows
    # utf-8-sig: with or without the BOM of an Excel export.
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = [{k: unneutral(v) for k, v in r.items()} for r in csv.DictReader(fh)]
    for r in rows:  # CSV has no NULL: empty optional fields were None
        r["seq"], r["pending"] = int(r["seq"]), int(r["pending"])
        r["ref_seq"] = int(r["ref_seq"]) if r["ref_seq"] else None
        for k in ("severity", "details"):
            r[k] = r[k] or None
    return rows


def check_log_rows(path: Path, key: bytes | None = None) -> list[str]:
    """Recompute the chain inside an exported log: each row's hash from its content
    (keyed rows only with the key) and each row's link to the one before it."""
    return _check_rows(path, key)[1]


def _check_rows(path: Path, key: bytes | None = None) -> tuple[list[dict] | None, list[str]]:
    try:
        rows = _read_log_rows(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, [f"{path.name}: cannot read the exported log: {exc}"]
    problems: list[str] = []
    prev = None
    for r in rows:
        values = (r["seq"], r["time_utc"], r["kind"], r["category"], r["severity"], r["text"],
                  r["source"], r["author"], r["pending"], r["ref_seq"], r["details"],
                  r["alg"], r["prev_hash"])
        checkable = r["alg"] == chain.ALG_PLAIN or key is not None
        if checkable and chain.entry_hash(values, r["alg"], key) != r["hash"]:
            problems.append(f"{path.name}: entry {r['seq']} does not match its hash")
        if prev is not None and prev["seq"] + 1 == r["seq"] and r["prev_hash"] != prev["hash"]:
            problems.append(f"{path.name}: entry {r['seq']} does not link to entry "
                            f"{prev['seq']}")
        prev = r
    return rows, problems[:10]


def default_outdir(cfg) -> Path:
    if cfg.duty.export_dir is not None:
        return Path(cfg.duty.export_dir)
    raise StoreError("no export directory: give -o FILE or set duty.export_dir")
