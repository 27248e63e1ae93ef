"""Follow-ups of a running query reach its owner: cancel, heartbeat, query info, and the
query-id fallback for requests that carry no routing token.
"""

import pytest
import requests
import trino

from harness import tokens, wait_until
from harness.trino_http import post_statement, run_query

from .configs import shipped_filter

LONG_SQL = "SELECT n, s FROM slow /* rows=2000 */ /* sleep_ms=20 */"


@pytest.fixture(scope="module")
def filter_json():
    return shipped_filter()


def router_reply(response) -> bool:
    """The filter's own local replies read `Error <code> <reason>: trino-router: ...`."""
    return response.text.startswith("Error ") and ": trino-router: " in response.text


def canceled(stack) -> dict:
    return {name: s.state()["queries"]["canceled"] for name, s in stack.standins.items()}


def running_query(stack, user: str = "demo"):
    """A query a few pages in, with its current (executing) nextUri."""
    run = run_query([stack.url], LONG_SQL, user=user, max_pages=4)
    assert run.next_uri and "/executing/" in run.next_uri, f"query not executing after 4 pages: {run.next_uri}"
    return run


def submit_on(standin, next_uri: str, user: str) -> None:
    """GETs a query's queued/1 straight on its coordinator, not through the router: like Trino,
    the stand-in knows a query (for /v1/query) only from its first poll, not from the POST."""
    local = standin.url + "/v1/" + next_uri.split("/v1/", 1)[1]
    assert requests.get(local, headers={"X-Trino-User": user}, timeout=5).status_code == 200, local


def test_a_delete_on_next_uri_cancels_the_query_on_its_owner(stack):
    before = canceled(stack)
    run = running_query(stack)
    owner = stack.owner(run.query_id)
    response = requests.delete(run.next_uri, headers={"X-Trino-User": "demo"}, timeout=5)
    assert response.status_code == 204, f"DELETE {run.next_uri}: {response.status_code} {response.text[:300]}"
    after = wait_until(lambda: (c := canceled(stack))[owner] > before[owner] and c, 5,
                       f"{owner} to count the cancel")
    others = {n: after[n] - before[n] for n in after if n != owner}
    assert not any(others.values()), f"other coordinators counted cancels: {others}"


def test_the_trino_client_cancel_reaches_the_owner(stack):
    before = canceled(stack)
    conn = trino.dbapi.connect(host="127.0.0.1", port=stack.envoy.port, user="etl", http_scheme="http")
    try:
        cur = conn.cursor()
        cur.execute(LONG_SQL)
        cur.fetchmany(50)  # the query is now executing
        owner = stack.owner(cur.query_id)
        cur.cancel()
    finally:
        conn.close()
    assert owner == "etl-1", f"user etl ran on {owner}"
    wait_until(lambda: canceled(stack)["etl-1"] > before["etl-1"], 5, "etl-1 to count the client's cancel")
    deletes = [r for r in stack.standins["etl-1"].trino_requests() if r["method"] == "DELETE"]
    assert deletes and all(r["status"] == 204 for r in deletes), f"DELETEs seen by etl-1: {deletes}"


def test_a_heartbeat_head_a_partial_cancel_and_the_info_uri_reach_the_owner(stack):
    run = running_query(stack)
    owner = stack.owner(run.query_id)
    head = requests.head(run.next_uri, headers={"X-Trino-User": "demo"}, timeout=5)
    assert head.status_code == 200, f"HEAD {run.next_uri}: {head.status_code}"
    partial = next((p["partialCancelUri"] for p in reversed(run.pages) if p.get("partialCancelUri")), None)
    assert partial and tokens.split(partial), f"no pinned partialCancelUri in the pages: {partial}"
    cancel = requests.delete(partial, headers={"X-Trino-User": "demo"}, timeout=5)
    assert cancel.status_code == 204, f"DELETE {partial}: {cancel.status_code} {cancel.text[:300]}"
    assert stack.receivers("DELETE", "/v1/statement/executing/partialCancel/") == [owner]
    info_uri = run.pages[0]["infoUri"]
    assert tokens.split(info_uri), f"infoUri {info_uri} carries no routing token"
    # The stand-in serves no UI page (it answers 404 itself); what matters is who got the request.
    info = requests.get(info_uri, headers={"X-Trino-User": "demo"}, timeout=5)
    assert not router_reply(info), f"the router answered GET {info_uri} itself: {info.text[:300]}"
    assert stack.receivers("HEAD", "/v1/statement/executing/") == [owner]
    assert stack.receivers("GET", "/ui/") == [owner], f"infoUri went to {stack.receivers('GET', '/ui/')}"
    requests.delete(run.next_uri, timeout=5)


@pytest.mark.parametrize("template", ["/v1/query/{id}", "/ui/query.html?{id}"])
def test_query_info_without_a_token_is_routed_by_the_query_id(stack, template):
    run = running_query(stack)
    owner = stack.owner(run.query_id)
    path = template.format(id=run.query_id)
    response = requests.get(stack.url + path, headers={"X-Trino-User": "demo"}, timeout=5)
    assert not router_reply(response), f"the router answered {path} itself: {response.text[:300]}"
    if path.startswith("/v1/query/"):
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:300]}"
    assert stack.receivers("GET", path.split("?")[0][:10]) == [owner], f"{path} reached {stack.client_requests()}"
    requests.delete(run.next_uri, timeout=5)


def test_a_follow_up_with_the_token_prefix_removed_still_reaches_the_owner(stack):
    run = running_query(stack, user="etl")
    owner = stack.owner(run.query_id)
    bare = tokens.without_prefix(run.next_uri)
    stack.clear()
    response = requests.get(bare, headers={"X-Trino-User": "etl"}, timeout=5)
    assert response.status_code == 200, f"GET {bare}: {response.status_code} {response.text[:300]}"
    assert response.json()["id"] == run.query_id
    assert stack.receivers("GET", "/v1/statement/executing/") == [owner]


def test_a_query_the_router_never_saw_is_found_through_the_coordinator_ids_it_polls(stack):
    # Submitted straight to etl-1: the router only knows etl-1's coordinator id from /v1/info.
    direct = post_statement(stack.standins["etl-1"].url, "SELECT 1 /* rows=1 */", user="etl")
    query_id = direct.json()["id"]
    submit_on(stack.standins["etl-1"], direct.json()["nextUri"], "etl")
    url = f"{stack.url}/v1/query/{query_id}"
    wait_until(lambda: requests.get(url, headers={"X-Trino-User": "etl"}, timeout=5).status_code == 200,
               10, f"GET {url} through the router to find etl-1")
    assert stack.receivers("GET", "/v1/query/") == ["etl-1"]


def test_the_router_learns_a_restarted_coordinators_new_id_from_the_queries_it_routes(stack, start_envoy):
    # Polling once an hour: only what the router reads off POST responses can teach it the new id.
    config = shipped_filter()
    config["health"] = {"unhealthy_hold_seconds": 1, "poll_interval_seconds": 3600}
    router = start_envoy(config)
    stack.standins["etl-1"].restart()  # same port, new coordinator id
    router.wait_clusters_healthy(timeout=10)
    stack.envoy.wait_clusters_healthy(timeout=10)

    def submitted():
        r = post_statement(router.url, "SELECT 1 /* rows=1 */", user="etl")
        return [r] if r.status_code == 200 else None

    [response] = wait_until(submitted, 10, "a POST as etl through the router to reach the restarted etl-1")
    query_id = response.json()["id"]
    assert stack.owner(query_id) == "etl-1"
    submit_on(stack.standins["etl-1"], response.json()["nextUri"], "etl")
    url = f"{router.url}/v1/query/{query_id}"
    info = requests.get(url, headers={"X-Trino-User": "etl"}, timeout=5)
    assert info.status_code == 200, f"{url}: {info.status_code} {info.text[:300]}"


def test_a_query_id_of_an_unknown_coordinator_gets_404_and_reaches_no_one(stack):
    url = f"{stack.url}/v1/query/20260101_000000_00001_zzzzz"
    response = requests.get(url, headers={"X-Trino-User": "demo"}, timeout=5)
    assert response.status_code == 404, f"{url}: {response.status_code} {response.text[:300]}"
    assert response.headers.get("content-type", "").startswith("text/plain"), response.headers
    assert response.text.startswith("Error 404 Not Found: trino-router:"), response.text
    assert stack.client_requests() == {n: [] for n in stack.standins}, stack.client_requests()
