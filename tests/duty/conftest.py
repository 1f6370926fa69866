"""Fixtures of the duty tests."""

from __future__ import annotations

import pytest
from duty_support import DutyEnv, make_env, two_shift_config


def pytest_generate_tests(metafunc):
    """Every duty test that uses ``env`` runs on both stores: SQLite and PostgreSQL (a
    fresh database of the session's throw-away cluster). ``@pytest.mark.sqlite_only``
    keeps a test to SQLite (file permissions, the sqlite3 tool, SQLite's own paths)."""
    if "env" in metafunc.fixturenames or "backend" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("sqlite_only")
        metafunc.parametrize("backend", ["sqlite"] if only else ["sqlite", "postgresql"])


@pytest.fixture()
def env(tmp_path, monkeypatch, request, backend) -> DutyEnv:
    # Root at the console maps to no configured person, so --by names who acts.
    monkeypatch.delenv("OPSCTL_ACTOR", raising=False)
    monkeypatch.delenv("SUDO_USER", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    cluster = request.getfixturevalue("pg_cluster") if backend == "postgresql" else None
    return make_env(tmp_path, two_shift_config(), cluster)
