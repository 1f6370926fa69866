"""Bad states get clear messages, never ``internal error`` — all through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "opsctl.example.yaml"


def opsctl(*args: str, env: dict | None = None, cwd=None,
           timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opsctl", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=timeout)


def example_copy(tmp_path: Path, **replace: str) -> Path:
    """The example config (with its secrets dir) under tmp_path, state in tmp_path/state."""
    import shutil

    text = EXAMPLE.read_text()
    text = text.replace("state_dir: ../state", "state_dir: state")
    text = text.replace("export_dir: ../state/exports", "export_dir: state/exports")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    shutil.copytree(EXAMPLE.parent / "secrets", tmp_path / "secrets", dirs_exist_ok=True)
    cfg = tmp_path / "opsctl.yaml"
    cfg.write_text(text)
    return cfg


def no_internal_error(proc: subprocess.CompletedProcess) -> None:
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


# -- site.timezone ---------------------------------------------------------------------------
def test_unknown_timezone_is_a_config_error_with_line(tmp_path):
    cfg = example_copy(tmp_path, **{"timezone: Europe/Berlin": "timezone: Mars/Olympus"})
    line = next(i for i, t in enumerate(cfg.read_text().splitlines(), 1) if "Mars" in t)
    proc = opsctl("config", "check", str(cfg))
    assert proc.returncode == 2
    assert f"{cfg}:{line}: site.timezone: unknown time zone 'Mars/Olympus'" in proc.stderr
    # ... and at load, before any duty command touches the store.
    proc = opsctl("-c", str(cfg), "duty", "log", "list")
    assert proc.returncode == 2 and f"{cfg}:{line}: site.timezone" in proc.stderr
    assert not (tmp_path / "state").exists()
    no_internal_error(proc)


def test_timezone_path_tricks_refused(tmp_path):
    cfg = example_copy(tmp_path, **{"timezone: Europe/Berlin": 'timezone: "../../etc/passwd"'})
    proc = opsctl("config", "check", str(cfg))
    assert proc.returncode == 2 and "unknown time zone" in proc.stderr


# -- the store: permissions, not a directory, damaged, read-only ---------------------------
@pytest.fixture(scope="module")
def shared_root():
    """A directory every user may enter (pytest's tmp_path is root-only)."""
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="opsctl-badstate-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def as_nobody(shared_root):
    from as_user import make_runner

    return make_runner(shared_root / "runtime")


@pytest.fixture
def root_site(shared_root, request):
    """The example config in a world-readable place, its store made by root (0750/0600)."""
    d = shared_root / request.node.name
    d.mkdir(mode=0o755)
    cfg = example_copy(d)
    for p in [cfg, *(d / "secrets").iterdir()]:
        p.chmod(0o644)
    (d / "secrets").chmod(0o755)
    proc = opsctl("-c", str(cfg), "duty", "log", "add", "recorded by root")
    assert proc.returncode == 0, proc.stderr
    return cfg


def test_non_root_user_on_roots_store_is_told_path_permission_and_group_setup(
        root_site, as_nobody):
    state = root_site.parent / "state"
    proc = as_nobody("-c", str(root_site), "duty", "log", "list")
    no_internal_error(proc)
    assert proc.returncode == 1
    assert (f"cannot read the store {state}/opsctl.db: nobody (uid 65534) lacks search (x) "
            f"permission on the directory {state} (root:root 0750)") in proc.stderr
    assert "chmod 2770" in proc.stderr and "usermod -aG opsctl" in proc.stderr
    assert "docs/deployment.md" in proc.stderr


def test_unreadable_db_file_names_the_file(root_site, as_nobody):
    state = root_site.parent / "state"
    state.chmod(0o755)
    proc = as_nobody("-c", str(root_site), "duty", "log", "verify")
    no_internal_error(proc)
    assert proc.returncode == 1
    assert (f"nobody (uid 65534) lacks read (r) permission on the file {state}/opsctl.db "
            "(root:root 0600)") in proc.stderr


def auditors_may_read(state: Path) -> None:
    """Group read-only access for the auditors' group (nobody's own group, nogroup):
    what docs/deployment.md describes; other users get nothing."""
    import grp

    gid = grp.getgrnam("nogroup").gr_gid
    os.chown(state, 0, gid)
    state.chmod(0o750)
    for f in state.iterdir():
        os.chown(f, 0, gid)
        f.chmod(0o640)


def test_read_only_store_reads_and_verifies(root_site, as_nobody):
    """An auditor who may read but not write: read commands and `duty log verify` work
    (SQLite opened read-only), and a command that records says why it cannot."""
    state = root_site.parent / "state"
    auditors_may_read(state)
    before = (state / "opsctl.db").read_bytes()
    proc = as_nobody("-c", str(root_site), "duty", "log", "verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = as_nobody("-c", str(root_site), "--json", "duty", "log", "list")
    assert proc.returncode == 0, proc.stderr
    assert "recorded by root" in proc.stdout
    for args in (["inspect", "list"], ["config", "check"]):
        proc = as_nobody("-c", str(root_site), *args)
        assert proc.returncode == 0, (args, proc.stderr)
    proc = as_nobody("-c", str(root_site), "duty", "log", "add", "by nobody")
    no_internal_error(proc)
    assert proc.returncode == 1
    assert (f"this command records to the store {state}/opsctl.db, which is read-only here: "
            "cannot write it: nobody (uid 65534) lacks write (w) permission") in proc.stderr
    assert "duty log verify` work read-only" in proc.stderr
    # Nothing was created or changed beside the store by the read-only opens.
    assert sorted(p.name for p in state.iterdir()) == ["opsctl.db"]
    assert (state / "opsctl.db").read_bytes() == before


def test_read_only_store_beside_a_live_writer(root_site, as_nobody):
    """With root holding the store open (its -wal/-shm present), the reader sees the
    latest committed entries too."""
    import sqlite3

    state = root_site.parent / "state"
    auditors_may_read(state)
    holder = sqlite3.connect(state / "opsctl.db")
    holder.execute("SELECT count(*) FROM sqlite_master").fetchone()
    try:
        assert opsctl("-c", str(root_site), "duty", "log", "add", "newest").returncode == 0
        assert (state / "opsctl.db-shm").exists()
        auditors_may_read(state)  # SQLite made -wal/-shm like the database; made sure
        proc = as_nobody("-c", str(root_site), "--json", "duty", "log", "list")
        assert proc.returncode == 0, proc.stderr
        assert "newest" in proc.stdout
        assert as_nobody("-c", str(root_site), "duty", "log", "verify").returncode == 0
    finally:
        holder.close()


def test_group_shared_store(root_site, as_nobody):
    """The documented team setup: a setgid directory owned by the team's group; files
    opsctl creates there are group-writable, so every member records."""
    import grp
    import shutil

    state = root_site.parent / "state"
    shutil.rmtree(state)
    group = grp.getgrnam("nogroup").gr_gid
    state.mkdir()
    os.chown(state, 0, group)
    state.chmod(0o2770)
    assert opsctl("-c", str(root_site), "duty", "log", "add", "root").returncode == 0
    db = state / "opsctl.db"
    assert db.stat().st_gid == group and (db.stat().st_mode & 0o777) == 0o660
    from as_user import RUNUSER

    proc = subprocess.run([RUNUSER, "-u", "nobody", "-g", "nogroup", "--",
                           as_nobody.python, "-m", "opsctl", "-c", str(root_site),
                           "duty", "log", "add", "nobody"],
                          capture_output=True, text=True, env=as_nobody.env, cwd="/",
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    proc = opsctl("-c", str(root_site), "duty", "log", "verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_state_dir_that_is_a_file(tmp_path):
    cfg = example_copy(tmp_path)
    (tmp_path / "state").write_text("not a directory\n")
    line = next(i for i, t in enumerate(cfg.read_text().splitlines(), 1)
                if t.startswith("state_dir:"))
    for args in (["duty", "log", "list"], ["duty", "log", "add", "x"]):
        proc = opsctl("-c", str(cfg), *args)
        no_internal_error(proc)
        assert proc.returncode == 1
        assert (f"state_dir {tmp_path}/state is not a directory ({cfg}:{line}: state_dir)"
                in proc.stderr)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_database(tmp_path, damage):
    cfg = example_copy(tmp_path)
    db = tmp_path / "state" / "opsctl.db"
    if damage == "garbage":
        db.parent.mkdir()
        db.write_bytes(os.urandom(64 * 1024))
    else:
        assert opsctl("-c", str(cfg), "duty", "log", "add", "entry").returncode == 0
        data = db.read_bytes()  # the schema's pages are spread over the whole file
        db.write_bytes(data[: len(data) // 2])
    for args in (["duty", "log", "list"], ["duty", "log", "verify"], ["duty", "log", "add", "x"]):
        proc = opsctl("-c", str(cfg), *args)
        no_internal_error(proc)
        assert proc.returncode == 1, (args, proc.stdout)
        assert f"the store {db} is damaged or not an opsctl database" in proc.stderr
        assert "restore opsctl.db from a backup" in proc.stderr


# -- no config at all; config init ----------------------------------------------------------
def test_no_config_names_c_env_and_init(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OPSCTL_CONFIG"}
    proc = opsctl("duty", "log", "list", env=env, cwd=tmp_path)
    no_internal_error(proc)
    assert proc.returncode == 2
    assert "no config file: /etc/opsctl/opsctl.yaml: no such file" in proc.stderr or \
        Path("/etc/opsctl/opsctl.yaml").exists()
    for words in ("-c", "$OPSCTL_CONFIG", "opsctl config init"):
        assert words in proc.stderr, proc.stderr
    missing = tmp_path / "nope.yaml"
    proc = opsctl("power", "status", env=dict(env, OPSCTL_CONFIG=str(missing)))
    assert proc.returncode == 2
    assert f"no config file: {missing}: no such file (from $OPSCTL_CONFIG)" in proc.stderr
    assert f"opsctl config init {missing}" in proc.stderr
    proc = opsctl("-c", str(missing), "inspect", "list", env=env)
    assert proc.returncode == 2 and "(given with -c/--config)" in proc.stderr


def test_config_init_writes_a_config_that_checks_and_works(tmp_path):
    cfg = tmp_path / "etc" / "opsctl.yaml"
    proc = opsctl("-c", str(cfg), "config", "init")
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {cfg}" in proc.stdout
    text = cfg.read_text()
    assert text.count("\n#") >= 10                      # commented
    assert (cfg.stat().st_mode & 0o777) == 0o640        # it will hold secrets
    proc = opsctl("config", "check", str(cfg))
    assert proc.returncode == 0, proc.stderr
    assert opsctl("-c", str(cfg), "duty", "log", "add", "first entry").returncode == 0
    assert (cfg.parent / "state" / "opsctl.db").exists()
    # Never overwritten by accident; --force replaces it.
    cfg.write_text(text + "# my edits\n")
    proc = opsctl("config", "init", str(cfg))
    assert proc.returncode == 2 and "already exists: not overwritten" in proc.stderr
    assert cfg.read_text().endswith("# my edits\n")
    assert opsctl("config", "init", str(cfg), "--force").returncode == 0
    assert cfg.read_text() == text


def test_config_init_uncommented_examples_are_valid(tmp_path):
    """The commented examples in the template are real config: uncommented, they check."""
    cfg = tmp_path / "opsctl.yaml"
    assert opsctl("config", "init", str(cfg)).returncode == 0
    lines = []
    for line in cfg.read_text().splitlines():
        if line.endswith(": []") and line.strip() in ("people: []", "hosts: []",
                                                       "devices: []", "profiles: []"):
            line = line[:-3]
        elif line.startswith(("#  - ", "#    ")):
            line = line[1:]
        lines.append(line)
    cfg.write_text("\n".join(lines) + "\n")
    (tmp_path / "ups1.community").write_text("secret-community\n")
    proc = opsctl("config", "check", str(cfg))
    assert proc.returncode == 0, cfg.read_text() + proc.stderr


# -- secrets: resolved lazily; masking leaves names alone -----------------------------------
def test_missing_snmpv3_key_file_stops_only_its_device(tmp_path):
    cfg = example_copy(tmp_path)
    (tmp_path / "secrets" / "ups2-auth.key").unlink()
    line = next(i for i, t in enumerate(cfg.read_text().splitlines(), 1)
                if "auth_key_file:" in t)
    expected = (f"{cfg}:{line}: devices[1].snmp.auth_key_file: cannot read "
                f"{tmp_path}/secrets/ups2-auth.key: No such file or directory")
    proc = opsctl("config", "check", str(cfg))
    assert proc.returncode == 2 and expected in proc.stderr, proc.stderr
    # Everything that does not use ups2 works.
    for args in (["duty", "log", "add", "shift started"], ["duty", "log", "list"],
                 ["duty", "log", "verify"], ["inspect", "list"],
                 ["config", "show"]):
        proc = opsctl("-c", str(cfg), *args)
        assert proc.returncode == 0, (args, proc.stderr)
    # ups2 itself fails when used, with the same file:line, and no network involved.
    proc = opsctl("-c", str(cfg), "--json", "power", "status", "ups2")
    no_internal_error(proc)
    assert proc.returncode == 3
    import json

    (dev,) = json.loads(proc.stdout)
    assert dev["reason"] == expected and not dev["reachable"]


def test_device_names_equal_to_communities_are_not_masked(tmp_path):
    """The example's v2c communities are its device names (ups1, switch1, env1): masking
    them blanked the names in every message and export."""
    import datetime as dt

    cfg = example_copy(tmp_path, **{"snmp: {version: \"2c\", community: switch1}":
                                    "snmp: {version: \"2c\", community: s3cret-comm}"})
    proc = opsctl("-c", str(cfg), "power", "status", "nosuch")
    assert proc.returncode == 2
    assert "(known: ups1, ups2, core-sw1, env1)" in proc.stderr, proc.stderr
    # A real secret is still masked, whole words only.
    proc = opsctl("-c", str(cfg), "power", "status", "s3cret-comm")
    assert "'****'" in proc.stderr and "s3cret-comm" not in proc.stderr
    assert opsctl("-c", str(cfg), "duty", "log", "add",
                  "ups1 on battery; env1 at 27 C; env10 fine").returncode == 0
    today = dt.date.today()
    out = tmp_path / "log.csv"
    proc = opsctl("-c", str(cfg), "duty", "export", "--from", str(today - dt.timedelta(days=1)),
                  "--to", str(today + dt.timedelta(days=1)), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "ups1 on battery; env1 at 27 C; env10 fine" in out.read_text()


def test_read_only_store_that_needs_a_migration_is_refused_clearly(root_site, as_nobody):
    """A read-only store is never migrated: an older schema is named, not half-upgraded."""
    import sqlite3

    state = root_site.parent / "state"
    with sqlite3.connect(state / "opsctl.db") as conn:
        conn.execute("UPDATE schema_versions SET version = version - 1 "
                     "WHERE component = 'core'")
    auditors_may_read(state)
    before = (state / "opsctl.db").read_bytes()
    proc = as_nobody("-c", str(root_site), "duty", "log", "verify")
    no_internal_error(proc)
    assert proc.returncode == 1
    import re

    assert re.search(rf"the store {re.escape(str(state))}/opsctl.db needs a schema upgrade "
                     r"\(core (\d+)->(\d+)\), which a read-only store cannot take",
                     proc.stderr), proc.stderr
    assert "as a user who may write the store" in proc.stderr
    assert (state / "opsctl.db").read_bytes() == before
