"""tests/vm/run-in-vm.sh, the project's VM runner, booted for real: the command's exit
status and output come back, the disks have their stable names and VMRAID_* variables, the
caller's directory is shared read-write, disk images survive into the next boot with
--disk-dir, a pulled disk (--skip-disk) is absent, and the timeout stops the VM.

Boots the VM twice under TCG (~10-30 s each on a loaded 2-core machine)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "tests" / "vm" / "run-in-vm.sh"
CACHE = Path(os.environ.get("OPSCTL_TEST_CACHE", "/var/cache/opsctl-test"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the VM runner needs root"),
    pytest.mark.skipif(not (CACHE / "vm" / "bin" / "vng").exists(),
                       reason="virtme-ng not installed: run tests/setup.sh"),
]


def run_vm(cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(RUNNER), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


FIRST_BOOT = r"""
set -e
echo "in_vm=$VMRAID_IN_VM disks=$VMRAID_DISKS d0=$VMRAID_DISK0 d2=$VMRAID_DISK2"
for i in 0 1 2; do readlink -f /dev/disk/by-id/virtio-opsctl-disk$i; done
printf 'opsctl-marker-1234' | dd of=/dev/disk/by-id/virtio-opsctl-disk1 bs=512 seek=8 conv=notrunc status=none
echo written-in-vm > from-guest.txt
grep -q md /proc/modules && echo md-loaded
exit 7
"""

SECOND_BOOT = r"""
echo "disks=$VMRAID_DISKS d0=${VMRAID_DISK0-unset} d1=$VMRAID_DISK1"
ls /dev/disk/by-id/ | grep opsctl-disk | sort | tr '\n' ' '; echo
dd if=/dev/disk/by-id/virtio-opsctl-disk1 bs=512 skip=8 count=1 status=none | tr -d '\0'; echo
"""


def test_runner_exit_status_disks_and_reuse_across_boots(tmp_path):
    disks = tmp_path / "disks"
    first = run_vm(tmp_path, "-n", "3", "-s", "32M", "-m", "512M", "-t", "400",
                   "--disk-dir", str(disks), "--", "bash", "-c", FIRST_BOOT)
    assert first.returncode == 7, first.stderr[-3000:]
    out = first.stdout
    assert "in_vm=1 disks=/dev/vda /dev/vdb /dev/vdc d0=/dev/vda d2=/dev/vdc" in out, out
    assert "md-loaded" in out
    assert (tmp_path / "from-guest.txt").read_text() == "written-in-vm\n"
    assert sorted(p.name for p in disks.iterdir()) == [
        "opsctl-disk0.img", "opsctl-disk1.img", "opsctl-disk2.img"]

    # Next boot: the same images, disk 0 pulled.
    second = run_vm(tmp_path, "-n", "3", "-s", "32M", "-m", "512M", "-t", "400",
                    "--disk-dir", str(disks), "--skip-disk", "0", "--",
                    "bash", "-c", SECOND_BOOT)
    assert second.returncode == 0, second.stderr[-3000:]
    lines = second.stdout.splitlines()
    assert lines[0] == "disks=/dev/vda /dev/vdb d0=unset d1=/dev/vda", second.stdout
    assert lines[1].split() == ["virtio-opsctl-disk1", "virtio-opsctl-disk2"]
    assert lines[2] == "opsctl-marker-1234"
    assert (disks / "opsctl-disk0.img").exists()  # pulled, not deleted


def test_runner_timeout_and_bad_usage(tmp_path):
    t = run_vm(tmp_path, "-n", "0", "-m", "256M", "-t", "3", "--", "sleep", "600", timeout=120)
    assert t.returncode == 124, t.stderr[-2000:]
    assert "timeout" in t.stderr
    bad = run_vm(tmp_path, "--disks", "many", "--", "true", timeout=30)
    assert bad.returncode == 125 and "whole number" in bad.stderr
