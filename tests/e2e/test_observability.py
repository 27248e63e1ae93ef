"""What operators see: after a scripted run, Envoy's stats hold exactly the expected
counts, every access log line carries the routing decision, and the debug header (off by
default) shows the same line.
"""

import re

import requests

from harness import wait_until
from harness.client_runs import fetch_rows
from harness.trino_http import post_statement

from .configs import shipped_filter


def decision_lines(envoy) -> list:
    # The access log goes to Envoy's stdout, which the harness captures with its log.
    return [line for line in envoy.log_text().splitlines() if line.startswith("[20") and '"' in line[:40]]


def test_a_scripted_run_shows_exact_counts_and_decisions_in_the_access_log(start_envoy, standins):
    config = shipped_filter()
    config["debug_response_header"] = True
    envoy = start_envoy(config)
    sql = "SELECT 1 /* rows=100 */"
    query_ids = [fetch_rows(envoy.port, sql, user)[0] for user in ("etl", "alice", "bob")]
    forged = requests.get(envoy.url + "/trino-router/AQVldGwtMfQPi6PzK99FzPugD_FTxdX/v1/query/20260101_000000_00001_abcde", timeout=5)
    unknown = requests.get(envoy.url + "/nope", timeout=5)
    by_id = requests.get(f"{envoy.url}/v1/query/{query_ids[1]}", headers={"X-Trino-User": "alice"}, timeout=5)
    assert (forged.status_code, unknown.status_code, by_id.status_code) == (400, 404, 200)

    stats = envoy.stats("wasmcustom")
    expected = {
        "wasmcustom.trino_router.queries.group.etl": 1,
        "wasmcustom.trino_router.queries.group.adhoc": 2,
        "wasmcustom.trino_router.queries.rule.etl-workloads": 1,
        "wasmcustom.trino_router.queries.rule.none": 2,
        "wasmcustom.trino_router.queries.via.rule": 1,
        "wasmcustom.trino_router.queries.via.default_group": 2,
        "wasmcustom.trino_router.queries.cluster.etl-1": 1,
        "wasmcustom.trino_router.refused.bad_token": 1,
        "wasmcustom.trino_router.refused.unknown_path": 1,
        "wasmcustom.trino_router.followups.query_id": 1,
        "wasmcustom.trino_router.sql.analysed": 3,
    }
    for name, value in expected.items():
        assert stats.get(name) == value, f"{name}: {stats.get(name)} (all: {stats})"
    adhoc = stats.get("wasmcustom.trino_router.queries.cluster.adhoc-1", 0) + \
        stats.get("wasmcustom.trino_router.queries.cluster.adhoc-2", 0)
    assert adhoc == 2
    pages = sum(len([r for r in s.trino_requests() if r["method"] == "GET" and "/v1/statement/" in r["path"]])
                for s in standins.values())
    assert stats.get("wasmcustom.trino_router.followups.pinned", 0) >= 3 * 3, "each query polled queued and pages"
    assert stats.get("wasmcustom.trino_router.followups.pinned", 0) <= pages

    wait_until(lambda: len(decision_lines(envoy)) >= 3, 10, "access log lines to be written")
    lines = decision_lines(envoy)
    posts = [line for line in lines if '"POST /v1/statement"' in line]
    assert any(line.endswith("cluster=etl-1 group=etl rule=etl-workloads via=rule sql=analysed") for line in posts), posts
    assert sum("group=adhoc via=default_group" in line for line in posts) == 2, posts
    follow_ups = [line for line in lines if '"GET /v1/statement/' in line]
    assert follow_ups and all(re.search(r"cluster=\S+ via=pinned$", line) for line in follow_ups), follow_ups[:3]
    assert not any("/trino-router/" in line for line in follow_ups), "a pinned path is logged without its token"
    assert any(line.endswith("reply=400 via=bad_token") for line in lines)

    assert unknown.headers.get("x-trino-router-decision") == "reply=404 via=unknown_path"
    assert by_id.headers.get("x-trino-router-decision", "").endswith("via=query_id")


def test_the_debug_header_is_off_by_default(stack):
    response = post_statement(stack.url, "SELECT 1", "alice")
    assert response.status_code == 200
    assert "x-trino-router-decision" not in response.headers
