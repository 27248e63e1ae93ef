"""Session affinity with the real clients over a group of two real clusters (adhoc-1 + adhoc-2)
(the Python client through two Envoy replicas behind a proxy that alternates requests, to show
that any replica reads the cookie): the clients that keep cookies
across the statements of one session (Python: one requests.Session per connection; CLI and JDBC:
one OkHttp client with a cookie jar per session) run every statement on one coordinator with
`"affinity"` on the group; the Node client keeps no cookies, and neither does any session when
the group has no affinity: their statements spread over both.
"""

import pytest

from harness.alternating_proxy import AlternatingProxy
from harness.clients import Session, client

from .configs import two_cluster_group

# Six statements on one cluster by chance: 1 in 32 per session; twelve spread: all but 1 in 2048.
STATEMENTS = [f"SELECT count(*) FROM tpch.tiny.nation WHERE nationkey >= {i}" for i in range(6)]
MANY = [f"SELECT count(*) FROM tpch.tiny.region WHERE regionkey >= {i % 5}" for i in range(12)]


def sticky() -> dict:
    config = two_cluster_group()
    config["groups"][0]["affinity"] = {"ttl_seconds": 600}
    return config


@pytest.fixture(scope="module")
def filter_json():
    return sticky()


@pytest.fixture
def replicas(stack, start_envoy):
    second = start_envoy(sticky())
    proxy = AlternatingProxy([stack.envoy.port, second.port]).start()
    yield proxy
    proxy.stop()


def owners(stack, results) -> list:
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    assert all(r.query_id for r in results), results
    return [stack.owner(r.query_id) for r in results]


def one_cluster_per_session(stack, name: str, url: str) -> None:
    for session in range(2):
        ran_on = owners(stack, client(name).run(url, STATEMENTS, Session(user="demo")))
        assert len(set(ran_on)) == 1, f"{name} session {session} ran on {ran_on}"
        assert ran_on[0] in {"adhoc-1", "adhoc-2"}


def test_every_statement_of_a_python_connection_runs_on_one_cluster_through_two_replicas(stack, replicas):
    one_cluster_per_session(stack, "python", replicas.url)
    assert {i for i, method, _, _ in replicas.requests if method == "POST"} == {0, 1}, "both replicas took POSTs"


@pytest.mark.parametrize("name", ["cli", "jdbc"])
def test_every_statement_of_a_cli_or_jdbc_session_runs_on_one_cluster(stack, name):
    one_cluster_per_session(stack, name, stack.url)


def test_the_node_client_keeps_no_cookie_so_its_statements_spread(stack):
    assert set(owners(stack, client("node").run(stack.url, MANY, Session(user="demo")))) == {"adhoc-1", "adhoc-2"}


def test_without_affinity_a_python_session_spreads_over_the_group(stack, start_envoy):
    plain = start_envoy(two_cluster_group())
    assert set(owners(stack, client("python").run(plain.url, MANY, Session(user="demo")))) == {"adhoc-1", "adhoc-2"}
