"""Fixtures: three real Trino servers for the whole session, an Envoy with the filter per module.

The servers start once, in parallel, when the first test needs them (about a minute on
2 cores); a module picks its filter config by overriding `filter_json`. Every process is
stopped in teardown, also on failure, SIGTERM or a killed pytest.
"""

import json
from typing import Callable, Dict, List, Optional

import pytest

from harness import Envoy, envoys
from harness.artifacts import DEFAULT_TRINO_VERSION
from harness.oauth2 import MockIdp, trino_config as oauth2_trino_config
from harness.s3_server import S3Server, new_shared_secret, spooling_config
from harness.trino_server import TRINO_VERSION, TrinoServer, start_all
from harness.suite_fixtures import (  # noqa: F401 - registered by import
    live_filter_config, logs_root, module_logs, pytest_runtest_makereport, stop_on_sigterm)

from .configs import CLUSTER_NAMES, ENVOY_CLUSTER, STOCK, shipped


class TrinoStack:
    """The real coordinators and the Envoy in front of them, with what tests ask about them."""

    def __init__(self, servers: Dict[str, TrinoServer], envoy: Envoy):
        self.servers = servers
        self.envoy = envoy

    @property
    def url(self) -> str:
        return self.envoy.url

    def ran_on(self, marker: str) -> List[str]:
        """Names of the coordinators that ran a query whose SQL contains `marker`."""
        return sorted(name for name, s in self.servers.items() if s.is_running() and s.queries_with(marker))

    def owner(self, query_id: str) -> str:
        for name, s in self.servers.items():
            if s.owns(query_id):
                return name
        raise AssertionError(f"no running coordinator issued {query_id}")


# User `queue-me` runs one query at a time per coordinator and queues the rest: how a test
# gives a coordinator a queued load that /metrics reports (everyone else: no limit to speak of).
RESOURCE_GROUPS = {
    "resource-groups.properties": "resource-groups.configuration-manager=file\n"
                                  "resource-groups.config-file=@ETC@/resource-groups.json\n",
    "resource-groups.json": json.dumps({
        "rootGroups": [
            {"name": "global", "softMemoryLimit": "100%", "hardConcurrencyLimit": 100, "maxQueued": 1000},
            {"name": "one-at-a-time", "softMemoryLimit": "100%", "hardConcurrencyLimit": 1, "maxQueued": 100},
        ],
        "selectors": [{"user": "queue-me", "group": "one-at-a-time"}, {"group": "global"}],
    }),
}


# Spooled results: adhoc-1 speaks only the direct protocol; adhoc-2 (forwarded-prefix) has clients
# download segments through the coordinator, etl-1 (stock, rewrite mode) hands out pre-signed
# URIs of the object store. Clients that ask for an encoding get segments for results over 2 MB.
SPOOLING = {"adhoc-2": "coordinator_proxy", "etl-1": "storage"}


def bundled_plugins_available() -> bool:
    """476's server tarball bundles the spooling and resource-group plugins; 483 assembled from
    Maven Central jars has neither (they are not published there for 483)."""
    return TRINO_VERSION == DEFAULT_TRINO_VERSION


@pytest.fixture(scope="session")
def s3(logs_root) -> S3Server:
    server = S3Server(logs_root / "s3").start()
    yield server
    server.stop()


# Two more coordinators with OAuth2 (test_oauth2.py), started with the others, in parallel, only
# when a collected test asks for them; they stay out of `trino_servers` (and so out of `stack`).
OAUTH2_NAMES = ["oauth-1", "oauth-2"]
_OAUTH2: Dict[str, TrinoServer] = {}


def wants_oauth2(session) -> bool:
    return any("oauth2_servers" in getattr(item, "fixturenames", ()) for item in session.items)


@pytest.fixture(scope="session")
def trino_servers(request, logs_root, s3) -> Dict[str, TrinoServer]:
    secret = new_shared_secret()
    servers = []
    for name in CLUSTER_NAMES:
        spools = name in SPOOLING and bundled_plugins_available()
        config, files = spooling_config(s3, SPOOLING[name], secret) if spools else ({}, {})
        servers.append(TrinoServer(name, process_forwarded=name not in STOCK, log_dir=logs_root / "trino",
                                   config=config,
                                   extra_files={**(RESOURCE_GROUPS if bundled_plugins_available() else {}), **files}))
    oauth2 = []
    if wants_oauth2(request.session):
        idp = MockIdp(logs_root / "idp").start()  # Trino reads its discovery document at start
        request.addfinalizer(idp.stop)
        config = oauth2_trino_config(idp, new_shared_secret())
        oauth2 = [TrinoServer(name, process_forwarded=True, log_dir=logs_root / "trino", config=config)
                  for name in OAUTH2_NAMES]
    started = start_all(servers + oauth2)
    _OAUTH2.update({name: started.pop(name) for name in OAUTH2_NAMES if name in started})
    yield started
    for s in [*started.values(), *_OAUTH2.values()]:
        s.stop()


@pytest.fixture(scope="session")
def oauth2_servers(trino_servers) -> Dict[str, TrinoServer]:
    """oauth-1 and oauth-2: forwarded-prefix coordinators that authenticate HTTPS requests with OAuth2."""
    return dict(_OAUTH2)


@pytest.fixture(scope="module")
def filter_json() -> dict:
    """The filter config of a module's Envoy (override in the module)."""
    return shipped()


def upstream_ports(servers: Dict[str, TrinoServer]) -> Dict[str, int]:
    return {ENVOY_CLUSTER[name]: s.port for name, s in servers.items()}


@pytest.fixture(scope="module")
def envoy(trino_servers, filter_json, module_logs, live_filter_config):
    started = envoys.launch_envoy(upstream_ports(trino_servers), filter_json, module_logs, live=live_filter_config)
    yield started
    envoys.stop_envoy(started)


@pytest.fixture
def start_envoy(trino_servers, module_logs) -> Callable[..., Envoy]:
    """Starts extra Envoys (own config, or a second replica) that live for one test."""
    started: List[Envoy] = []

    def start(filter_json: dict, wait_healthy: bool = True, ports: Optional[Dict[str, int]] = None,
              adjust: Optional[Callable[[dict], None]] = None) -> Envoy:
        """`ports`: other upstream ports for some Envoy clusters (a proxy in between)."""
        upstream = {**upstream_ports(trino_servers), **(ports or {})}
        e = envoys.launch_envoy(upstream, filter_json, module_logs, wait_healthy=wait_healthy, adjust=adjust)
        started.append(e)
        return e

    yield start
    for e in started:
        envoys.stop_envoy(e)


@pytest.fixture
def stack(trino_servers, envoy) -> TrinoStack:
    return TrinoStack(trino_servers, envoy)


def pytest_configure(config):
    config.addinivalue_line("markers", "restarts_coordinators: kills or restarts shared servers; runs last")
    stop_on_sigterm()


def pytest_collection_modifyitems(session, config, items):
    """Modules that kill or restart a shared server run after all the others (stable otherwise)."""
    items.sort(key=lambda item: item.get_closest_marker("restarts_coordinators") is not None)
