"""Transactions through real Envoy: stand-ins issue and check transaction ids as Trino does (an id
they did not issue fails the statement with UNKNOWN_TRANSACTION, one that is not a UUID gets 400).

Given adhoc = adhoc-1 (forwarded-prefix) + adhoc-2 (rewrite mode), two Envoy replicas behind a
proxy that alternates every request, the Python client's transactions keep every statement,
COMMIT included, on the stand-in that started them, which only ever sees the id it issued; a
forged or spliced binding is refused before any stand-in sees it.
"""

import copy
import http.client
import re

import pytest
import requests

from harness.alternating_proxy import AlternatingProxy
from harness.clients import Session, client

from .configs import with_fallback

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TRANSACTIONS = 8


def transaction_group() -> dict:
    config = with_fallback()
    for cluster in config["clusters"]:
        if cluster["name"] == "adhoc-2":
            cluster["stickiness"] = "rewrite"  # the filter writes the pins and binds on rewritten pages
    return config


@pytest.fixture(scope="module")
def filter_json():
    return transaction_group()


@pytest.fixture
def replicas(stack, start_envoy):
    second = start_envoy(copy.deepcopy(transaction_group()))
    proxy = AlternatingProxy([stack.envoy.port, second.port]).start()
    yield proxy
    proxy.stop()


def statement_posts(stack) -> list:
    return [(name, r) for name, reqs in stack.client_requests().items() for r in reqs
            if r["method"] == "POST" and r["path"].startswith("/v1/statement")]


def test_python_transactions_through_two_replicas_stay_on_the_stand_in_that_started_them(stack, replicas):
    stack.clear()
    owners = []
    for i in range(TRANSACTIONS):
        results = client("python").run(replicas.url, [f"SELECT n FROM t{i}_{j} /* rows=3 */" for j in range(3)],
                                       Session(user="demo", autocommit=False))
        assert all(r.ok for r in results), f"transaction {i}: {[r for r in results if not r.ok]}"
        ran_on = {stack.owner(r.query_id) for r in results if r.query_id}
        assert len(ran_on) == 1, f"transaction {i} ran on {ran_on}"
        owners += ran_on
    assert set(owners) <= {"adhoc-1", "adhoc-2"}, owners
    sent = [(name, r["headers"].get("x-trino-transaction-id")) for name, r in statement_posts(stack)]
    in_transaction = [(name, tx) for name, tx in sent if tx and tx != "NONE"]
    # 3 statements and the COMMIT per transaction, each with the id its stand-in issued.
    assert len(in_transaction) == 4 * TRANSACTIONS, sent
    assert all(UUID.match(tx) for _, tx in in_transaction), f"a stand-in saw a bound id: {in_transaction[:3]}"
    assert {i for i, method, _, _ in replicas.requests if method == "POST"} == {0, 1}


def started_id(url: str) -> str:
    """START TRANSACTION by raw HTTP through `url`; the id the client is handed (on the last page)."""
    headers = {"X-Trino-User": "demo", "X-Trino-Transaction-Id": "NONE"}
    answer = requests.post(f"{url}/v1/statement", data="START TRANSACTION", headers=headers, timeout=10)
    while True:
        assert answer.status_code == 200, answer.text
        if "X-Trino-Started-Transaction-Id" in answer.headers:
            return answer.headers["X-Trino-Started-Transaction-Id"]
        next_uri = answer.json().get("nextUri")
        assert next_uri, f"no transaction id on any page: {answer.json()}"
        answer = requests.get(next_uri, headers=headers, timeout=10)


def test_a_forged_spliced_or_repeated_binding_gets_400_and_reaches_no_stand_in(stack):
    bound = [started_id(stack.url) for _ in range(6)]
    assert all("~" in b and UUID.match(b.split("~")[0]) for b in bound), bound
    # Two bindings that name different clusters, to splice one onto the other's transaction.
    first = bound[0]
    other = next((b for b in bound if b.split("~")[1] != first.split("~")[1]), None)
    forged = [first[:-2], first + "x", first.split("~")[0] + "~", "~" + first.split("~")[1]]
    if other:
        forged.append(first.split("~")[0] + "~" + other.split("~")[1])
    stack.clear()
    for value in forged:
        answer = requests.post(f"{stack.url}/v1/statement", data="SELECT 1",
                               headers={"X-Trino-User": "demo", "X-Trino-Transaction-Id": value}, timeout=10)
        assert answer.status_code == 400, f"{value}: {answer.status_code} {answer.text}"
        assert answer.text.startswith("Error 400 Bad Request: trino-router: invalid X-Trino-Transaction-Id"), answer.text
    conn = http.client.HTTPConnection("127.0.0.1", stack.envoy.port, timeout=10)
    conn.putrequest("POST", "/v1/statement")
    for name, value in [("X-Trino-User", "demo"), ("X-Trino-Transaction-Id", first),
                        ("X-Trino-Transaction-Id", "NONE"), ("Content-Length", "8")]:
        conn.putheader(name, value)
    conn.endheaders(b"SELECT 1")
    repeated = conn.getresponse()
    assert repeated.status == 400, repeated.read()
    conn.close()
    assert not statement_posts(stack), "a refused statement reached a stand-in"
