"""The Istio manifests, run: a real Envoy set up the way Istio would set up the Trino gateway
from them (istio_in_envoy.py), in front of three stand-in coordinators, driven by the real
trino client. Where a query ran is read from the stand-ins, not from the router.

etl-1 is a stock Trino in these manifests (rewrite mode): its stand-in answers any
X-Forwarded-* header with 406, so a query there only succeeds when the VirtualService
route stripped them.
"""

from contextlib import contextmanager
from typing import Dict, Iterator

import pytest
import trino

from harness import Envoy, Standin, free_port
from harness.raw_http import request

from . import istio_in_envoy
from .repo_files import the_manifest

SQL = "SELECT n FROM t /* rows=25 */"


def plugin_config() -> dict:
    return the_manifest("wasmplugin.yaml", "WasmPlugin")["spec"]["pluginConfig"]


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return tmp_path_factory.mktemp("istio-in-envoy")


@pytest.fixture(scope="module")
def standins(logs) -> Iterator[Dict[str, Standin]]:
    started: Dict[str, Standin] = {}
    try:
        for cluster in plugin_config()["clusters"]:
            # Stock Trino refuses forwarded headers; forwarded-prefix mode needs them.
            forwarded = "reject" if cluster["stickiness"] == "rewrite" else "accept"
            started[cluster["name"]] = Standin(cluster["name"], forwarded=forwarded, log_dir=logs).start()
        yield started
    finally:
        for s in started.values():
            s.stop()


@pytest.fixture
def coordinators(standins) -> Dict[str, Standin]:
    """The stand-ins with empty request logs, so a test sees only its own traffic."""
    for s in standins.values():
        s.clear_requests()
    return standins


def istio_cluster_ports(standins: Dict[str, Standin]) -> Dict[str, int]:
    return {c["envoy_cluster"]: standins[c["name"]].port for c in plugin_config()["clusters"]}


@contextmanager
def gateway(standins, logs, http_filter) -> Iterator[Envoy]:
    virtual_service = the_manifest("virtual-service.yaml", "VirtualService")
    config = istio_in_envoy.bootstrap(virtual_service, http_filter, istio_cluster_ports(standins),
                                      free_port(), free_port())
    envoy = Envoy(config=config, log_dir=logs, concurrency=1, extra_args=["--component-log-level", "wasm:debug"])
    try:
        yield envoy.start()
    finally:
        envoy.stop()


@pytest.fixture(scope="module")
def plugin_gateway(standins, logs, wasm_module):
    plugin = the_manifest("wasmplugin.yaml", "WasmPlugin")
    with gateway(standins, logs, istio_in_envoy.wasm_plugin_filter(plugin, wasm_module)) as envoy:
        yield envoy


@pytest.fixture(scope="module")
def envoy_filter_gateway(standins, logs, wasm_module, tmp_path_factory):
    envoy_filter = the_manifest("envoyfilter-sql.yaml", "EnvoyFilter")
    http_filter = istio_in_envoy.envoy_filter_patches(envoy_filter, wasm_module, tmp_path_factory.mktemp("ecds"))
    with gateway(standins, logs, http_filter) as envoy:
        yield envoy


def run_query(envoy: Envoy, user: str, sql: str = SQL) -> list:
    # A short request timeout: a new query held for a body the filter never gets would hang.
    conn = trino.dbapi.connect(host="127.0.0.1", port=envoy.port, user=user, http_scheme="http",
                               request_timeout=10)
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        conn.close()


def who_got(standins: Dict[str, Standin]) -> Dict[str, list]:
    """{stand-in: [method path]} of the client requests each received (not health polls)."""
    return {name: [f"{r['method']} {r['path']}" for r in s.trino_requests()] for name, s in standins.items()}


def test_an_etl_query_runs_on_etl_1_with_the_forwarded_headers_stripped(plugin_gateway, coordinators):
    assert len(run_query(plugin_gateway, "etl")) == 25
    got = who_got(coordinators)
    assert got["adhoc-1"] == got["adhoc-2"] == [], got
    assert got["etl-1"][0] == "POST /v1/statement" and len(got["etl-1"]) > 2, got
    assert coordinators["etl-1"].forwarded_header_requests() == []


def test_other_users_run_on_one_adhoc_cluster_with_every_follow_up_pinned(plugin_gateway, coordinators):
    assert len(run_query(plugin_gateway, "alice")) == 25
    got = who_got(coordinators)
    [ran_on] = [name for name, reqs in got.items() if reqs]
    assert ran_on in ("adhoc-1", "adhoc-2"), got
    assert got[ran_on][0] == "POST /v1/statement" and len(got[ran_on]) > 2, got
    # Forwarded-prefix mode: Trino was told the signed prefix to write into its URIs.
    [post] = [r for r in coordinators[ran_on].trino_requests() if r["method"] == "POST"]
    assert post["headers"]["x-forwarded-prefix"].startswith("/trino-router/")
    assert "x-trino-router-cluster" not in post["headers"]


def test_the_envoy_filter_variant_routes_by_the_sql_text(envoy_filter_gateway, coordinators):
    """Reading the body works here because the EnvoyFilter sets allow_on_headers_stop_iteration."""
    run_query(envoy_filter_gateway, "alice", "INSERT INTO memory.default.t SELECT 1")
    got = who_got(coordinators)
    assert got["etl-1"] and got["etl-1"][0] == "POST /v1/statement", got
    assert got["adhoc-1"] == got["adhoc-2"] == [], got
    # Its config came through discovery (ECDS), as Istio delivers it.
    assert any(value >= 1 for name, value in envoy_filter_gateway.stats("extension_config_discovery").items()
               if name.endswith(".config_reload")), envoy_filter_gateway.stats("extension_config_discovery")


def test_the_envoy_filter_variant_sends_a_select_to_the_default_group(envoy_filter_gateway, coordinators):
    assert len(run_query(envoy_filter_gateway, "alice")) == 25
    got = who_got(coordinators)
    assert got["etl-1"] == [] and (got["adhoc-1"] or got["adhoc-2"]), got


def test_a_proxy_without_the_filter_refuses_instead_of_picking_a_coordinator(standins, coordinators, logs):
    """A client the plugin does not select, or a module that failed open: no routing header."""
    with gateway(standins, logs, http_filter=None) as envoy:
        r = request(envoy.port, b"POST", b"/v1/statement", [(b"X-Trino-User", b"alice")], b"SELECT 1")
    assert r.status == 503 and "not routed by the trino-router filter" in r.text, (r.status, r.text)
    assert all(reqs == [] for reqs in who_got(coordinators).values())

