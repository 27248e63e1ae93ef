"""Spooled results (Trino 466+ spooling protocol) through the router, in both stickiness modes.

Segment URIs carry no query id: only the pin brings a download or an ack back to the
coordinator that wrote the segment. In forwarded-prefix mode (adhoc-1, adhoc-2) the
coordinator puts the pin into segment URIs itself; in rewrite mode (etl-1, a stock Trino
that answers X-Forwarded-* with 406) the filter does, as the page streams through. Some
segments are pre-signed object-storage URIs, which the router must leave alone: the
client fetches them from storage directly, and a changed URI fails its signature.
"""

import base64
import json

import pytest
import requests

from harness import page_compare, wait_until
from harness.client_runs import fetch_rows

from .configs import shipped_filter

ROWS = 200
SQL = f"SELECT n, s FROM spooled /* rows={ROWS} */"
# Pages of 40 rows in segments of 15, 15 and 10 rows: the 10-row ones (~600 bytes) are
# inlined, the 15-row ones (~900 bytes) spooled, and every third segment lives in storage.
SPOOLING = ["--spooling", "--spool-segment-rows", "15", "--spool-inline-bytes", "700",
            "--spool-external-every", "3"]
KEY_HEADER = "X-Trino-SSE-C-Key"
# user -> the clusters its queries run on, and their stickiness mode (envoy/envoy.yaml)
USERS = {"demo": ("adhoc-1", "adhoc-2"), "etl": ("etl-1",)}


@pytest.fixture(scope="module")
def filter_json():
    return shipped_filter()


@pytest.fixture(scope="module")
def standin_args():
    return SPOOLING


@pytest.fixture(autouse=True)
def no_forwarded_header_reaches_a_stock_coordinator(stack):
    yield
    leaked = {name: s.forwarded_header_requests() for name, s in stack.standins.items() if s.forwarded == "reject"}
    assert not any(leaked.values()), f"X-Forwarded-* headers reached stock coordinators: {leaked}"


def segment_requests(standin) -> dict:
    """{"download" | "ack" | "storage": [status, ...]} of the segment requests a stand-in got."""
    kinds = {"download": "/v1/spooled/download/", "ack": "/v1/spooled/ack/", "storage": "/spooling-bucket/"}
    return {kind: [r["status"] for r in standin.requests() if r["path"].startswith(prefix)]
            for kind, prefix in kinds.items()}


@pytest.mark.parametrize("user", USERS)
def test_the_python_client_downloads_and_acknowledges_every_segment_on_the_owner(stack, user):
    query_id, through_router = fetch_rows(stack.envoy.port, SQL, user)
    owner = stack.owner(query_id)
    assert owner in USERS[user], f"user {user} ran on {owner}"
    assert len(through_router) == ROWS, f"{len(through_router)} rows through the router"

    seen = segment_requests(stack.standins[owner])
    assert seen["download"] and seen["storage"], f"the query spooled nothing, or nothing to storage: {seen}"
    spooled = len(seen["download"]) + len(seen["storage"])
    # The client acknowledges in a background thread once a segment's rows are read.
    seen = wait_until(lambda: (s := segment_requests(stack.standins[owner])) and len(s["ack"]) >= spooled and s,
                      10, f"{spooled} acks on {owner}")
    assert all(status == 200 for statuses in seen.values() for status in statuses), f"{owner} answered {seen}"
    assert len(seen["ack"]) == spooled, f"{spooled} segments, acks {seen['ack']}"
    others = {n: segment_requests(s) for n, s in stack.standins.items() if n != owner}
    assert not any(any(v.values()) for v in others.values()), f"segment requests reached others: {others}"

    _, direct = fetch_rows(stack.standins[owner].port, SQL, user)
    first_diff = next((i for i, (a, b) in enumerate(zip(through_router, direct)) if a != b), None)
    assert len(direct) == ROWS and first_diff is None, f"row {first_diff} differs from the coordinator's own"


@pytest.mark.parametrize("user", USERS)
def test_segment_uris_are_pinned_to_the_owner_and_storage_uris_come_back_untouched(stack, user):
    segments = []
    owner_of = {}

    def same_as_the_coordinators_but_pinned(routed):
        if "data" not in routed.page:
            return
        owner = owner_of.setdefault("name", stack.owner(routed.page["id"]))
        prefix = page_compare.prefix_of(routed.page["nextUri"])
        authority = stack.url.split("//")[1]
        direct = page_compare.direct_text(stack.standins[owner].url, routed.path, user, authority)
        assert routed.text == page_compare.pinned(direct, authority, prefix), (
            f"page {routed.path} differs from the coordinator's beyond the pin:\n{routed.text[:800]}\n{direct[:800]}")
        segments.extend((prefix, s) for s in routed.page["data"]["segments"])

    page_compare.walk(stack.url, SQL, user, headers={"X-Trino-Query-Data-Encoding": "json"},
                      on_page=same_as_the_coordinators_but_pinned)
    owner = owner_of["name"]
    assert owner in USERS[user], f"user {user} ran on {owner}"
    kinds = {kind: [s for _, s in segments if kind(s)] for kind in (inline, from_coordinator, from_storage)}
    assert all(kinds.values()), f"expected inline, coordinator and storage segments: { {k.__name__: len(v) for k, v in kinds.items()} }"

    rows = []
    for prefix, segment in segments:
        if inline(segment):
            rows.extend(json.loads(base64.b64decode(segment["data"])))
            continue
        key = {KEY_HEADER: segment["headers"][KEY_HEADER][0]}
        if from_storage(segment):
            assert segment["uri"].startswith(stack.standins[owner].url + "/spooling-bucket/"), segment["uri"]
        else:
            assert segment["uri"].startswith(f"{stack.url}{prefix}/v1/spooled/download/"), segment["uri"]
        assert segment["ackUri"].startswith(f"{stack.url}{prefix}/v1/spooled/ack/"), segment["ackUri"]
        download = requests.get(segment["uri"], headers=key, timeout=10)
        assert download.status_code == 200, f"GET {segment['uri']}: {download.status_code} {download.text[:200]}"
        rows.extend(json.loads(download.content))
        ack = requests.get(segment["ackUri"], headers=key, timeout=10)
        assert ack.status_code == 200, f"GET {segment['ackUri']}: {ack.status_code} {ack.text[:200]}"
        again = requests.get(segment["uri"], headers=key, timeout=10)
        assert again.status_code == 404, f"{segment['uri']} after its ack: {again.status_code}"
    assert [r[0] for r in rows] == list(range(ROWS)), "segments do not add up to the query's rows in order"

    others = {n: segment_requests(s) for n, s in stack.standins.items() if n != owner}
    assert not any(any(v.values()) for v in others.values()), f"segment requests reached others: {others}"


def inline(segment: dict) -> bool:
    return segment["type"] == "inline"


def from_storage(segment: dict) -> bool:
    return segment["type"] == "spooled" and "/spooling-bucket/" in segment["uri"]


def from_coordinator(segment: dict) -> bool:
    return segment["type"] == "spooled" and "/v1/spooled/download/" in segment["uri"]
