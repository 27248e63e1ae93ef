"""Multi-page results through the router are exactly what the coordinator serves directly.

The stand-ins pad rows to 1 KB and some rows look like URIs and JSON, so a router
that touched a page body (or lost a page) would show up as a differing row.
"""

import pytest
import trino

from harness.trino_http import run_query
from harness.client_runs import fetch_rows

from .configs import shipped_filter

ROWS = 1000
PAGE_ROWS = 40
SQL = f"SELECT n, s FROM pages /* rows={ROWS} */"


@pytest.fixture(scope="module")
def standin_args():
    return ["--page-rows", str(PAGE_ROWS), "--row-bytes", "1000"]


@pytest.fixture(scope="module")
def filter_json():
    return shipped_filter()


@pytest.mark.parametrize("user, cluster_group", [("demo", ("adhoc-1", "adhoc-2")), ("etl", ("etl-1",))])
def test_a_thousand_rows_over_many_pages_come_back_exactly_as_the_coordinator_sent_them(
        stack, user, cluster_group):
    query_id, through_router = fetch_rows(stack.envoy.port, SQL, user)
    owner = stack.owner(query_id)
    assert owner in cluster_group, f"user {user} ran on {owner}, expected one of {cluster_group}"

    _, direct = fetch_rows(stack.standins[owner].port, SQL, user)
    assert len(direct) == ROWS, f"the stand-in itself returned {len(direct)} rows"
    assert len(through_router) == ROWS, f"through the router: {len(through_router)} rows, expected {ROWS}"
    first_diff = next((i for i, (a, b) in enumerate(zip(through_router, direct)) if a != b), None)
    assert first_diff is None, (
        f"row {first_diff} differs: router {through_router[first_diff]!r} vs direct {direct[first_diff]!r}")

    executing = [r for r in stack.standins[owner].trino_requests()
                 if r["method"] == "GET" and "/v1/statement/executing/" in r["path"] and query_id in r["path"]]
    assert len(executing) >= ROWS // PAGE_ROWS, (
        f"expected at least {ROWS // PAGE_ROWS} executing pages of {query_id} on {owner}, saw {len(executing)}")


@pytest.mark.parametrize("user", ["demo", "etl"])
def test_data_pages_reach_a_client_that_accepts_gzip_compressed(stack, user):
    # Whether the coordinator compressed them (forwarded-prefix mode) or Envoy did after the
    # filter rewrote them (rewrite mode), a gzip client must not get result pages (up to MBs in Trino) uncompressed.
    run = run_query([stack.url], SQL, user=user)
    assert len(run.rows) == ROWS, f"{len(run.rows)} rows"
    plain = [i for i, (page, enc) in enumerate(zip(run.pages, run.encodings)) if page.get("data") and enc != "gzip"]
    assert not plain, (f"user {user} on {stack.owner(run.query_id)}: data pages {plain[:10]} came back with "
                       f"Content-Encoding {[run.encodings[i] for i in plain[:3]]}, not gzip")


def test_a_failing_query_reports_the_coordinators_error_through_the_router(stack):
    with pytest.raises(trino.exceptions.TrinoUserError) as failure:
        fetch_rows(stack.envoy.port, "SELECT broken /* fail */", "demo")
    assert "SYNTAX_ERROR" in str(failure.value) or "syntax" in str(failure.value).lower(), str(failure.value)
