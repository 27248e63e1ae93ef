"""Limits and the queue at the router, through real Envoy: the group `adhoc` is adhoc-1 alone, limited
to 5 queries (`clusters[].limits.max_running`), judged from its polled `/metrics` plus the queries the
filter itself sent since. A new query that finds it full gets a QUEUED page whose nextUri carries a
sealed ticket; polls of the ticket are held about a second and the query is submitted by the filter
once there is room. Two Envoy replicas behind a proxy that alternates every request, each taking half
of the free room (`load.replicas: 2`).
"""

import concurrent.futures
import copy
import threading
import time

import pytest
import requests

from harness import wait_until
from harness.alternating_proxy import AlternatingProxy
from harness.clients import Session, client
from harness.trino_http import post_statement

from .configs import ENVOY_CLUSTER, SIGNING_KEY, STANDIN_NAMES

LIMIT = 5
QUERIES = 50
SLOW_SQL = "SELECT n FROM t /* rows=5 */ /* sleep_ms=150 */"


def limited(replicas: int = 2, **queue) -> dict:
    clusters = [{"name": n, "envoy_cluster": ENVOY_CLUSTER[n]} for n in STANDIN_NAMES]
    clusters[0]["limits"] = {"max_running": LIMIT}
    # adhoc-2 is a stock Trino (rewrite mode: the filter writes the pins into its pages).
    clusters[1].update(stickiness="rewrite", limits={"max_running": LIMIT})
    return {
        "clusters": clusters,
        "groups": [{"name": "adhoc", "members": [{"cluster": "adhoc-1"}]},
                   {"name": "stock", "members": [{"cluster": "adhoc-2"}]},
                   {"name": "other", "members": [{"cluster": "etl-1"}]}],
        "default_group": "adhoc",
        "routing_group_header": {"enabled": True},
        "stickiness": {"signing_key": SIGNING_KEY},
        "health": {"poll_interval_seconds": 1},
        "load": {"source": "metrics", "user": "router", "replicas": replicas},
        "queue": {"enabled": True, "max_wait_seconds": 120, "max_ticket_bytes": 2048, **queue},
    }


@pytest.fixture(scope="module")
def filter_json():
    return limited()


@pytest.fixture
def replicas(stack, start_envoy):
    second = start_envoy(copy.deepcopy(limited()))
    proxy = AlternatingProxy([stack.envoy.port, second.port]).start()
    yield proxy
    proxy.stop()


def watch_running(standin, stop: threading.Event, seen: list) -> None:
    while not stop.is_set():
        seen.append(standin.state()["queries"]["running"])
        time.sleep(0.02)


def watch_waiting(envoy, stop: threading.Event, seen: list) -> None:
    while not stop.is_set():
        seen.append(envoy_counter(envoy, "queue.group.adhoc.waiting"))
        time.sleep(0.25)


def test_fifty_queries_against_a_group_limited_to_five_all_finish_and_never_run_more_than_five(stack, replicas):
    adhoc1 = stack.standins["adhoc-1"]
    before = adhoc1.state()["queries"]
    stop, running = threading.Event(), []
    waiting = []
    watcher = threading.Thread(target=watch_running, args=(adhoc1, stop, running))
    gauge = threading.Thread(target=watch_waiting, args=(stack.envoy, stop, waiting))
    watcher.start()
    gauge.start()

    def one(i):
        started = time.monotonic()
        [result] = client("python").run(replicas.url, [SLOW_SQL], Session(user=f"user{i}"), timeout=180)
        return result, time.monotonic() - started

    try:
        with concurrent.futures.ThreadPoolExecutor(QUERIES) as pool:
            outcomes = list(pool.map(one, range(QUERIES)))
    finally:
        stop.set()
        watcher.join()
        gauge.join()
    failed = [r for r, _ in outcomes if not r.ok]
    assert not failed, failed[:3]
    assert all(len(r.rows) == 5 for r, _ in outcomes), sorted({len(r.rows) for r, _ in outcomes})
    after = adhoc1.state()["queries"]
    assert after["finished"] - before["finished"] == QUERIES, (before, after)
    assert after["maxRunning"] <= LIMIT, f"the stand-in ran {after['maxRunning']} at once"
    assert max(running) <= LIMIT
    waited = sorted(t for _, t in outcomes)
    queued = sum(envoy_counter(e, "queue.group.adhoc.queued") for e in (stack.envoy,))
    print(f"\n50 queries, limit {LIMIT}: max running seen {after['maxRunning']}, "
          f"elapsed min/median/max {waited[0]:.1f}/{waited[len(waited) // 2]:.1f}/{waited[-1]:.1f} s, "
          f"queued at the first replica: {queued}, most polls held there at once: {max(waiting)}")
    assert queued > 0, "with 50 at once some must have waited at the router"
    # Both replicas took polls of tickets: each admitted some.
    admitted = envoy_counter(stack.envoy, "queue.group.adhoc.admitted")
    assert admitted > 0
    assert max(waiting) > 0 and envoy_counter(stack.envoy, "queue.group.adhoc.waiting") == 0, waiting


def envoy_counter(envoy, suffix: str) -> int:
    return sum(v for k, v in envoy.stats("trino_router").items() if k.endswith(suffix))


def fill(standin, count: int = LIMIT) -> list:
    """`count` queries sent straight to the coordinator and left QUEUED there: it is full."""
    uris = []
    for _ in range(count):
        first = post_statement(standin.url, "SELECT 1 /* rows=1 */", user="direct").json()["nextUri"]
        uris.append(requests.get(first, headers={"X-Trino-User": "direct"}, timeout=5).json()["nextUri"])
    return uris


def release(uris: list) -> None:
    for uri in uris:
        requests.delete(uri, headers={"X-Trino-User": "direct"}, timeout=5)


def wait_full(url: str, group: str = "adhoc") -> None:
    """Until a new query through the router waits (the filter has polled the full figures)."""
    def queued() -> bool:
        headers = {"X-Trino-Source": "probe", "X-Trino-Routing-Group": group}
        page = post_statement(url, "SELECT 0", user="probe", headers=headers).json()
        requests.delete(page["nextUri"], headers={"X-Trino-User": "probe"}, timeout=5)  # waiting or not
        return "/queue/" in page["nextUri"]
    wait_until(queued, 10, "the router to see adhoc-1 full")


def test_a_cancelled_waiting_query_never_reaches_the_coordinator(stack):
    adhoc1 = stack.standins["adhoc-1"]
    held = fill(adhoc1)
    try:
        wait_full(stack.url)
        page = post_statement(stack.url, "SELECT 42", user="alice", headers={"X-Trino-Source": "cancel-me"}).json()
        assert page["stats"]["state"] == "QUEUED" and page["id"].startswith("router_queued_"), page
        ticket_uri = page["nextUri"]
        assert "42" not in ticket_uri.split("/queue/")[1] and "alice" not in ticket_uri, "the ticket is sealed"
        second = requests.get(ticket_uri, headers={"X-Trino-User": "alice"}, timeout=10)
        assert second.json()["stats"]["state"] == "QUEUED", second.text
        assert requests.delete(second.json()["nextUri"], timeout=5).status_code == 204
    finally:
        release(held)
    # Room again: a poll of the cancelled ticket (a late or retried one) still submits nothing.
    wait_until(lambda: adhoc1.state()["queries"]["queued"] == 0, 10, "the held queries to go")
    time.sleep(2.5)
    late = requests.get(second.json()["nextUri"], headers={"X-Trino-User": "alice"}, timeout=10).json()
    assert late["error"]["errorName"] == "USER_CANCELED", late
    reached = [r for r in adhoc1.trino_requests() if r["headers"].get("x-trino-source") == "cancel-me"]
    assert reached == [], reached


@pytest.mark.parametrize("group,standin", [("adhoc", "adhoc-1"), ("stock", "adhoc-2")],
                         ids=["forwarded_prefix", "rewrite"])
def test_a_waiting_query_is_admitted_once_there_is_room_and_keeps_its_session(stack, group, standin):
    adhoc1 = stack.standins[standin]
    held = fill(adhoc1)
    try:
        wait_full(stack.url, group)
        headers = {"X-Trino-Source": "admit-me", "X-Trino-Catalog": "tpch", "X-Trino-Routing-Group": group}
        page = post_statement(stack.url, "SELECT n FROM t /* rows=3 */", user="carol", headers=headers).json()
        assert page["stats"]["state"] == "QUEUED", page
        started = time.monotonic()
        answer = requests.get(page["nextUri"], headers={"X-Trino-User": "carol"}, timeout=10)
        assert 0.8 <= time.monotonic() - started <= 3, "a poll is held about a second while full"
        assert answer.json()["stats"]["state"] == "QUEUED"
    finally:
        release(held)
    # Polled until admitted: the filter submits it and this poll gets the coordinator's first page.
    ticket_uri = answer.json()["nextUri"]
    first = requests.get(ticket_uri, headers={"X-Trino-User": "carol"}, timeout=10).json()
    while "/queue/" in first.get("nextUri", ""):
        ticket_uri = first["nextUri"]
        first = requests.get(ticket_uri, headers={"X-Trino-User": "carol"}, timeout=10).json()
    assert not first["id"].startswith("router_queued_"), first
    uri, rows = first.get("nextUri"), 0
    while uri:
        assert "/trino-router/" in uri, f"pinned: {uri}"
        page = requests.get(uri, headers={"X-Trino-User": "carol"}, timeout=10).json()
        assert "error" not in page, page
        rows += len(page.get("data", []))
        uri = page.get("nextUri")
    assert rows == 3
    posts = [r for r in adhoc1.trino_requests() if r["headers"].get("x-trino-source") == "admit-me"
             and r["method"] == "POST"]
    assert len(posts) == 1, posts
    assert adhoc1.forwarded_header_requests() == [] or group == "adhoc"
    assert posts[0]["headers"]["x-trino-catalog"] == "tpch" and posts[0]["headers"]["x-trino-user"] == "carol"
    # A retried poll of the ticket that was admitted gets the same first page and submits nothing.
    again = requests.get(ticket_uri, headers={"X-Trino-User": "carol"}, timeout=10).json()
    assert again["id"] == first["id"], again
    posts = [r for r in adhoc1.trino_requests() if r["headers"].get("x-trino-source") == "admit-me"
             and r["method"] == "POST"]
    assert len(posts) == 1, posts


def test_a_query_too_large_for_a_ticket_gets_503_and_bad_tickets_400(stack):
    adhoc1 = stack.standins["adhoc-1"]
    held = fill(adhoc1)
    try:
        wait_full(stack.url)
        noise = "".join(f"{(i * 7919) % 100003:x}" for i in range(1500))  # does not deflate below 2 KB
        big = post_statement(stack.url, f"SELECT '{noise}'", user="dave")
        assert big.status_code == 503 and big.headers.get("Retry-After") == "1", big.text
        page = post_statement(stack.url, "SELECT 1", user="dave").json()
        sealed = page["nextUri"].split("/queue/")[1]
        tampered = page["nextUri"].replace(sealed, sealed[:-2] + ("AA" if sealed[-2:] != "AA" else "BB"))
        assert requests.get(tampered, timeout=5).status_code == 400
        requests.delete(page["nextUri"], timeout=5)
    finally:
        release(held)


def test_a_query_that_waits_too_long_gets_a_clear_error(stack, start_envoy):
    router = start_envoy(limited(replicas=1, max_wait_seconds=2))
    adhoc1 = stack.standins["adhoc-1"]
    held = fill(adhoc1)
    try:
        wait_full(router.url)
        page = post_statement(router.url, "SELECT 1", user="erin").json()
        started = time.monotonic()
        while "nextUri" in page:
            page = requests.get(page["nextUri"], headers={"X-Trino-User": "erin"}, timeout=10).json()
        assert page["error"]["errorName"] == "TRINO_ROUTER_QUEUE_TIMEOUT", page
        assert time.monotonic() - started < 6
        assert envoy_counter(router, "queue.group.adhoc.timed_out") >= 1
    finally:
        release(held)
