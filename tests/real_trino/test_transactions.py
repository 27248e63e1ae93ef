"""Transactions over a group of two real clusters, through two Envoy replicas that take turns:
every statement of a transaction, COMMIT and ROLLBACK included, must reach the coordinator that
started it. The filter binds the id Trino issues (X-Trino-Started-Transaction-Id) to its cluster
with a signature; any replica routes the transaction's later statements by it (issue 14).

A proxy in front of the replicas sends each request to the other replica than the one before,
so the page that started a transaction and every later statement cross replicas; the rules alone
would send about half of the statements to the other cluster, where Trino answers them with an
unknown-transaction error.
"""

import uuid

import pytest

from harness.alternating_proxy import AlternatingProxy
from harness.clients import Session, client

from .configs import two_cluster_group

TRANSACTIONS = 6  # 3 statements after START each: all on one cluster by chance 1 in 4^6
STATEMENTS = ["SELECT count(*) FROM tpch.tiny.nation", "SELECT count(*) FROM tpch.tiny.region",
              "SELECT count(*) FROM tpch.tiny.supplier"]
EXPECTED = [[[25]], [[5]], [[100]]]


@pytest.fixture(scope="module")
def filter_json():
    return two_cluster_group()


@pytest.fixture
def replicas(stack, start_envoy):
    """Two Envoys with the same filter config and no shared state, behind a proxy that alternates."""
    second = start_envoy(two_cluster_group())
    proxy = AlternatingProxy([stack.envoy.port, second.port]).start()
    yield proxy
    proxy.stop()


def unknown_transaction(error: str) -> bool:
    """Trino's answer to a statement whose transaction id another coordinator issued."""
    return "UNKNOWN_TRANSACTION" in error or "Unknown transaction ID" in error or "errorCode=131075" in error


# JDBC with autocommit off, Python with an isolation level: both start a transaction and send
# X-Trino-Transaction-Id with every later statement, COMMIT included.
@pytest.mark.parametrize("name", ["jdbc", "python"])
def test_every_statement_of_a_transaction_reaches_the_coordinator_that_started_it(stack, replicas, name):
    owners = set()
    for i in range(TRANSACTIONS):
        results = client(name).run(replicas.url, STATEMENTS, Session(user="demo", autocommit=False))
        strays = [r for r in results if not r.ok and unknown_transaction(r.error)]
        assert not strays, f"transaction {i}: {len(strays)} statements reached a coordinator that does not " \
                           f"know their transaction: {strays[:2]}"
        assert all(r.ok for r in results), f"transaction {i} failed: {[r for r in results if not r.ok]}"
        assert [r.rows for r in results[:-1]] == EXPECTED, f"transaction {i}: {results}"
        ran_on = {stack.owner(r.query_id) for r in results if r.query_id}
        assert len(ran_on) == 1, f"transaction {i} ran on {ran_on}"
        owners |= ran_on
    assert owners <= {"adhoc-1", "adhoc-2"}
    posts = {index for index, method, path, _ in replicas.requests if method == "POST"}
    assert posts == {0, 1}, f"the statements did not alternate between the replicas: {replicas.requests[:10]}"


def test_a_python_rollback_reaches_the_owner_and_the_client_holds_a_bound_id(stack, replicas):
    import trino

    for _ in range(4):
        marker = f"tx-{uuid.uuid4().hex}"
        conn = trino.dbapi.connect(host=replicas.url, user="demo",
                                   isolation_level=trino.transaction.IsolationLevel.READ_UNCOMMITTED)
        try:
            cur = conn.cursor()  # sends START TRANSACTION
            bound = conn.transaction.id
            issued, _, binding = bound.rpartition("~")
            assert issued and len(binding) > 20 and len(uuid.UUID(issued).hex) == 32, \
                f"the client holds {bound!r}, not <Trino's id>~<binding>"
            for _ in range(3):
                cur.execute(f"SELECT count(*) FROM tpch.tiny.nation /* {marker} */")
                assert cur.fetchall() == [[25]]
            conn.rollback()
        finally:
            conn.close()
        assert len(stack.ran_on(marker)) == 1, f"{marker} ran on {stack.ran_on(marker)}"
