"""``opsctl inspect``: Machine-room inspections and patrols."""

from __future__ import annotations

import click


@click.group()
def inspect() -> None:
    """Machine-room inspections and patrols."""
