"""Session affinity (`groups[].affinity`) for queries the router submits itself, through real Envoy:
with the queue on, a new query for a limited cluster is submitted by the filter (limited), and a query
that waited at the router is submitted once there is room (admitted). Both get the affinity cookie as
a query routed at once does, and an admitted query honours the cookie its client already has.

Group `adhoc` = adhoc-1 (weight 100) + adhoc-2 (weight 1), each limited to 2 running queries, so
without a cookie a query lands on adhoc-1 almost always: one that lands on adhoc-2 shows the cookie.
"""

import pytest
import requests

from harness import wait_until
from harness.trino_http import post_statement

from .configs import ENVOY_CLUSTER, SIGNING_KEY, STANDIN_NAMES
from .test_queue import release

LIMIT = 2
COOKIE = "trino-router-affinity-adhoc"


def sticky_limited() -> dict:
    clusters = [{"name": n, "envoy_cluster": ENVOY_CLUSTER[n], "limits": {"max_running": LIMIT}}
                for n in STANDIN_NAMES]
    return {
        "clusters": clusters,
        "groups": [{"name": "adhoc", "selection": "weighted_random", "affinity": {"ttl_seconds": 600},
                    "members": [{"cluster": "adhoc-1", "weight": 100}, {"cluster": "adhoc-2", "weight": 1}]},
                   {"name": "other", "members": [{"cluster": "etl-1"}]}],
        "default_group": "adhoc",
        "stickiness": {"signing_key": SIGNING_KEY},
        "health": {"poll_interval_seconds": 1},
        "load": {"source": "metrics", "user": "router"},
        "queue": {"enabled": True, "max_wait_seconds": 60},
    }


@pytest.fixture(scope="module")
def filter_json():
    return sticky_limited()


def fill(standin) -> list:
    """LIMIT queries sent straight to the coordinator and left there: it is full."""
    uris = []
    for _ in range(LIMIT):
        first = post_statement(standin.url, "SELECT 1 /* rows=1 */", user="direct").json()["nextUri"]
        uris.append(requests.get(first, headers={"X-Trino-User": "direct"}, timeout=5).json()["nextUri"])
    return uris


def finish(session: requests.Session, page: dict) -> dict:
    """Polls to the end; returns the first page that is the coordinator's (not the router's QUEUED)."""
    first = None
    while True:
        if first is None and not page["id"].startswith("router_queued_"):
            first = page
        uri = page.get("nextUri")
        if not uri:
            return first
        page = session.get(uri, headers={"X-Trino-User": "sticky"}, timeout=10).json()


def router_full(url: str, cluster_of, full: set) -> None:
    """Until the router has polled the figures that show `full` (a probe waits, or avoids them)."""
    def seen() -> bool:
        page = post_statement(url, "SELECT 0", user="probe").json()
        queued = "/queue/" in page["nextUri"]
        requests.delete(page["nextUri"], headers={"X-Trino-User": "probe"}, timeout=5)
        return queued if full == {"adhoc-1", "adhoc-2"} else not queued and cluster_of(page["id"]) not in full
    wait_until(seen, 10, f"the router to see {sorted(full)} full")


def test_queries_the_router_submits_get_and_honour_the_affinity_cookie(stack):
    adhoc1, adhoc2 = stack.standins["adhoc-1"], stack.standins["adhoc-2"]
    session = requests.Session()
    held = fill(adhoc1)
    try:
        router_full(stack.url, stack.owner, {"adhoc-1"})
        # Limited: submitted by the filter to adhoc-2 (the one with room), with a cookie for it.
        answer = session.post(f"{stack.url}/v1/statement", data=b"SELECT 1 /* rows=1 */",
                              headers={"X-Trino-User": "sticky"}, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.headers.get("Set-Cookie", "").startswith(f"{COOKIE}="), dict(answer.headers)
        first = finish(session, answer.json())
        assert stack.owner(first["id"]) == "adhoc-2"
        assert COOKIE in session.cookies
        held += fill(adhoc2)
        router_full(stack.url, stack.owner, {"adhoc-1", "adhoc-2"})
        page = session.post(f"{stack.url}/v1/statement", data=b"SELECT 2 /* rows=1 */",
                            headers={"X-Trino-User": "sticky"}, timeout=10).json()
        assert page["id"].startswith("router_queued_"), page
    finally:
        release(held)
    wait_until(lambda: adhoc1.state()["queries"]["running"] + adhoc2.state()["queries"]["running"] == 0, 10,
               "the held queries to go")
    # The waiting query is admitted at its client's next poll, to a member the router has
    # seen with room, and each member's figures come from its own poll. Two more polls of
    # each, after both were freed, before the client polls: both have room in the router's
    # view, so only the cookie can send the query to adhoc-2 (and a member that the router
    # saw freed first cannot take it).
    polls = {c: stack.envoy.answered_polls(c) for c in ("adhoc-1", "adhoc-2")}
    wait_until(lambda: all(stack.envoy.answered_polls(c) >= n + 2 for c, n in polls.items()), 10,
               "the router to poll both members after they were freed")
    # Admitted: weighted 100:1 for adhoc-1, but the client's cookie names adhoc-2.
    set_cookies = []
    while page["id"].startswith("router_queued_"):
        answer = session.get(page["nextUri"], headers={"X-Trino-User": "sticky"}, timeout=10)
        set_cookies.append(answer.headers.get("Set-Cookie"))
        page = answer.json()
    assert stack.owner(page["id"]) == "adhoc-2", "the admitted query honoured the session's cookie"
    assert set_cookies[-1] and set_cookies[-1].startswith(f"{COOKIE}="), set_cookies
    assert set_cookies[:-1] == [None] * (len(set_cookies) - 1), "QUEUED answers pin nothing"
    finish(session, page)
