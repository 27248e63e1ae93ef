"""Least-loaded choice from real Trino figures: the filter reads each coordinator's `/metrics`
(QueuedQueries, RunningQueries) and sends new queries away from the one with a queue.
"""

import pytest

from harness import wait_until
from harness.client_runs import run_client_query

from .configs import load_aware
from .conftest import bundled_plugins_available

# Never in CI (476): only on 483 assembled from jars, which lacks the resource-group plugin that queues.
pytestmark = pytest.mark.skipif(not bundled_plugins_available(), reason="this Trino build has no resource groups")
from .held import cancel, queue_on


@pytest.fixture(scope="module")
def filter_json():
    return load_aware("metrics")


def metric_polls(server) -> int:
    return sum(1 for method, path, _ in server.http_requests() if method == "GET" and path == "/metrics")


def test_new_queries_avoid_the_coordinator_whose_metrics_show_a_queue(stack):
    busy, idle = stack.servers["adhoc-1"], stack.servers["adhoc-2"]
    queued = queue_on(busy, 10)
    try:
        # Two more reads of both coordinators' /metrics after the queue formed: the figures routing
        # uses are that new. Least-loaded needs fresh figures of every member, else it falls back
        # to weights (README): on a busy machine the idle one's could be a poll behind.
        seen = {s.name: metric_polls(s) for s in (busy, idle)}
        wait_until(lambda: all(metric_polls(s) >= seen[s.name] + 2 for s in (busy, idle)), 30,
                   "the filter to read both coordinators' /metrics twice more")
        runs = [run_client_query(stack.envoy.port, "SELECT count(*) FROM tpch.tiny.region") for _ in range(8)]
        assert all(r.ok for r in runs), runs
        assert [stack.owner(r.query_id) for r in runs] == ["adhoc-2"] * 8
    finally:
        cancel(queued)

    # Without the queue both take queries again (least_loaded ties go by weight).
    def both_used() -> bool:
        runs = [run_client_query(stack.envoy.port, "SELECT 1") for _ in range(6)]
        return {stack.owner(r.query_id) for r in runs} == {"adhoc-1", "adhoc-2"}

    wait_until(both_used, 30, "queries to reach adhoc-1 again once its queue is gone")
    assert idle.is_running()
