"""Fixtures of the duty tests."""

from __future__ import annotations

import pytest
from duty_support import DutyEnv, make_env, two_shift_config


@pytest.fixture()
def env(tmp_path, monkeypatch) -> DutyEnv:
    # Root at the console maps to no configured person, so --by names who acts.
    monkeypatch.delenv("OPSCTL_ACTOR", raising=False)
    monkeypatch.delenv("SUDO_USER", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    return make_env(tmp_path, two_shift_config())
