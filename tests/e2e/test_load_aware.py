"""Load-aware choice: the filter polls each coordinator's load (`/metrics` or `/ui/api/stats`, as
user `router`), and `least_loaded` / `power_of_two` groups send new queries away from the
coordinator with more queued queries; without readable figures they fall back to weights.

A coordinator is made busy by queries sent straight to it and polled once: like Trino, the
stand-in submits a query at its first queued poll, and with two queued polls it then stays
QUEUED (its `/_standin/state` says so) until the test cancels it.
"""

import contextlib
from collections import Counter

import pytest
import requests

from harness import wait_until
from harness.client_runs import run_client_query
from harness.trino_http import post_statement

from .configs import load_aware

SHORT_SQL = "SELECT n, s FROM t /* rows=10 */"
BUSY = 30  # queued queries on the busy coordinator; more than any test sends through the router


@pytest.fixture(scope="module")
def filter_json():
    return load_aware("metrics")


@contextlib.contextmanager
def queued_on(standin, count: int = BUSY):
    """`count` queries sent straight to the coordinator, polled once and left QUEUED; canceled on exit."""
    before = standin.state()["queries"]["queued"]
    next_uris = [poll_once(post_statement(standin.url, SHORT_SQL, user="direct").json()["nextUri"])
                 for _ in range(count)]
    try:
        assert standin.state()["queries"]["queued"] == before + count, standin.state()
        yield
    finally:
        for uri in next_uris:
            requests.delete(uri, headers={"X-Trino-User": "direct"}, timeout=5)


def poll_once(queued_uri: str) -> str:
    """GETs queued/1, which submits the query (a POST alone does not); returns queued/2."""
    page = requests.get(queued_uri, headers={"X-Trino-User": "direct"}, timeout=5).json()
    assert "/queued/" in page["nextUri"], f"expected to stay queued: {page}"
    return page["nextUri"]


def load_polls(standin, path: str) -> list:
    return [r for r in standin.requests() if r["path"] == path and r["headers"].get("user-agent") == "trino-router"]


def wait_for_load_polls(standins, path: str, polls: int = 2) -> None:
    """Waits until the filter has read `path` of each stand-in `polls` more times: the second read
    started after the first was answered, so the figures routing uses are at least that new."""
    seen = {s.name: len(load_polls(s, path)) for s in standins}
    wait_until(lambda: all(len(load_polls(s, path)) >= seen[s.name] + polls for s in standins), 10,
               f"the filter to poll {path} of {[s.name for s in standins]} {polls} times")


def owners_of(stack, runs) -> Counter:
    assert all(r.ok and r.rows == 10 for r in runs), runs
    return Counter(stack.owner(r.query_id) for r in runs)


def test_least_loaded_sends_new_queries_to_the_coordinator_with_fewer_queued(stack):
    adhoc1, adhoc2 = stack.standins["adhoc-1"], stack.standins["adhoc-2"]
    with queued_on(adhoc1):
        wait_for_load_polls([adhoc1, adhoc2], "/metrics")
        busy = owners_of(stack, [run_client_query(stack.envoy.port, SHORT_SQL) for _ in range(10)])
        assert busy == {"adhoc-2": 10}, f"with {BUSY} queued on adhoc-1: {busy}"
    [poll] = load_polls(adhoc1, "/metrics")[-1:]
    assert poll["headers"].get("x-trino-user") == "router", poll["headers"]

    # Idle again: the next figures say so, and both take new queries (each one sent counts as
    # queued where it went until the next poll, so they alternate).
    wait_for_load_polls([adhoc1, adhoc2], "/metrics")
    idle = owners_of(stack, [run_client_query(stack.envoy.port, SHORT_SQL) for _ in range(10)])
    assert idle["adhoc-1"] >= 3 and idle["adhoc-2"] >= 3, f"with both idle: {idle}"


def test_power_of_two_never_picks_the_busiest_member(stack):
    adhoc1 = stack.standins["adhoc-1"]
    with queued_on(adhoc1):
        wait_for_load_polls(list(stack.standins.values()), "/metrics")
        runs = [run_client_query(stack.envoy.port, SHORT_SQL, routing_group="spread") for _ in range(20)]
        spread = owners_of(stack, runs)
    assert "adhoc-1" not in spread, f"the busy adhoc-1 got queries: {spread}"
    assert spread["adhoc-2"] >= 3 and spread["etl-1"] >= 3, f"the two idle members should share: {spread}"


def test_ui_stats_figures_steer_least_loaded_too(stack, start_envoy):
    router = start_envoy(load_aware("ui_stats"))
    adhoc1, adhoc2 = stack.standins["adhoc-1"], stack.standins["adhoc-2"]
    with queued_on(adhoc2):
        wait_for_load_polls([adhoc1, adhoc2], "/ui/api/stats")
        chosen = owners_of(stack, [run_client_query(router.port, SHORT_SQL) for _ in range(10)])
    assert chosen == {"adhoc-1": 10}, f"with {BUSY} queued on adhoc-2: {chosen}"
    [poll] = load_polls(adhoc2, "/ui/api/stats")[-1:]
    assert poll["headers"].get("x-trino-user") == "router", poll["headers"]


def test_without_readable_figures_least_loaded_falls_back_to_weights(stack, start_envoy):
    # Over plain HTTP the coordinator refuses any password (401), so no figures arrive.
    config = load_aware("metrics")
    config["load"]["password"] = "secret"
    router = start_envoy(config)
    adhoc1 = stack.standins["adhoc-1"]
    with queued_on(adhoc1):
        wait_until(lambda: [r for r in load_polls(adhoc1, "/metrics") if "authorization" in r["headers"]], 10,
                   "the filter to try /metrics with the password")
        refused = [r for r in load_polls(adhoc1, "/metrics") if "authorization" in r["headers"]]
        assert all(r["status"] == 401 for r in refused), refused
        chosen = owners_of(stack, [run_client_query(router.port, SHORT_SQL) for _ in range(16)])
    assert chosen["adhoc-1"] >= 2 and chosen["adhoc-2"] >= 2, f"neither starved nor flooded: {chosen}"
