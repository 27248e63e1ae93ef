"""Losing a coordinator costs only the queries running on it: new queries go elsewhere at once
(the client's own retries on 503 allowed), its running queries end with a clear error, and
after a restart it takes queries again. A group whose only cluster is down falls back to its
fallback group, and polling alone keeps a dead cluster out from two poll intervals on.
"""

import time

import pytest
import requests
import trino.exceptions

from harness import wait_until
from harness.client_runs import ConcurrentQueries, run_client_query
from harness.trino_http import post_statement

from .configs import with_fallback

POLL_INTERVAL = 1.0
# Long enough to be running when the coordinator dies: 5 pages of 40 rows, 0.5 s per executing page.
LONG_SQL = "SELECT n, s FROM t /* rows=200 */ /* sleep_ms=500 */"
SHORT_SQL = "SELECT n, s FROM t /* rows=10 */"


@pytest.fixture(scope="module")
def filter_json():
    return with_fallback()


def wait_running(stack, names, timeout=15.0) -> None:
    wait_until(lambda: all(stack.standins[n].state()["queries"]["running"] > 0 for n in names), timeout,
               f"long queries to be running on {names}")


def wait_back(stack, user: str, name: str) -> None:
    """Waits until a (restarted) stand-in takes new queries of `user` through the real client again."""
    stack.envoy.wait_clusters_healthy(timeout=10)

    def lands_there() -> bool:
        runs = [run_client_query(stack.envoy.port, SHORT_SQL, user=user) for _ in range(4)]
        assert all(r.ok and r.rows == 10 for r in runs), runs
        return any(stack.owner(r.query_id) == name for r in runs)

    wait_until(lands_there, 15, f"{name} to take new queries of user {user} again")


def test_a_killed_coordinator_costs_only_its_running_queries(stack):
    adhoc2 = stack.standins["adhoc-2"]
    dead_id = adhoc2.state()["coordinatorId"]
    try:
        with ConcurrentQueries(stack.envoy.port) as before_kill, ConcurrentQueries(stack.envoy.port) as after_kill:
            for _ in range(8):
                before_kill.submit(LONG_SQL)
            wait_running(stack, ["adhoc-1", "adhoc-2"])
            adhoc2.kill()
            for _ in range(12):
                after_kill.submit(SHORT_SQL)
            new = after_kill.results(timeout=60)
            running = before_kill.results(timeout=60)

        # New queries, submitted once it was dead, all succeed (the client may retry a 503).
        assert all(r.ok and r.rows == 10 for r in new), f"new queries failed after the kill: {new}"
        assert {stack.owner(r.query_id) for r in new} == {"adhoc-1"}

        # Running queries: those on adhoc-1 finish, those on adhoc-2 end with a query error
        # that says what happened (the filter turns Envoy's 503 into a failed-query page).
        # A query on adhoc-2 may have finished before the kill (the wait for both clusters to
        # run one can outlast a query on a busy machine); the others were cut off.
        lost = [r for r in running if r.query_id.endswith(dead_id) and not r.ok]
        kept = [r for r in running if not r.query_id.endswith(dead_id)]
        assert lost and kept, f"expected queries on both clusters, some cut off: {running}"
        assert all(r.ok and r.rows == 200 for r in kept), f"queries on the surviving adhoc-1 failed: {kept}"
        for r in lost:
            assert isinstance(r.error, trino.exceptions.TrinoQueryError), f"{r}: {type(r.error)}"
            assert r.error.error_name == "TRINO_ROUTER_COORDINATOR_LOST", r
            assert "cluster adhoc-2" in r.error.message and "the query is lost" in r.error.message, r
        # Their follow-ups went nowhere else: no other coordinator knows them.
        assert not [q for q in stack.client_requests()["adhoc-1"] if dead_id in q["path"]]
        print(f"\nkilled adhoc-2: {len(lost)} running queries lost, {len(kept)} kept; {len(new)} new all on adhoc-1")
    finally:
        if not adhoc2.is_running():
            adhoc2.start()  # same port, new process, new coordinator id

    wait_back(stack, "demo", "adhoc-2")


def test_a_follow_up_to_a_dead_coordinator_ends_the_query_clearly_and_goes_nowhere_else(stack):
    etl = stack.standins["etl-1"]
    first = post_statement(stack.url, SHORT_SQL, user="etl")
    assert first.status_code == 200 and stack.owner(first.json()["id"]) == "etl-1", first.text[:300]
    etl.kill()
    try:
        stack.clear()
        next_uri = first.json()["nextUri"]
        # Until the coordinator has refused connections for lost_after_seconds (5 by default),
        # the answer is a 503 clients retry: it might have been a blip.
        started, retries = time.monotonic(), 0
        while True:
            answer = requests.get(next_uri, headers={"X-Trino-User": "etl"}, timeout=30)
            if answer.status_code != 503:
                break
            assert answer.headers.get("retry-after") == "1", answer.headers
            assert time.monotonic() - started < 20, "never declared lost"
            retries += 1
            time.sleep(0.5)
        waited = time.monotonic() - started
        print(f"\nfollow-up of a killed coordinator: {retries} retryable 503s, declared lost after {waited:.1f}s")
        assert retries >= 1 and 4 <= waited <= 15, (retries, waited)
        # A failed-query page, as Trino writes them: no nextUri, the error says what happened.
        assert answer.status_code == 200, f"{answer.status_code} {answer.text[:300]}"
        page = answer.json()
        assert page["id"] == first.json()["id"] and page["stats"]["state"] == "FAILED", page
        assert "nextUri" not in page, page
        assert page["error"]["errorName"] == "TRINO_ROUTER_COORDINATOR_LOST", page
        assert "cluster etl-1" in page["error"]["message"], page
        # A cancel or heartbeat gets Envoy's own 503: there is no page to fail.
        assert requests.delete(next_uri, timeout=10).status_code == 503
        assert stack.client_requests() == {"adhoc-1": [], "adhoc-2": [], "etl-1": []}
    finally:
        etl.start()
    wait_back(stack, "etl", "etl-1")


def test_a_group_whose_only_cluster_is_down_falls_back_to_its_fallback_group(stack):
    etl = stack.standins["etl-1"]
    wait_back(stack, "etl", "etl-1")
    etl.kill()
    try:
        runs = [run_client_query(stack.envoy.port, SHORT_SQL, user="etl") for _ in range(6)]
        assert all(r.ok and r.rows == 10 for r in runs), runs
        assert {stack.owner(r.query_id) for r in runs} <= {"adhoc-1", "adhoc-2"}
    finally:
        etl.start()
    wait_back(stack, "etl", "etl-1")


def test_a_router_started_while_a_coordinator_is_down_never_sends_it_a_new_query(stack, start_envoy):
    """What the filter learns by polling alone: Envoy's health check has had the host down since
    Envoy started, so no live request ever failed there. From two poll intervals on, for
    longer than any hold, every new etl query goes to the fallback group."""
    etl = stack.standins["etl-1"]
    etl.kill()
    try:
        router = start_envoy(with_fallback(), wait_healthy=False)
        live_at = time.monotonic()
        router.wait_cluster_unhealthy("trino_etl_1", timeout=10)
        # No new queries for two poll intervals: the claim is about what polling finds by then.
        time.sleep(max(0.0, live_at + 2 * POLL_INTERVAL + 0.2 - time.monotonic()))
        window_end = time.monotonic() + with_fallback()["health"]["unhealthy_hold_seconds"] + 2 * POLL_INTERVAL
        answers = []  # (seconds since Envoy was live, response)
        while time.monotonic() < window_end:
            answers.append((round(time.monotonic() - live_at, 1), post_statement(router.url, SHORT_SQL, user="etl")))
            time.sleep(0.1)
        sent_to_dead = [(t, r.status_code, r.text[:40]) for t, r in answers if r.status_code != 200]
        assert not sent_to_dead, (f"{len(sent_to_dead)} of {len(answers)} new etl queries were sent to the dead "
                                  f"etl-1 (s after Envoy was live, status, body): {sent_to_dead}")
        assert {stack.owner(r.json()["id"]) for _, r in answers} <= {"adhoc-1", "adhoc-2"}
    finally:
        etl.start()
    wait_back(stack, "etl", "etl-1")
