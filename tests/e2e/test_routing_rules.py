"""New queries: the routing-group header, then the first matching rule, then the default group.

Every group of this config has one cluster, so the stand-in that received the POST
shows which group the filter chose. The default group is adhoc (adhoc-1).
"""

import base64

import pytest
import requests

from harness.trino_http import post_statement

from .configs import one_cluster_per_group

SQL = "SELECT n, s FROM t /* rows=3 */"


@pytest.fixture(scope="module")
def filter_json():
    return one_cluster_per_group()


def basic(user: str, password: str = "") -> str:
    # Empty password: over plain HTTP Trino (and the stand-in) refuses any other with 401.
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# (scenario id, user, extra headers, stand-in that must get the POST)
CASES = [
    ("no-rule-matches-default-group", "demo", {}, "adhoc-1"),
    ("user-exact", "etl-user", {}, "etl-1"),
    ("basic-auth-user", None, {"Authorization": basic("etl-user")}, "etl-1"),
    ("x-trino-user-beats-basic-auth-user", "demo", {"Authorization": basic("etl-user")}, "adhoc-1"),
    ("source-prefix", "demo", {"X-Trino-Source": "airflow-prod"}, "etl-1"),
    ("client-tags-any-of", "demo", {"X-Trino-Client-Tags": "adhoc, batch"}, "etl-1"),
    ("client-tags-all-of", "demo", {"X-Trino-Client-Tags": "heavy,x,team-a"}, "adhoc-2"),
    ("client-tags-all-of-needs-every-tag", "demo", {"X-Trino-Client-Tags": "team-a"}, "adhoc-1"),
    ("client-info-regex", "demo", {"X-Trino-Client-Info": "dashboard-42"}, "adhoc-2"),
    ("client-info-regex-is-anchored", "demo", {"X-Trino-Client-Info": "my-dashboard-42"}, "adhoc-1"),
    ("catalog-exact", "demo", {"X-Trino-Catalog": "hive"}, "etl-1"),
    ("catalog-exact-is-exact", "demo", {"X-Trino-Catalog": "hive2"}, "adhoc-1"),
    ("schema-in-list", "demo", {"X-Trino-Schema": "finance"}, "adhoc-2"),
    ("session-property", "demo", {"X-Trino-Session": "query_max_run_time=1h,query_priority=low"}, "etl-1"),
    ("session-property-other-value", "demo", {"X-Trino-Session": "query_priority=high"}, "adhoc-1"),
    ("header", "demo", {"X-Team": "data-eng"}, "adhoc-2"),
    ("sql-path", "demo", {"X-Trino-Path": "lake.raw,system.builtin"}, "etl-1"),
    ("all-of-two-conditions", "svc-report", {"X-Trino-Source": "cron"}, "adhoc-2"),
    ("all-needs-both-conditions", "svc-report", {"X-Trino-Source": "ui"}, "adhoc-1"),
    ("any-of-two-users", "bob", {}, "etl-1"),
    ("not-source-manual", "probe", {"X-Trino-Source": "scheduler"}, "adhoc-2"),
    ("not-fails-when-inner-matches", "probe", {"X-Trino-Source": "manual"}, "adhoc-1"),
    ("routing-group-header-allowed", "demo", {"X-Trino-Routing-Group": "etl"}, "etl-1"),
    ("routing-group-header-beats-rules", "etl-user", {"X-Trino-Routing-Group": "second"}, "adhoc-2"),
    ("routing-group-header-refused-falls-to-default", "demo", {"X-Trino-Routing-Group": "hidden"}, "adhoc-1"),
    ("routing-group-header-refused-falls-to-rules", "etl-user", {"X-Trino-Routing-Group": "hidden"}, "etl-1"),
    ("routing-group-header-unknown-group", "demo", {"X-Trino-Routing-Group": "nope"}, "adhoc-1"),
]


@pytest.mark.parametrize("user, headers, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_new_query_lands_on_the_cluster_its_rules_choose(stack, user, headers, expected):
    response = post_statement(stack.url, SQL, user=user, headers=headers)
    assert response.status_code == 200, f"POST answered {response.status_code}: {response.text[:300]}"
    receivers = stack.receivers("POST", "/v1/statement")
    assert receivers == [expected], (
        f"user={user!r} headers={headers}: expected only {expected} to get the POST, got {receivers}")
    owner = stack.owner(response.json()["id"])
    assert owner == expected, f"query id {response.json()['id']} belongs to {owner}, not {expected}"


def test_the_coordinator_gets_a_routing_prefix_and_hands_out_uris_through_the_router(stack):
    response = post_statement(stack.url, SQL, user="etl-user")
    assert response.status_code == 200, response.text[:300]
    [post] = [r for r in stack.standins["etl-1"].trino_requests() if r["method"] == "POST"]
    prefix = post["headers"].get("x-forwarded-prefix", "")
    assert prefix.startswith("/trino-router/") and len(prefix) > len("/trino-router/"), (
        f"POST reached etl-1 without a routing prefix: headers {post['headers']}")
    assert "x-trino-router-cluster" not in {k.lower() for k in response.headers}
    next_uri = response.json()["nextUri"]
    assert next_uri.startswith(f"{stack.url}{prefix}/v1/statement/queued/"), (
        f"nextUri {next_uri} does not lead back through the router with prefix {prefix}")
    assert "etl" not in prefix, f"the token must not show the cluster name: {prefix}"


def test_a_client_cannot_choose_the_forwarded_prefix_or_the_envoy_cluster(stack):
    headers = {"X-Forwarded-Prefix": "/evil", "X-Trino-Router-Cluster": "trino_etl_1"}
    response = post_statement(stack.url, SQL, user="demo", headers=headers)
    assert response.status_code == 200, response.text[:300]
    assert stack.receivers() == ["adhoc-1"], "a client-sent x-trino-router-cluster picked the cluster"
    [post] = [r for r in stack.standins["adhoc-1"].trino_requests() if r["method"] == "POST"]
    assert post["headers"].get("x-forwarded-prefix", "").startswith("/trino-router/"), post["headers"]


@pytest.mark.parametrize("path", ["/v1/info", "/v1/status"])
def test_server_info_is_answered_by_a_cluster_of_the_default_group(stack, path):
    response = requests.get(stack.url + path, timeout=5)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:300]}"
    if path == "/v1/info":
        assert response.json()["environment"] == "adhoc-1", response.json()
