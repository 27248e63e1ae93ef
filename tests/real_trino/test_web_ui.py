"""Real Trino 476's Web UI through real Envoy, in headless Chromium (`web_ui` on, with the entry).

A person opens the infoUri of a query run through the router: the router pins the browser to the
query's coordinator and sends it to the page at `/ui/query.html?<id>`; Trino (no authentication:
its form asks for a user name only) shows its login form, the person logs in, and the page loads
the query from `/ui/api/query/<id>`. Those requests must all reach the owner, as its own HTTP
request log shows: a UI call that strayed to another coordinator would find no login there
(Trino signs its UI cookie with a key of its own: 401) or no such query (404). Then the operator
entry `/trino-router/ui/<cluster>/` opens the third cluster's UI the same way. Both stickiness
modes: adhoc clusters take X-Forwarded-Prefix, etl-1 is stock (rewrite mode).
"""

import uuid

import pytest

from harness import wait_until
from harness.browser import Browser
from harness.trino_http import run_query

from .configs import shipped

# login.js shows the form once it has set it up (and emptied the user name field).
LOGIN_FORM = ("document.location.pathname === '/ui/login.html' && !!document.getElementById('login')"
              " && document.getElementById('login').offsetParent !== null")


@pytest.fixture(scope="module")
def filter_json():
    config = shipped()
    config["web_ui"] = {"enabled": True, "cluster_entry": True}
    return config


def ui_log(server, since: int) -> list:
    """(method, path, status) of the requests under /ui the coordinator logged after entry `since`."""
    return [r for r in server.http_requests()[since:] if r[1].startswith("/ui")]


def logged(stack, name: str, since: int, wanted) -> None:
    wait_until(lambda: any(wanted(r) for r in ui_log(stack.servers[name], since)), 20, f"{name} to log it")


def log_in(tab, user: str) -> None:
    """Trino's form without authentication: a user name, no password."""
    tab.wait_for(LOGIN_FORM, 30, "Trino's login form")
    tab.evaluate(f"document.getElementById('username').value = {user!r}; document.getElementById('submit').click(); true")
    tab.wait_for("document.location.pathname !== '/ui/login.html'", 30, "Trino to take the login")


def test_a_query_page_and_a_chosen_clusters_ui_open_on_their_coordinator(stack, module_logs):
    marks = {name: len(s.http_requests()) for name, s in stack.servers.items()}
    opened = {}
    with Browser(module_logs / "chromium.log") as browser:
        for user in ("demo", "etl"):  # an adhoc cluster (forwarded-prefix), then etl-1 (rewrite mode)
            marker = f"ui-{uuid.uuid4().hex}"
            run = run_query([stack.url], f"SELECT 1 /* {marker} */", user=user)
            owner = stack.owner(run.query_id)
            info_uri = run.pages[0]["infoUri"]
            assert info_uri.startswith(stack.url + "/trino-router/"), info_uri
            tab = browser.open(info_uri)
            log_in(tab, user)
            shown = f"document.location.pathname === '/ui/query.html' && document.body.innerText.includes('{marker}')"
            tab.wait_for(shown, 30, f"the query page of {run.query_id} to show its SQL")
            logged(stack, owner, marks[owner], lambda r: r == ("GET", f"/ui/api/query/{run.query_id}", 200))
            tab.close()  # its page polls the query; the next page pins the browser elsewhere
            opened[owner] = run.query_id
            if user == "demo":
                # Another query of the same coordinator opens at once: the page is at /ui/, where the
                # browser sends Trino's UI cookie (its path is /ui), so there is no second login.
                again = next(r for r in (run_query([stack.url], "SELECT 2", user=user) for _ in range(20))
                             if stack.owner(r.query_id) == owner)
                tab = browser.open(again.pages[0]["infoUri"])
                tab.wait_for(f"document.location.pathname === '/ui/query.html' && "
                             f"document.body.innerText.includes('{again.query_id}')", 30, "the second query page")
                assert tab.evaluate("document.location.search") == f"?{again.query_id}"
                tab.close()
        # The operator opens the cluster that ran neither query.
        chosen = (set(stack.servers) - set(opened)).pop()
        tab = browser.open(f"{stack.url}/trino-router/ui/{chosen}/")
        log_in(tab, "demo")
        tab.wait_for("document.location.pathname === '/ui/'", 30, "the cluster overview")
        logged(stack, chosen, marks[chosen], lambda r: r[1].startswith("/ui/api/stats") and r[2] == 200)
        tab.close()

    assert "etl-1" in opened and len(opened) == 2, opened
    for name, server in stack.servers.items():
        seen = ui_log(server, marks[name])
        logins = [r for r in seen if r[:2] == ("POST", "/ui/login")]
        assert [r[2] for r in logins] == [303], f"{name}: one login through the router, where it belongs: {seen}"
        refused = [r for r in seen if r[1].startswith("/ui/api/") and r[2] in (401, 404, 410)]
        assert not refused, f"{name} got UI calls of a session that is not its own: {refused}"
        strays = [r for r in seen for other, qid in opened.items() if other != name and qid in r[1]]
        assert not strays, f"{name} got requests about a query it does not own: {strays}"
