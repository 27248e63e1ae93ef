"""The Web UI through real Envoy (`web_ui`), with a cookie jar as a browser keeps one: opening a
query's infoUri pins the browser to the query's coordinator and lands on the page at `/ui/...`;
the UI's API calls, assets, login form and logout then reach that coordinator only; the operator
entry `/trino-router/ui/<cluster>/` opens a chosen cluster's UI. Without the pin `/ui/api/...`
stays refused, token or not. The stand-ins have no UI (they answer 404), but they log every request.

etl-1 is a stock cluster in rewrite mode: no X-Forwarded-* header may reach it (it answers 406).
"""

import pytest
import requests

from harness.trino_http import post_statement

from .configs import with_fallback

UI_PATHS = ["/ui/api/query/{id}", "/ui/api/stats", "/ui/assets/trino.css", "/ui/login.html", "/ui/logout"]


def web_ui() -> dict:
    config = with_fallback()
    config["clusters"][2]["stickiness"] = "rewrite"
    config["web_ui"] = {"enabled": True, "cluster_entry": True}
    return config


@pytest.fixture(scope="module")
def filter_json():
    return web_ui()


def ui_requests(stack) -> dict:
    """{stand-in: ["METHOD path", ...]} of requests under /ui."""
    return {name: [f"{r['method']} {r['path']}" for r in reqs if r["path"].startswith("/ui")]
            for name, reqs in stack.client_requests().items()}


def query_on(stack, user: str) -> dict:
    page = post_statement(stack.url, "SELECT 1", user=user).json()
    return page


@pytest.mark.parametrize("user", ["demo", "etl"])  # forwarded-prefix (adhoc) and rewrite mode (etl-1)
def test_a_browser_opening_the_info_uri_stays_on_the_coordinator_of_the_query(stack, user):
    page = query_on(stack, user)
    owner = stack.owner(page["id"])
    info_uri = page["infoUri"]
    assert info_uri.startswith(f"{stack.url}/trino-router/"), info_uri
    browser = requests.Session()
    opened = browser.get(info_uri, allow_redirects=False, timeout=10)
    assert opened.status_code == 303, opened.text
    assert opened.headers["Location"] == f"/ui/query.html?{page['id']}"
    assert opened.headers["Set-Cookie"].endswith("; Path=/; HttpOnly; SameSite=Lax")
    landed = browser.get(info_uri, timeout=10)  # follows the redirect, as a browser does
    assert landed.url == f"{stack.url}/ui/query.html?{page['id']}"
    for path in UI_PATHS:
        for _ in range(3):
            browser.get(stack.url + path.format(id=page["id"]), timeout=10)
    browser.post(f"{stack.url}/ui/login", data={"username": "demo"}, allow_redirects=False, timeout=10)
    seen = ui_requests(stack)
    assert len(seen[owner]) == 1 + 3 * len(UI_PATHS) + 1, seen[owner]
    assert not [r for name, reqs in seen.items() if name != owner for r in reqs], f"UI requests left {owner}: {seen}"
    assert not stack.standins["etl-1"].forwarded_header_requests(), "a forwarded header reached the stock cluster"
    for r in stack.client_requests()[owner]:
        if r["path"].startswith("/ui"):
            assert "x-forwarded-prefix" not in r["headers"], f"{r['path']}: Trino would write links outside /ui/"


def test_without_the_pin_the_ui_api_stays_refused_even_under_a_token(stack):
    page = query_on(stack, "demo")
    token_prefix = page["infoUri"].split("/ui/")[0]
    for url in [f"{stack.url}/ui/api/stats", f"{token_prefix}/ui/api/stats", f"{stack.url}/ui/login"]:
        answer = requests.get(url, timeout=10, cookies={"trino-router-ui": "forged"})
        assert answer.status_code == 404 and "not a Trino client endpoint" in answer.text, (url, answer.text)
    assert not any(ui_requests(stack).values())


def test_the_operator_entry_opens_the_chosen_clusters_ui(stack):
    for cluster in ["adhoc-2", "etl-1", "adhoc-1"]:
        stack.clear()
        browser = requests.Session()
        landed = browser.get(f"{stack.url}/trino-router/ui/{cluster}/", timeout=10)
        assert landed.url == f"{stack.url}/ui/"
        browser.get(f"{stack.url}/ui/api/stats", timeout=10)
        seen = ui_requests(stack)
        assert seen[cluster] == ["GET /ui/", "GET /ui/api/stats"], seen
        assert not [r for name, reqs in seen.items() if name != cluster for r in reqs], seen
    unknown = requests.get(f"{stack.url}/trino-router/ui/nope/", timeout=10, allow_redirects=False)
    assert unknown.status_code == 404 and "no cluster named nope" in unknown.text
