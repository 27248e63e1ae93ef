"""Limits and the queue at the router on real Trino 476, with the real Python client and JDBC: the group
`adhoc` is adhoc-1 (forwarded-prefix) and etl-1 (stock Trino, rewrite mode), each limited to 5 running
queries, behind two Envoy replicas and a proxy that alternates every request. 50 queries at once all
finish; the coordinators' own records show no more than 5 of them running at once on either.
"""

import concurrent.futures
import copy
import time
import uuid

import pytest

from harness.alternating_proxy import AlternatingProxy
from harness.clients import Session, client

from .configs import on_real_trino
from e2e.configs import ENVOY_CLUSTER, SIGNING_KEY, STANDIN_NAMES

LIMIT = 5
PYTHON_QUERIES = 44
JDBC_QUERIES = 6  # a JVM each: kept few on a 2-core machine


def limited() -> dict:
    clusters = [{"name": n, "envoy_cluster": ENVOY_CLUSTER[n]} for n in STANDIN_NAMES]
    for c in clusters:
        if c["name"] != "adhoc-2":
            c["limits"] = {"max_running": LIMIT}
    return on_real_trino({
        "clusters": clusters,
        "groups": [{"name": "adhoc", "members": [{"cluster": "adhoc-1"}, {"cluster": "etl-1"}]},
                   {"name": "other", "members": [{"cluster": "adhoc-2"}]}],
        "default_group": "adhoc",
        "stickiness": {"signing_key": SIGNING_KEY},
        "health": {"poll_interval_seconds": 1},
        "load": {"source": "metrics", "user": "router", "replicas": 2},
        "queue": {"enabled": True, "max_wait_seconds": 120},
    })


@pytest.fixture(scope="module")
def filter_json():
    return limited()


def most_at_once(queries: list) -> int:
    """The most of `queries` (Trino's /v1/query records) that were between creation and end at one
    moment: an upper bound of how many ran at once."""
    events = []
    for q in queries:
        stats = q["queryStats"]
        events += [(stats["createTime"], 1), (stats["endTime"], -1)]
    most = now = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        now += step
        most = max(most, now)
    return most


def test_fifty_python_and_jdbc_queries_against_a_limited_group_all_finish_within_the_limit(stack, start_envoy):
    for name in ("adhoc-1", "etl-1"):  # compiled once before the clock runs: a cold coordinator takes seconds
        stack.servers[name].run_query_id("SELECT count(*) FROM tpch.tiny.orders")
    second = start_envoy(copy.deepcopy(limited()))
    proxy = AlternatingProxy([stack.envoy.port, second.port]).start()
    marker = uuid.uuid4().hex
    sql = f"SELECT count(*) FROM tpch.tiny.orders /* {marker} */"

    def one(name):
        started = time.monotonic()
        [result] = client(name).run(proxy.url, [sql], Session(user="demo"), timeout=240)
        return result, time.monotonic() - started

    try:
        started = time.monotonic()
        names = ["python"] * PYTHON_QUERIES + ["jdbc"] * JDBC_QUERIES
        with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
            outcomes = list(pool.map(one, names))
        total = time.monotonic() - started
    finally:
        proxy.stop()
    failed = [r for r, _ in outcomes if not r.ok]
    assert not failed, failed[:3]
    assert all(str(r.rows) in ("[[15000]]", "[['15000']]") for r, _ in outcomes), {str(r.rows) for r, _ in outcomes}
    ran = {name: stack.servers[name].queries_with(marker) for name in ("adhoc-1", "etl-1")}
    assert sum(len(q) for q in ran.values()) == len(names), {n: len(q) for n, q in ran.items()}
    at_once = {name: most_at_once(q) for name, q in ran.items()}
    elapsed = sorted(t for _, t in outcomes)
    print(f"\n{len(names)} queries ({PYTHON_QUERIES} Python, {JDBC_QUERIES} JDBC), limit {LIMIT} per cluster: "
          f"most at once {at_once}, per query min/median/max {elapsed[0]:.1f}/{elapsed[len(elapsed) // 2]:.1f}/"
          f"{elapsed[-1]:.1f} s, all done in {total:.1f} s")
    assert all(n <= LIMIT for n in at_once.values()), at_once
