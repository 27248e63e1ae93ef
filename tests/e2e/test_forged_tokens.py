"""Routing tokens are signed: a changed, cut, made-up or foreign-key token is refused with 400
before anything reaches a coordinator, and a token on a new query is ignored.
"""

import pytest
import requests

from harness import tokens
from harness.trino_http import post_statement, run_query

from .configs import OTHER_KEY, SIGNING_KEY, one_cluster_per_group

SQL = "SELECT n, s FROM t /* rows=100 */"


@pytest.fixture(scope="module")
def filter_json():
    return one_cluster_per_group()


@pytest.fixture
def pinned_uri(stack) -> str:
    """An executing nextUri of a query on etl-1, handed out by the router."""
    run = run_query([stack.url], SQL, user="etl-user", max_pages=2)
    assert stack.owner(run.query_id) == "etl-1"
    assert tokens.split(run.next_uri), f"nextUri {run.next_uri} carries no routing token"
    stack.clear()
    return run.next_uri


def flip(text: str, at: int) -> str:
    swapped = "B" if text[at] == "A" else "A"
    return text[:at] + swapped + text[at + 1:]


def forgeries(token: str) -> dict:
    return {
        "one-char-flipped-in-the-name": flip(token, 3),
        "one-char-flipped-in-the-signature": flip(token, len(token) - 6),
        "truncated": token[:-3],
        "garbage": "not-a-routing-token",
        "empty": "",
        "overlong": "A" * 5000,
        "signed-with-another-key": tokens.mint("adhoc-2", OTHER_KEY.encode()),
    }


def test_python_token_minting_matches_the_filter(pinned_uri):
    # The forgeries below are only meaningful if our minting is the filter's.
    token, _ = tokens.split(pinned_uri)
    assert token == tokens.mint("etl-1", SIGNING_KEY.encode()), "tokens.py is out of step with pin.rs"


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE"])
@pytest.mark.parametrize("kind", list(forgeries("A" * 34)))
def test_a_forged_token_is_refused_and_reaches_no_coordinator(stack, pinned_uri, kind, method):
    token, _ = tokens.split(pinned_uri)
    forged_uri = tokens.replace_token(pinned_uri, forgeries(token)[kind])
    response = requests.request(method, forged_uri, headers={"X-Trino-User": "etl-user"}, timeout=5)
    # An empty token leaves `//` in the path, which Envoy merges (merge_slashes): the path then
    # names no client endpoint.
    status, text = (404, "Error 404 Not Found") if kind == "empty" else (400, "Error 400 Bad Request: trino-router: invalid routing token")
    assert response.status_code == status, f"{method} with {kind} token: {response.status_code} {response.text[:300]}"
    assert response.headers.get("content-type", "").startswith("text/plain"), response.headers
    if method != "HEAD":
        assert response.text.startswith(text), response.text
    assert stack.client_requests() == {n: [] for n in stack.standins}, (
        f"a request with a {kind} token reached a coordinator: {stack.client_requests()}")


def test_a_valid_token_on_a_new_query_is_ignored_and_the_rules_decide(stack):
    etl_token = tokens.mint("etl-1", SIGNING_KEY.encode())
    response = post_statement(stack.url, SQL, user="demo", path=f"/trino-router/{etl_token}/v1/statement")
    assert response.status_code == 200, f"POST with a token prefix: {response.status_code} {response.text[:300]}"
    assert stack.receivers("POST", "/v1/statement") == ["adhoc-1"], (
        f"a token on POST chose the cluster: {stack.receivers('POST', '/v1/statement')}")
    [post] = [r for r in stack.standins["adhoc-1"].trino_requests() if r["method"] == "POST"]
    assert post["path"] == "/v1/statement", f"the token prefix was not stripped: {post['path']}"
