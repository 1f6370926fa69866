"""A click group whose subcommands are imported only when used (fast start-up)."""

from __future__ import annotations

import importlib

import click

from opsctl.core.i18n import _, localize_command


class LazyGroup(click.Group):
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
            with formatter.section(_("Commands")):
                formatter.write_dl(rows)
