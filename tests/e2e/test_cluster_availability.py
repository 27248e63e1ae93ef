"""New queries avoid clusters that cannot take them: a coordinator still starting, or one
that is down. With nothing usable left the router answers 503 with Retry-After, and the
cluster takes queries again once it is back.
"""

import pytest
import requests

from harness import wait_until
from harness.trino_http import post_statement, run_query

from .configs import shipped_filter

SQL = "SELECT n FROM t /* rows=10 */"


@pytest.fixture(scope="module")
def filter_json():
    config = shipped_filter()
    # Short hold, so a cluster that came back is tried again within the test's patience.
    config["health"] = {"unhealthy_hold_seconds": 2, "poll_interval_seconds": 1}
    return config


def lands_on(stack, user: str) -> str:
    """Submits one query and says which stand-in got it (or the router's status)."""
    stack.clear()
    response = post_statement(stack.url, SQL, user=user)
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    return stack.owner(response.json()["id"])


def test_a_starting_coordinator_gets_no_new_queries_until_it_is_ready(stack):
    stack.standins["adhoc-2"].set_starting(120)
    try:
        stack.envoy.wait_cluster_unhealthy("trino_adhoc_2", timeout=10)
        # Twenty in a row: five would happen by chance (1 in 32) before the router's first poll.
        wait_until(lambda: all(lands_on(stack, "demo") == "adhoc-1" for _ in range(20)), 15,
                   "new adhoc queries to avoid the starting adhoc-2")
        landed = [lands_on(stack, "demo") for _ in range(20)]
        assert set(landed) == {"adhoc-1"}, f"with adhoc-2 starting, 20 queries landed on {landed}"
    finally:
        stack.standins["adhoc-2"].set_starting(0)
    stack.envoy.wait_clusters_healthy(timeout=10)
    wait_until(lambda: "adhoc-2" in {lands_on(stack, "demo") for _ in range(10)}, 15,
               "adhoc-2 to take new queries again once it is ready")


def test_with_its_only_cluster_down_a_group_gets_503_with_retry_after_then_recovers(stack):
    etl = stack.standins["etl-1"]
    etl.kill()
    stack.envoy.wait_cluster_unhealthy("trino_etl_1", timeout=10)

    def router_says_503():
        r = post_statement(stack.url, SQL, user="etl")
        # A list, because a requests.Response with an error status is falsy.
        return [r] if r.status_code == 503 and r.headers.get("retry-after") == "1" else None

    [r] = wait_until(router_says_503, 10, "the router to answer 503 with Retry-After: 1 for group etl")
    assert r.headers.get("content-type", "").startswith("text/plain"), r.headers
    assert r.text.startswith("Error 503 Service Unavailable: trino-router:"), r.text
    for _ in range(5):
        again = post_statement(stack.url, SQL, user="etl")
        assert again.status_code == 503 and again.headers.get("retry-after") == "1", (
            f"a later POST got {again.status_code} {again.headers} {again.text[:200]}")
    assert lands_on(stack, "demo") in {"adhoc-1", "adhoc-2"}, "the adhoc group must be unaffected"

    etl.start()  # same port, new process, new coordinator id
    stack.envoy.wait_clusters_healthy(timeout=10)
    wait_until(lambda: lands_on(stack, "etl") == "etl-1", 15, "etl-1 to take queries again after its restart")
    run = run_query([stack.url], SQL, user="etl")
    assert len(run.rows) == 10 and run.error is None, f"a full query on the restarted etl-1 failed: {run.error}"
    assert requests.get(f"{stack.url}/v1/query/{run.query_id}", headers={"X-Trino-User": "etl"},
                        timeout=5).status_code == 200, "the new coordinator id of etl-1 was not learned"


def test_a_new_query_sent_the_moment_envoy_is_live_is_served(start_envoy, filter_json):
    """Startup: Envoy says LIVE (admin /ready) once its clusters are initialised; from then on a new
    query is served, though the filter's first poll may not have answered yet: nothing is held
    against a cluster the filter knows nothing about, and Envoy (panic mode) sends to it."""
    for _ in range(3):
        envoy = start_envoy(filter_json, wait_healthy=False)
        first = post_statement(envoy.url, SQL, user="demo")
        polls = envoy.answered_polls("adhoc-1") + envoy.answered_polls("adhoc-2")
        assert first.status_code == 200, f"{first.status_code} {first.text[:200]} (answered polls: {polls})"
