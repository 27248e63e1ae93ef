"""`kill -9` of a real coordinator while queries run: only its queries are lost, with a clear
error; new queries go to the other cluster of the group; after a restart (new coordinator
id) it takes queries again. Runs after the other modules (it restarts a shared server).
"""

import time

import pytest
import trino.exceptions

from harness import wait_until
from harness.client_runs import run_client_query

from .configs import two_cluster_group
from .held import LONG_ROWS, hold_until_on

pytestmark = pytest.mark.restarts_coordinators


@pytest.fixture(scope="module")
def filter_json():
    return two_cluster_group()


def test_a_killed_coordinator_loses_only_its_own_running_queries_and_comes_back_after_a_restart(stack):
    victim = stack.servers["adhoc-2"]
    held = hold_until_on(stack.envoy.port, stack.owner, {"adhoc-1", "adhoc-2"})
    dead_id = victim.coordinator_id
    victim.kill()
    killed_at = time.monotonic()
    try:
        new = [run_client_query(stack.envoy.port, "SELECT count(*) FROM tpch.tiny.nation", max_attempts=10)
               for _ in range(6)]
        assert all(r.ok for r in new), f"new queries failed after the kill: {new}"
        assert {stack.owner(r.query_id) for r in new} == {"adhoc-1"}

        lost_first = [h for h in held if h.query_id.endswith(dead_id)]
        outcomes = {h.query_id: h.finish() for h in lost_first + [h for h in held if h not in lost_first]}
        # Declared lost once adhoc-2 has been failing for lost_after_seconds (5), plus Envoy's retries.
        lost_after = time.monotonic() - killed_at
        kept = {q: o for q, o in outcomes.items() if not q.endswith(dead_id)}
        lost = {q: o for q, o in outcomes.items() if q.endswith(dead_id)}
        assert all(o == LONG_ROWS for o in kept.values()), f"queries on the surviving adhoc-1: {kept}"
        for query_id, outcome in lost.items():
            assert isinstance(outcome, trino.exceptions.TrinoQueryError), f"{query_id}: {outcome!r}"
            assert outcome.error_name == "TRINO_ROUTER_COORDINATOR_LOST", f"{query_id}: {outcome}"
            assert "cluster adhoc-2" in outcome.message, outcome.message
        print(f"\nkilled adhoc-2: {len(lost)} running queries lost (all reported {lost_after:.0f}s after the kill), "
              f"{len(kept)} kept, {len(new)} new all on adhoc-1")
        assert lost_after < 30, f"the lost queries were reported {lost_after:.0f}s after the kill"
    finally:
        victim.restart()

    assert victim.coordinator_id != dead_id
    stack.envoy.wait_clusters_healthy(timeout=30)

    def lands_on_restarted() -> bool:
        runs = [run_client_query(stack.envoy.port, "SELECT 1", max_attempts=10) for _ in range(4)]
        assert all(r.ok for r in runs), runs
        return any(victim.owns(r.query_id) for r in runs)

    wait_until(lands_on_restarted, 30, "the restarted adhoc-2 to take new queries")
