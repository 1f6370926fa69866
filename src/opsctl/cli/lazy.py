"""A click group whose subcommands are imported only when used (fast start-up)."""

from __future__ import annotations

import importlib

import click

from opsctl.core.i18n import N_, _, localize_command

# click's own help headings, translated by the formatter below (click passes them in
# English: its own gettext domain has no catalog).
_HEADINGS = (N_("Usage: "), N_("Options"), N_("Commands"), N_("Arguments"))


class I18nFormatter(click.HelpFormatter):
    """Help in the interface language: click's headings and usage prefix too."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, _("Usage: ") if prefix is None else prefix)

    def write_heading(self, heading: str) -> None:
        # as click writes it, with the language's colon (Chinese: full-width)
        self.write(f"{'':>{self.current_indent}}"
                   + _("{heading}:").format(heading=_(heading)) + "\n")


class I18nContext(click.Context):
    formatter_class = I18nFormatter


def _use_i18n_context(cmd: click.Command) -> None:
    cmd.context_class = I18nContext
    for sub in getattr(cmd, "commands", {}).values():
        _use_i18n_context(sub)


class LazyGroup(click.Group):
    context_class = I18nContext

    def __init__(self, *args, lazy: dict[str, tuple[str, str]] | None = None, **kw):
        super().__init__(*args, **kw)
        # name -> ("module:attr", short help shown by --help without importing)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, name: str):
        if name in self.lazy:
            target = self.lazy[name][0]
            modname, attr = target.split(":")
            cmd = getattr(importlib.import_module(modname), attr)
            localize_command(cmd)
            _use_i18n_context(cmd)
            self.add_command(cmd, name)
            del self.lazy[name]
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self.lazy:
                rows.append((name, _(self.lazy[name][1])))
            else:
                cmd = super().get_command(ctx, name)
                if cmd is None or cmd.hidden:
                    continue
                rows.append((name, cmd.get_short_help_str(formatter.width - 20)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
