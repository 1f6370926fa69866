"""``opsctl power``: UPS, switch and sensor monitoring over SNMP; shutdown plans."""

from __future__ import annotations

import click


@click.group()
def power() -> None:
    """UPS, switch and sensor monitoring over SNMP; shutdown plans."""
