"""Test harness: start stand-in coordinators and Envoy on free loopback ports and clean them up.

Shared by the end-to-end suites (tests/e2e) and the local run (`make run`), so both
exercise the filter the same way a user would.
"""

from .envoy import Envoy
from .envoy_config import build_config, filter_config, shipped_config
from .ports import free_port, port_is_free
from .procs import ManagedProcess
from .standin import Standin
from .waiting import wait_until

__all__ = [
    "Envoy",
    "ManagedProcess",
    "Standin",
    "build_config",
    "filter_config",
    "free_port",
    "port_is_free",
    "shipped_config",
    "wait_until",
]
