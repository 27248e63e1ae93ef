"""Fixtures and hooks both end-to-end suites share (stand-ins in tests/e2e, real Trino in tests/real_trino).

Each suite's conftest imports them by name, which registers them: log folders per session
and module, Ctrl-C on SIGTERM so teardown stops every server, and Envoy's log tail on failure.
"""

import signal
from pathlib import Path

import pytest

from . import envoys


@pytest.fixture(scope="session")
def logs_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module")
def module_logs(logs_root, request) -> Path:
    path = logs_root / request.module.__name__.rsplit(".", 1)[-1]
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def live_filter_config() -> bool:
    """True: the module's Envoy discovers the filter config (ECDS) and tests push new versions."""
    return False


def stop_on_sigterm() -> None:
    """A CI timeout sends SIGTERM: turn it into Ctrl-C so fixture teardown stops every server."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test's report carries the tail of every running Envoy's log (the filter's decisions)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when == "call":
        report.sections.extend(envoys.log_tails())
