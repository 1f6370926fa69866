"""The ``opsctl`` entry point: global options, error handling, exit codes."""

from __future__ import annotations

import os
import sys

import click

from opsctl import __version__
from opsctl.cli.context import AppContext
from opsctl.cli.lazy import LazyGroup
from opsctl.core.i18n import N_, _
from opsctl.core.safetext import visible

GROUPS = {
    "storage": ("opsctl.cli.storage:storage",
                N_("RAID, LVM, filesystems, fstab: probe, plan, apply.")),
    "power": ("opsctl.cli.power:power", N_("UPS, switch, sensors over SNMP; shutdown plans.")),
    "inspect": ("opsctl.cli.inspect:inspect", N_("Machine-room inspections and patrols.")),
    "duty": ("opsctl.cli.duty:duty", N_("Roster, tamper-evident duty log, handover, exports.")),
    "daemon": ("opsctl.cli.daemon:daemon", N_("The scheduler daemon and its systemd units.")),
    "config": ("opsctl.cli.config_cmd:config", N_("Check and show the configuration.")),
    "store": ("opsctl.cli.store_cmd:store", N_("The store: status; copy SQLite into PostgreSQL.")),
    "completion": ("opsctl.cli.completion:completion",
                   N_("Shell completion script: bash, zsh or fish.")),
}

EPILOG = N_("""\b
Exit codes: 0 success, 1 operation failed, 2 usage or configuration error,
130 interrupted (Ctrl-C). Check commands (inspect run, power status, storage
raid status) use the monitoring-plugin convention: 0 OK, 1 WARNING, 2 CRITICAL,
3 UNKNOWN.""")

# Global options may be given after the subcommand too (`opsctl power status --json`);
# they are hoisted in front of it before click parses.
_FLAGS = {"--json", "--verbose", "--no-color", "-v", "-vv", "-vvv"}
_VALUED = {"-c", "--config"}


def hoist_global_options(argv: list[str]) -> list[str]:
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            rest.extend(argv[i:])
            break
        if a in _FLAGS:
            front.append(a)
        elif a in _VALUED and i + 1 < len(argv):
            front.extend([a, argv[i + 1]])
            i += 1
        elif a.startswith("--config="):
            front.append(a)
        else:
            rest.append(a)
        i += 1
    return front + rest


@click.group(
    cls=LazyGroup,
    lazy=GROUPS,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "-V", "--version", prog_name="opsctl")
@click.option("-c", "--config", "config_path", metavar="PATH", envvar="OPSCTL_CONFIG",
              help="Config file [default: $OPSCTL_CONFIG or /etc/opsctl/opsctl.yaml].")
@click.option("--json", "json_", is_flag=True, help="Machine-readable JSON on stdout.")
@click.option("-v", "--verbose", count=True, help="More detail (-vv debug); shows error details.")
@click.option("--no-color", is_flag=True, help="No colours (also off when stdout is not a TTY).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, json_: bool, verbose: int,
        no_color: bool) -> None:
    """opsctl — run a machine room: RAID/LVM storage, UPS and switches over SNMP,
    daily inspections, the duty log and shift handover, and the daemon that does it
    on schedule."""
    from opsctl.core.logsetup import setup_logging

    app = ctx.ensure_object(AppContext)
    app.config_path = config_path
    app.json = json_
    app.verbose = verbose
    app.color = False if no_color or "NO_COLOR" in os.environ else None
    setup_logging(verbose)
    ctx.call_on_close(app.close)


def main(argv: list[str] | None = None) -> None:
    from opsctl.core import interrupt
    from opsctl.core.errors import ExitCode, OpsError

    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    verbose = any(a in ("-v", "-vv", "-vvv", "--verbose") for a in args)
    _choose_language(args)
    if argv is None:  # the process's entry point, not a caller embedding the CLI (tests)
        interrupt.install()
    for a in args:
        # Python hands undecodable bytes over as lone surrogates; they would fail later,
        # half-way, when printed or stored.
        try:
            a.encode("utf-8")
        except UnicodeEncodeError:
            shown = a.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            click.echo(_("opsctl: error: an argument is not valid UTF-8: {arg}").format(
                arg=shown), err=True)
            sys.exit(ExitCode.USAGE)
    try:
        _check_utf8(args)
        rc = cli.main(args=args, prog_name="opsctl", standalone_mode=False)
    except click.exceptions.Abort as exc:
        # click turns a Ctrl-C at a prompt into Abort: still an interrupt (130), while a
        # "no" to a confirmation is an ordinary refusal (1).
        if isinstance(exc.__context__, KeyboardInterrupt):
            _interrupted()
        click.echo(_("opsctl: aborted"), err=True)
        sys.exit(ExitCode.FAILED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except OpsError as exc:
        _report(exc, verbose)
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        _interrupted()
    except BrokenPipeError:
        sys.exit(ExitCode.FAILED)
    except Exception as exc:  # noqa: BLE001 - the last line of defence before a traceback
        if verbose:
            raise
        click.echo(_("opsctl: internal error: {error} (run with -v for the traceback)").format(
            error=f"{type(exc).__name__}: {visible(exc)}"), err=True)
        sys.exit(ExitCode.FAILED)
    sys.exit(rc if isinstance(rc, int) else 0)


def _choose_language(args: list[str]) -> None:
    """The language for this run: the locale's now; the config's ``site.language`` when
    the config is loaded (AppContext.cfg). Help is shown before any config is loaded, so
    for ``--help`` the config's language is read here (only then: it costs a YAML parse).
    The root command's help texts follow."""
    from opsctl.core import i18n

    i18n.set_language(None)
    if not args or "--help" in args or "-h" in args:
        lang = _config_language(args)
        if lang:
            i18n.set_language(lang)
    i18n.localize_command(cli)


def _config_language(args: list[str]) -> str | None:
    """``site.language`` of the config this run would use; None when there is no such
    config or it cannot be read (help must show all the same)."""
    path = os.environ.get("OPSCTL_CONFIG")
    for i, a in enumerate(args):
        if a in _VALUED and i + 1 < len(args):
            path = args[i + 1]
        elif a.startswith("--config="):
            path = a.split("=", 1)[1]
    try:
        import yaml

        with open(path or "/etc/opsctl/opsctl.yaml", encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
        lang = data["site"]["language"]
    except Exception:  # noqa: BLE001 - any problem: the locale's language
        return None
    return lang if isinstance(lang, str) else None


def _interrupted() -> None:
    from opsctl.core import interrupt

    if interrupt.installed():
        # Stop now: a non-daemon thread still waiting on a device must not hold up exit.
        interrupt.exit_now()
    click.echo(_("opsctl: interrupted"), err=True)
    sys.exit(130)


def _check_utf8(args: list[str]) -> None:
    """Bytes that are not UTF-8 arrive as lone surrogates; stored, they would fail later
    (and the duty log is append-only), so they are refused here, by position."""
    from opsctl.core.errors import UsageError

    for n, a in enumerate(args, 1):
        try:
            a.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(_("argument {n} is not valid UTF-8: {arg}").format(
                n=n, arg=visible(a)),
                hint=_("check the terminal's and the shell's encoding (locale)")) from None


def _report(exc, verbose: bool) -> None:
    from opsctl.core.logsetup import redact

    # Messages quote names and text from users and devices: controls spelled out.
    click.echo(_("opsctl: error: {message}").format(message=visible(redact(exc.message))),
               err=True)
    for extra in getattr(exc, "all_messages", [])[1:]:
        click.echo(f"opsctl:        {visible(redact(extra))}", err=True)
    if exc.hint:
        click.echo(_("opsctl: hint: {hint}").format(hint=visible(exc.hint)), err=True)
    if verbose and exc.__cause__ is not None:
        import traceback

        traceback.print_exception(exc.__cause__, file=sys.stderr)
