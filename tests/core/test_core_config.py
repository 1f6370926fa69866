"""Config loading: every kind of mistake gives a one-line file:line: field message."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from opsctl.core.config import load_config
from opsctl.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "opsctl.example.yaml"

MINIMAL = "site: {name: test}\nstate_dir: state\n"


def write(tmp_path: Path, text: str, name: str = "opsctl.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    return exc.value.message


def test_example_config_is_valid():
    cfg = load_config(EXAMPLE)
    assert cfg.site.name
    assert cfg.people and cfg.devices and cfg.inspection.profiles
    assert cfg.state_dir.is_absolute()


def test_minimal_config_and_relative_state_dir(tmp_path):
    cfg = load_config(write(tmp_path, MINIMAL))
    assert cfg.state_dir == (tmp_path / "state").resolve()
    assert cfg.power.ups_thresholds.load_warn == 60
    assert cfg.power.ups_thresholds.runtime_warn_min == 360
    assert cfg.duty.retention_years == 3
    assert cfg.duty.handover.arrive_early_minutes == 15


def test_enum_error_names_line_and_field(tmp_path):
    text = MINIMAL + (
        "devices:\n"
        "  - {name: u1, kind: ups, host: h}\n"
        "  - {name: u2, kind: ups, host: h}\n"
        "  - name: sw\n"
        "    kind: switch\n"
        "    host: h\n"
        "    snmp:\n"
        "      version: 4\n"
    )
    msg = error_of(write(tmp_path, text))
    assert msg.endswith("opsctl.yaml:10: devices[2].snmp.version: must be one of 1, 2c, 3")


def test_unknown_key_rejected(tmp_path):
    msg = error_of(write(tmp_path, MINIMAL + "sitee: x\n"))
    assert "opsctl.yaml:3: sitee: unknown key" in msg


def test_missing_required_field(tmp_path):
    msg = error_of(write(tmp_path, "state_dir: x\n"))
    assert "site: required field is missing" in msg


def test_wrong_type(tmp_path):
    msg = error_of(write(tmp_path, MINIMAL + "devices:\n  - {name: u, kind: ups, host: h, "
                                             "port: many}\n"))
    assert "opsctl.yaml:4: devices[0].port:" in msg and "integer" in msg


def test_out_of_range(tmp_path):
    msg = error_of(write(tmp_path, MINIMAL + "devices:\n  - name: u\n    kind: ups\n"
                                             "    host: h\n    port: 70000\n"))
    assert "opsctl.yaml:7: devices[0].port:" in msg and "65535" in msg


def test_yaml_syntax_error(tmp_path):
    msg = error_of(write(tmp_path, "site: {name: x\n"))
    assert "opsctl.yaml:2: invalid YAML" in msg


def test_duplicate_key(tmp_path):
    msg = error_of(write(tmp_path, MINIMAL + "site: {name: y}\n"))
    assert "opsctl.yaml:3: site: duplicate key" in msg


def test_duplicate_names(tmp_path):
    msg = error_of(write(tmp_path, MINIMAL + "people:\n  - {name: a}\n  - {name: a}\n"))
    assert "duplicate person name 'a'" in msg


def test_missing_file(tmp_path):
    assert "no such file" in error_of(tmp_path / "nope.yaml")


def test_top_level_not_mapping(tmp_path):
    assert "expected a mapping" in error_of(write(tmp_path, "- a\n- b\n"))


def test_v3_needs_keys(tmp_path):
    text = MINIMAL + ("devices:\n  - name: u\n    kind: ups\n    host: h\n"
                      "    snmp: {version: '3', user: mon}\n")
    msg = error_of(write(tmp_path, text))
    assert "devices[0].snmp" in msg and "auth_key" in msg


def test_secret_from_file_and_env(tmp_path, monkeypatch):
    (tmp_path / "community.txt").write_text("s3cret-community\n")
    monkeypatch.setenv("TEST_AUTH_KEY", "auth-key-value")
    text = MINIMAL + (
        "devices:\n"
        "  - {name: a, kind: ups, host: h, snmp: {community_file: community.txt}}\n"
        "  - name: b\n    kind: ups\n    host: h\n"
        "    snmp: {version: '3', user: u, security_level: authNoPriv, auth_key_env: TEST_AUTH_KEY}\n"
    )
    cfg = load_config(write(tmp_path, text))
    assert cfg.devices[0].snmp.community.get_secret_value() == "s3cret-community"
    assert cfg.devices[1].snmp.auth_key.get_secret_value() == "auth-key-value"
    dumped = cfg.model_dump_json()
    assert "s3cret-community" not in dumped and "auth-key-value" not in dumped


def test_secret_env_missing(tmp_path, monkeypatch):
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    text = MINIMAL + "devices:\n  - {name: a, kind: ups, host: h, snmp: {community_env: NOPE_NOT_SET}}\n"
    # Resolved lazily (issue 11): the config loads, the device fails when used, and
    # `config check` reports it (tests/core/test_core_badstate.py).
    from opsctl.core.config.secrets import SecretUnavailable, find_unresolved, reveal

    cfg = load_config(write(tmp_path, text))
    ((loc, secret),) = find_unresolved(cfg)
    assert loc == ("devices", 0, "snmp", "community_env")
    with pytest.raises(SecretUnavailable) as err:
        reveal(cfg.devices[0].snmp.community)
    assert "devices[0].snmp.community_env: environment variable NOPE_NOT_SET is not set" \
        in str(err.value)


def test_where_helper_points_at_lines():
    cfg = load_config(EXAMPLE)
    where = cfg.where(("inspection", "profiles", 0, "items", 1))
    assert where.startswith(f"{EXAMPLE}:") and "inspection.profiles[0].items[1]" in where
    line = int(where.split(":")[1])
    assert "memory" in EXAMPLE.read_text().splitlines()[line - 1]


def test_config_check_cli_one_line_error(tmp_path):
    bad = write(tmp_path, MINIMAL + "devices:\n  - {name: u, kind: toaster, host: h}\n")
    proc = subprocess.run([sys.executable, "-m", "opsctl", "config", "check", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[0] == (
        f"opsctl: error: {bad}:4: devices[0].kind: must be one of ups, switch, sensor, pdu")
    assert "Traceback" not in proc.stderr


def test_config_show_masks_secrets(tmp_path):
    cfg = write(tmp_path, MINIMAL + "devices:\n  - {name: a, kind: ups, host: h, "
                                    "snmp: {community: verysecretvalue}}\n")
    proc = subprocess.run([sys.executable, "-m", "opsctl", "-c", str(cfg), "config", "show"],
                          capture_output=True, text=True, check=True)
    assert "verysecretvalue" not in proc.stdout
    assert "**********" in proc.stdout


@pytest.mark.skipif(shutil.which("opsctl") is None, reason="console script not installed")
def test_console_script_config_check_example():
    proc = subprocess.run(["opsctl", "config", "check", str(EXAMPLE)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr


def test_configuration_reference_in_step_with_schema():
    from opsctl.core.config.reference import render_markdown

    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == render_markdown(), (
        "docs/configuration.md is stale: run `opsctl config reference > docs/configuration.md`")
