"""``opsctl daemon``: The scheduler daemon and its systemd units."""

from __future__ import annotations

import click


@click.group()
def daemon() -> None:
    """The scheduler daemon and its systemd units."""
