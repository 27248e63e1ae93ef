"""Two Envoy replicas in front of coordinators whose /v1/info has no coordinatorId (Trino 476):
a request that names its query only by id (no token) reaches the owner also through the
replica that never saw the query start. That replica asks every coordinator once (a HEAD the
filter sends itself), remembers the owner's coordinator id, and routes by it from then on.
"""

from urllib.parse import urlsplit

import pytest
import requests

from harness import tokens
from harness.trino_http import run_query

from .configs import shipped_filter

LONG_SQL = "SELECT n, s FROM slow /* rows=2000 */ /* sleep_ms=20 */"
MODES = {"demo": "forwarded-prefix", "etl": "rewrite"}


@pytest.fixture(scope="module")
def standin_args():
    return ["--trino-version", "476"]


@pytest.fixture(scope="module")
def filter_json():
    return shipped_filter()


def started_on_replica_a(stack, user: str):
    """A query a few pages in, started and polled through replica A only."""
    run = run_query([stack.url], LONG_SQL, user=user, max_pages=4)
    assert run.next_uri and "/executing/" in run.next_uri, f"query not executing after 4 pages: {run.next_uri}"
    return run


def on(replica, uri: str) -> str:
    """The same path and query, through another replica."""
    parts = urlsplit(uri)
    return f"{replica.url}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def lookups(stack) -> dict:
    return {name: s.lookups() for name, s in stack.standins.items()}


@pytest.mark.parametrize("user", list(MODES), ids=list(MODES.values()))
def test_a_next_uri_without_its_token_reaches_the_owner_through_the_other_replica(stack, start_envoy, user):
    replica_b = start_envoy(shipped_filter())
    run = started_on_replica_a(stack, user)
    owner = stack.owner(run.query_id)
    # What a client holds when a page reached it unrewritten (a page compressed on the way):
    # the coordinator's own nextUri, with no token.
    bare = on(replica_b, tokens.without_prefix(run.next_uri))
    stack.clear()
    page = requests.get(bare, headers={"X-Trino-User": user}, timeout=10)
    assert page.status_code == 200, f"GET {bare}: {page.status_code} {page.text[:300]}"
    assert page.json()["id"] == run.query_id
    assert stack.receivers("GET", "/v1/statement/executing/") == [owner], stack.client_requests()
    # The lookup asked every coordinator about that nextUri (HEAD: Trino's heartbeat, no user needed).
    asked = lookups(stack)
    path = urlsplit(bare).path
    assert asked[owner] == [f"HEAD {path} -> 200"], asked
    assert all(a == [f"HEAD {path} -> 404"] for n, a in asked.items() if n != owner), asked
    # The replica now knows that coordinator: the info page by id goes there without a lookup.
    stack.clear()
    info = requests.get(f"{replica_b.url}/ui/query.html?{run.query_id}", timeout=10)
    assert not info.text.startswith("Error 404 Not Found: trino-router"), info.text[:300]
    assert stack.receivers("GET", "/ui/") == [owner]
    assert lookups(stack) == {n: [] for n in stack.standins}
    requests.delete(run.next_uri, timeout=5)


@pytest.mark.parametrize("user", list(MODES), ids=list(MODES.values()))
def test_query_info_and_the_info_page_by_id_reach_the_owner_through_the_other_replica(stack, start_envoy, user):
    replica_b = start_envoy(shipped_filter())
    run = started_on_replica_a(stack, user)
    owner = stack.owner(run.query_id)
    stack.clear()
    info = requests.get(f"{replica_b.url}/v1/query/{run.query_id}", headers={"X-Trino-User": user}, timeout=10)
    assert info.status_code == 200, f"{info.status_code} {info.text[:300]}"
    assert info.json()["queryId"] == run.query_id
    assert stack.receivers("GET", "/v1/query/") == [owner]
    asked = lookups(stack)
    probe = f"/v1/query/{run.query_id}?pruned=true"
    assert asked[owner] == [f"HEAD {probe} -> 200"], asked
    assert all(a == [f"HEAD {probe} -> 410"] for n, a in asked.items() if n != owner), asked
    stats = replica_b.stats("trino_router.lookups")
    assert stats.get("wasmcustom.trino_router.lookups.found") == 1, stats
    stack.clear()
    page = requests.get(f"{replica_b.url}/ui/query.html?{run.query_id}", timeout=10)
    assert not page.text.startswith("Error 404 Not Found: trino-router"), page.text[:300]
    assert stack.receivers("GET", "/ui/") == [owner]
    requests.delete(run.next_uri, timeout=5)


def test_a_query_no_coordinator_has_is_404_after_asking_each_once(stack, start_envoy):
    replica_b = start_envoy(shipped_filter())
    url = f"{replica_b.url}/v1/query/20260101_000000_00001_zzzzz"
    response = requests.get(url, headers={"X-Trino-User": "demo"}, timeout=10)
    assert response.status_code == 404, f"{url}: {response.status_code} {response.text[:300]}"
    assert response.text.startswith("Error 404 Not Found: trino-router:"), response.text
    assert stack.client_requests() == {n: [] for n in stack.standins}, stack.client_requests()
    assert all(len(a) == 1 and a[0].endswith("-> 410") for a in lookups(stack).values()), lookups(stack)
