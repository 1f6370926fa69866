"""Who may silence alerts: the engineer role by default, or the role configured in
required_roles.silences — one mechanism with storage changes and power plans."""

from __future__ import annotations

import json

from daemon_support import base_config, opsctl, write_config

PEOPLE = [{"name": "erin", "roles": ["operator", "engineer"]},
          {"name": "olga", "roles": ["operator"]},
          {"name": "sam", "roles": ["supervisor"]}]


def _silence(path, by: str):
    return opsctl("-c", str(path), "--json", "daemon", "silence", "add", "ups1", "--for",
                  "1h", "--reason", "battery swap", "--by", by)


def test_silences_need_the_engineer_role_by_default(tmp_path):
    path = write_config(tmp_path / "opsctl.yaml", base_config(tmp_path, people=PEOPLE))
    refused = _silence(path, "olga")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "olga may not silence alerts for ups1: needs the engineer role" in refused.stderr
    assert "the engineer role: erin" in refused.stderr
    made = _silence(path, "erin")
    assert made.returncode == 0, made.stderr
    sid = json.loads(made.stdout)["id"]
    gone = opsctl("-c", str(path), "daemon", "silence", "remove", str(sid), "--by", "olga")
    assert gone.returncode == 1 and "needs the engineer role" in gone.stderr


def test_a_configured_role_replaces_the_engineer(tmp_path):
    cfg = base_config(tmp_path, people=PEOPLE, required_roles={"silences": "supervisor"})
    path = write_config(tmp_path / "opsctl.yaml", cfg)
    refused = _silence(path, "erin")
    assert refused.returncode == 1
    assert "needs the supervisor role" in refused.stderr and "role: sam" in refused.stderr
    made = _silence(path, "sam")
    assert made.returncode == 0 and json.loads(made.stdout)["created_by"] == "sam"
    bad = base_config(tmp_path, people=PEOPLE, required_roles={"silences": "janitor"})
    check = opsctl("-c", str(write_config(tmp_path / "bad.yaml", bad)), "config", "check")
    assert check.returncode == 2 and "required_roles" in check.stderr + check.stdout
