"""Check parameters and profile validation: typed params, defaults, and config errors that
name file:line: field (through the real loader and the CLI)."""

from __future__ import annotations

import pytest
from inspect_helpers import EXAMPLE, load, opsctl, profile, write_config

from opsctl.core.errors import ConfigError
from opsctl.inspection import registry
from opsctl.inspection.checks.base import ParamError


def test_every_check_has_summary_and_described_params():
    names = {c.name for c in registry.all_checks()}
    assert {"raid", "lvm_free", "fs_usage", "fstab", "smart", "ups", "switch", "sensor",
            "clock_sync", "ip_baseline", "backup_age", "load", "memory", "swap", "process",
            "systemd_unit", "tcp_port"} <= names
    for c in registry.all_checks():
        assert c.summary
        for p in c.all_params():
            assert p.description, (c.name, p.name)
            if not p.required and p.default is not None:
                assert p.coerce(p.default) == p.default  # defaults pass their own type


def test_resolve_fills_defaults_and_types():
    fs = registry.get("fs_usage")
    p = fs.resolve({"mount": "/srv", "warn": 70})
    assert p["warn"] == 70.0 and isinstance(p["warn"], float)
    assert p["crit"] == 90.0 and p["require_mount"] is True and p["timeout"] is None
    with pytest.raises(ParamError) as e:
        fs.resolve({"warn": "high"})
    assert e.value.param == "warn" and "number" in e.value.message
    with pytest.raises(ParamError) as e:
        fs.resolve({"warn": True})  # a bool is not a number, even though Python says so
    assert e.value.param == "warn"
    with pytest.raises(ParamError) as e:
        fs.resolve({"warn": 95, "crit": 90})
    assert "must not be above crit" in e.value.message
    with pytest.raises(ParamError) as e:
        registry.get("load").resolve({"period": 10})
    assert "one of 1, 5, 15" in e.value.message
    with pytest.raises(ParamError) as e:
        registry.get("backup_age").resolve({})
    assert "exactly one of path" in e.value.message


BAD = """\
site: {name: x}
state_dir: STATE
hosts:
  - {name: web1, address: 127.0.0.1}
inspection:
  profiles:
    - name: p
      items:
        - {id: a, check: load}
        - id: b
          check: fs_usage
          params:
            mount: /
            warn: "high"
        - {id: c, check: nosuch}
        - {id: d, check: tcp_port}
        - {id: e, check: load, params: {wran: 9}}
        - {id: f, check: load, host: nohost}
        - {id: g, check: tcp_port, host: web1, params: {port: 22}}
        - {id: h, check: ups, params: {devices: [ghost]}}
        - {id: a, question: "dup?"}
"""


def test_bad_profile_reports_file_line_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD.replace("STATE", str(tmp_path / "state")))
    with pytest.raises(ConfigError) as e:
        load(path)
    msgs = e.value.all_messages
    p = str(path)
    assert msgs[0] == (f"{p}:14: inspection.profiles[0].items[1].params.warn: must be a "
                       "number (got 'high')")
    assert msgs[1].startswith(f"{p}:15: inspection.profiles[0].items[2].check: unknown check "
                              "'nosuch' (known: backup_age, ")
    assert msgs[2] == (f"{p}:16: inspection.profiles[0].items[3].params.port: required "
                       "parameter of check 'tcp_port' is missing")
    assert msgs[3].startswith(f"{p}:17: inspection.profiles[0].items[4].params.wran: unknown "
                              "parameter for check 'load'")
    assert msgs[4] == (f"{p}:18: inspection.profiles[0].items[5].host: unknown host 'nohost' "
                       "(hosts: web1)")
    assert msgs[5].startswith(f"{p}:19: inspection.profiles[0].items[6].host: check 'tcp_port' "
                              "runs only on this machine")
    assert msgs[6].startswith(f"{p}:20: inspection.profiles[0].items[7].params.devices[0]: "
                              "unknown device 'ghost'")
    assert msgs[7].startswith(f"{p}:21: inspection.profiles[0].items[8].id: duplicate item id")
    # The CLI shows the same lines, exit 2, no traceback.
    proc = opsctl("-c", p, "inspect", "list")
    assert proc.returncode == 2
    assert f"opsctl: error: {p}:14: inspection.profiles[0].items[1].params.warn" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_manual_item_rules(tmp_path):
    path = write_config(tmp_path, [profile("p", [
        {"id": "n", "question": "Temp?", "type": "number", "min": 30, "max": 20},
        {"id": "c", "question": "State?", "type": "choice", "choices": ["a", "b"],
         "expect": "z"}])])
    with pytest.raises(ConfigError) as e:
        load(path)
    assert "items[0].min: min (30) is above max (20)" in e.value.all_messages[0]
    assert "items[1].expect: 'z' is not one of the choices (a, b)" in e.value.all_messages[1]


def test_example_config_is_valid_and_lists_checks():
    cfg = load(EXAMPLE)
    names = [p.name for p in cfg.inspection.profiles]
    assert {"daily-room", "power-room-patrol", "pre-holiday"} <= set(names)
    proc = opsctl("-c", str(EXAMPLE), "inspect", "checks", "fs_usage")
    assert proc.returncode == 0 and "require_mount" in proc.stdout and "% used at or above" in proc.stdout
    proc = opsctl("-c", str(EXAMPLE), "--json", "inspect", "checks")
    import json

    data = {c["name"]: c for c in json.loads(proc.stdout)}
    assert data["tcp_port"]["remote"] is False and data["load"]["remote"] is True
    port = next(p for p in data["tcp_port"]["params"] if p["name"] == "port")
    assert port["required"] is True and port["type"] == "int"


def test_docs_check_table_in_step_with_registry():
    from inspect_helpers import ROOT

    doc = (ROOT / "docs" / "inspection.md").read_text()
    for c in registry.all_checks():
        ps = ", ".join(f"`{p.name}`" + ("" if p.required else f"={p.default_label}")
                       for p in c.params)
        row = f"| `{c.name}` | {c.summary} | {ps or '-'} | {'yes' if c.remote else 'no'} |"
        assert row in doc, f"docs/inspection.md: check table is stale for {c.name}"
