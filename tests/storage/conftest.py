"""Fixtures shared by the storage unit tests."""

from __future__ import annotations

import pytest

from opsctl.core.config.models import StorageSettings


@pytest.fixture
def settings(tmp_path) -> StorageSettings:
    """Storage settings pointing at a private mdadm.conf and fstab."""
    (tmp_path / "mdadm.conf").write_text("HOMEHOST <system>\n")
    (tmp_path / "fstab").write_text("proc /proc proc defaults 0 0\n")
    return StorageSettings(mdadm_conf=tmp_path / "mdadm.conf", fstab=tmp_path / "fstab",
                           initramfs_update=["update-initramfs", "-u"], device_timeout="30s")
