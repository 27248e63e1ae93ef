"""Spooled results (Trino's spooling protocol, segments in a local S3 server) through the router.

adhoc-2 (forwarded-prefix) serves segments through the coordinator (`coordinator_proxy`):
Trino writes the routing prefix into segment URIs, and every download and ack must reach
adhoc-2. etl-1 (stock, rewrite mode) hands out pre-signed object-store URIs (`storage`):
the filter must leave those alone and rewrite only the `ackUri` on the coordinator. Either
way each segment is acknowledged, so Trino deletes it from the bucket.
"""

import uuid

import pytest

from harness import wait_until
from harness.clients import CLIENTS, Session, client

from .configs import one_cluster_per_group
from .conftest import bundled_plugins_available

# Never in CI (476): only a local run on 483 assembled from jars, which lacks the spooling plugin.
pytestmark = pytest.mark.skipif(not bundled_plugins_available(), reason="this Trino build has no spooling plugin")

# About 30,000 rows: Trino 476 inlines the first segments and spools the last one (measured: half
# as many rows comes back all inline, whatever the encoding), so there is a segment to download and ack.
SQL = "SELECT * FROM tpch.tiny.lineitem WHERE orderkey < 30000 ORDER BY orderkey, linenumber /* {marker} */"
# Sessions whose rules pick each retrieval mode (configs.one_cluster_per_group).
MODES = {
    "coordinator_proxy": (dict(user="demo", client_tags=("team-a", "heavy")), "adhoc-2"),
    "storage": (dict(user="etl-user"), "etl-1"),
}


@pytest.fixture(scope="module")
def filter_json():
    return one_cluster_per_group()


def spooled(server, method: str, kind: str, since: int) -> list:
    return [p for m, p, _ in server.http_requests()[since:] if m == method and p.startswith(f"/v1/spooled/{kind}/")]


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("name", sorted(n for n in CLIENTS if client(n).supports("encoding")))
def test_spooled_segments_are_downloaded_and_acknowledged_on_the_owner(stack, trino_servers, s3, name, mode):
    session_args, owner_name = MODES[mode]
    owner = trino_servers[owner_name]
    marks = {n: len(s.http_requests()) for n, s in trino_servers.items()}
    stored_before = set(s3.objects())  # other tests' clients may leave segments unacknowledged
    marker = f"spool-{uuid.uuid4().hex}"
    [result] = client(name).run(stack.url, [SQL.format(marker=marker)], Session(encoding="json+zstd", **session_args))
    assert result.ok, result.error
    assert stack.ran_on(marker) == [owner_name]
    [direct] = client("python").run(trino_servers["adhoc-1"].url, [SQL.format(marker="direct")],
                                    Session(user="direct", encoding=None))
    assert len(result.rows) == len(direct.rows) > 10000 and result.rows == direct.rows

    # Every segment was acknowledged through the router (Trino then deletes it from the bucket).
    wait_until(lambda: spooled(owner, "GET", "ack", marks[owner_name]), 20, f"acks to reach {owner_name}")
    wait_until(lambda: not set(s3.objects()) - stored_before, 30,
               "every segment of this query to be acknowledged and deleted")
    acks = spooled(owner, "GET", "ack", marks[owner_name])
    downloads = spooled(owner, "GET", "download", marks[owner_name])
    if mode == "coordinator_proxy":
        assert len(downloads) == len(acks) >= 1, (downloads, acks)
    else:
        assert not downloads, f"storage mode: segments must come from the object store, not {owner_name}"
    strays = {n: spooled(s, "GET", kind, marks[n]) for n, s in trino_servers.items() if s is not owner
              for kind in ("ack", "download") if spooled(s, "GET", kind, marks[n])}
    assert not strays, f"spooled segment requests reached other coordinators: {strays}"
