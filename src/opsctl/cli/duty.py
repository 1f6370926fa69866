"""``opsctl duty``: Roster, tamper-evident duty log, handover, exports.

Thin: parse, call ``opsctl.handover.*``, render. Domain modules are imported inside the
commands so ``opsctl --help`` stays fast.
"""

from __future__ import annotations

import sys

import click

from opsctl.cli import nagios
from opsctl.cli.completion import PERSON, SUPERVISOR
from opsctl.cli.context import pass_app
from opsctl.cli.nagios import format_option
from opsctl.cli.options import ID
from opsctl.core.i18n import N_, _, ngettext

CATEGORIES = ["incident", "call", "patrol", "change", "note"]
SEVERITIES = ["minor", "major", "critical"]


def _date(value: str | None, what: str):
    if value is None:
        return None
    from opsctl.handover.timeutil import parse_date

    return parse_date(value, what)


@click.group()
def duty() -> None:
    """Roster, tamper-evident duty log, handover, exports."""


# == duty log ===========================================================================
@duty.group("log")
def log_group() -> None:
    """The append-only, hash-chained duty log."""


def _entry_rows(app, entries):
    from opsctl.handover.timeutil import local_str

    # To the minute and kind/category/severity/reference in one column: at 80 columns the
    # text keeps about half the width (`duty log show` has the seconds and every field).
    return [(e.seq, local_str(app.cfg, e.ts, seconds=False), e.author, _what(e),
             _word(e.status) if e.status else "", e.text) for e in entries]


# The duty log's fixed words (categories, severities, kinds, derived states) as people
# read them; the store and --json keep the English words.
_WORDS = {w: w for w in (N_("incident"), N_("call"), N_("patrol"), N_("change"), N_("note"),
                         N_("minor"), N_("major"), N_("critical"), N_("amend"), N_("close"),
                         N_("review"), N_("handover"), N_("roster"), N_("purge"), N_("open"),
                         N_("closed"), N_("superseded"), N_("matches"), N_("off roster"),
                         "no roster", "inspection run", "latest stored inspection record",
                         "none")}


def _word(w: str) -> str:
    return _(w) if w in _WORDS else w


def _what(e) -> str:
    if e.kind == "entry":
        return _word(e.category) + (f" {_word(e.severity)}" if e.severity else "")
    return _word(e.kind) + (f" #{e.ref_seq}" if e.ref_seq is not None else "")


_ENTRY_COLS = [N_("seq"), N_("time"), N_("by"), N_("entry"), N_("status"), N_("text")]


@log_group.command("add")
@click.argument("text")
@click.option("--category", type=click.Choice(CATEGORIES), default="note", show_default=True)
@click.option("--severity", type=click.Choice(SEVERITIES))
@click.option("--pending", is_flag=True, help="An open item, tracked until closed.")
@click.option("--status", "status_note", metavar="TEXT",
              help="Why a pending item is still open / what is being done.")
@click.option("--by", metavar="NAME", shell_complete=PERSON, help="Author (a configured person).")
@pass_app
def log_add(app, text, category, severity, pending, status_note, by) -> None:
    """Append an entry; prints its sequence number."""
    from opsctl.core.logsetup import contains_secret
    from opsctl.handover import dutylog

    seq = dutylog.add(app.cfg, app.store, text, category=category, severity=severity,
                      pending=pending, by=by, status=status_note)
    if contains_secret(text):
        # Entries are evidence and are exported as written; a secret in one cannot be
        # taken back (an amendment adds, it does not erase).
        app.out.warn(_("entry {seq} contains a value the config holds as a secret "
                       "(password, community, token); duty log entries are kept and "
                       "exported as written").format(seq=seq))
    if app.json:
        app.out.json({"seq": seq})
    else:
        app.out.info(_("entry {seq} added").format(seq=seq))


@log_group.command("list")
@click.option("--from", "start", metavar="DATE", help="YYYY-MM-DD (site time).")
@click.option("--to", "end", metavar="DATE", help="YYYY-MM-DD, inclusive.")
@click.option("--pending", is_flag=True, help="Only open items.")
@click.option("--last", "last", type=click.IntRange(min=1), metavar="N",
              help="Only the newest N of those entries.")
@pass_app
def log_list(app, start, end, pending, last) -> None:
    """List entries."""
    from opsctl.handover import dutylog

    entries = dutylog.list_entries(app.cfg, app.store, _date(start, "--from date"),
                                   _date(end, "--to date"), pending=pending, last=last)
    if app.json:
        app.out.json([e.to_dict() for e in entries])
        return
    app.out.table([_(c) for c in _ENTRY_COLS], _entry_rows(app, entries),
                  caption=ngettext("{n} entry", "{n} entries", len(entries)).format(
                      n=len(entries)))


@log_group.command("search")
@click.argument("text")
@click.option("--from", "start", metavar="DATE", help="YYYY-MM-DD (site time).")
@click.option("--to", "end", metavar="DATE", help="YYYY-MM-DD, inclusive.")
@click.option("--last", "last", type=click.IntRange(min=1), default=50, show_default=True,
              metavar="N", help="The newest N matching entries.")
@pass_app
def log_search(app, text, start, end, last) -> None:
    """Entries whose text contains TEXT (case-insensitive), newest N, oldest first."""
    from opsctl.handover import dutylog

    entries = dutylog.search(app.cfg, app.store, text, _date(start, "--from date"),
                             _date(end, "--to date"), last=last)
    if app.json:
        app.out.json([e.to_dict() for e in entries])
        return
    # The searched text stays out of the caption: captions are markup, user text is data.
    app.out.table([_(c) for c in _ENTRY_COLS], _entry_rows(app, entries),
                  caption=ngettext("{n} matching entry", "{n} matching entries",
                                   len(entries)).format(n=len(entries)))


@log_group.command("show")
@click.argument("seq", type=ID)
@pass_app
def log_show(app, seq) -> None:
    """One entry with its hash, references and derived status."""
    from opsctl.handover import dutylog
    from opsctl.handover.timeutil import local_str

    e = dutylog.show(app.store, seq)
    if app.json:
        app.out.json(e.to_dict())
        return
    app.out.kv([(_("seq"), e.seq), (_("time"), local_str(app.cfg, e.ts)),
                (_("kind"), _word(e.kind)), (_("category"), _word(e.category)),
                (_("severity"), _word(e.severity) if e.severity else None),
                (_("author"), e.author), (_("source"), e.source), (_("pending"), e.pending),
                (_("status"), _word(e.status) if e.status else None),
                (_("references"), e.ref_seq),
                (_("amended by"), ", ".join(map(str, e.amended_by))),
                (_("closed by"), e.closed_by), (_("text"), e.text),
                (_("details"), None if e.details is None else str(e.details)),
                (_("hash"), e.hash)],
               title=_("duty log entry {seq}").format(seq=e.seq))


@log_group.command("close")
@click.argument("seq", type=ID)
@click.option("--result", required=True, metavar="TEXT", help="How it was resolved.")
@click.option("--by", metavar="NAME", shell_complete=PERSON)
@pass_app
def log_close(app, seq, result, by) -> None:
    """Close a pending item (a new entry referencing it)."""
    from opsctl.handover import dutylog

    new = dutylog.close(app.cfg, app.store, seq, result, by=by)
    app.out.json({"seq": new, "closes": seq}) if app.json else app.out.info(
        _("entry {new} closes item {seq}").format(new=new, seq=seq))


@log_group.command("amend")
@click.argument("seq", type=ID)
@click.option("--reason", required=True, metavar="TEXT", help="Why the entry is corrected.")
@click.option("--text", required=True, metavar="TEXT", help="The corrected text.")
@click.option("--status", "status_note", metavar="TEXT", help="Status note of an open item.")
@click.option("--severity", type=click.Choice(SEVERITIES), help="Corrected severity.")
@click.option("--by", metavar="NAME", shell_complete=PERSON)
@pass_app
def log_amend(app, seq, reason, text, status_note, severity, by) -> None:
    """Correct an entry: a new entry referencing the old one (which stays)."""
    from opsctl.handover import dutylog

    new = dutylog.amend(app.cfg, app.store, seq, reason, text, by=by, status=status_note,
                        severity=severity)
    app.out.json({"seq": new, "amends": seq}) if app.json else app.out.info(
        _("entry {new} amends entry {seq}").format(new=new, seq=seq))


@log_group.command("review")
@click.option("--date", "day", required=True, metavar="DATE", help="YYYY-MM-DD.")
@click.option("--by", required=True, metavar="SUPERVISOR", shell_complete=SUPERVISOR)
@pass_app
def log_review(app, day, by) -> None:
    """Record a supervisor's review of one day's log."""
    from opsctl.handover import dutylog

    seq = dutylog.review(app.cfg, app.store, _date(day, "--date"), by=by)
    app.out.json({"seq": seq}) if app.json else app.out.info(
        _("review recorded as entry {seq}").format(seq=seq))


@log_group.command("verify")
@click.option("--verification-key", "vkey", metavar="KEY",
              help="Also check every seal with this verification key (printed by `duty log "
                   "seal init`); an auditor's copy of the store is enough.")
@click.option("--verification-key-file", "vkey_file", type=click.Path(dir_okay=False),
              metavar="FILE", help="The verification key, read from FILE.")
@format_option
@pass_app
def log_verify(app, vkey, vkey_file, fmt: str) -> None:
    """Check the whole hash chain, and with a verification key every seal (a rewritten or
    truncated log is caught even when every hash was recomputed). Exit 0 intact, 1 intact
    but entries were sealed late (no seal for the epochs in between: the sealer was down,
    or seals were deleted and re-made with a later key), 2 broken."""
    from pathlib import Path

    from opsctl.core.errors import UsageError
    from opsctl.handover import dutylog, seal

    res = dutylog.verify(app.cfg, app.store)
    if vkey_file:
        try:
            vkey = Path(vkey_file).read_text()
        except OSError as exc:
            raise UsageError(_("cannot read {path}: {error}").format(
                path=vkey_file, error=exc.strerror or exc)) from None
    sealed = seal.verify(app.store, seal.VerificationKey.decode(vkey)) if vkey else None
    ok = res.ok and (sealed is None or sealed.ok)
    code = 2 if not ok else (1 if sealed is not None and sealed.late else 0)
    if fmt == "nagios":
        nagios.chain(res, sealed)
    if app.json:
        out = res.to_dict()
        out["seals"] = sealed.to_dict() if sealed is not None else seal.status(app.store)
        out["ok"] = ok
        app.out.json(out)
        sys.exit(code)
    if res.ok:
        app.out.info(_("duty log intact: {message}").format(message=res.message)
                     + (_("; head {hash}…").format(hash=res.head_hash[:16])
                        if res.head_hash else ""))
    else:
        app.out.err(_("opsctl: duty log BROKEN: {message}").format(message=res.message))
    if sealed is not None:
        if sealed.ok and sealed.late:
            app.out.warn(_("seals intact, entries sealed late: {message}").format(
                message=sealed.message))
        elif sealed.ok:
            app.out.info(_("seals intact: {message}").format(message=sealed.message))
        else:
            app.out.err(_("opsctl: duty log BROKEN: {message}").format(message=sealed.message))
    else:
        st = seal.status(app.store)
        if st["seals"]:
            app.out.info(_("{count} seals (last epoch {epoch}); check them with "
                           "--verification-key").format(count=st["seals"],
                                                        epoch=st["last_epoch"]))
    sys.exit(code)


@duty.command("signatures")
@pass_app
def signatures_cmd(app) -> None:
    """Every signature in the duty log (handovers, roster approvals) checked with
    ssh-keygen -Y verify against the people's configured keys; "login only" where a person
    has no key. Exit 0 all good, 2 a signature does not verify."""
    from opsctl.handover import signatures

    checks = signatures.verify_log(app.cfg, app.store)
    bad = [c for c in checks if not c.ok]
    if app.json:
        app.out.json({"ok": not bad, "signatures": [c.to_dict() for c in checks]})
    else:
        app.out.table(["entry", "what", "signer", "method", "verdict"],
                      [[c.seq, c.what, c.signer, c.method,
                        ("" if c.ok else "BAD: ") + c.verdict] for c in checks],
                      title="signatures in the duty log")
    sys.exit(2 if bad else 0)


@duty.command("allowed-signers")
@click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write to FILE instead of standard output.")
@pass_app
def allowed_signers_cmd(app, output) -> None:
    """The people's SSH keys as an allowed-signers file, for `ssh-keygen -Y verify` (or git)
    without opsctl."""
    from pathlib import Path

    from opsctl.core import sshsig

    text = sshsig.allowed_signers(app.cfg.people)
    if output:
        Path(output).write_text(text)
        app.out.info(f"{len(text.splitlines())} keys written to {output}")
    else:
        click.echo(text, nl=False)


@log_group.command("print")
@click.option("--day", metavar="YYYY-MM-DD", help="One day (site time).")
@click.option("--month", metavar="YYYY-MM", help="One month (site time).")
@click.option("-o", "--output", required=True, metavar="FILE.pdf",
              type=click.Path(dir_okay=False), help="The PDF to write.")
@pass_app
def log_print(app, day, month, output) -> None:
    """A printable duty-log sheet (PDF) for a day or a month, to sign and file: every page
    has "page x of y" and the chain position and hash of its first and last entry."""
    from opsctl.core.errors import UsageError
    from opsctl.core.pdf import write_pdf
    from opsctl.handover import sheets

    if bool(day) == bool(month):
        raise UsageError("give one of --day YYYY-MM-DD or --month YYYY-MM")
    if day:
        start = end = _date(day, "--day")
        period = start.isoformat()
    else:
        start, end = sheets.month_range(month)
        period = month
    pages = write_pdf(sheets.log_sheet(app.cfg, app.store, start, end, period), output)
    if app.json:
        app.out.json({"file": output, "format": "pdf", "period": period, "pages": pages})
    else:
        app.out.info(f"duty log {period} written to {output} ({pages} pages)")


@log_group.group("seal")
def seal_group() -> None:
    """Forward-secure sealing (after journald's FSS): per-epoch keys, old keys erased."""


@seal_group.command("init")
@click.option("--force", is_flag=True, help="Replace a key no seal was made with.")
@pass_app
def seal_init(app, force) -> None:
    """Create the sealing key and print the verification key ONCE: keep it off this host
    (an auditor verifies with it and a copy of the store)."""
    from opsctl.handover import seal

    vkey = seal.init(app.cfg, app.store, force=force)
    if app.json:
        app.out.json({"verification_key": vkey.encode(),
                      "fingerprint": seal.fingerprint(vkey.k0),
                      "key_file": str(seal.key_path(app.cfg))})
        return
    app.out.info(_("sealing key: {path} (root-only; evolves every {seconds} s, old keys "
                   "erased)").format(path=seal.key_path(app.cfg), seconds=vkey.epoch_seconds))
    app.out.info(_("verification key (write it down or store it off this host; it is not "
                   "kept here):"))
    click.echo(vkey.encode())
    app.out.info(_("fingerprint: {fingerprint}").format(fingerprint=seal.fingerprint(vkey.k0)))


@seal_group.command("now")
@pass_app
def seal_now_cmd(app) -> None:
    """Seal the current epoch (the daemon does this every epoch)."""
    from opsctl.handover import seal

    out = seal.seal_now(app.cfg, app.store)
    app.out.json(out.__dict__) if app.json else app.out.info(out.message)


# `seal status` labels: its keys with spaces, marked here so they are in the catalog.
_SEAL_LABELS = (N_("set up"), N_("fingerprint"), N_("epoch seconds"), N_("seals"),
                N_("last epoch"), N_("last sealed at"), N_("sealed head"),
                N_("unsealed entries"), N_("verification key on host"))


@seal_group.command("status")
@pass_app
def seal_status_cmd(app) -> None:
    """Seals so far, the last sealed entry, entries not sealed yet."""
    from opsctl.handover import seal

    st = seal.status(app.store)
    st["verification_key_on_host"] = seal.local_vkey_path(app.cfg).exists()
    if app.json:
        app.out.json(st)
        return
    app.out.kv([(_(k.replace("_", " ")), v) for k, v in st.items()],
               title=_("duty log seals"))
    if st["verification_key_on_host"]:
        app.out.warn(_("the verification key is still on this host ({path}): move it off, "
                       "then delete it here").format(path=seal.local_vkey_path(app.cfg)))


@log_group.command("purge")
@click.option("--before", required=True, metavar="DATE",
              help="Purge entries older than this (YYYY-MM-DD); refused inside retention.")
@click.option("--by", metavar="NAME", shell_complete=PERSON)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def log_purge(app, before, by, yes) -> None:
    """Delete entries past the retention period; an anchor keeps the chain verifiable."""
    from opsctl.cli.options import confirm
    from opsctl.handover import dutylog

    day = _date(before, "--before date")
    confirm(app, f"purge duty log entries older than {day}?", yes)
    res = dutylog.purge(app.cfg, app.store, day, by=by)
    if app.json:
        app.out.json(res.__dict__)
    elif res.purged:
        app.out.info(f"purged {res.purged} entries ({res.first_seq}..{res.last_seq}); "
                     f"anchor entry {res.anchor_seq}")
    else:
        app.out.info("nothing to purge")


# == roster =============================================================================
@duty.group()
def roster() -> None:
    """Monthly roster: generate, check, approve, who is on duty."""


def _month_or_now(app, month):
    if month:
        return month
    import datetime as dt

    from opsctl.handover.timeutil import site_tz

    return dt.datetime.now(site_tz(app.cfg)).strftime("%Y-%m")


@roster.command("generate")
@click.option("--month", required=True, metavar="YYYY-MM")
@click.option("--pattern", type=click.Choice(["two-shift", "3+2", "custom"]),
              help="Default: duty.roster.pattern.")
@click.option("--by", metavar="NAME", shell_complete=PERSON)
@pass_app
def roster_generate(app, month, pattern, by) -> None:
    """Generate a month's roster from the pattern (refused once approved)."""
    from opsctl.handover import roster as r

    ro = r.generate(app.cfg, app.store, month, pattern, by=by)
    res = r.check(app.cfg, ro)
    if app.json:
        app.out.json({"roster": ro.to_dict(), "check": res.to_dict()})
        return
    app.out.info(_("roster {month} generated ({pattern}): {n} shifts; check: {result}").format(
        month=ro.month, pattern=ro.pattern, n=len(ro.slots),
        result=_("ok") if res.ok else ngettext("{n} problem", "{n} problems",
                                               len(res.errors)).format(n=len(res.errors))))


@roster.command("show")
@click.option("--month", metavar="YYYY-MM", help="Default: this month.")
@pass_app
def roster_show(app, month) -> None:
    """The effective roster (generated shifts with approved requests applied)."""
    from opsctl.handover import roster as r
    from opsctl.handover.people import full_names, label

    ro = r.load(app.cfg, app.store, _month_or_now(app, month))
    names = full_names(app.cfg, [p for s in ro.slots for p in (*s["people"], s["lead"]) if p])
    if app.json:
        app.out.json(ro.to_dict() | {"full_names": names})
        return
    rows = [(s["date"], s["shift"], s["start"][11:16], s["end"][11:16], s["post"], s["kind"],
             "+".join(s["teams"]), ", ".join(label(names, p) for p in s["people"]),
             label(names, s["lead"])) for s in ro.slots]
    state = (_("approved by {who}").format(who=ro.approved_by) if ro.approved
             else _("NOT approved"))
    app.out.table([_("date"), _("shift"), _("from"), _("to"), _("post"), _("kind"), _("team"),
                   _("people"), _("lead")],
                  rows, title=_("roster {month} ({pattern}, {state})").format(
                      month=ro.month, pattern=ro.pattern, state=state))


@roster.command("check")
@click.option("--month", metavar="YYYY-MM",
              help="Default: the latest generated roster not yet approved, else this month.")
@format_option
@pass_app
def roster_check(app, month, fmt: str) -> None:
    """24×7 coverage, gaps/overlaps, shift length, a lead per shift, hours per person.
    Exit 0 when the roster passes, 2 when it has problems."""
    from opsctl.handover import roster as r

    # A draft is what one checks before approving it (`generate && check`), not this month.
    month = month or r.latest_draft(app.store) or _month_or_now(app, None)
    ro = r.load(app.cfg, app.store, month)
    res = r.check(app.cfg, ro)
    if fmt == "nagios":
        nagios.roster(res)
    if app.json:
        app.out.json(res.to_dict())
    else:
        if res.errors:
            app.out.table([_("problem"), _("date"), _("detail")],
                          [(e["kind"], e["date"], e["message"]) for e in res.errors],
                          title=ngettext("roster {month}: {n} problem",
                                         "roster {month}: {n} problems",
                                         len(res.errors)).format(month=ro.month,
                                                                 n=len(res.errors)))
        else:
            app.out.info(_("roster {month}: {n} shifts, coverage complete, every shift led, "
                           "within limits").format(month=ro.month, n=res.shifts))
        app.out.table([_("person"), _("hours")], list(res.hours.items()),
                      title=_("hours per person"))
    sys.exit(0 if res.ok else 2)


@roster.command("approve")
@click.option("--month", required=True, metavar="YYYY-MM")
@click.option("--by", required=True, metavar="SUPERVISOR", shell_complete=SUPERVISOR)
@pass_app
def roster_approve(app, month, by) -> None:
    """Approve a month's roster (a supervisor; it must pass check)."""
    from opsctl.handover import roster as r

    ro = r.approve(app.cfg, app.store, month, by=by)
    app.out.json(ro.to_dict()) if app.json else app.out.info(
        _("roster {month} approved by {who}").format(month=ro.month, who=ro.approved_by))


@roster.command("who")
@click.option("--at", "at", metavar="TIME", help="YYYY-MM-DD[THH:MM] site time; default now.")
@pass_app
def roster_who(app, at) -> None:
    """Who is on duty now (or at TIME)."""
    import datetime as dt

    from opsctl.handover import roster as r
    from opsctl.handover.timeutil import parse_time

    when = parse_time(app.cfg, at, "--at time") if at else dt.datetime.now(dt.UTC)
    from opsctl.handover.people import full_names, label

    slots = r.who(app.cfg, app.store, when)
    names = full_names(app.cfg, [p for s in slots for p in (*s["people"], s["lead"]) if p])
    if app.json:
        app.out.json({"at": when, "on_duty": slots, "full_names": names})
        return
    if not slots:
        app.out.info(_("nobody is rostered at that time"))
        return
    app.out.table([_("shift"), _("from"), _("to"), _("post"), _("kind"), _("people"),
                   _("lead")],
                  [(s["shift"], s["start"][:16], s["end"][:16], s["post"], s["kind"],
                    ", ".join(label(names, p) for p in s["people"]), label(names, s["lead"]))
                   for s in slots])


# == leave and swap requests ============================================================
@duty.group()
def request() -> None:
    """Leave and swap requests (the only way an approved roster changes)."""


@request.command("leave")
@click.option("--person", "who", required=True, metavar="NAME", shell_complete=PERSON)
@click.option("--date", "start", required=True, metavar="DATE")
@click.option("--to", "end", metavar="DATE", help="Last day (default: --date).")
@click.option("--cover", metavar="NAME", shell_complete=PERSON, help="Who covers the shifts.")
@click.option("--reason", required=True, metavar="TEXT")
@pass_app
def request_leave(app, who, start, end, cover, reason) -> None:
    """Request leave (at least duty.roster.request_notice_days ahead)."""
    from opsctl.handover import roster as r

    rid = r.request(app.cfg, app.store, "leave", who, _date(start, "--date"),
                    _date(end, "--to date"), other=cover, reason=reason)
    app.out.json({"id": rid}) if app.json else app.out.info(f"request {rid} recorded")


@request.command("swap")
@click.option("--person", "who", required=True, metavar="NAME", shell_complete=PERSON)
@click.option("--with", "other", required=True, metavar="NAME", shell_complete=PERSON)
@click.option("--date", "start", required=True, metavar="DATE")
@click.option("--to", "end", metavar="DATE")
@click.option("--reason", required=True, metavar="TEXT")
@pass_app
def request_swap(app, who, other, start, end, reason) -> None:
    """Request a swap of two people's shifts on DATE(s)."""
    from opsctl.handover import roster as r

    rid = r.request(app.cfg, app.store, "swap", who, _date(start, "--date"),
                    _date(end, "--to date"), other=other, reason=reason)
    app.out.json({"id": rid}) if app.json else app.out.info(f"request {rid} recorded")


@request.command("list")
@click.option("--status", type=click.Choice(["pending", "approved", "rejected"]))
@pass_app
def request_list(app, status) -> None:
    """Leave and swap requests."""
    from opsctl.handover import roster as r

    reqs = r.list_requests(app.store, status)
    if app.json:
        app.out.json(reqs)
        return
    app.out.table(["id", "kind", "person", "other", "from", "to", "status", "decided by",
                   "reason"],
                  [(q["id"], q["kind"], q["person"], q["other"], q["start_date"],
                    q["end_date"], q["status"], q["decided_by"], q["reason"]) for q in reqs])


@request.command("approve")
@click.argument("rid", type=ID, metavar="ID")
@click.option("--by", required=True, metavar="SUPERVISOR", shell_complete=SUPERVISOR)
@pass_app
def request_approve(app, rid, by) -> None:
    """Approve request ID (a supervisor); the roster changes accordingly."""
    from opsctl.handover import roster as r

    q = r.decide(app.cfg, app.store, rid, True, by=by)
    app.out.json(q) if app.json else app.out.info(f"request {rid} approved")


@request.command("reject")
@click.argument("rid", type=ID, metavar="ID")
@click.option("--by", required=True, metavar="SUPERVISOR", shell_complete=SUPERVISOR)
@click.option("--reason", required=True, metavar="TEXT")
@pass_app
def request_reject(app, rid, by, reason) -> None:
    """Reject request ID (a supervisor), with the reason."""
    from opsctl.handover import roster as r

    q = r.decide(app.cfg, app.store, rid, False, by=by, note=reason)
    app.out.json(q) if app.json else app.out.info(f"request {rid} rejected")


# == handover ===========================================================================
@duty.group()
def handover() -> None:
    """Shift handover: start, accept items, count inventory, snapshot, both sign."""


_HID = click.option("--id", "hid", type=ID, help="Handover id (default: the current one).")


def _render_briefing(app, h, brief=None) -> None:
    from opsctl.handover import workflow

    brief = brief or workflow.briefing(app.cfg, app.store, h)
    if app.json:
        app.out.json(brief)
        return
    signed = [n for n, at in ((h.outgoing, h.signed_out_at), (h.incoming, h.signed_in_at))
              if at]
    from opsctl.handover.people import label
    from opsctl.handover.timeutil import local_str

    names = brief.get("full_names") or {}
    signed = [label(names, n) for n in signed]
    app.out.kv([(_("handover"), h.id), (_("outgoing"), label(names, h.outgoing)),
                (_("incoming"), label(names, h.incoming)),
                (_("state"), _(h.state)), (_("started"), local_str(app.cfg, h.started_at)),
                (_("signed by"), ", ".join(signed) or _("nobody"))],
               title=_("handover {id}").format(id=h.id))
    from opsctl.handover import dutylog

    entries = dutylog.list_entries(app.cfg, app.store, since_seq=h.since_seq)
    app.out.table([_(c) for c in _ENTRY_COLS], _entry_rows(app, entries),
                  title=_("log since the last handover ({n})").format(n=len(entries)))
    app.out.table([_("item"), _("category"), _("severity"), _("text"), _("status note"),
                   _("decision")],
                  [(i["seq"], _word(i["category"]),
                    _word(i["severity"]) if i["severity"] else None, i["text"], i["status"],
                    _(i["decision"]["decision"]) if (i["decision"] or {}).get("decision")
                    else "-") for i in brief["open_items"]],
                  title=_("open items"))
    app.out.table([_("item"), _("kind"), _("expected"), _("counted")],
                  [(i["name"], i["kind"], i["expected"], i["counted"])
                   for i in brief["inventory"]], title=_("inventory"))
    insp = brief["inspection"]
    app.out.text(_("latest inspection: {what}").format(what=(
        f"#{insp.get('id')} {insp.get('profile')} {insp.get('status')} "
        f"({insp.get('started_at')})" if insp else _("none recorded"))))
    alarms = brief["alarms"] or {}
    app.out.text(_("alarms: power {power}; raid {raid}").format(
        power=alarms.get("power"), raid=alarms.get("raid")))
    ro = brief.get("roster") or {}
    when = _(" (shift change {time})").format(time=local_str(app.cfg, ro["shift_change"])) \
        if ro.get("shift_change") else ""
    # (_("") would be the catalog's header: empty values stay empty)
    app.out.text(_("roster: {status}: {note}").format(status=_word(ro.get("status") or ""),
                                                        note=ro.get("note")) + when
                 + (_("; reason given: {reason}").format(reason=ro["reason"])
                    if ro.get("reason") else ""))
    if ro.get("shift_change"):
        app.out.text(_("arrival of {who}: {arrival}").format(
            who=h.incoming, arrival=workflow.arrival_text(ro.get("arrival"))))
    snap = brief["snapshot"]
    app.out.text(_("snapshot: {what}").format(what=(
        " ".join((_word(snap.get("source") or ""), str(snap.get("status", "")),
                  str(snap.get("note", "")))).strip()
        if snap else _("not attached"))))
    if brief["missing"]:
        app.out.text(_("before signing: {missing}").format(missing="; ".join(brief["missing"])))
    elif h.state == "open":
        app.out.text(_("ready to sign: opsctl duty handover sign --as NAME (both people)"))


@handover.command("start")
@click.option("--from", "outgoing", required=True, metavar="OUTGOING", shell_complete=PERSON)
@click.option("--to", "incoming", required=True, metavar="INCOMING", shell_complete=PERSON)
@click.option("--reason", metavar="TEXT",
              help="Why the pair is not the one on the approved roster (recorded).")
@pass_app
def handover_start(app, outgoing, incoming, reason) -> None:
    """Open a handover and show what the incoming person must read and take over.

    OUTGOING and INCOMING must be the people rostered at the nearest shift change of the
    approved roster; otherwise it is refused unless --reason says why. The start is the
    incoming's arrival, compared with the shift change (duty.handover.arrive_early_minutes)."""
    from opsctl.handover import workflow

    h = workflow.start(app.cfg, app.store, outgoing, incoming, reason=reason)
    _render_briefing(app, h)


@handover.command("accept")
@click.argument("seq", type=ID)
@click.option("--by", metavar="INCOMING", shell_complete=PERSON)
@_HID
@pass_app
def handover_accept(app, seq, by, hid) -> None:
    """The incoming person takes over open item SEQ."""
    from opsctl.handover import workflow

    workflow.decide_item(app.cfg, app.store, seq, accept=True, by=by, hid=hid)
    app.out.json({"accepted": seq}) if app.json else app.out.info(
        _("item {seq} accepted").format(seq=seq))


@handover.command("refuse")
@click.argument("seq", type=ID)
@click.option("--reason", required=True, metavar="TEXT")
@click.option("--by", metavar="INCOMING", shell_complete=PERSON)
@_HID
@pass_app
def handover_refuse(app, seq, reason, by, hid) -> None:
    """Refuse open item SEQ (the outgoing shift must resolve it first)."""
    from opsctl.handover import workflow

    workflow.decide_item(app.cfg, app.store, seq, accept=False, reason=reason, by=by, hid=hid)
    app.out.json({"refused": seq}) if app.json else app.out.info(
        _("item {seq} refused").format(seq=seq))


@handover.command("inventory")
@click.argument("name")
@click.argument("count", type=ID)
@click.option("--note", metavar="TEXT")
@click.option("--by", metavar="INCOMING", shell_complete=PERSON)
@_HID
@pass_app
def handover_inventory(app, name, count, note, by, hid) -> None:
    """Record the count of inventory item NAME (a discrepancy becomes a log entry)."""
    from opsctl.handover import workflow

    _h, disc = workflow.count_inventory(app.cfg, app.store, name, count, note=note, by=by,
                                        hid=hid)
    if app.json:
        app.out.json({"item": name, "count": count, "discrepancy_entry": disc})
    elif disc:
        app.out.warn(_("{name}: count differs from the inventory; logged as open item "
                       "{seq}").format(name=name, seq=disc))
    else:
        app.out.info(_("{name}: {count} counted, as expected").format(name=name, count=count))


@handover.command("snapshot")
@click.option("--answers", type=click.Path(exists=True, dir_okay=False),
              help="Answers file (YAML/JSON) for the snapshot profile's manual items.")
@click.option("--by", metavar="INCOMING", shell_complete=PERSON)
@_HID
@pass_app
def handover_snapshot(app, answers, by, hid) -> None:
    """Attach the quick equipment/inspection snapshot."""
    from opsctl.handover import workflow

    data = None
    if answers:
        import yaml

        from opsctl.core.errors import UsageError

        try:
            with open(answers) as fh:
                data = yaml.safe_load(fh)
        except (OSError, yaml.YAMLError) as exc:
            raise UsageError(f"cannot read answers file {answers}: {exc}") from None
    h = workflow.take_snapshot(app.cfg, app.store, by=by, hid=hid, answers=data)
    snap = h.snapshot or {}
    app.out.json(snap) if app.json else app.out.info(
        f"snapshot attached: {snap.get('source')} {snap.get('status', '')} "
        f"{snap.get('note', '')}".strip())


@handover.command("suspend")
@click.option("--reason", required=True, metavar="TEXT")
@click.option("--by", metavar="NAME", shell_complete=PERSON)
@_HID
@pass_app
def handover_suspend(app, reason, by, hid) -> None:
    """Suspend on a fault: the outgoing shift handles it, then resumes."""
    from opsctl.handover import workflow

    h = workflow.suspend(app.cfg, app.store, reason, by=by, hid=hid)
    app.out.json(h.to_dict()) if app.json else app.out.info(
        _("handover {id} suspended").format(id=h.id))


@handover.command("resume")
@click.option("--by", metavar="NAME", shell_complete=PERSON)
@_HID
@pass_app
def handover_resume(app, by, hid) -> None:
    """Resume a suspended handover once the fault is handled."""
    from opsctl.handover import workflow

    h = workflow.resume(app.cfg, app.store, by=by, hid=hid)
    app.out.json(h.to_dict()) if app.json else app.out.info(
        _("handover {id} resumed").format(id=h.id))


@handover.command("sign")
@click.option("--as", "as_name", required=True, metavar="NAME", shell_complete=PERSON)
@_HID
@pass_app
def handover_sign(app, as_name, hid) -> None:
    """Sign as outgoing or incoming; complete once both have signed."""
    from opsctl.handover import workflow

    h = workflow.sign(app.cfg, app.store, as_name, hid=hid)
    if app.json:
        app.out.json(h.to_dict())
    elif h.state == "complete":
        app.out.info(_("handover {id} complete: {outgoing} -> {incoming}, both signed").format(
            id=h.id, outgoing=h.outgoing, incoming=h.incoming))
    else:
        other = h.incoming if h.signed_out_at else h.outgoing
        app.out.info(_("signed; waiting for {who}").format(who=other))


@handover.command("show")
@click.argument("hid", type=ID, required=False)
@pass_app
def handover_show(app, hid) -> None:
    """A handover (default: the current one) with everything it covers."""
    from opsctl.handover import workflow

    _render_briefing(app, workflow.get(app.store, hid))


@handover.command("sheet")
@click.argument("hid", type=ID, required=False)
@click.option("-o", "--output", required=True, metavar="FILE.pdf",
              type=click.Path(dir_okay=False), help="The PDF to write.")
@pass_app
def handover_sheet(app, hid, output) -> None:
    """A printable handover sheet (PDF; default: the current handover): items taken over,
    inventory counts, both signatures, the log entries it covers."""
    from opsctl.core.pdf import write_pdf
    from opsctl.handover import sheets

    pages = write_pdf(sheets.handover_sheet(app.cfg, app.store, hid), output)
    if app.json:
        app.out.json({"file": output, "format": "pdf", "pages": pages})
    else:
        app.out.info(f"handover sheet written to {output} ({pages} pages)")


@handover.command("status")
@pass_app
def handover_status(app) -> None:
    """Is a handover in progress, what is missing, and would a new one be allowed."""
    from opsctl.handover import workflow

    cur = workflow._active(app.store)
    blocked = workflow.blockers(app.cfg, app.store)
    missing = workflow.missing(app.cfg, app.store, cur) if cur else []
    if app.json:
        app.out.json({"current": cur.to_dict() if cur else None, "missing": missing,
                      "blocked_by": blocked})
        return
    if cur:
        app.out.info(_("handover {id} {outgoing} -> {incoming}: {state}").format(
            id=cur.id, outgoing=cur.outgoing, incoming=cur.incoming, state=_(cur.state)))
        for m in missing:
            app.out.info(_("  missing: {what}").format(what=m))
    else:
        app.out.info(_("no handover in progress"))
        for b in blocked:
            app.out.info(_("  a new handover is blocked: {why}").format(why=b))


@handover.command("list")
@pass_app
def handover_list(app) -> None:
    """All handovers, newest last."""
    from opsctl.handover import workflow
    from opsctl.handover.timeutil import local_str

    hs = workflow.list_all(app.store)
    if app.json:
        app.out.json([h.to_dict() for h in hs])
        return
    app.out.table([_("id"), _("outgoing"), _("incoming"), _("state"), _("started"),
                   _("completed")],
                  [(h.id, h.outgoing, h.incoming, _(h.state), local_str(app.cfg, h.started_at),
                    local_str(app.cfg, h.completed_at) if h.completed_at else "")
                   for h in hs])


# == exports ============================================================================
@duty.command("export")
@click.option("--from", "start", required=True, metavar="DATE")
@click.option("--to", "end", required=True, metavar="DATE")
@click.option("--format", "formats", multiple=True, default=("csv",), show_default=True,
              type=click.Choice(["csv", "json", "md", "html"]), help="Repeatable.")
@click.option("-o", "--output", metavar="FILE",
              help="Main output file (one format). Default: duty.export_dir.")
@click.option("--verify-chain", is_flag=True,
              help="Verify the whole hash chain first; refuse to export a broken log.")
@click.option("--excel/--no-excel", default=None,
              help="CSV for Excel: UTF-8 with a BOM, CRLF line ends. Default: "
                   "duty.export_excel.")
@click.option("--by", metavar="NAME", shell_complete=PERSON,
              help="Who exports (a configured person); their SSH key signs the manifest.")
@pass_app
def export_cmd(app, start, end, formats, output, verify_chain, excel, by) -> None:
    """Export the duty log, handovers and inspections for a date range, with a manifest
    (SHA-256 of each file, the chain head, the latest seals), SSH-signed by the exporting
    person through their ssh-agent ("login only" without a key). Nothing is left behind
    on failure."""
    from pathlib import Path

    from opsctl.handover import export as ex
    from opsctl.handover.people import acting_person

    if by:
        by = acting_person(app.cfg, by)  # a configured person may not export as another
    s, e = _date(start, "--from date"), _date(end, "--to date")
    if e < s:
        from opsctl.core.errors import UsageError

        raise UsageError(f"--to {e} is before --from {s}")
    if output:
        out = Path(output)
        manifest = ex.export(app.cfg, app.store, s, e, list(formats), out.parent or Path("."),
                             main_file=out, verify_chain=verify_chain, excel=excel, by=by)
    else:
        manifest = ex.export(app.cfg, app.store, s, e, list(formats), ex.default_outdir(app.cfg),
                             verify_chain=verify_chain, excel=excel, by=by)
    import json

    m = json.loads(manifest.read_text())
    if app.json:
        app.out.json({"manifest": str(manifest), **m})
        return
    app.out.info(_("exported {entries} entries, {handovers} handovers, {inspections} "
                   "inspections: {manifest}").format(
        entries=m["entries"], handovers=m["handovers"], inspections=m["inspections"],
        manifest=manifest))
    if verify_chain:
        app.out.info(_("the duty log chain was verified before the export"))
    who = m["signed_by"]
    if who["method"] == "sshsig":
        app.out.info(_("manifest signed by {name} (SSH key)").format(name=who["name"]))
    elif who["name"]:
        app.out.info(_("manifest not signed: login only (login {login} as {name}; no SSH "
                       "key)").format(login=who["login"], name=who["name"]))
    else:
        app.out.info(_("manifest not signed: login only (login {login}; no SSH key)").format(
            login=who["login"]))


@duty.command("verify-export")
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--allowed-signers", "allowed", type=click.Path(dir_okay=False), metavar="FILE",
              help="Check the manifest's SSH signature against this allowed-signers file "
                   "(`duty allowed-signers`) instead of the configured keys; an unsigned "
                   "(login only) manifest then fails.")
@click.option("--verification-key", "vkey", metavar="KEY",
              help="Check the seals the manifest records with this verification key, and "
                   "that they cover the exported entries.")
@click.option("--verification-key-file", "vkey_file", type=click.Path(dir_okay=False),
              metavar="FILE", help="The verification key, read from FILE.")
@pass_app
def verify_export_cmd(app, manifest, allowed, vkey, vkey_file) -> None:
    """Check an export against its manifest: every file's SHA-256, the exported rows'
    hashes, links and count (a cut-off head is truncation), the chain head against the log,
    the manifest's SSH signature, and with a verification key its seals. Exit 0 intact,
    2 altered."""
    import json
    from pathlib import Path

    from opsctl.core import sshsig
    from opsctl.core.errors import UsageError
    from opsctl.handover import export as ex
    from opsctl.handover import seal

    def read(path: str) -> str:
        try:
            return Path(path).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(_("cannot read {path}: {error}").format(
                path=path, error=getattr(exc, "strerror", None) or exc)) from None

    from opsctl.core.store import DB_NAME

    # The log is compared only where it is this site's and exists (an auditor's machine
    # has the export, the keys and no store: no empty store is created there).
    store = None
    try:
        site = json.loads(Path(manifest).read_text()).get("site")
    except (OSError, ValueError, AttributeError):
        site = None  # check_export says what is wrong with the manifest
    if site == app.cfg.site.name and (app.cfg.store.postgresql or
                                      (Path(app.cfg.state_dir) / DB_NAME).exists()):
        try:
            store = app.store
        except Exception:  # noqa: BLE001 - an export is checkable without the store
            store = None
    signers = read(allowed) if allowed else sshsig.allowed_signers(app.cfg.people)
    if vkey_file:
        vkey = read(vkey_file)
    res = ex.check_export(Path(manifest), store, signers=signers,
                          require_signature=bool(allowed),
                          vkey=seal.VerificationKey.decode(vkey) if vkey else None)
    if app.json:
        app.out.json(res.to_dict())
    elif res.problems:
        for p in res.problems:
            app.out.err(_("opsctl: export altered: {problem}").format(problem=p))
    else:
        app.out.info(_("export intact: {manifest}").format(manifest=manifest))
        if res.signature:
            app.out.info((_("signature: ") if res.signature["signed"] else "")
                         + res.signature["verdict"])
        if res.seals:
            app.out.info(_("seals: {message}").format(message=res.seals["message"]))
    sys.exit(2 if res.problems else 0)
