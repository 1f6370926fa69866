"""Automatic checks against the real thing on this machine: filesystems (tmpfs at a set
usage, or a directory on the root filesystem where mounting is not allowed), fstab and
findmnt --verify, backup files with real ages, processes, TCP ports, psutil numbers, the
kernel clock state, IP addresses on lo, and the real smartctl binary."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from inspect_helpers import load, profile, run_check, store_for, write_config

from opsctl.core.errors import Status


@pytest.fixture
def env(tmp_path):
    cfg = load(write_config(tmp_path, [profile("p", [{"id": "x", "check": "load"}])]))
    store = store_for(cfg)
    yield cfg, store
    store.close()


@pytest.fixture
def tmpfs(tmp_path):
    """A 16 MiB tmpfs, or None where this kernel/container forbids mounting."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "opsctl-test", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        yield None
        return
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(path: Path, mib: int) -> None:
    with open(path, "wb") as fh:
        fh.write(b"\0" * (mib << 20))
        fh.flush()
        os.fsync(fh.fileno())


def test_fs_usage_on_tmpfs_at_set_usage(env, tmpfs, tmp_path):
    cfg, store = env
    if tmpfs is None:
        # No mount permission: a real directory on the root fs, thresholds around its usage.
        d = tmp_path / "data"
        d.mkdir()
        st = os.statvfs(d)
        used = 100.0 * (st.f_blocks - st.f_bfree) / (st.f_blocks - st.f_bfree + st.f_bavail)
        r = run_check(cfg, store, "fs_usage", {"mount": str(d), "require_mount": False,
                                               "warn": max(0, used - 1), "crit": 100})
        assert r.status == Status.WARNING and abs(r.value - used) < 1
        r = run_check(cfg, store, "fs_usage", {"mount": str(d), "require_mount": False,
                                               "warn": 0, "crit": max(0, used - 1)})
        assert r.status == Status.CRITICAL
        r = run_check(cfg, store, "fs_usage", {"mount": str(d)})
        assert r.status == Status.CRITICAL and "not a mount point" in r.message
        return
    r = run_check(cfg, store, "fs_usage", {"mount": str(tmpfs), "warn": 50, "crit": 80})
    assert r.status == Status.OK and r.value == 0.0
    _fill(tmpfs / "a", 10)  # 10 of 16 MiB: 62.5 %
    r = run_check(cfg, store, "fs_usage", {"mount": str(tmpfs), "warn": 50, "crit": 80})
    assert r.status == Status.WARNING and 62 <= r.value <= 63.5, r.message
    assert f"{tmpfs} 62." in r.message and "16.0 MiB" in r.message
    _fill(tmpfs / "b", 4)   # 14 of 16 MiB: 87.5 %
    r = run_check(cfg, store, "fs_usage", {"mount": str(tmpfs), "warn": 50, "crit": 80})
    assert r.status == Status.CRITICAL and 87 <= r.value <= 88.5
    # A directory inside the tmpfs is not a mount point: a failed data mount is caught.
    (tmpfs / "sub").mkdir()
    r = run_check(cfg, store, "fs_usage", {"mount": str(tmpfs / "sub")})
    assert r.status == Status.CRITICAL and "not a mount point" in r.message
    r = run_check(cfg, store, "fs_usage", {"mount": str(tmp_path / "missing"),
                                           "require_mount": False})
    assert r.status == Status.CRITICAL and "does not exist" in r.message


def test_fstab_mounted_and_findmnt_verify(env, tmpfs, tmp_path):
    cfg, store = env
    fstab = tmp_path / "fstab"
    lines = ["# test fstab", "proc /proc proc defaults 0 0"]
    if tmpfs is not None:
        lines.append(f"opsctl-test {tmpfs} tmpfs size=16m 0 0")
    fstab.write_text("\n".join(lines) + "\n")
    r = run_check(cfg, store, "fstab", {"fstab": str(fstab)})
    assert r.status == Status.OK, r.message
    assert r.details["checked"] == (2 if tmpfs is not None else 1)
    assert "findmnt --verify: 0 errors, 0 warnings" in r.message
    # Swap is not a mount; a swap device that does not exist is findmnt's warning.
    with fstab.open("a") as fh:
        fh.write("/dev/disk/by-uuid/0000-none none swap sw 0 0\n")
    r = run_check(cfg, store, "fstab", {"fstab": str(fstab)})
    assert r.status == Status.WARNING and r.details["verify_warnings"] >= 1
    assert r.details["checked"] == (2 if tmpfs is not None else 1)
    # An entry whose filesystem is not mounted (and whose source does not exist).
    target = tmp_path / "data"
    target.mkdir()
    with fstab.open("a") as fh:
        fh.write(f"UUID=0badc0de-0000-4000-8000-000000000000 {target} ext4 defaults,nofail 0 2\n")
    r = run_check(cfg, store, "fstab", {"fstab": str(fstab)})
    assert r.status == Status.CRITICAL
    assert r.details["not_mounted"] == [str(target)]
    assert r.details["verify_errors"] >= 1 and "[E]" in r.message
    r = run_check(cfg, store, "fstab", {"fstab": str(fstab), "ignore": [str(target)],
                                        "verify": False})
    assert r.status == Status.OK
    r = run_check(cfg, store, "fstab", {"fstab": str(tmp_path / "nope")})
    assert r.status == Status.CRITICAL and "does not exist" in r.message


def test_backup_age_glob_and_marker(env, tmp_path):
    cfg, store = env
    bdir = tmp_path / "backup"
    bdir.mkdir()
    now = time.time()
    for name, hours in (("db-1.tar.gz", 60), ("db-2.tar.gz", 30)):
        p = bdir / name
        p.write_bytes(b"x" * 2048)
        os.utime(p, (now - hours * 3600, now - hours * 3600))
    glob = str(bdir / "db-*.tar.gz")
    r = run_check(cfg, store, "backup_age", {"path": glob})
    assert r.status == Status.WARNING and 29.9 < r.value < 30.1
    assert "db-2.tar.gz" in r.message and "2.0 KiB" in r.message
    (bdir / "db-3.tar.gz").write_bytes(b"")  # newest, but empty: a failed dump
    r = run_check(cfg, store, "backup_age", {"path": glob})
    assert r.status == Status.CRITICAL and "smaller than 1 bytes" in r.message
    marker = tmp_path / "backup.ok"
    marker.touch()
    os.utime(marker, (now - 3600, now - 3600))
    r = run_check(cfg, store, "backup_age", {"marker": str(marker)})
    assert r.status == Status.OK and 0.9 < r.value < 1.1
    r = run_check(cfg, store, "backup_age", {"marker": str(marker), "warn_hours": 0.5})
    assert r.status == Status.WARNING
    r = run_check(cfg, store, "backup_age", {"path": str(tmp_path / "none-*")})
    assert r.status == Status.CRITICAL and "matches nothing" in r.message


def test_load_memory_swap_thresholds(env):
    cfg, store = env
    r = run_check(cfg, store, "load", {"warn": 1000, "crit": 2000})
    assert r.status == Status.OK and abs(r.value - os.getloadavg()[1]) < 1
    assert run_check(cfg, store, "load", {"warn": 0, "crit": 1000}).status == Status.WARNING
    r = run_check(cfg, store, "load", {"warn": 0, "crit": 0, "per_cpu": True, "period": 1})
    assert r.status == Status.CRITICAL and "per CPU" in r.message
    r = run_check(cfg, store, "memory", {"warn": 99.9, "crit": 100})
    assert r.status == Status.OK and abs(r.value - psutil.virtual_memory().percent) < 5
    assert run_check(cfg, store, "memory", {"warn": 0, "crit": 100}).status == Status.WARNING
    assert run_check(cfg, store, "memory", {"warn": 0, "crit": 0}).status == Status.CRITICAL
    r = run_check(cfg, store, "swap", {})
    if psutil.swap_memory().total == 0:
        assert r.status == Status.OK and r.message == "no swap configured"
        assert run_check(cfg, store, "swap", {"required": True}).status == Status.WARNING
    else:
        assert r.value is not None


def test_process_by_name_and_cmdline(env):
    cfg, store = env
    marker = f"{time.time():.6f}"
    child = subprocess.Popen(["sleep", f"3{marker[-4:]}"])
    try:
        r = run_check(cfg, store, "process", {"name": "sleep"})
        assert r.status == Status.OK and r.value >= 1
        r = run_check(cfg, store, "process", {"name": f"sleep 3{marker[-4:]}",
                                              "match": "cmdline"})
        assert r.status == Status.OK and r.value == 1
        r = run_check(cfg, store, "process", {"name": f"sleep 3{marker[-4:]}",
                                              "match": "cmdline", "min": 2})
        assert r.status == Status.CRITICAL and "expected at least 2" in r.message
        r = run_check(cfg, store, "process", {"name": "sleep", "max": 0, "min": 0})
        assert r.status == Status.WARNING
    finally:
        child.kill()
        child.wait()
    r = run_check(cfg, store, "process", {"name": "no-such-daemon-xyz"})
    assert r.status == Status.CRITICAL and r.value == 0


def test_tcp_port_open_closed_slow(env):
    cfg, store = env
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = srv.getsockname()[1]
    try:
        r = run_check(cfg, store, "tcp_port", {"port": port})
        assert r.status == Status.OK and "answers in" in r.message
        assert run_check(cfg, store, "tcp_port", {"port": port, "warn_ms": 0}).status \
            == Status.WARNING
    finally:
        srv.close()
    r = run_check(cfg, store, "tcp_port", {"port": port})
    assert r.status == Status.CRITICAL and "refused" in r.message.lower()


def test_systemd_unit_real(env):
    cfg, store = env
    r = run_check(cfg, store, "systemd_unit", {"unit": "opsctl-no-such.service"})
    if not Path("/run/systemd/system").is_dir():
        assert r.status == Status.UNKNOWN and "systemd is not running" in r.message
    else:
        assert r.status == Status.CRITICAL and "inactive" in r.message


def test_clock_sync_kernel_state(env):
    from opsctl.inspection.checks.clock import kernel_sync_state

    cfg, store = env
    synced, maxerr = kernel_sync_state()
    assert isinstance(synced, bool) and maxerr >= 0
    r = run_check(cfg, store, "clock_sync", {})
    assert r.message.split(":")[0] in ("chrony", "timedatectl", "kernel")
    if r.message.startswith("kernel"):
        assert (r.status == Status.WARNING) == (not synced)
        crit = run_check(cfg, store, "clock_sync", {"unsynced": "crit"})
        assert crit.status == (Status.CRITICAL if not synced else r.status)


CHRONYD = shutil.which("chronyd", path=os.environ["PATH"] + ":/usr/sbin:/sbin")


@pytest.mark.skipif(CHRONYD is None, reason="chrony not installed")
@pytest.mark.parametrize("conf, status, text", [
    ("local stratum 10", Status.OK, "chrony: synchronised to 7F7F0101 (), offset 0.000 ms"),
    ("server 127.0.0.1 port 9 iburst", Status.WARNING, "chrony: not synchronised"),
])
def test_clock_sync_against_a_real_chronyd(env, tmp_path_factory, conf, status, text):
    """A private chronyd (-x: it never touches the clock) on its own command socket."""
    cfg, store = env
    d = tmp_path_factory.mktemp("chrony")
    d.chmod(0o700)  # chronyd refuses a socket directory others can read
    sock = d / "chronyd.sock"
    (d / "chrony.conf").write_text(f"{conf}\nbindcmdaddress {sock}\ncmdport 0\nport 0\n"
                                   f"pidfile {d / 'chronyd.pid'}\n")
    proc = subprocess.Popen([CHRONYD, "-x", "-d", "-u", "root", "-f", str(d / "chrony.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        r = run_check(cfg, store, "clock_sync", {"chronyd": str(sock)})
        assert r.status == status and r.message == text, r.message
    finally:
        proc.terminate()
        proc.wait(10)
    r = run_check(cfg, store, "clock_sync", {"chronyd": str(sock)})
    assert r.status == Status.UNKNOWN and "to daemon" in r.message  # chronyd stopped


def _ip(*args: str) -> bool:
    return subprocess.run(["ip", *args], capture_output=True).returncode == 0


def test_ip_baseline_records_then_detects_change(env, tmp_path):
    cfg, store = env
    params = {"ignore_interfaces": []}
    first = run_check(cfg, store, "ip_baseline", params, item_id="ips")
    assert first.status == Status.OK and first.details.get("baseline_recorded")
    assert any("127.0.0.1/8" in a for a in first.details["addresses"].get("lo", []))
    again = run_check(cfg, store, "ip_baseline", params, item_id="ips")
    assert again.status == Status.OK and "unchanged" in again.message
    addr = "192.0.2.77/32"
    if os.geteuid() != 0 or not _ip("addr", "add", addr, "dev", "lo"):
        pytest.skip("cannot add an address to lo here")
    try:
        changed = run_check(cfg, store, "ip_baseline", params, item_id="ips")
        assert changed.status == Status.WARNING and f"lo: +{addr}" in changed.message
        crit = run_check(cfg, store, "ip_baseline", {**params, "on_change": "crit"},
                         item_id="ips")
        assert crit.status == Status.CRITICAL
        # lo ignored (the default): the same change is not reported.
        quiet = run_check(cfg, store, "ip_baseline", {}, item_id="ips-default")
        assert quiet.status == Status.OK
    finally:
        _ip("addr", "del", addr, "dev", "lo")
    assert run_check(cfg, store, "ip_baseline", params, item_id="ips").status == Status.OK


def test_ip_baseline_in_a_file_and_cli_reset(tmp_path, capsys):
    import json

    from inspect_helpers import opsctl_inproc

    path = write_config(tmp_path, [profile("p", [{"id": "ips", "check": "ip_baseline"}])],
                        inspection={"ip_baseline_file": "baselines.json"})
    cfg = load(path)
    store = store_for(cfg)
    try:
        assert run_check(cfg, store, "ip_baseline", {}, item_id="ips").details[
            "baseline_recorded"]
    finally:
        store.close()
    data = (tmp_path / "baselines.json").read_text()
    assert f"{socket.gethostname()}/ips" in data
    rc, out, _ = opsctl_inproc(capsys, "--json", "-c", str(path), "inspect", "baseline",
                               "show")
    assert rc == 0 and f"{socket.gethostname()}/ips" in json.loads(out)
    rc, out, _ = opsctl_inproc(capsys, "--json", "-c", str(path), "inspect", "baseline",
                               "reset")
    assert rc == 0 and json.loads(out) == {"removed": 1}
    rc, _, err = opsctl_inproc(capsys, "-c", str(path), "inspect", "baseline", "reset",
                               "nohost/x")
    assert rc == 2 and "no baseline 'nohost/x'" in err


def test_smart_real_binary(env, tmp_path):
    cfg, store = env
    if shutil.which("smartctl", path=os.environ["PATH"] + ":/usr/sbin:/sbin") is None:
        pytest.skip("smartmontools not installed")
    r = run_check(cfg, store, "smart", {"devices": [str(tmp_path / "no-disk")]})
    assert r.status == Status.UNKNOWN and "SMART unavailable" in r.message
    scan = subprocess.run(["smartctl", "--scan", "--json"], capture_output=True, text=True)
    import json

    devices = json.loads(scan.stdout).get("devices", [])
    r = run_check(cfg, store, "smart", {})
    if not devices:
        assert r.status == Status.UNKNOWN and "no disks found" in r.message
    else:
        assert r.value.endswith(f"/{len(devices)} healthy")


def test_smart_without_smartctl_is_unknown(env, tmp_path):
    from opsctl.core.runner import Runner
    from opsctl.inspection.checks.smart import SmartCheck
    from opsctl.inspection.context import CheckContext

    cfg, store = env
    ctx = CheckContext(cfg=cfg, store=store, runner=Runner(extra_env={"PATH": str(tmp_path)}))
    r = SmartCheck().run(ctx, SmartCheck.resolve({}))
    assert r.status == Status.UNKNOWN and "not installed" in r.message


def test_storage_checks_on_a_host_without_md_or_lvm(env):
    """The host has no md/dm: RAID and LVM checks still answer (the VM suite runs them on
    real arrays)."""
    cfg, store = env
    r = run_check(cfg, store, "raid", {})
    assert r.status in (Status.OK, Status.UNKNOWN), r.message
    r = run_check(cfg, store, "raid", {"arrays": ["md0"]})
    assert r.status in (Status.CRITICAL, Status.UNKNOWN)
    r = run_check(cfg, store, "lvm_free", {"vgs": ["vg-none"]})
    assert r.status in (Status.CRITICAL, Status.UNKNOWN)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
