"""The compiled config cache (core/config/cache.py): a hit gives the same config as a fresh
load, anything the config was made from invalidates it, and a cache file that is damaged
or not private is never used."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from opsctl.core.config import cache as compiled
from opsctl.core.config import load_config, loader
from opsctl.core.logsetup import contains_secret

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "opsctl.example.yaml"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(d))
    monkeypatch.delenv("OPSCTL_CONFIG_CACHE", raising=False)
    return d / "opsctl" / "config"


def _no_fresh_load(monkeypatch) -> None:
    def refuse(*a, **kw):
        raise AssertionError("loaded afresh: the cache was not used")

    monkeypatch.setattr(loader, "_load", refuse)


def _site(tmp_path: Path, extra: str = "") -> Path:
    p = tmp_path / "opsctl.yaml"
    p.write_text("site: {name: cached}\nstate_dir: state\n"
                 "devices:\n  - {name: u1, kind: ups, host: 127.0.0.1, "
                 "snmp: {community_file: community.txt}}\n" + extra)
    return p


def test_a_hit_is_the_same_config_as_a_fresh_load(tmp_path, monkeypatch, cache_dir):
    fresh = load_config(EXAMPLE, cache="use")
    assert len(list(cache_dir.iterdir())) == 1
    _no_fresh_load(monkeypatch)
    hit = load_config(EXAMPLE, cache="use")
    assert hit is not fresh
    assert hit.model_dump() == fresh.model_dump()
    assert hit.source == fresh.source
    assert hit.where(("devices", 1, "snmp")) == fresh.where(("devices", 1, "snmp"))
    assert hit.devices[0].snmp.community.get_secret_value() == \
        fresh.devices[0].snmp.community.get_secret_value()


def test_config_edit_secret_file_and_env_invalidate(tmp_path, monkeypatch):
    (tmp_path / "community.txt").write_text("first-community\n")
    cfg_file = _site(tmp_path, "  - {name: u3, kind: ups, host: 127.0.0.1, snmp: {version: '3', "
                               "user: u, security_level: authNoPriv, "
                               "auth_key_env: OPSCTL_TEST_PW}}\n")
    monkeypatch.setenv("OPSCTL_TEST_PW", "pw-one-long")
    assert load_config(cfg_file, cache="use").devices[0].snmp.community \
        .get_secret_value() == "first-community"

    (tmp_path / "community.txt").write_text("second-community\n")
    cfg = load_config(cfg_file, cache="use")
    assert cfg.devices[0].snmp.community.get_secret_value() == "second-community"

    monkeypatch.setenv("OPSCTL_TEST_PW", "pw-two-long")
    assert load_config(cfg_file, cache="use").devices[1].snmp.auth_key \
        .get_secret_value() == "pw-two-long"
    monkeypatch.delenv("OPSCTL_TEST_PW")
    assert load_config(cfg_file, cache="use").devices[1].snmp.auth_key.message.endswith(
        "environment variable OPSCTL_TEST_PW is not set")

    # Same size, same second: the bytes decide, not the mtime.
    st = cfg_file.stat()
    cfg_file.write_text(cfg_file.read_text().replace("cached", "cachex"))
    os.utime(cfg_file, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert load_config(cfg_file, cache="use").site.name == "cachex"


def test_a_missing_secret_file_stays_unresolved_until_it_appears(tmp_path):
    cfg_file = _site(tmp_path)
    for _ in range(2):
        cfg = load_config(cfg_file, cache="use")
        assert "cannot read" in cfg.devices[0].snmp.community.message
        assert cfg.devices[0].snmp.community.message.startswith(f"{cfg_file}:")
    (tmp_path / "community.txt").write_text("now-there\n")
    cfg = load_config(cfg_file, cache="use")
    assert cfg.devices[0].snmp.community.get_secret_value() == "now-there"


def test_a_hit_registers_the_secrets_for_the_log_filter(tmp_path):
    (tmp_path / "community.txt").write_text("zq-secret-community\n")
    cfg_file = _site(tmp_path)
    load_config(cfg_file, cache="use")
    code = ("from opsctl.core.config import load_config; "
            "from opsctl.core.logsetup import contains_secret; import sys; "
            f"load_config({str(cfg_file)!r}, cache='use'); "
            "sys.exit(0 if contains_secret('x zq-secret-community y') else 1)")
    env = {**os.environ, "OPSCTL_CONFIG_CACHE": "1"}
    # A fresh process: only the cache hit can have registered it.
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0
    assert contains_secret("x zq-secret-community y")


def test_a_hit_installs_custom_power_profiles(tmp_path, monkeypatch):
    from opsctl.power.profiles import registry

    cfg_file = tmp_path / "opsctl.yaml"
    cfg_file.write_text(
        "site: {name: t}\npower:\n  profiles:\n"
        "    - {name: cachedprof, kind: ups, extends: ietf}\n"
        "devices:\n  - {name: u, kind: ups, host: 127.0.0.1, profile: cachedprof}\n")
    load_config(cfg_file, cache="use")
    plain = tmp_path / "plain.yaml"
    plain.write_text("site: {name: t}\n")
    load_config(plain, cache="use")
    assert "cachedprof" not in registry.all_profiles()
    _no_fresh_load(monkeypatch)
    load_config(cfg_file, cache="use")
    assert "cachedprof" in registry.all_profiles()
    load_config(plain, cache="use")   # a hit without custom profiles drops them again
    assert "cachedprof" not in registry.all_profiles()


def test_damaged_or_foreign_cache_files_are_misses(tmp_path, monkeypatch, cache_dir):
    cfg_file = tmp_path / "opsctl.yaml"
    cfg_file.write_text("site: {name: t}\n")
    load_config(cfg_file, cache="use")
    (entry,) = cache_dir.iterdir()
    assert entry.stat().st_mode & 0o777 == 0o600
    assert cache_dir.stat().st_mode & 0o777 == 0o700

    calls = []
    real = loader._load
    monkeypatch.setattr(loader, "_load", lambda *a: calls.append(a) or real(*a))
    entry.write_bytes(b"\x80\x05garbage")
    assert load_config(cfg_file, cache="use").site.name == "t"
    assert len(calls) == 1      # a miss, then rewritten
    load_config(cfg_file, cache="use")
    assert len(calls) == 1
    entry.chmod(0o622)          # someone else could have written it: never unpickled
    load_config(cfg_file, cache="use")
    assert len(calls) == 2


def test_off_and_refresh(tmp_path, monkeypatch, cache_dir):
    cfg_file = tmp_path / "opsctl.yaml"
    cfg_file.write_text("site: {name: t}\n")
    load_config(cfg_file)
    assert not cache_dir.exists()          # the default (daemon, library) never caches
    load_config(cfg_file, cache="refresh")  # config check: always a full load, then saved
    _no_fresh_load(monkeypatch)
    load_config(cfg_file, cache="use")
    monkeypatch.setenv("OPSCTL_CONFIG_CACHE", "0")
    with pytest.raises(AssertionError, match="afresh"):
        load_config(cfg_file, cache="use")
    assert compiled.enabled() is False


def test_an_invalid_config_is_never_cached(tmp_path, cache_dir):
    from opsctl.core.errors import ConfigError

    cfg_file = tmp_path / "opsctl.yaml"
    cfg_file.write_text("site: {name: t}\ndaemon: {retention_schedule: 'not cron'}\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match="invalid cron"):
            load_config(cfg_file, cache="use")
    assert not cache_dir.exists() or not list(cache_dir.iterdir())


def test_a_deleted_working_directory_is_a_miss_not_an_error(tmp_path):
    cfg_file = tmp_path / "opsctl.yaml"
    cfg_file.write_text("site: {name: t}\nstate_dir: /var/empty/opsctl-test\n")
    gone = tmp_path / "gone"
    gone.mkdir()
    code = ("import os, sys; from opsctl.core.config import load_config; "
            f"os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); "
            f"names = [load_config({str(cfg_file)!r}, cache='use').site.name for _ in 'ab']; "
            "sys.exit(0 if names == ['t', 't'] else 1)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "OPSCTL_CONFIG_CACHE": "1"})
    assert proc.returncode == 0, proc.stderr
