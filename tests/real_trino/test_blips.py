"""Blips on real Trino: a running query survives what passes. A coordinator frozen (SIGSTOP) for
10 s and for 60 s, a TCP reset between Envoy and the coordinator, a full circuit breaker (filled
during a short freeze, so that it fills on an idle machine too): every running query of the
Python client and of JDBC finishes with all its rows, none is declared lost.

Both clients run in the same freeze (10 Python + 10 JDBC queries, 20 in all), so each freeze is
paid once. Queries go to etl-1 (user `etl`, rewrite mode); adhoc-1/-2 take new queries meanwhile.
"""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List

import pytest
import trino

from harness import wait_until
from harness.client_runs import run_client_query
from harness.clients import JdbcClient, Session
from harness.reset_proxy import ResetProxy

from .configs import ENVOY_CLUSTER, two_cluster_group

ROWS = 20000
SQL = "SELECT custkey, name FROM tpch.sf1.customer WHERE custkey <= 20000 /* {marker} */"
EXPECTED = list(range(1, ROWS + 1))


@pytest.fixture(scope="module")
def filter_json():
    return two_cluster_group()


class PythonHeld:
    """A query of the Python client with its default retries (3 attempts, 30 s request timeout),
    read 10 rows into."""

    def __init__(self, port: int, max_attempts: int = 3):
        self.connection = trino.dbapi.connect(host="127.0.0.1", port=port, user="etl", encoding=None,
                                              max_attempts=max_attempts)
        self.cursor = self.connection.cursor()
        self.cursor.execute(SQL.format(marker=uuid.uuid4().hex))
        self.rows = self.cursor.fetchmany(10)

    @property
    def query_id(self) -> str:
        return self.cursor.query_id

    def finish(self):
        try:
            return sorted(r[0] for r in self.rows + self.cursor.fetchall())
        except Exception as exc:  # noqa: BLE001 - what the application would get is the result
            return exc
        finally:
            self.connection.close()


class JdbcHeld:
    def __init__(self, flight):
        self.flight = flight
        self.flight.read_some(10)

    @staticmethod
    def many(url: str, count: int) -> list:
        """`count` JDBC queries read 10 rows into; their JVMs start side by side."""
        sqls = [SQL.format(marker=uuid.uuid4().hex) for _ in range(count)]
        return [JdbcHeld(flight) for flight in JdbcClient().start_many(url, sqls, Session(user="etl"))]

    @property
    def query_id(self) -> str:
        return self.flight.query_id

    def finish(self):
        result = self.flight.finish(timeout=300)
        if result.error:
            return RuntimeError(result.error)
        return sorted(int(r[0]) for r in result.rows)


def hold(stack, python: int, jdbc: int) -> list:
    with ThreadPoolExecutor(8) as pool:
        held = list(pool.map(lambda _: PythonHeld(stack.envoy.port), range(python)))
    # Driver programs are started from this thread: they die with the thread that started them.
    held += JdbcHeld.many(stack.envoy.url, jdbc)
    owners = {stack.owner(h.query_id) for h in held}
    assert owners == {"etl-1"}, owners
    return held


def finish_all(held: list) -> List[object]:
    with ThreadPoolExecutor(len(held)) as pool:
        return list(pool.map(lambda h: h.finish(), held))


def finish_while_frozen(server, held: list, thaw_when: Callable[[], None]) -> List[object]:
    """Freezes `server`, lets every held query read on (their polls wait on it), thaws it once
    `thaw_when` returns, and gives each query's outcome."""
    server.freeze()
    try:
        with ThreadPoolExecutor(1) as pool:
            outcomes = pool.submit(finish_all, held)
            thaw_when()
            server.thaw()
            return outcomes.result(timeout=300)
    finally:
        server.thaw()


def check(outcomes: list, held: list) -> None:
    failed = {h.query_id: o for h, o in zip(held, outcomes) if o != EXPECTED}
    assert not failed, f"{len(failed)} of {len(held)} queries failed or lost rows: " + \
        "; ".join(f"{q}: {o if isinstance(o, Exception) else f'{len(o)} rows'}" for q, o in failed.items())


def lost_count(envoy) -> int:
    return sum(envoy.stats(r"queries_lost").values())


@pytest.mark.parametrize("seconds", [10, 60])
def test_a_coordinator_frozen_mid_query_loses_no_query(stack, seconds):
    etl = stack.servers["etl-1"]
    held = hold(stack, python=10, jdbc=10)
    lost_before = lost_count(stack.envoy)
    frozen_at = time.monotonic()
    # The clients poll the frozen coordinator: their GETs wait (or time out and are retried).
    outcomes = finish_while_frozen(etl, held, lambda: time.sleep(seconds))
    took = time.monotonic() - frozen_at
    print(f"\nfrozen {seconds}s: {len(held)} queries (10 Python, 10 JDBC) finished {took:.0f}s after the freeze")
    check(outcomes, held)
    assert lost_count(stack.envoy) == lost_before
    # Once it answers again, it takes new queries again.
    wait_until(lambda: stack.owner(run_client_query(stack.envoy.port, "SELECT 1", user="etl").query_id) == "etl-1",
               60, "etl-1 to take new queries again")


def test_a_tcp_reset_between_envoy_and_the_coordinator_loses_no_query(stack, start_envoy):
    etl = stack.servers["etl-1"]
    proxy = ResetProxy(etl.port).start()
    try:
        envoy = start_envoy(two_cluster_group(), ports={ENVOY_CLUSTER["etl-1"]: proxy.port})
        held = [PythonHeld(envoy.port) for _ in range(4)] + JdbcHeld.many(envoy.url, 2)
        # Every running query still has to follow at least one nextUri: reset five of them.
        proxy.arm(5)
        outcomes = finish_all(held)
        retried = envoy.stats(r"cluster\.trino_etl_1\.upstream_rq_retry$").get("cluster.trino_etl_1.upstream_rq_retry", 0)
        print(f"\nTCP resets: {proxy.resets} connections reset mid-request, Envoy retried {retried} requests")
        assert proxy.resets >= 1, "no request was reset: the test proved nothing"
        assert retried >= proxy.resets, f"{proxy.resets} requests reset, Envoy retried only {retried}"
        check(outcomes, held)
        assert lost_count(envoy) == 0
    finally:
        proxy.stop()


def test_a_full_circuit_breaker_loses_no_query(stack, start_envoy):
    def small_breaker(config: dict) -> None:
        for cluster in config["static_resources"]["clusters"]:
            if cluster["name"] == ENVOY_CLUSTER["etl-1"]:
                # HTTP/1.1 upstreams are bounded by connections and pending requests, not
                # only max_requests: with all three at 1, sixteen queries overflow for sure.
                cluster["circuit_breakers"] = {"thresholds": [
                    {"max_connections": 1, "max_pending_requests": 1, "max_requests": 1, "max_retries": 1024}]}

    envoy = start_envoy(two_cluster_group(), adjust=small_breaker)
    # The Python client's default is 3 attempts within about half a second: a breaker that
    # stays full longer (16 queries through max_requests 1 on a busy machine) outlasts it,
    # as README "Availability" says. JDBC retries a 503 for up to 2 minutes on its own.
    held = [PythonHeld(envoy.port, max_attempts=10) for _ in range(12)] + JdbcHeld.many(envoy.url, 4)
    # On an idle machine the 16 clients' polls can pass one by one and never fill the breaker.
    # While etl-1 is frozen, the first poll holds the one connection, the next one waits as the
    # one pending request and every other overflows: thaw once Envoy counts an overflow.
    etl = stack.servers["etl-1"]
    overflow = rf"cluster\.{ENVOY_CLUSTER['etl-1']}\.upstream_rq_pending_overflow$"
    outcomes = finish_while_frozen(etl, held, lambda: wait_until(
        lambda: sum(envoy.stats(overflow).values()) >= 1, 60, "Envoy to count a breaker overflow"))
    asked = sum(envoy.stats(r"etl-1\.retries_asked").values())
    failed = sum(1 for o in outcomes if o != EXPECTED)
    print(f"\ncircuit breaker max_requests 1, 16 queries: {asked} overflows answered 503 + Retry-After, "
          f"{failed} queries failed")
    assert asked >= 1, "the breaker never overflowed: the test proved nothing"
    assert lost_count(envoy) == 0
    check(outcomes, held)
