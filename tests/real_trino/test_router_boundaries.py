"""Issue 12's findings against real Trino 476: what a hostile client sends through the router
and what the coordinators make of it. Each test names the coordinator that ran the query
(from its own query list) and, where Trino writes URIs, the URIs it handed back.

Config (configs.one_cluster_per_group): default -> adhoc-1 (process-forwarded, so forwarded
headers steer the URIs it writes); user `bob` or `etl-user` -> etl-1 (stock Trino, rewrite mode).
"""

import json
import uuid
from typing import List, Tuple

import pytest
import requests

from harness import raw_http, tokens
from harness.trino_http import run_query

from .configs import one_cluster_per_group

SIGNING_KEY = one_cluster_per_group()["stickiness"]["signing_key"].encode()


@pytest.fixture(scope="module")
def filter_json():
    return one_cluster_per_group()


def marker() -> str:
    return f"m-{uuid.uuid4().hex}"


def run_raw(url: str, sql: str, headers: List[Tuple[str, str]], path: str = "/v1/statement") -> dict:
    """Runs `sql` with exactly these request headers (one value per name), following nextUri
    with the same headers; returns {first: first page, rows, error, status}."""
    session = requests.Session()
    request = requests.Request("POST", url + path, data=sql.encode()).prepare()
    for name, value in headers:
        request.headers[name] = value
    response = session.send(request, timeout=60)
    out = {"status": response.status_code, "first": None, "rows": [], "error": None}
    if response.status_code != 200:
        out["error"] = response.text
        return out
    page = out["first"] = response.json()
    while True:
        out["rows"].extend(page.get("data") or [])
        if page.get("error"):
            out["error"] = page["error"]
        if not page.get("nextUri"):
            return out
        follow = requests.Request("GET", page["nextUri"]).prepare()
        for name, value in headers:
            follow.headers[name] = value
        page = session.send(follow, timeout=60).json()


# --- forwarded headers ---

EVIL = [
    ("X-Forwarded-Host", "evil.example"),
    ("X-Forwarded-Port", "4443"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-For", "203.0.113.9"),
]


@pytest.mark.parametrize("evil", [EVIL, [("Forwarded", "for=203.0.113.9;host=evil.example:4443;proto=https")]],
                         ids=["x-forwarded", "rfc7239-forwarded"])
def test_forwarded_headers_from_a_client_steer_nothing_trino_writes(stack, evil):
    # Before: nextUri came back as https://evil.example:4443/trino-router/... from adhoc-1.
    m = marker()
    run = run_raw(stack.url, f"SELECT 1 /* {m} */", [("X-Trino-User", "demo")] + evil)
    assert run["error"] is None and run["rows"] == [[1]], run
    assert stack.ran_on(m) == ["adhoc-1"]
    for key in ("nextUri", "infoUri"):
        assert run["first"][key].startswith(f"{stack.url}/trino-router/"), f"{key}: {run['first'][key]}"
    query = requests.get(f"{stack.servers['adhoc-1'].url}/v1/query/{run['first']['id']}",
                         headers={"X-Trino-User": "demo"}, timeout=10).json()
    assert query["session"]["remoteUserAddress"] == "127.0.0.1", "the address Envoy saw, not the client's claim"


def test_a_forwarded_header_no_longer_breaks_queries_on_a_stock_trino(stack):
    # Stock Trino answers any forwarded header with 406; the route strips X-Forwarded-*, and
    # now the filter removes `Forwarded` too.
    m = marker()
    run = run_raw(stack.url, f"SELECT 2 /* {m} */", [("X-Trino-User", "etl-user"), ("Forwarded", "proto=https")])
    assert (run["status"], run["error"], run["rows"]) == (200, None, [[2]]), run
    assert stack.ran_on(m) == ["etl-1"]


# --- the user ---

@pytest.mark.parametrize("headers", [
    [("Authorization", "Basic Ym9iOg")],
    [("X-Trino-User", ""), ("Authorization", "Basic Ym9iOg==")],
    [("X-Trino-User", "bob"), ("X-Trino-Original-User", "bob")],
], ids=["unpadded-basic", "empty-user-header-beside-basic", "original-user"])
def test_the_router_routes_on_the_user_trino_runs_the_query_as(stack, headers):
    # Rule "any": bob -> etl-1. Before: the first two routed as no user (adhoc-1) while
    # Trino ran the query as bob.
    m = marker()
    run = run_raw(stack.url, f"SELECT current_user /* {m} */", headers)
    assert run["error"] is None and run["rows"] == [["bob"]], run
    assert stack.ran_on(m) == ["etl-1"]


def test_a_repeated_user_header_is_refused_before_any_coordinator(stack):
    m = marker()
    response = raw_http.request(stack.envoy.port, b"POST", b"/v1/statement",
                                [(b"X-Trino-User", b"demo"), (b"X-Trino-User", b"bob")],
                                body=f"SELECT current_user /* {m} */".encode())
    assert response.status == 400 and "sent more than once" in response.text, response
    assert stack.ran_on(m) == []


# --- tokens and paths ---

def test_a_token_on_a_trailing_slash_post_does_not_choose_the_cluster(stack):
    # Before: Trino takes POST /v1/statement/ as a new query, and the filter took it as a
    # pinned follow-up: the etl-1 token ran it on etl-1, past the rules.
    m = marker()
    run = run_raw(stack.url, f"SELECT 3 /* {m} */", [("X-Trino-User", "demo")],
                  path=f"/trino-router/{tokens.mint('etl-1', SIGNING_KEY)}/v1/statement/")
    assert (run["error"], run["rows"]) == (None, [[3]]), run
    assert stack.ran_on(m) == ["adhoc-1"], "the rules chose; the token did not"


@pytest.mark.parametrize("path", ["/ui/api/stats", "/v1/node", "/metrics"])
def test_a_token_opens_no_other_path_on_its_cluster(stack, path):
    # Before: 200 from etl-1 (its UI stats, node list, metrics).
    token = tokens.mint("etl-1", SIGNING_KEY)
    response = requests.get(f"{stack.url}/trino-router/{token}{path}", headers={"X-Trino-User": "demo"}, timeout=10)
    assert response.status_code == 404, f"{path}: {response.status_code} {response.text[:200]}"
    assert response.text.startswith("Error 404 Not Found: trino-router:"), response.text


def test_dot_segments_after_a_query_id_start_nothing_on_its_owner(stack):
    first = run_query([stack.url], "SELECT 4", user="demo")
    assert stack.owner(first.query_id) == "adhoc-1"
    m = marker()
    # Before: routed as a follow-up of the adhoc-1 query, and adhoc-1 resolved the path to
    # /v1/statement and ran it. Now Envoy resolves it first and the rules choose (etl-user).
    # Sent raw: Python's HTTP stack would resolve the dots itself.
    response = raw_http.request(stack.envoy.port, b"POST", f"/v1/query/{first.query_id}/../../statement".encode(),
                                [(b"X-Trino-User", b"etl-user")], body=f"SELECT 5 /* {m} */".encode())
    assert response.status == 200, response
    page, rows = json.loads(response.text), []
    while page.get("nextUri"):
        page = requests.get(page["nextUri"], timeout=60).json()
        rows.extend(page.get("data") or [])
    assert (page.get("error"), rows) == (None, [[5]]), page
    assert stack.ran_on(m) == ["etl-1"]


def test_every_follow_up_of_a_pinned_query_still_works(stack):
    # The token still opens what it is for: every nextUri of a multi-page query.
    run = run_query([stack.url], "SELECT * FROM tpch.tiny.orders", user="demo")
    assert run.error is None and len(run.rows) == 15000, run.error
    gets = [url for method, url, _ in run.requested if method == "GET"]
    assert len(gets) > 2 and all(tokens.split(url) for url in gets), gets[:3]
