"""Follow-ups that carry no routing token, through an Envoy replica that never saw their query
start, against real Trino 476 (whose /v1/info does not tell its coordinator id): the query's
`/v1/query/{id}`, its infoUri page (with and without the token), the Node client's cancel
(`DELETE /v1/query/{id}`), and the nextUri of a page that came back compressed, which the filter
could not rewrite. That replica asks every coordinator once (`HEAD`), and the one that has the
query answers; a wrong guess would show as another coordinator's 404/410 (issue 14).
"""

import uuid

import pytest
import requests

from harness import wait_until
from harness.alternating_proxy import AlternatingProxy
from harness.clients import Session, client
from harness.trino_http import post_statement, run_query, with_base

from .configs import ENVOY_CLUSTER, shipped

SQL = "SELECT orderkey, totalprice FROM tpch.tiny.orders ORDER BY orderkey /* {marker} */"
LINEITEM = "SELECT * FROM tpch.tiny.lineitem /* {marker} */"
# User demo runs on adhoc-1/adhoc-2 (forwarded-prefix), etl on etl-1 (stock Trino, rewrite mode).
MODES = {"forwarded-prefix": "demo", "rewrite": "etl"}


def marker() -> str:
    return f"by-id-{uuid.uuid4().hex}"


def logged(server, method: str, path: str) -> int:
    return sum(1 for m, p, _ in server.http_requests() if m == method and p == path)


def wait_logged(server, method: str, path: str, before: int = 0) -> None:
    # Trino writes its request log a moment after answering; on a loaded machine, many moments.
    wait_until(lambda: logged(server, method, path) > before, 30, f"{server.name} to log {method} {path}")


def lookups_found(envoy) -> int:
    return envoy.stats("trino_router.lookups").get("wasmcustom.trino_router.lookups.found", 0)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_query_info_and_the_info_page_through_the_other_replica_reach_the_owner(stack, start_envoy, mode):
    user = MODES[mode]
    replica_b = start_envoy(shipped())
    run = run_query([stack.url], SQL.format(marker=marker()), user=user, max_pages=2)
    owner = stack.servers[stack.owner(run.query_id)]

    info = requests.get(f"{replica_b.url}/v1/query/{run.query_id}", headers={"X-Trino-User": user}, timeout=10)
    assert info.status_code == 200, f"{info.status_code} {info.text[:300]}"
    assert info.json()["queryId"] == run.query_id
    assert lookups_found(replica_b) == 1
    # Every coordinator was asked; only the owner said it has the query.
    probe = f"/v1/query/{run.query_id}?pruned=true"
    for server in stack.servers.values():
        wait_logged(server, "HEAD", probe)
        statuses = {s for m, p, s in server.http_requests() if m == "HEAD" and p == probe}
        assert statuses == ({200} if server is owner else {410}), (server.name, statuses)

    # The infoUri as Trino or the filter wrote it (token) and as a person types it (no token).
    page = f"/ui/query.html?{run.query_id}"
    for uri in (with_base(run.pages[0]["infoUri"], replica_b.url), f"{replica_b.url}{page}"):
        before = {s.name: logged(s, "GET", page) for s in stack.servers.values()}
        response = requests.get(uri, allow_redirects=False, timeout=10)
        # Without a UI login Trino redirects to its login page: the coordinator answered, not the router.
        assert response.status_code in (200, 302, 303, 307), f"{uri}: {response.status_code} {response.text[:200]}"
        wait_logged(owner, "GET", page, before[owner.name])
        strays = [s.name for s in stack.servers.values() if s is not owner and logged(s, "GET", page) > before[s.name]]
        assert not strays, f"{uri} also reached {strays}"
    assert lookups_found(replica_b) == 1, "the owner's coordinator id was remembered"
    requests.delete(run.next_uri, timeout=10)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_node_clients_cancel_by_query_id_reaches_the_owner_through_the_other_replica(stack, start_envoy, mode):
    """npm trino-client cancels with DELETE /v1/query/{id} on its server, never on nextUri."""
    user = MODES[mode]
    replica_b = start_envoy(shipped())
    # Every query enters by replica A (the module's Envoy); every follow-up goes by replica B.
    proxy = AlternatingProxy([replica_b.port], post_ports=[stack.envoy.port]).start()
    try:
        m = marker()
        with client("node").start(proxy.url, LINEITEM.format(marker=m), Session(user=user)) as flight:
            assert len(flight.read_some(10)) == 10
            flight.cancel()
    finally:
        proxy.stop()
    [owner_name] = stack.ran_on(m)
    owner = stack.servers[owner_name]
    [query] = wait_until(lambda: [q for q in owner.queries_with(m) if q["state"] not in ("QUEUED", "RUNNING")],
                         30, f"the canceled query to end on {owner_name}")
    assert (query["state"], query.get("errorCode", {}).get("name")) == ("FAILED", "USER_CANCELED"), query
    deletes = [(i, p, s) for i, method, p, s in proxy.requests if method == "DELETE"]
    assert deletes == [(0, f"/v1/query/{query['queryId']}", 204)], proxy.requests
    wait_logged(owner, "DELETE", f"/v1/query/{query['queryId']}")
    assert lookups_found(replica_b) == 1


def test_the_next_uri_of_a_page_compressed_on_the_way_is_followed_through_the_other_replica(stack, start_envoy):
    # Between replica A and the stock etl-1 sits a middlebox that asks for gzip whatever Envoy
    # asked: the filter cannot rewrite the page, so the client gets Trino's own URIs, no token.
    etl = stack.servers["etl-1"]
    middlebox = AlternatingProxy([etl.port], set_headers={"Accept-Encoding": "gzip"},
                                 set_headers_under="/v1/statement").start()
    try:
        replica_a = start_envoy(shipped(), ports={ENVOY_CLUSTER["etl-1"]: middlebox.port})
        replica_b = start_envoy(shipped())
        m = marker()
        first = post_statement(replica_a.url, SQL.format(marker=m), user="etl")
        assert first.status_code == 200, first.text[:300]
        assert first.headers.get("content-encoding") == "gzip", first.headers
        next_uri = first.json()["nextUri"]
        assert next_uri.startswith(f"{replica_a.url}/v1/statement/queued/"), f"rewritten after all: {next_uri}"
        not_rewritten = replica_a.stats("trino_router.pages").get("wasmcustom.trino_router.pages.not_rewritten")
        assert not_rewritten == 1
        # The client goes on through replica B, which never saw the query.
        rows, pages = [], 0
        with requests.Session() as session:
            while next_uri:
                page = session.get(with_base(next_uri, replica_b.url), headers={"X-Trino-User": "etl"}, timeout=30)
                assert page.status_code == 200, f"{next_uri}: {page.status_code} {page.text[:300]}"
                body = page.json()
                assert body.get("error") is None, body["error"]
                rows.extend(body.get("data") or [])
                next_uri, pages = body.get("nextUri"), pages + 1
        assert len(rows) == 15000 and pages > 1
        assert stack.ran_on(m) == ["etl-1"]
        assert lookups_found(replica_b) == 1
    finally:
        middlebox.stop()
