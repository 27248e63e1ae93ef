"""Two Envoy replicas with no shared state in front of real Trino, and the Web UI query page.

Each follow-up of a query goes to the other replica in turn; only the routing token brings
it back to the coordinator that owns the query, which a real Trino proves by answering
(another coordinator answers 404 for a query it does not know).
"""

import uuid
from urllib.parse import urlsplit

import requests

from harness import wait_until
from harness.trino_http import run_query

from .configs import shipped

SQL = "SELECT orderkey, totalprice FROM tpch.tiny.orders ORDER BY orderkey /* {marker} */"


def test_queries_alternating_between_two_envoys_stay_on_their_coordinators_in_both_modes(stack, start_envoy):
    replica_b = start_envoy(shipped())
    replicas = [stack.url, replica_b.url]
    runs = []
    for i in range(6):
        # Every third query as etl: the shipped config sends it to etl-1, stock Trino in rewrite mode.
        user = "etl" if i % 3 == 2 else "demo"
        marker = f"replicas-{uuid.uuid4().hex}"
        run = run_query(replicas[i % 2:] + replicas[:i % 2], SQL.format(marker=marker), user=user)
        assert run.error is None, f"query {i} ({run.query_id}) failed: {run.error}"
        assert len(run.rows) == 15000, f"query {i} ({run.query_id}) returned {len(run.rows)} rows"
        hosts = {url.split("/")[2] for _, url, _ in run.requested}
        assert len(hosts) == 2 and len(run.requested) > 3, f"query {i} did not alternate: {run.requested}"
        assert stack.ran_on(marker) == [stack.owner(run.query_id)]
        runs.append((user, run))
    assert {stack.owner(r.query_id) for u, r in runs if u == "etl"} == {"etl-1"}
    assert {stack.owner(r.query_id) for u, r in runs if u == "demo"} <= {"adhoc-1", "adhoc-2"}


def test_the_info_uri_through_the_router_reaches_the_coordinator_that_ran_the_query(stack):
    for user in ("demo", "etl"):  # forwarded-prefix (Trino writes the pin) and rewrite mode (the filter does)
        run = run_query([stack.url], f"SELECT 1 /* ui-{uuid.uuid4().hex} */", user=user)
        info_uri = run.pages[0]["infoUri"]
        assert info_uri.startswith(stack.url + "/trino-router/"), f"infoUri not pinned to the router: {info_uri}"
        # What the coordinator sees: the path without the pin (476: /ui/query.html?<id>; 483 puts
        # the id in the fragment, /ui#/queries/<id>, so only /ui/ travels).
        parts = urlsplit(info_uri)
        seen = "/" + parts.path.split("/", 3)[3] + (f"?{parts.query}" if parts.query else "")
        before = {s.name: count(s, seen) for s in stack.servers.values()}
        response = requests.get(info_uri, allow_redirects=False, timeout=10)
        # Without a UI login Trino redirects to its login page: the coordinator answered, not the router.
        assert response.status_code in (200, 302, 303, 307), f"{info_uri}: {response.status_code} {response.text[:200]}"
        owner = stack.servers[stack.owner(run.query_id)]
        wait_until(lambda: count(owner, seen) > before[owner.name], 10, f"{owner.name} to log GET {seen}")
        others = [s.name for s in stack.servers.values() if s is not owner and count(s, seen) > before[s.name]]
        assert not others, f"{seen} also reached {others}"


def count(server, path: str) -> int:
    return sum(1 for method, p, _ in server.http_requests() if method == "GET" and p == path)
