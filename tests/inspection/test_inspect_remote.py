"""Remote host checks over SSH against a real private sshd on 127.0.0.1 (verified host
keys): the same checks as locally, and a host whose key does not match refused with a
clear message while the rest of the run is still recorded."""

from __future__ import annotations

import os
import socket
import time

import pytest
from inspect_helpers import load, opsctl_json, profile, store_for, write_config
from sshd import SshServer, keygen

from opsctl.core.errors import Status


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = SshServer(tmp_path_factory.mktemp("insp-ssh"), "web1").start()
    yield server
    server.stop()


def test_remote_checks_and_refused_host_key(sshd, tmp_path):
    backup = tmp_path / "nightly.tar"
    backup.write_bytes(b"x" * 4096)
    old = time.time() - 30 * 3600
    os.utime(backup, (old, old))
    # A second entry for the same server whose known_hosts holds another key: refused.
    other = keygen(tmp_path / "other_key", "not-web1")
    kind, blob = (tmp_path / "other_key.pub").read_text().split()[:2]
    bad_known = tmp_path / "bad_known_hosts"
    bad_known.write_text(f"[127.0.0.1]:{sshd.port} {kind} {blob}\n")
    assert other.exists()
    hosts = [sshd.host_config("web1"),
             sshd.host_config("web1-wrongkey", known_hosts=str(bad_known))]
    items = [
        {"id": "load", "check": "load", "host": "web1", "params": {"warn": 1000, "crit": 2000}},
        {"id": "memory", "check": "memory", "host": "web1", "params": {"warn": 0, "crit": 100}},
        {"id": "swap", "check": "swap", "host": "web1"},
        {"id": "rootfs", "check": "fs_usage", "host": "web1",
         "params": {"mount": "/", "warn": 99, "crit": 100}},
        {"id": "notmounted", "check": "fs_usage", "host": "web1",
         "params": {"mount": str(tmp_path)}},
        {"id": "sshd", "check": "process", "host": "web1", "params": {"name": "sshd"}},
        {"id": "backup", "check": "backup_age", "host": "web1",
         "params": {"path": str(tmp_path / "*.tar")}},
        {"id": "fstab", "check": "fstab", "host": "web1"},
        {"id": "clock", "check": "clock_sync", "host": "web1"},
        {"id": "ips", "check": "ip_baseline", "host": "web1"},
        {"id": "unit", "check": "systemd_unit", "host": "web1", "params": {"unit": "ssh"}},
        {"id": "disks", "check": "smart", "host": "web1"},
        {"id": "raid", "check": "raid", "host": "web1"},
        {"id": "refused", "check": "load", "host": "web1-wrongkey"},
        {"id": "local-load", "check": "load", "params": {"warn": 1000, "crit": 2000}},
    ]
    path = write_config(tmp_path, [profile("remote", items)], hosts=hosts)
    cfg = load(path)
    store = store_for(cfg)
    from opsctl.inspection.engine import run_profile

    try:
        rec = run_profile(cfg, store, "remote", "alice")
    finally:
        store.close()
    by = {it.item_id: it for it in rec.items}
    assert by["load"].status == Status.OK and by["load"].target == "web1"
    assert abs(by["load"].value - os.getloadavg()[1]) < 2  # same machine, read over SSH
    assert by["memory"].status == Status.WARNING and 0 < by["memory"].value < 100
    assert by["swap"].status == Status.OK
    assert by["rootfs"].status == Status.OK and "% used" in by["rootfs"].message
    assert by["notmounted"].status == Status.CRITICAL
    assert "not a mount point" in by["notmounted"].message
    assert by["sshd"].status == Status.OK and by["sshd"].value >= 1
    assert by["backup"].status == Status.WARNING and 29.9 < by["backup"].value < 30.2
    assert "nightly.tar" in by["backup"].message
    assert by["fstab"].status != Status.UNKNOWN, by["fstab"].message
    assert by["clock"].status in (Status.OK, Status.WARNING, Status.UNKNOWN)
    assert by["clock"].message.startswith(("chrony", "timedatectl", "no chrony"))
    assert by["ips"].status == Status.OK and "baseline recorded" in by["ips"].message
    assert by["unit"].message.startswith("ssh")
    assert by["disks"].status == Status.UNKNOWN  # no SMART disks on this machine either
    assert by["raid"].status in (Status.OK, Status.UNKNOWN)
    # The refused host: UNKNOWN with the reason, and the run recorded everything else.
    refused = by["refused"]
    assert refused.status == Status.UNKNOWN
    assert "web1-wrongkey" in refused.message and "key" in refused.message.lower()
    assert by["local-load"].status == Status.OK and by["local-load"].target is None
    assert rec.id is not None and len(rec.items) == len(items)

    # Same result through the CLI, and the record says which host each item ran on.
    proc, shown = opsctl_json("-c", str(path), "inspect", "show", str(rec.id))
    assert {it["id"]: it["target"] for it in shown["items"]}["load"] == "web1"
    assert socket.gethostname() == shown["host"]
