"""Fixtures: the built wasm module and CLI the checks need, and clean stops on SIGTERM.

Builds are not started from here (`make offline` builds them first); a missing one fails
with the make target that builds it.
"""

import signal
from pathlib import Path

import pytest

from harness.paths import WASM_MODULE, require_file

from .repo_files import CLI_BIN


@pytest.fixture(scope="session")
def wasm_module() -> Path:
    return require_file(WASM_MODULE, "wasm")


@pytest.fixture(scope="session")
def cli() -> Path:
    return require_file(CLI_BIN, "cli")


def pytest_configure(config):
    # A CI timeout sends SIGTERM: turn it into Ctrl-C so fixture teardown stops every server.
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
