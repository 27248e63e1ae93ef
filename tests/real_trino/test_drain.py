"""A drain by live config (ECDS) with long real queries running: none fails, each finishes on
the coordinator that ran it, and every new query goes to the other cluster of the group.
"""

import copy

import pytest

from harness.client_runs import run_client_query
from harness.live_config import ACCEPTED

from .configs import two_cluster_group
from .held import LONG_ROWS, hold_until_on


@pytest.fixture(scope="module")
def live_filter_config():
    return True


@pytest.fixture(scope="module")
def filter_json():
    return two_cluster_group()


def with_state(config: dict, cluster: str, state: str) -> dict:
    config = copy.deepcopy(config)
    for c in config["clusters"]:
        if c["name"] == cluster:
            c["state"] = state
    return config


def test_draining_a_cluster_with_long_queries_running_fails_none_and_new_queries_go_elsewhere(stack):
    drained = stack.servers["adhoc-2"]
    held = hold_until_on(stack.envoy.port, stack.owner, {"adhoc-1", "adhoc-2"})
    try:
        assert stack.envoy.push_filter_config(with_state(two_cluster_group(), "adhoc-2", "draining")) == ACCEPTED
        log_mark = len(drained.http_requests())
        new = [run_client_query(stack.envoy.port, "SELECT count(*) FROM tpch.tiny.nation") for _ in range(8)]
        outcomes = {h.query_id: h.finish() for h in held}
    finally:
        stack.envoy.push_filter_config(two_cluster_group())

    assert all(r.ok for r in new), new
    assert {stack.owner(r.query_id) for r in new} == {"adhoc-1"}, new
    assert all(o == LONG_ROWS for o in outcomes.values()), f"queries failed across the drain: {outcomes}"
    # The drained cluster's queries kept polling it after the push, and nothing new was posted there.
    after = drained.http_requests()[log_mark:]
    on_drained = [q for q in outcomes if drained.owns(q)]
    assert all(any(q in path for _, path, _ in after) for q in on_drained), on_drained
    assert not [p for m, p, _ in after if m == "POST" and p == "/v1/statement"], "a new query reached adhoc-2"
    print(f"\ndrain: {len(on_drained)} of {len(held)} long queries on adhoc-2 finished there; 8 new on adhoc-1")
