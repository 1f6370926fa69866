"""The RAID and LVM inspection checks against real md arrays and LVM inside the storage VM.

A RAID1 made with mdadm directly (not through opsctl storage), an LVM VG on it, then
`opsctl inspect run` on a profile with the raid and lvm_free checks: clean, degraded after
a member is failed (CRITICAL, follow-up opened), rebuilding after a disk is added back
(WARNING with the percentage). Cleans up so the storage scenario finds blank disks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

DISKS = os.environ.get("VMRAID_DISKS", "").split()
pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(os.environ.get("VMRAID_IN_VM") != "1" or len(DISKS) < 5,
                       reason="needs the storage VM with 5 disks (tests/run.sh vm)"),
]
MD = "/dev/md/inspect"
SPEED = Path("/proc/sys/dev/raid/speed_limit_max")


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, capture_output=True, text=True)


def inspect_run_inprocess(cfg: Path) -> tuple[int, dict]:
    """The same run through the API the daemon uses (saves a CLI start under emulation)."""
    from opsctl.core.config import load_config
    from opsctl.core.store import Store
    from opsctl.inspection.api import run_profile

    config = load_config(cfg)
    store = Store.for_config(config)
    try:
        rec = run_profile(config, store, "storage", "vm-test")
    finally:
        store.close()
    return int(rec.status), json.loads(json.dumps(rec.to_dict(), default=str))


def inspect_run(cfg: Path) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "opsctl", "-c", str(cfg), "--json",
                           "inspect", "run", "--profile", "storage"],
                          capture_output=True, text=True, timeout=600)
    assert proc.stdout.strip(), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.fixture(scope="module")
def array(tmp_path_factory):
    a, b, spare = DISKS[2], DISKS[3], DISKS[4]
    sh("mdadm", "--create", MD, "--run", "--level=1", "--raid-devices=2", "--assume-clean",
       "--metadata=1.2", a, b)
    sh("pvcreate", "-y", MD)
    sh("vgcreate", "inspvg", MD)
    sh("lvcreate", "-y", "-l", "95%VG", "-n", "data", "inspvg")  # 5 % free: CRITICAL at 5
    old_speed = SPEED.read_text()
    yield {"members": (a, b), "spare": spare}
    SPEED.write_text(old_speed)
    sh("vgremove", "-y", "-f", "inspvg", check=False)
    sh("pvremove", "-y", "-ff", MD, check=False)
    sh("mdadm", "--stop", MD, check=False)
    for d in (a, b, spare):
        sh("mdadm", "--zero-superblock", d, check=False)
        sh("wipefs", "-a", "-q", d, check=False)


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    base = tmp_path_factory.mktemp("insp")
    path = base / "opsctl.yaml"
    path.write_text(textwrap.dedent(f"""\
        site: {{name: vm-room, timezone: UTC}}
        state_dir: {base}/state
        inspection:
          check_timeout: 120   # LVM takes seconds per command under TCG on a loaded host
          profiles:
            - name: storage
              items:
                - {{id: raid, check: raid, params: {{require: true}}}}
                - {{id: vg, check: lvm_free, params: {{vgs: [inspvg], warn: 10, crit: 4}}}}
        """))
    return path


def test_clean_array_and_vg_free_space(array, cfg):
    rc, rec = inspect_run(cfg)
    by = {it["id"]: it for it in rec["items"]}
    assert by["raid"]["status"] == "OK", by["raid"]["message"]
    assert "raid1 clean" in by["raid"]["message"]
    assert by["vg"]["status"] == "WARNING" and 4 < by["vg"]["value"] < 10, by["vg"]
    assert rc == 1


def test_failed_member_is_critical_then_rebuild_is_warning(array, cfg):
    a, _ = array["members"]
    sh("mdadm", MD, "--fail", a)
    sh("mdadm", MD, "--remove", a)
    rc, rec = inspect_run_inprocess(cfg)
    raid = {it["id"]: it for it in rec["items"]}["raid"]
    assert raid["status"] == "CRITICAL" and "degraded" in raid["message"], raid
    assert rc == 2
    assert "raid" in {f["item_id"] for f in rec["followups"]}
    # Add a disk back, slowly (speed limit), so the check sees the rebuild in progress.
    SPEED.write_text("200\n")
    sh("mdadm", "--zero-superblock", array["spare"], check=False)
    sh("mdadm", MD, "--add", array["spare"])
    time.sleep(1)
    rc, rec = inspect_run_inprocess(cfg)
    raid = {it["id"]: it for it in rec["items"]}["raid"]
    assert raid["status"] == "WARNING", raid
    assert "%" in raid["message"] and ("recover" in raid["message"] or "resync" in
                                       raid["message"])
    assert rc == 1
