"""The CLI on the host (no md/dm in this kernel): read commands, bad input, help."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "opsctl.yaml"
    path.write_text(f"site: {{name: t}}\nstate_dir: {tmp_path}/state\nstorage:\n"
                    f"  mdadm_conf: {tmp_path}/mdadm.conf\n  fstab: {tmp_path}/fstab\n")
    (tmp_path / "fstab").write_text("proc /proc proc defaults 0 0\n")
    return str(path)


def run(cfg, *args):
    return subprocess.run([sys.executable, "-m", "opsctl", "-c", cfg, *args],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, NO_COLOR="1"))


def test_help_reads_like_a_manual(cfg):
    p = run(cfg, "storage", "--help")
    assert p.returncode == 0
    for word in ("raid", "vg", "lv", "fstab", "plan", "apply", "history", "disks", "--dry-run"):
        assert word in p.stdout
    p = run(cfg, "storage", "lv", "resize", "--help")
    assert "xfs cannot shrink" in p.stdout


def test_status_and_lists_on_a_machine_without_arrays(cfg):
    p = run(cfg, "--json", "storage", "raid", "status")
    if os.path.exists("/proc/mdstat"):
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout) == {"status": "OK", "arrays": []}
        p = run(cfg, "storage", "raid", "status", "nosuch")
        assert p.returncode == 3 and "no RAID array named 'nosuch'" in p.stderr
        p = run(cfg, "--json", "storage", "raid", "status", "nosuch")
        assert p.returncode == 3 and json.loads(p.stdout)["status"] == "UNKNOWN", p.stdout
    else:
        # No md driver: nothing is known about arrays, which is UNKNOWN, not "none".
        assert p.returncode == 3, p.stderr
        assert json.loads(p.stdout)["status"] == "UNKNOWN"
        p = run(cfg, "storage", "raid", "status")
        assert p.returncode == 3 and "md (software RAID) driver is not loaded" in p.stderr
    for what, sentence in (("pv", "no LVM physical volumes"), ("vg", "no LVM volume groups"),
                           ("lv", "no LVM logical volumes")):
        p = run(cfg, "storage", what, "list")
        assert p.returncode == 0 and sentence in p.stdout + p.stderr, (what, p.stdout)
    assert json.loads(run(cfg, "--json", "storage", "history").stdout) == []
    fst = json.loads(run(cfg, "--json", "storage", "fstab", "list").stdout)
    assert fst[0]["file"] == "/proc" and fst[0]["managed"] is False
    disks = json.loads(run(cfg, "--json", "storage", "disks").stdout)
    assert isinstance(disks, list)


def test_bad_input_one_line_errors(cfg, tmp_path):
    p = run(cfg, "storage", "lv", "resize", "nolv", "+1G", "--yes")
    assert p.returncode == 2 and "expected VG/NAME" in p.stderr
    p = run(cfg, "storage", "lv", "resize", "vg0/x", "+abc", "--yes")
    assert p.returncode == 2 and "bad size 'abc'" in p.stderr, p.stderr
    p = run(cfg, "storage", "raid", "grow", "md5", "--add", "/dev/x", "--extend", "vg5/data",
            "--yes")
    assert p.returncode == 2 and "expected VG/LV:SIZE" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    bad = tmp_path / "layout.yaml"
    bad.write_text("arrays:\n  - name: data\n    level: 5\n    devices: [/dev/a]\n    x: 1\n")
    p = run(cfg, "storage", "plan", "-f", str(bad))
    assert p.returncode == 2 and f"{bad}:5: arrays[0].x: unknown key" in p.stderr
    assert "Traceback" not in p.stderr
    p = run(cfg, "storage", "raid", "create", "d", "--level", "5", "/dev/nonexist1",
            "/dev/nonexist2", "/dev/nonexist3", "--yes")
    assert p.returncode == 2 and "unknown device /dev/nonexist1" in p.stderr
    p = run(cfg, "storage", "raid", "create", "d", "--level", "5", "--force", "/dev/a", "/dev/b",
            "/dev/c", "--yes")
    assert p.returncode == 2 and "--reason" in p.stderr
    p = run(cfg, "storage", "fstab", "remove", "/proc", "--yes")
    assert p.returncode == 1 and "not written by opsctl" in p.stderr


def test_storage_changes_need_the_engineer_role(cfg, tmp_path):
    """The person the login maps to must be an engineer (SPEC §6); the record names them."""
    import pwd

    from opsctl.storage.fstab import BEGIN, END

    me = pwd.getpwuid(os.getuid()).pw_name
    fstab = tmp_path / "fstab"
    entry = "UUID=1234-ABCD /mnt/opsctl-role-test ext4 defaults,nofail 0 2"
    fstab.write_text(f"proc /proc proc defaults 0 0\n{BEGIN}\n{entry}\n{END}\n")
    base = Path(cfg).read_text()
    Path(cfg).write_text(base + f"people:\n  - {{name: olga, roles: [operator], login: {me}}}\n")
    args = ("storage", "fstab", "remove", "/mnt/opsctl-role-test", "--yes")
    p = run(cfg, *args)
    assert p.returncode == 1 and "olga" in p.stderr and "needs the engineer role" in p.stderr
    assert entry in fstab.read_text()
    # a dry run changes nothing and needs no role
    assert run(cfg, *args[:-1], "--dry-run").returncode == 0
    Path(cfg).write_text(base + f"people:\n  - {{name: erik, roles: [engineer], login: {me}}}\n")
    p = run(cfg, *args)
    assert p.returncode == 0, p.stderr
    assert entry not in fstab.read_text()
    hist = json.loads(run(cfg, "--json", "storage", "history").stdout)
    assert hist[0]["actor"] == "erik", hist[0]
