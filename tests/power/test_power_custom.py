"""Custom profiles from the config (power.profiles): checked with file:line errors, and
read from a real agent (the real Minuteman card served by snmpsim)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from snmp_agents import Snmpsim, snmpsim_available

from opsctl.core.config import load_config
from opsctl.power import api
from opsctl.power.profiles import registry

REAL = (Path(__file__).resolve().parents[1] / "fixtures" / "snmp-quirks" / "real"
        / "minuteman-e1500.snmprec")  # a real card (see its README)

PROFILE = """\
power:
  profiles:
    - name: minuteman
      kind: ups
      extends: ietf
      description: Minuteman cards (RFC 1628 + identity in enterprise 2254)
      sys_object_ids: [1.3.6.1.4.1.2254]
      fields:
        device.model:
          oids: [{model_oids}]
          type: string
        ups.id: {{oids: [1.3.6.1.4.1.2254.2.4.1.3.0], type: string}}
"""


def _write(tmp_path: Path, port: int, model_oids: str) -> Path:
    p = tmp_path / "opsctl.yaml"
    p.write_text("site: {name: t}\n" + PROFILE.format(model_oids=model_oids) +
                 f"devices:\n  - {{name: mm, kind: ups, host: 127.0.0.1, port: {port}, "
                 "snmp: {community: minuteman-e1500}}\n")
    return p


@pytest.mark.skipif(not (snmpsim_available() and REAL.exists()),
                    reason="snmpsim venv missing (tests/setup.sh installs it)")
def test_custom_profile_chosen_by_sysobjectid_and_read(tmp_path):
    with Snmpsim([REAL]) as sim:
        cfg = load_config(_write(tmp_path, sim.port, "1.3.6.1.4.1.2254.2.4.1.2.0"))
        (r,) = api.poll(cfg)
    assert r.profile == "minuteman" and "sysObjectID 1.3.6.1.4.1.2254.2.4" in r.profile_reason
    assert r.values["device.model"] == "E1500RTXL2U"    # from the vendor MIB
    assert r.values["ups.id"] == "03"
    assert r.values["ups.load"] == 79                    # inherited from ietf
    assert "device.model" not in r.missing
    # Reloading a config without custom profiles drops them again.
    p = tmp_path / "plain.yaml"
    p.write_text("site: {name: t}\n")
    load_config(p)
    assert "minuteman" not in registry.all_profiles()


def test_bad_oid_in_custom_profile_is_file_line_error(tmp_path):
    cfg = _write(tmp_path, 161, '1.3.6.1.4.1.2254.2.4.1.2.0, "1.3.6.1.4.1.x.0"')
    res = subprocess.run([sys.executable, "-m", "opsctl", "-c", str(cfg), "power", "status"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "NO_COLOR": "1"})
    assert res.returncode == 2
    assert res.stderr.startswith(
        f"opsctl: error: {cfg}:11: power.profiles[0].fields.device.model.oids[1]: "
        "bad OID '1.3.6.1.4.1.x.0'")
    assert "Traceback" not in res.stderr
