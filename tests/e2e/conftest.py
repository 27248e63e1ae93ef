"""Fixtures: three stand-in coordinators and an Envoy running the filter, per test module.

A module picks its filter config by overriding the `filter_json` fixture; a test that
needs its own Envoy (or two) uses `start_envoy`. Everything started is stopped in
fixture teardown, also when a test fails; a failing test's report carries the tail
of the Envoy logs, where the filter logs its decisions.
"""

from pathlib import Path
from typing import Callable, Dict, List, Union

import pytest

from harness import Envoy, Standin, envoys
from harness.trino_http import coordinator_of
from harness.suite_fixtures import (  # noqa: F401 - registered by import
    live_filter_config, logs_root, module_logs, pytest_runtest_makereport, stop_on_sigterm)

from .configs import ENVOY_CLUSTER, STANDIN_NAMES, shipped_filter


class Stack:
    """The stand-ins and the Envoy in front of them, with questions tests ask about traffic."""

    def __init__(self, standins: Dict[str, Standin], envoy: Envoy):
        self.standins = standins
        self.envoy = envoy

    @property
    def url(self) -> str:
        return self.envoy.url

    def clear(self) -> None:
        for s in self.standins.values():
            if s.is_running():  # a test may have killed one on purpose
                s.clear_requests()

    def client_requests(self) -> Dict[str, list]:
        """{stand-in name: requests other than health checks and polls}; [] for a stopped one."""
        return {name: s.trino_requests() if s.is_running() else [] for name, s in self.standins.items()}

    def receivers(self, method: str = "POST", path_prefix: str = "/v1/statement") -> List[str]:
        """Names of the stand-ins that received `method` on a path starting with `path_prefix`."""
        return sorted(name for name, reqs in self.client_requests().items()
                      if any(r["method"] == method and r["path"].startswith(path_prefix) for r in reqs))

    def owner(self, query_id: str) -> str:
        """The stand-in whose coordinator id ends `query_id`."""
        suffix = coordinator_of(query_id)
        for name, s in self.standins.items():
            if s.is_running() and s.state()["coordinatorId"] == suffix:
                return name
        raise AssertionError(f"no stand-in has coordinator id {suffix} (query {query_id})")


@pytest.fixture(scope="module")
def standin_args() -> Union[List[str], Dict[str, List[str]]]:
    """Extra stand-in flags for every stand-in of a module, or {stand-in name: flags} (override in the module)."""
    return []


def forwarded_mode(filter_json: dict, cluster: str) -> str:
    """How the stand-in treats X-Forwarded-*, as the real coordinator of that stickiness mode would.

    forwarded_prefix needs `http-server.process-forwarded=true` (accept); rewrite mode is for
    stock Trino, which answers any X-Forwarded-* header with 406 (reject), so a forwarded
    header leaking through the router fails the test.
    """
    modes = {c["name"]: c.get("stickiness", "forwarded_prefix") for c in filter_json["clusters"]}
    return "reject" if modes.get(cluster) == "rewrite" else "accept"


@pytest.fixture(scope="module")
def standins(module_logs, standin_args, filter_json):
    started: Dict[str, Standin] = {}
    try:
        for name in STANDIN_NAMES:
            args = standin_args.get(name, []) if isinstance(standin_args, dict) else standin_args
            started[name] = Standin(name, forwarded=forwarded_mode(filter_json, name), extra_args=args,
                                    log_dir=module_logs).start()
        yield started
    finally:
        for s in started.values():
            s.stop()


@pytest.fixture(scope="module")
def filter_json() -> dict:
    """The filter config of a module's Envoy (override in the module)."""
    return shipped_filter()


def launch_envoy(standins: Dict[str, Standin], filter_json: dict, log_dir: Path, live: bool = False,
                 wait_healthy: bool = True) -> Envoy:
    """An Envoy in front of `standins` (see harness.envoys.launch_envoy)."""
    ports = {ENVOY_CLUSTER[name]: s.port for name, s in standins.items()}
    return envoys.launch_envoy(ports, filter_json, log_dir, live=live, wait_healthy=wait_healthy)


_stop = envoys.stop_envoy


@pytest.fixture(scope="module")
def envoy(standins, filter_json, module_logs, live_filter_config):
    started = launch_envoy(standins, filter_json, module_logs, live=live_filter_config)
    yield started
    _stop(started)


@pytest.fixture
def start_envoy(standins, module_logs) -> Callable[..., Envoy]:
    """Starts extra Envoys (own config, or a second replica) that live for one test."""
    started: List[Envoy] = []

    def start(filter_json: dict, wait_healthy: bool = True) -> Envoy:
        e = launch_envoy(standins, filter_json, module_logs, wait_healthy=wait_healthy)
        started.append(e)
        return e

    yield start
    for e in started:
        _stop(e)


@pytest.fixture
def stack(standins, envoy) -> Stack:
    """The module's stack with empty request logs, so a test sees only its own traffic."""
    s = Stack(standins, envoy)
    s.clear()
    return s


def pytest_configure(config):
    stop_on_sigterm()
