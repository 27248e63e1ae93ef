"""What a hostile client can no longer do through the router (issue 12), each through a real
Envoy with the shipped HTTP settings:

- a routing token opens nothing but the follow-up endpoints of the query protocol;
- a path that is not in normal form never reaches a coordinator as something else;
- forwarded headers a client sends never reach a coordinator; the client address Trino
  gets is the one Envoy determined;
- the user the rules see is the user Trino runs the query as;
- a body over the inspection limit never makes Envoy answer 413 on its own.

The stand-ins record every request they get, so each test says which coordinator saw what.
"""

import socket

import pytest
import requests

from harness import raw_http, tokens
from harness.envoy_config import build_config, shipped_config
from harness.trino_http import post_statement, run_query

from .configs import ENVOY_CLUSTER, SIGNING_KEY, one_cluster_per_group

@pytest.fixture(scope="module")
def filter_json():
    config = one_cluster_per_group()
    config["rules"].append({"name": "too-big", "when": {"sql_inspection": {"exact": "too_large"}}, "route_to": "second"})
    # At Envoy's own buffer limit, the largest `trino-router validate` accepts for this YAML.
    config["sql_inspection"] = {"max_body_bytes": 1048576}
    return config


@pytest.fixture(scope="module")
def standin_args():
    # Trino with http-server.process-forwarded=true: X-Forwarded-* steer the URIs it writes.
    return ["--forwarded", "accept"]


def etl_token() -> str:
    return tokens.mint("etl-1", SIGNING_KEY.encode())


def nobody_saw_it(stack) -> None:
    assert stack.client_requests() == {n: [] for n in stack.standins}, (
        f"a coordinator got the request: {stack.client_requests()}")


# --- a token pins follow-ups and nothing else ---

@pytest.mark.parametrize("path", ["/v1/statement/", "/v1/statement"])
def test_a_new_query_under_a_token_is_routed_by_the_rules(stack, path):
    response = post_statement(stack.url, "SELECT 1 /* rows=1 */", user="demo", path=f"/trino-router/{etl_token()}{path}")
    assert response.status_code == 200, f"{response.status_code} {response.text[:300]}"
    assert stack.receivers("POST", "/v1/statement") == ["adhoc-1"], (
        f"the etl-1 token chose the cluster of a new query: {stack.receivers('POST', '/v1/statement')}")


@pytest.mark.parametrize("method, path", [
    ("GET", "/metrics"),
    ("GET", "/ui/api/stats"),
    ("GET", "/ui/api/query"),
    ("PUT", "/v1/info/state"),
    ("GET", "/v1/node"),
    ("POST", "/v1/statement/executing/20260101_000000_00001_abcde/y1/1"),
])
def test_a_token_opens_no_other_path_on_its_cluster(stack, method, path):
    response = requests.request(method, f"{stack.url}/trino-router/{etl_token()}{path}",
                                headers={"X-Trino-User": "demo"}, data=b"SHUTTING_DOWN", timeout=5)
    assert response.status_code == 404, f"{method} {path}: {response.status_code} {response.text[:300]}"
    assert response.text == "Error 404 Not Found: trino-router: not a Trino client endpoint", response.text
    nobody_saw_it(stack)


def test_every_follow_up_of_a_pinned_query_still_works(stack):
    run = run_query([stack.url], "SELECT n FROM t /* rows=3000 */", user="etl-user")
    assert (run.error, len(run.rows), stack.owner(run.query_id)) == (None, 3000, "etl-1")
    follow_ups = [url for method, url, _ in run.requested if method == "GET"]
    assert follow_ups and all(tokens.split(url) for url in follow_ups), "every URI handed out carries the token"
    assert stack.receivers("GET", "/v1/statement/executing") == ["etl-1"]


# --- paths not in normal form ---

def test_dot_segments_after_a_query_id_are_resolved_before_routing(stack):
    first = run_query([stack.url], "SELECT 1 /* rows=1 */", user="demo")
    assert stack.owner(first.query_id) == "adhoc-1"
    stack.clear()
    # Before: classified as a follow-up of the adhoc-1 query, this started a query there.
    path = f"/v1/query/{first.query_id}/../../statement".encode()
    response = raw_http.request(stack.envoy.port, b"POST", path, [(b"X-Trino-User", b"etl-user")],
                                body=b"SELECT 1 /* rows=1 */")
    assert response.status == 200, f"{response.status} {response.text[:300]}"
    assert stack.receivers("POST", "/v1/statement") == ["etl-1"], "Envoy resolved it to /v1/statement; the rules chose"


@pytest.mark.parametrize("path", [b"/v1%2Fstatement", b"/v1%2fquery/x", b"/v1%5Cstatement"])
def test_escaped_slashes_are_refused(stack, path):
    response = raw_http.request(stack.envoy.port, b"POST", path, [(b"X-Trino-User", b"demo")], body=b"SELECT 1")
    assert response.status == 400, f"{path!r}: {response.status} {response.text[:300]}"
    nobody_saw_it(stack)


@pytest.fixture(scope="module")
def envoy_without_normalisation(standins, module_logs):
    """The filter behind an Envoy whose connection manager does no path normalisation."""
    from harness import envoys
    base = shipped_config()
    hcm = base["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    for key in ("normalize_path", "merge_slashes", "path_with_escaped_slashes_action"):
        hcm.pop(key)
    ports = {ENVOY_CLUSTER[name]: s.port for name, s in standins.items()}
    from harness.envoy import Envoy
    from harness.ports import free_port
    config = build_config(free_port(), free_port(), ports, filter_json=one_cluster_per_group(), base=base)
    envoy = Envoy(config, log_dir=module_logs, extra_args=["--component-log-level", "wasm:debug"])
    envoys.RUNNING.append(envoy)
    envoy.start()
    envoy.wait_filter_ready(list(standins))
    yield envoy
    envoys.stop_envoy(envoy)


@pytest.mark.parametrize("path", [
    b"/v1/query/20260101_000000_00001_abcde/../../statement",
    b"/trino-router/TOKEN/v1/query/20260101_000000_00001_abcde/../../statement",
    b"/v1/./statement",
    b"/v1//statement",
    b"/v1/%2e%2e/v1/statement",
    b"/v1%2Fstatement",
])
def test_without_normalisation_in_envoy_the_filter_refuses_such_paths_itself(stack, envoy_without_normalisation, path):
    path = path.replace(b"TOKEN", etl_token().encode())
    response = raw_http.request(envoy_without_normalisation.port, b"POST", path, [(b"X-Trino-User", b"demo")],
                                body=b"SELECT 1")
    assert response.status == 400, f"{path!r}: {response.status} {response.text[:300]}"
    assert "not in normal form" in response.text, response.text
    nobody_saw_it(stack)


# --- forwarded headers ---

CLIENT_FORWARDED = {
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Port": "4443",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Server": "evil.example",
    "X-Forwarded-For": "203.0.113.9",
    "Forwarded": "for=203.0.113.9;host=evil.example;proto=https",
}


def test_forwarded_headers_from_a_client_never_reach_a_coordinator(stack):
    response = post_statement(stack.url, "SELECT 1 /* rows=1 */", user="demo", headers=CLIENT_FORWARDED)
    assert response.status_code == 200, f"{response.status_code} {response.text[:300]}"
    next_uri = response.json()["nextUri"]
    assert next_uri.startswith(f"{stack.url}/trino-router/"), f"the client steered the URIs: {next_uri}"
    [post] = [r for r in stack.standins["adhoc-1"].trino_requests() if r["method"] == "POST"]
    seen = post["headers"]
    for name in ("x-forwarded-host", "x-forwarded-port", "x-forwarded-server", "forwarded"):
        assert name not in seen, f"{name} reached the coordinator: {seen}"
    assert seen.get("x-forwarded-proto") == "http", "Envoy sets the scheme of the connection"
    assert seen.get("x-forwarded-for") == "127.0.0.1", "the address Envoy saw, not the one the client claimed"


# --- the user ---

@pytest.mark.parametrize("headers", [
    [(b"Authorization", b"Basic Ym9iOg")],  # unpadded base64 of "bob:"
    [(b"Authorization", b"Basic Ym9iOg==")],
    [(b"X-Trino-User", b""), (b"Authorization", b"Basic Ym9iOg==")],
    [(b"X-Trino-User", b"bob"), (b"X-Trino-Original-User", b"mallory")],
], ids=["unpadded-basic", "basic", "empty-user-header-and-basic", "original-user-does-not-count"])
def test_the_rules_see_the_user_trino_runs_the_query_as(stack, headers):
    # Rule "any": user bob -> etl-1. Before: unpadded Basic and an empty X-Trino-User beside
    # Basic routed as no user (adhoc-1) while Trino ran the query as bob.
    response = raw_http.request(stack.envoy.port, b"POST", b"/v1/statement", headers, body=b"SELECT 1 /* rows=1 */")
    assert response.status == 200, f"{response.status} {response.text[:300]}"
    assert stack.receivers("POST", "/v1/statement") == ["etl-1"], stack.receivers("POST", "/v1/statement")


@pytest.mark.parametrize("name", [b"X-Trino-User", b"X-Trino-Original-User", b"Authorization"])
def test_an_identity_header_sent_twice_is_refused(stack, name):
    values = {b"Authorization": (b"Basic ZGVtbzo=", b"Basic Ym9iOg==")}.get(name, (b"demo", b"bob"))
    headers = [(b"X-Trino-User", b"demo")] if name != b"X-Trino-User" else []
    response = raw_http.request(stack.envoy.port, b"POST", b"/v1/statement",
                                headers + [(name, values[0]), (name, values[1])], body=b"SELECT 1")
    assert response.status == 400, f"{response.status} {response.text[:300]}"
    assert "sent more than once" in response.text, response.text
    nobody_saw_it(stack)


# --- the body limit ---

def post_raw(port: int, size: int, chunked: bool) -> int:
    body = b"SELECT 1 /* rows=1 */" + b" " * (size - 21)
    head = b"POST /v1/statement HTTP/1.1\r\nHost: router\r\nX-Trino-User: demo\r\n"
    if chunked:
        pieces = [body[i:i + 65536] for i in range(0, len(body), 65536)]
        data = head + b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(
            b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
    else:
        data = head + b"Content-Length: %d\r\n\r\n" % size + body
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(data)
        return int(s.recv(64).split(b" ")[1])


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_envoys_buffer_limit_never_gets_413_from_envoy(stack, chunked):
    # Before: with max_body_bytes at Envoy's 1 MiB limit, every body over it got 413 from
    # Envoy, and with a smaller limit 1 to 3 in 4 of those over 1 MiB still did.
    statuses = [post_raw(stack.envoy.port, size, chunked) for size in (1048577, 1100000, 3 << 20) for _ in range(3)]
    assert statuses == [200] * len(statuses), statuses
    assert stack.receivers("POST", "/v1/statement") == ["adhoc-2"], "the too_large rule took them"


def test_a_body_at_the_limit_is_read_whole(stack):
    assert post_raw(stack.envoy.port, 1048576, chunked=False) == 200
    assert stack.receivers("POST", "/v1/statement") == ["adhoc-1"], "analysed: no SQL rule, the default group"
