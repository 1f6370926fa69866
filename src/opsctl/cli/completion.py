"""``opsctl completion bash|zsh|fish``: click's shell completion, plus the config's names.

Completers are passed as ``shell_complete=`` to the options and arguments that take a
device, person, inspection profile or plan name; they read the config named by ``-c``
(or ``$OPSCTL_CONFIG``, or the default path) when the user presses TAB.
"""

from __future__ import annotations

from collections.abc import Callable

import click
from click.shell_completion import CompletionItem, get_completion_class

SHELLS = ("bash", "zsh", "fish")


def _names(ctx: click.Context, section: str):
    from opsctl.core.config import resolve_config_path
    from opsctl.core.config.names import config_names

    try:
        path = resolve_config_path(ctx.find_root().params.get("config_path"))
    except Exception:  # noqa: BLE001 - a TAB must never print a traceback into the prompt
        return []
    return config_names(path).get(section, [])


def names(section: str, *, kind: str | None = None, role: str | None = None
          ) -> Callable[[click.Context, click.Parameter, str], list[CompletionItem]]:
    """A ``shell_complete`` callback offering the config's names of one section."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str
                 ) -> list[CompletionItem]:
        # click's fish script splits a completion line at ","; one line per item.
        return [CompletionItem(n.name, help=" ".join(n.about.replace(",", ";").split()) or None)
                for n in _names(ctx, section)
                if n.name.startswith(incomplete)
                and (kind is None or n.kind == kind)
                and (role is None or role in n.roles)]

    return complete


DEVICE = names("device")
UPS = names("device", kind="ups")
SWITCH = names("device", kind="switch")
PERSON = names("person")
SUPERVISOR = names("person", role="supervisor")
PROFILE = names("profile")
SHUTDOWN_PLAN = names("plan", kind="shutdown")
RESTORE_PLAN = names("plan", kind="restore")


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL (bash, zsh or fish).

    Commands, options and choices complete, and so do the names in the config (devices,
    people, inspection profiles, plans) — from -c, $OPSCTL_CONFIG or the default path.

    \b
    bash:  eval "$(opsctl completion bash)"   # in ~/.bashrc, or save it as
           /etc/bash_completion.d/opsctl
    zsh:   eval "$(opsctl completion zsh)"    # in ~/.zshrc (after compinit)
    fish:  opsctl completion fish > ~/.config/fish/completions/opsctl.fish
    """
    from opsctl.cli.main import cli

    comp = get_completion_class(shell)(cli, {}, "opsctl", "_OPSCTL_COMPLETE")
    click.echo(comp.source(), nl=False)
