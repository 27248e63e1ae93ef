"""Rewrite mode (stock Trino): the filter pins the URIs in every page as it streams through.

All three stand-ins run in `reject` mode, as a stock Trino answers any X-Forwarded-* header
with 406, and each writes its pages differently: adhoc-1 in 1-byte frames, adhoc-2 in
7-byte frames (URIs split across reads anywhere), etl-1 with a Content-Length. Through
the router, every page must equal the coordinator's own page except for the pin prefix
in infoUri, partialCancelUri and nextUri; rows that look like URIs, JSON or `"nextUri"`
(some with the very authority the client uses) must come back byte for byte.
"""

import pytest

from harness import page_compare, tokens
from harness.trino_http import QUERY_ID, coordinator_of, run_query
from harness.client_runs import fetch_rows

from .configs import SIGNING_KEY, one_cluster_per_group

ROWS = 200
SQL = f"SELECT n, s FROM lookalikes /* rows={ROWS} */"
# The authority the client uses, and the one some rows contain (rows.rs): a rewriter that
# scanned row text for the client's own URIs would find them.
CLIENT_AUTHORITY = "127.0.0.1:8080"
LOOKALIKES = ['see http://127.0.0.1:8080/v1/statement/executing/x/y/1',
              r'{\"nextUri\":\"http://evil/\"}',
              r'\"infoUri\":\"http://127.0.0.1:8080/ui/query.html?20240101_000000_00000_abcde\"']
# group -> the one cluster in it, and how that stand-in writes its pages
GROUPS = {"adhoc": "adhoc-1", "second": "adhoc-2", "etl": "etl-1"}
FRAMING = {"adhoc-1": ["--chunk-bytes", "1"], "adhoc-2": ["--chunk-bytes", "7"], "etl-1": ["--content-length"]}


@pytest.fixture(scope="module")
def filter_json():
    config = one_cluster_per_group()
    for cluster in config["clusters"]:
        cluster["stickiness"] = "rewrite"
    return config


@pytest.fixture(scope="module")
def standin_args():
    return FRAMING


@pytest.fixture(autouse=True)
def no_forwarded_header_reaches_a_stock_coordinator(stack):
    yield
    leaked = {name: s.forwarded_header_requests() for name, s in stack.standins.items() if s.forwarded == "reject"}
    assert not any(leaked.values()), f"X-Forwarded-* headers reached stock coordinators: {leaked}"


@pytest.mark.parametrize("group", GROUPS)
def test_the_python_client_reads_the_coordinators_rows_through_rewrite_mode(stack, group):
    query_id, through_router = fetch_rows(stack.envoy.port, SQL, headers={"X-Trino-Routing-Group": group})
    owner = stack.owner(query_id)
    assert owner == GROUPS[group], f"group {group} ran on {owner}"
    _, direct = fetch_rows(stack.standins[owner].port, SQL)
    assert len(direct) == ROWS and len(through_router) == ROWS, f"{len(through_router)} rows, direct {len(direct)}"
    first_diff = next((i for i, (a, b) in enumerate(zip(through_router, direct)) if a != b), None)
    assert first_diff is None, f"row {first_diff}: {through_router[first_diff]!r} vs {direct[first_diff]!r}"


@pytest.mark.parametrize("group", GROUPS)
def test_every_page_differs_from_the_coordinators_own_only_by_the_pin(stack, group):
    owner = GROUPS[group]
    prefix = f"/{tokens.MARKER}/{tokens.mint(owner, SIGNING_KEY.encode())}"
    compared = []

    def same_as_the_coordinators_but_pinned(routed):
        page = routed.page
        for key in ("infoUri", "partialCancelUri", "nextUri"):
            if key in page:
                assert page[key].startswith(f"http://{CLIENT_AUTHORITY}{prefix}/"), (
                    f"{key} of the page at {routed.path} is not pinned to {owner}: {page[key]}")
        if "/v1/statement/executing/" not in routed.path:
            return  # queued pages show a fresh elapsed time on every GET
        direct = page_compare.direct_text(stack.standins[owner].url, routed.path, "demo", CLIENT_AUTHORITY)
        expected = page_compare.pinned(direct, CLIENT_AUTHORITY, prefix)
        assert expected != direct, f"nothing to pin in {routed.path}?"
        assert routed.text == expected, (
            f"page {routed.path} through the router differs from the coordinator's beyond the pin:\n"
            f"router: {routed.text[:600]}\nexpected: {expected[:600]}")
        compared.append(routed)

    run = page_compare.walk(stack.url, SQL, "demo", host=CLIENT_AUTHORITY, on_page=same_as_the_coordinators_but_pinned,
                            headers={"X-Trino-Routing-Group": group, "Accept-Encoding": "gzip"})
    assert stack.owner(run.query_id) == owner, f"group {group} ran on {stack.owner(run.query_id)}"
    executing = compared
    assert len(executing) == ROWS // 40 + 2, f"{len(executing)} executing pages compared"

    data_pages = [p for p in executing if "data" in p.page]
    assert len(data_pages) == ROWS // 40
    assert all(p.content_encoding == "gzip" for p in data_pages), [p.content_encoding for p in data_pages]
    texts = "".join(p.text for p in data_pages)
    missing = [s for s in LOOKALIKES if s not in texts]
    assert not missing, f"the rows did not carry the lookalike strings {missing}"

    follow_ups = [r for r in stack.standins[owner].trino_requests() if r["method"] == "GET"]
    assert len(follow_ups) >= len(run.pages) - 1 and all(r["status"] == 200 for r in follow_ups), follow_ups[:5]


def test_two_envoys_alternating_keep_every_follow_up_on_its_owner(stack, start_envoy, filter_json):
    replica_b = start_envoy(filter_json)
    replicas = [stack.url, replica_b.url]
    runs = []
    for i, group in enumerate(list(GROUPS) * 3):
        order = replicas[i % 2:] + replicas[:i % 2]
        run = run_query(order, f"SELECT n, s FROM r{i} /* rows=120 */", user="demo",
                        headers={"X-Trino-Routing-Group": group})
        assert run.error is None and len(run.rows) == 120, f"query {i} ({run.query_id}): {run.error}"
        assert len({url.split("/")[2] for _, url, _ in run.requested}) == 2, f"query {i} did not alternate"
        runs.append((group, run))

    for group, run in runs:
        assert stack.owner(run.query_id) == GROUPS[group], f"{run.query_id} of group {group}"
    for name, standin in stack.standins.items():
        mine = standin.state()["coordinatorId"]
        misrouted = [f"{r['method']} {r['path']}" for r in standin.trino_requests()
                     for m in [QUERY_ID.search(r["path"])] if m and coordinator_of(m.group(0)) != mine]
        assert not misrouted, f"{name} got follow-ups of other coordinators: {misrouted[:5]}"
        failed = [f"{r['method']} {r['path']} -> {r['status']}" for r in standin.trino_requests() if r["status"] != 200]
        assert not failed, f"{name} answered errors: {failed[:5]}"
