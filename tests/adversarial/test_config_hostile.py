"""Configs that used to be accepted and fail later, or crash the loader: each is refused
by `config check` (and so by a SIGHUP reload) with file:line: field: why."""

from __future__ import annotations

import contextlib
import copy
import math
import random
import re
import signal
import time

import pytest
import yaml
from daemon_support import base_config, opsctl, wait_for, write_config

from opsctl.core.config import load_config
from opsctl.core.errors import ConfigError

BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def device(**snmp) -> dict:
    return {"name": "ups1", "kind": "ups", "host": "10.0.0.5",
            "snmp": {"version": "2c", "community": "public", **snmp}}


V3 = {"version": "3", "user": "ops", "security_level": "authPriv",
      "auth_key": "auth-pass-1", "priv_key": "priv-pass-1"}

# (name, sections merged into the base config, words the error must contain)
CASES = [
    ("retention_years", {"duty": {"retention_years": 10000}}, "duty.retention_years"),
    ("anchor_date", {"duty": {"roster": {"anchor_date": "2026-02-30"}}}, "anchor_date"),
    ("anchor_date_text", {"duty": {"roster": {"anchor_date": "soon"}}}, "anchor_date"),
    ("dedup_minutes", {"alerts": {"dedup_minutes": 10**12}}, "alerts.dedup_minutes"),
    ("team_member", {"duty": {"roster": {"teams": {"A": ["alice", "mallory"]}}}},
     "unknown person 'mallory'"),
    ("rotation_shift", {"duty": {"roster": {
        "pattern": "custom", "shifts": [{"name": "day", "start": "08:00", "end": "16:00"}],
        "rotation": ["day", "nite", "off"]}}}, "unknown shift 'nite'"),
    ("duplicate_shift", {"duty": {"roster": {"shifts": [
        {"name": "day", "start": "08:00", "end": "16:00"},
        {"name": "day", "start": "16:00", "end": "00:00"}]}}}, "duplicate shift name 'day'"),
    ("short_v3_auth", {"devices": [device(**{**V3, "auth_key": "abc"})]},
     "auth_key must be at least 8"),
    ("short_v3_priv", {"devices": [device(**{**V3, "priv_key": "abc"})]},
     "priv_key must be at least 8"),
    ("warn_above_crit", {"power": {"ups_thresholds": {"load_warn": 90, "load_crit": 80}}},
     "load_warn (90) must be at or below load_crit (80)"),
    ("charge_order", {"power": {"ups_thresholds": {"charge_warn": 20, "charge_crit": 30}}},
     "charge_warn (20) must be at or above"),
    ("sensor_order", {"devices": [{**device(), "kind": "sensor",
                                   "temperature": {"warn_high": 40, "crit_high": 30}}]},
     "warn_high (40) must not be above crit_high (30)"),
    ("empty_host", {"devices": [{**device(), "host": ""}]}, "devices[0].host"),
    ("blank_host", {"devices": [{**device(), "host": "  "}]}, "devices[0].host"),
    ("empty_community", {"devices": [device(community="")]}, "community must not be empty"),
    ("metrics_garbage", {"daemon": {"metrics_listen": "garbage"}}, "expected HOST:PORT"),
    ("metrics_port", {"daemon": {"metrics_listen": "127.0.0.1:99999"}}, "expected HOST:PORT"),
    ("poll_interval", {"daemon": {"poll_interval": 1e-9}}, "daemon.poll_interval"),
    ("poll_interval_huge", {"daemon": {"poll_interval": 1e300}}, "daemon.poll_interval"),
    ("retry_delay_huge", {"alerts": {"retry_delay": 1e300}}, "alerts.retry_delay"),
    ("version_neg_inf", {"devices": [device(version=-math.inf)]}, "devices[0].snmp.version"),
    ("version_nan", {"devices": [device(version=math.nan)]}, "devices[0].snmp.version"),
    ("nul", {"site": {"name": "dc\x00one"}}, "control character U+0000"),
    ("esc", {"site": {"name": "dc\x1b[31mone"}}, "control character U+001B"),
]


def write(tmp_path, sections: dict):
    cfg = base_config(tmp_path)
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = merge(cfg[key], value)
        else:
            cfg[key] = value
    return write_config(tmp_path / "opsctl.yaml", cfg)


def merge(a: dict, b: dict) -> dict:
    out = copy.deepcopy(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def test_base_config_is_valid(tmp_path):
    load_config(write(tmp_path, {"devices": [device(), {**device(**V3), "name": "ups2"}]}))


@pytest.mark.parametrize(("sections", "words"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_refused_with_file_line(tmp_path, sections, words):
    path = write(tmp_path, sections)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msgs = getattr(err.value, "all_messages", [err.value.message])
    assert any(words in m for m in msgs), msgs
    assert re.match(rf"{re.escape(str(path))}:\d+: ", msgs[0]), msgs


def test_config_check_cli_refuses_cleanly(tmp_path):
    path = write(tmp_path, {"alerts": {"dedup_minutes": 10**12}})
    out = opsctl("-c", str(path), "config", "check")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert re.search(r"opsctl.yaml:\d+: alerts.dedup_minutes", out.stderr), out.stderr


def test_billion_laughs_is_refused_fast(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    assert len(BOMB) < 400
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"bomb.yaml:\d+: more than .* aliases"):
        load_config(path)
    assert time.monotonic() - started < 1
    out = opsctl("-c", str(path), "config", "check")
    assert out.returncode == 2 and "alias" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "a: &a {b: *a}\n", "a: " + "[" * 20000 + "\n",
                                  "a: " + "[" * 200 + "]" * 200 + "\n"])
def test_recursive_and_deep_yaml_refused(tmp_path, text):
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"deep.yaml"):
        load_config(path)


# -- fuzzing: hostile values in every leaf of a full config, fixed seed -------------------------
HOSTILE = [None, "", " ", "\x00", "\x1b]0;x\x07", -1, 0, 10**30, -10**30, 1e-9, 1e308,
           math.inf, -math.inf, math.nan, True, [], {}, [[[]]], "9999-99-99", "-inf", "ü" * 5000,
           "a" * 100_000, "*", "../../etc/passwd", "{{x}}", "%s%n", 2**63]


def leaves(node, loc=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, loc + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from leaves(v, loc + (i,))
    yield loc


def put(node, loc, value):
    for part in loc[:-1]:
        node = node[part]
    node[loc[-1]] = value


def test_fuzzed_configs_load_or_fail_cleanly(tmp_path):
    from pathlib import Path

    example = Path(__file__).parents[2] / "configs" / "opsctl.example.yaml"
    base = yaml.safe_load(example.read_text())
    targets = [loc for loc in leaves(base) if loc]
    rng = random.Random(19)
    for n in range(300):
        cfg = copy.deepcopy(base)
        for loc in rng.sample(targets, 3):
            # (an ancestor may have been replaced by a scalar already)
            with contextlib.suppress(KeyError, IndexError, TypeError):
                put(cfg, loc, rng.choice(HOSTILE))
        path = tmp_path / f"fuzz{n}.yaml"
        path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
        for f in example.parent.glob("*"):
            if f.name != "opsctl.example.yaml" and not (tmp_path / f.name).exists():
                (tmp_path / f.name).symlink_to(f)
        try:
            load_config(path)
        except ConfigError as exc:
            assert exc.message.startswith(str(path)), exc.message


@pytest.mark.slow
def test_sighup_with_a_bomb_keeps_the_daemon_running(tmp_path, notify_socket, daemon_factory):
    path = write(tmp_path, {})
    d = daemon_factory(path, notify_socket, watchdog_usec=2_000_000)
    notify_socket.wait("READY=1", timeout=30)
    path.write_text(BOMB)
    before = notify_socket.count("WATCHDOG=1")
    d.signal(signal.SIGHUP)
    wait_for(lambda: "reload rejected" in d.output(), 20, what="the rejected reload")
    assert "alias" in d.output()
    notify_socket.wait("WATCHDOG=1", n=before + 3, timeout=15)
    assert d.proc.poll() is None
