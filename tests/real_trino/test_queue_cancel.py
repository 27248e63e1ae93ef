"""A query cancelled while it waits at the router never reaches Trino, on real Trino 476 with the real
Python client and JDBC: group `adhoc` is adhoc-1 alone, limited to 1 running query, and a query held
open straight on adhoc-1 keeps it full. A client's new query then waits at the router (QUEUED, id
`router_queued_...`); the client cancels it (Python: `Cursor.cancel()`, JDBC: `Statement.cancel()`,
each from another thread while `execute()` blocks), room is made, and the coordinators' own query
lists (/v1/query) never show its SQL.
"""

import threading
import time
import uuid

import pytest
import requests
import trino

from harness import wait_until
from harness.clients import Session, client
from harness.trino_http import post_statement

from .configs import on_real_trino
from .conftest import bundled_plugins_available
from .held import HeldQuery, cancel, queue_on
from e2e.configs import ENVOY_CLUSTER, SIGNING_KEY, STANDIN_NAMES


def limited(**queue) -> dict:
    clusters = [{"name": n, "envoy_cluster": ENVOY_CLUSTER[n]} for n in STANDIN_NAMES]
    clusters[0]["limits"] = {"max_running": 1}
    return on_real_trino({
        "clusters": clusters,
        "groups": [{"name": "adhoc", "members": [{"cluster": "adhoc-1"}]},
                   {"name": "other", "members": [{"cluster": "adhoc-2"}, {"cluster": "etl-1"}]}],
        "default_group": "adhoc",
        "stickiness": {"signing_key": SIGNING_KEY},
        "health": {"poll_interval_seconds": 1},
        "load": {"source": "metrics", "user": "router"},
        "queue": {"enabled": True, "max_wait_seconds": 120, **queue},
    })


@pytest.fixture(scope="module")
def filter_json():
    return limited()


# More rows than Trino's output buffers hold: it stays RUNNING until its pages are read.
FILLER_SQL = "SELECT orderkey, partkey, comment FROM tpch.sf1.lineitem /* {marker} */"


def router_waits(url: str) -> bool:
    """Whether a new query through the router now waits there (the probe is cancelled either way)."""
    page = post_statement(url, "SELECT 0", user="probe").json()
    requests.delete(page["nextUri"], headers={"X-Trino-User": "probe"}, timeout=10)
    return "/queue/" in page["nextUri"]


def waiting(envoy) -> int:
    return sum(v for k, v in envoy.stats("trino_router").items() if k.endswith("queue.group.adhoc.waiting"))


@pytest.fixture
def full(stack):
    """adhoc-1 running one query (held open straight on the coordinator), seen full by the router."""
    held = HeldQuery(stack.servers["adhoc-1"].port, user="filler", sql=FILLER_SQL)
    stack.held = held
    try:
        wait_until(lambda: router_waits(stack.url), 30, "the router to see adhoc-1 full")
        yield stack
    finally:
        release(held)


def release(held: HeldQuery) -> None:
    held.cursor.cancel()
    held.connection.close()


def never_reached(stack, marker: str) -> None:
    """Room again for a few ticks (a late poll of the cancelled ticket would be admitted now), then
    the coordinators' own records: no query with the marker ever ran anywhere."""
    release(stack.held)
    wait_until(lambda: not router_waits(stack.url), 30, "room on adhoc-1 again")
    time.sleep(2)
    reached = {name: [q["queryId"] for q in s.queries_with(marker)] for name, s in stack.servers.items()}
    assert reached == {name: [] for name in stack.servers}, reached


def test_a_python_query_cancelled_while_it_waits_at_the_router_never_reaches_trino(full):
    stack = full
    marker = uuid.uuid4().hex
    connection = trino.dbapi.connect(host="127.0.0.1", port=stack.envoy.port, user="py-cancel", encoding=None)
    cursor = connection.cursor()
    outcome = {}

    def execute():
        try:
            cursor.execute(f"SELECT 42 /* {marker} */")
            outcome["rows"] = cursor.fetchall()
        except Exception as exc:  # noqa: BLE001 - what the application sees is the result
            outcome["error"] = exc

    worker = threading.Thread(target=execute)
    worker.start()
    wait_until(lambda: waiting(stack.envoy) > 0, 20, "the query to wait at the router")
    assert cursor.query_id and cursor.query_id.startswith("router_queued_"), cursor.query_id
    cancelled_at = time.monotonic()
    cursor.cancel()
    worker.join(30)
    assert not worker.is_alive(), "execute() still blocked after cancel()"
    print(f"\nPython: cancel() -> execute() ended after {time.monotonic() - cancelled_at:.2f} s with {outcome}")
    assert "rows" not in outcome or outcome["rows"] == [], outcome
    connection.close()
    never_reached(stack, marker)


def test_a_jdbc_query_cancelled_while_it_waits_at_the_router_never_reaches_trino(full):
    stack = full
    marker = uuid.uuid4().hex
    answer = jdbc_cancel_when_queued(stack.url, "jdbc-cancel", f"SELECT 42 /* {marker} */", "router_queued_")
    print(f"\nJDBC: {answer}")
    assert answer["saw_queued"], answer
    assert answer["query_id"].startswith("router_queued_"), answer
    assert answer["outcome"] != "execute() still blocked", answer
    assert answer["cancel_error"] is None, answer
    never_reached(stack, marker)
    if not bundled_plugins_available():
        return
    # The driver ends execute() the same way when it cancels a query queued by Trino itself (user
    # queue-me runs one query at a time on adhoc-1): what the application sees is the driver's.
    running = queue_on(stack.servers["adhoc-1"], 0)
    try:
        in_trino = jdbc_cancel_when_queued(stack.servers["adhoc-1"].url, "queue-me", "SELECT 43", "")
    finally:
        cancel(running)
    print(f"JDBC, queued in Trino: {in_trino}")
    assert in_trino["saw_queued"] and not in_trino["query_id"].startswith("router_queued_"), in_trino
    # Either form, by a race inside the driver: the poll in flight may bring the FAILED page
    # (USER_CANCELED) before the driver's own abort ends execute() ("Error executing query: null").
    for outcome in (answer["outcome"], in_trino["outcome"]):
        assert outcome.startswith("Error executing query") and "invalid response" not in outcome, outcome


@pytest.mark.parametrize("name", ["jdbc", "cli"])
def test_the_java_clients_read_the_routers_failed_page(full, start_envoy, name):
    """The page that ends a query that waited too long (FAILED, written by the router) is one the
    Java clients parse: they raise its message, not 'invalid response'."""
    router = start_envoy(limited(max_wait_seconds=2))
    wait_until(lambda: router_waits(router.url), 30, "the second router to see adhoc-1 full")
    [result] = client(name).run(router.url, ["SELECT 44"], Session(user=f"{name}-waits"), timeout=60)
    print(f"\n{name}: {result.error}")
    assert not result.ok
    assert "waited" in str(result.error) and "at the router" in str(result.error), result.error
    assert "invalid response" not in str(result.error), result.error


def jdbc_cancel_when_queued(url: str, user: str, sql: str, id_prefix: str) -> dict:
    driver = client("jdbc")._driver(url, Session(user=user))
    try:
        return driver.ask({"op": "cancel_when_queued", "sql": sql, "id_prefix": id_prefix, "timeout_ms": 30000},
                          timeout=90)
    finally:
        driver.close()
