"""A drain by live config (ECDS) with long real queries running: none fails, each finishes on
the coordinator that ran it, and every new query goes to the other cluster of the group.
"""

import copy
import uuid

import pytest

from harness import wait_until
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
    marker = f"after-drain-{uuid.uuid4().hex}"
    try:
        assert stack.envoy.push_filter_config(with_state(two_cluster_group(), "adhoc-2", "draining")) == ACCEPTED
        on_drained = [h.query_id for h in held if drained.owns(h.query_id)]
        states = {q: drained.query_state(q) for q in on_drained}
        assert all(s not in ("FINISHED", "FAILED") for s in states.values()), f"held queries must still run: {states}"
        new = [run_client_query(stack.envoy.port, f"SELECT count(*) FROM tpch.tiny.nation /* {marker} */")
               for _ in range(8)]
        outcomes = {h.query_id: h.finish() for h in held}
    finally:
        stack.envoy.push_filter_config(two_cluster_group())

    assert all(r.ok for r in new), new
    assert {stack.owner(r.query_id) for r in new} == {"adhoc-1"}, new
    assert not drained.queries_with(marker), "a new query reached adhoc-2 after it was set to draining"
    assert all(o == LONG_ROWS for o in outcomes.values()), f"queries failed across the drain: {outcomes}"
    # The drained cluster's queries were running at the push and could only finish by being read
    # to the end through the router afterwards: they finished there.
    wait_until(lambda: all(drained.query_state(q) == "FINISHED" for q in on_drained), 20,
               f"the queries on adhoc-2 {on_drained} to finish there")
    print(f"\ndrain: {len(on_drained)} of {len(held)} long queries on adhoc-2 finished there; 8 new on adhoc-1")
