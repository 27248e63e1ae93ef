"""Input no client should send must get a clear answer and leave the filter working:
non-UTF-8 header bytes, huge headers, unknown paths. A panic in the filter would kill
the wasm VM of a worker; the follow-up query and Envoy's wasm stats would show it.
"""

import base64

import pytest
import requests

from harness import raw_http
from harness.trino_http import run_query

from .configs import one_cluster_per_group

NOT_UTF8 = b"\xff\xfe\xc3\x28 caf\xe9"


@pytest.fixture(scope="module")
def filter_json():
    return one_cluster_per_group()


def assert_still_routes(stack) -> None:
    """A normal query on each worker-ish path still works: several in a row, both groups."""
    for user, cluster in [("demo", "adhoc-1"), ("etl-user", "etl-1")] * 3:
        run = run_query([stack.url], "SELECT n FROM after /* rows=50 */", user=user)
        assert len(run.rows) == 50 and run.error is None, f"query after hostile input failed: {run.error}"
        assert stack.owner(run.query_id) == cluster


def wasm_failures(stack) -> dict:
    """Counters that would move if a wasm VM failed or was reloaded, and are not zero.

    With failure_policy FAIL_RELOAD Envoy counts wasm.<vm>.vm_reload{,_success,_failure,_backoff}.
    """
    stats = stack.envoy.stats("wasm")
    assert "wasm.trino_router.vm_reload" in stats, f"no VM reload counter to check; wasm stats: {stats}"
    return {k: v for k, v in stats.items() if any(w in k for w in ("fail", "crash", "reload", "abort")) and v}


NON_UTF8_HEADERS = [
    (b"x-trino-user", NOT_UTF8),
    (b"x-trino-source", NOT_UTF8),
    (b"x-trino-client-tags", b"nightly," + NOT_UTF8),
    (b"x-trino-client-info", NOT_UTF8),
    (b"x-trino-session", b"query_priority=" + NOT_UTF8),
    (b"x-trino-path", NOT_UTF8),
    (b"x-trino-routing-group", NOT_UTF8),
    (b"x-team", NOT_UTF8),
    (b"authorization", b"Basic " + base64.b64encode(NOT_UTF8 + b":pw")),
    (b"authorization", b"Basic " + NOT_UTF8),
]


@pytest.mark.parametrize("name, value", NON_UTF8_HEADERS, ids=[f"{n.decode()}-{i}" for i, (n, _) in enumerate(NON_UTF8_HEADERS)])
def test_a_new_query_with_non_utf8_header_bytes_gets_a_clear_answer(stack, name, value):
    headers = [(b"X-Trino-User", b"demo")] if name != b"x-trino-user" else []
    response = raw_http.request(stack.envoy.port, b"POST", b"/v1/statement", headers + [(name, value)],
                                body=b"SELECT 1 /* rows=1 */")
    assert response.status == 200 or 400 <= response.status < 500, (
        f"{name!r}: {response.status} {response.text[:300]}")
    assert_still_routes(stack)


def test_a_follow_up_with_non_utf8_bytes_in_its_token_is_refused(stack):
    response = raw_http.request(stack.envoy.port, b"GET", b"/trino-router/%ff%fe\xff/v1/statement/executing/x/y/1")
    assert 400 <= response.status < 500, f"{response.status} {response.text[:300]}"
    assert stack.client_requests() == {n: [] for n in stack.standins}, stack.client_requests()
    assert_still_routes(stack)


@pytest.mark.parametrize("size_kb", [50, 100])
def test_a_very_long_user_header_gets_a_clear_answer(stack, size_kb):
    user = "u" * (size_kb * 1024)
    response = requests.post(stack.url + "/v1/statement", data=b"SELECT 1", headers={"X-Trino-User": user},
                             timeout=10)
    assert response.status_code == 200 or 400 <= response.status_code < 500, (
        f"{size_kb} KB user: {response.status_code} {response.text[:300]}")
    assert_still_routes(stack)


def test_a_very_long_path_gets_a_clear_answer(stack):
    path = "/v1/statement/executing/" + "x" * 40_000 + "/y/1"
    response = requests.get(stack.url + path, headers={"X-Trino-User": "demo"}, timeout=10)
    assert 400 <= response.status_code < 500, f"{response.status_code} {response.text[:300]}"
    assert_still_routes(stack)


@pytest.mark.parametrize("method, path", [("GET", "/foo"), ("POST", "/v1/foo"), ("GET", "/")])
def test_an_unknown_path_gets_404_from_the_router_and_reaches_no_one(stack, method, path):
    response = requests.request(method, stack.url + path, headers={"X-Trino-User": "demo"}, timeout=5)
    assert response.status_code == 404, f"{method} {path}: {response.status_code} {response.text[:300]}"
    assert response.headers.get("content-type", "").startswith("text/plain"), response.headers
    assert response.text == "Error 404 Not Found: trino-router: not a Trino client endpoint", response.text
    assert stack.client_requests() == {n: [] for n in stack.standins}, stack.client_requests()


def test_after_all_that_no_wasm_vm_failed(stack):
    # Runs last in this module (pytest keeps file order): every hostile request above has been sent.
    assert_still_routes(stack)
    assert wasm_failures(stack) == {}, f"wasm failure counters moved: {wasm_failures(stack)}"
    log = stack.envoy.log_text()
    for marker in ("panicked", "RuntimeError", "Wasm VM failed", "wasm log: critical"):
        assert marker not in log, f"Envoy log shows {marker!r}: " + next(
            line for line in log.splitlines() if marker in line)
