"""``opsctl storage``: RAID, LVM, filesystems and fstab: probe, plan, apply."""

from __future__ import annotations

import click


@click.group()
def storage() -> None:
    """RAID, LVM, filesystems and fstab: probe, plan, apply."""
