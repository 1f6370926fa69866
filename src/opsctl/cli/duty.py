"""``opsctl duty``: Roster, tamper-evident duty log, handover, exports."""

from __future__ import annotations

import click


@click.group()
def duty() -> None:
    """Roster, tamper-evident duty log, handover, exports."""
