import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

# Shared test helpers (tests/helpers/*.py) import as plain modules, e.g. `import snmp_agents`.
sys.path.insert(0, str(Path(__file__).parent / "helpers"))

# The CLI keeps compiled configs in $XDG_CACHE_HOME (core/config/cache.py): one directory
# per test session, so the suite runs with the cache on but never touches ~/.cache.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="opsctl-test-cache-")
atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], True)

# Skip policy (tests/run.sh sets OPSCTL_REQUIRE_ALL=1): tests/setup.sh installs every tool
# the suites use, so a skip there means a broken set-up, not a test that cannot run. The
# only skips allowed are for hardware a CI machine cannot have; their reason starts with
# "hardware:" and says how to get it.
HARDWARE_PREFIX = "hardware:"


def _require_all() -> bool:
    return os.environ.get("OPSCTL_REQUIRE_ALL") == "1"


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr)
    return reason.removeprefix("Skipped: ")


def _enforce(report) -> None:
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    if reason.startswith(HARDWARE_PREFIX):
        return
    report.outcome = "failed"
    report.longrepr = (f"skipped, which OPSCTL_REQUIRE_ALL=1 does not allow (only skips whose "
                       f"reason starts with {HARDWARE_PREFIX!r}; run tests/setup.sh to install "
                       f"what the tests need): {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if _require_all():
        _enforce(outcome.get_result())


# A whole module skipped at collection cannot be turned into a failed test without
# stopping the run ("error during collection"): record it and fail the session at the end.
_collect_skips: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if _require_all() and report.skipped:
        reason = _skip_reason(report)
        if not reason.startswith(HARDWARE_PREFIX):
            _collect_skips.append(f"{report.nodeid}: {reason}")


def pytest_terminal_summary(terminalreporter):
    for line in _collect_skips:
        terminalreporter.write_line(f"FAILED (skipped module, OPSCTL_REQUIRE_ALL=1) {line}",
                                    red=True)


def pytest_sessionfinish(session, exitstatus):
    if _collect_skips and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def pg_cluster():
    """One throw-away PostgreSQL cluster per test session (tests/helpers/pg_cluster.py);
    tests take a fresh database from it with ``pg_cluster.new_database()``."""
    from pg_cluster import PgCluster, pg_bindir

    bindir = pg_bindir()
    if bindir is None:
        pytest.skip("hardware: PostgreSQL server binaries (initdb, pg_ctl) not installed; "
                    "tests/setup.sh installs Debian's postgresql")
    cluster = PgCluster(bindir).start()
    yield cluster
    cluster.destroy()


@pytest.fixture()
def pg_url(pg_cluster) -> str:
    """The socket URL of a fresh, empty database."""
    return pg_cluster.socket_url(pg_cluster.new_database())
