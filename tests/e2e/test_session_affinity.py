"""Session affinity through real Envoy (`groups[].affinity`): the Python client's connection keeps
the router's cookie (requests.Session), so every statement of one connection lands on one stand-in
of the group, through two Envoy replicas taking turns; without affinity the same connection spreads.
When its cluster drains, the session moves and is handed a cookie for its new cluster; forged and
expired cookies are only no hint.

Group `adhoc` = adhoc-1 + adhoc-2 with affinity; user `etl` goes to `etl` (etl-1) by rule.
"""

import copy

import pytest
import requests
import trino

from harness.alternating_proxy import AlternatingProxy
from harness.clients import Session, client
from harness.live_config import ACCEPTED
from harness.trino_http import post_statement

from .configs import with_fallback

COOKIE = "trino-router-affinity-adhoc"
STATEMENTS = [f"SELECT n FROM t{i} /* rows=3 */" for i in range(12)]


def sticky() -> dict:
    config = with_fallback()
    config["groups"][0]["affinity"] = {"ttl_seconds": 600}
    return config


@pytest.fixture(scope="module")
def live_filter_config():
    return True


@pytest.fixture(scope="module")
def filter_json():
    return sticky()


@pytest.fixture
def live(stack):
    """The stack with the sticky config pushed (a test may have left another)."""
    assert stack.envoy.push_filter_config(sticky()) == ACCEPTED
    return stack


def owners(stack, results) -> list:
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    return [stack.owner(r.query_id) for r in results]


def test_every_statement_of_a_python_connection_lands_on_one_cluster_through_two_replicas(live, start_envoy):
    second = start_envoy(sticky())
    proxy = AlternatingProxy([live.envoy.port, second.port]).start()
    try:
        for session in range(4):
            ran_on = owners(live, client("python").run(proxy.url, STATEMENTS, Session(user="demo")))
            assert len(set(ran_on)) == 1, f"session {session} ran on {ran_on}"
            assert ran_on[0] in {"adhoc-1", "adhoc-2"}
        assert {i for i, method, _, _ in proxy.requests if method == "POST"} == {0, 1}, "both replicas took POSTs"
        # The rules still choose the group: user etl goes to etl-1, the adhoc cookie notwithstanding.
        assert set(owners(live, client("python").run(proxy.url, STATEMENTS[:4], Session(user="etl")))) == {"etl-1"}
    finally:
        proxy.stop()


def test_without_affinity_one_connection_spreads_over_the_group(stack, start_envoy):
    plain = start_envoy(with_fallback())
    ran_on = owners(stack, client("python").run(plain.url, STATEMENTS, Session(user="demo")))
    assert set(ran_on) == {"adhoc-1", "adhoc-2"}, ran_on


def test_the_cookie_is_http_only_lax_site_wide_and_lives_ttl_seconds(live):
    answer = post_statement(live.url, "SELECT 1")
    assert answer.status_code == 200
    set_cookie = answer.headers["Set-Cookie"]
    assert set_cookie.startswith(f"{COOKIE}=") and set_cookie.endswith("; Path=/; Max-Age=600; HttpOnly; SameSite=Lax")
    # A raw client that sends it back stays; the answers keep renewing it.
    cookie = set_cookie.split(";")[0]
    ids = [post_statement(live.url, "SELECT 1", headers={"Cookie": cookie}).json()["id"] for _ in range(8)]
    assert len({live.owner(i) for i in ids}) == 1 and live.owner(ids[0]) == live.owner(answer.json()["id"])


def test_forged_and_expired_cookies_are_no_error_and_steer_nothing(live):
    good = post_statement(live.url, "SELECT 1").headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    for value in [forged, "garbage", "", good[:20]]:
        landed = set()
        for _ in range(16):
            answer = post_statement(live.url, "SELECT 1", headers={"Cookie": f"{COOKIE}={value}"})
            assert answer.status_code == 200, answer.text
            assert answer.headers["Set-Cookie"].startswith(f"{COOKIE}="), "a fresh cookie replaces it"
            landed.add(live.owner(answer.json()["id"]))
        assert landed == {"adhoc-1", "adhoc-2"}, f"{value!r} steered the choice"


def test_when_its_cluster_drains_the_session_moves_and_stays_on_its_new_cluster(live):
    conn = trino.dbapi.connect(host=live.url, user="demo")
    try:
        def where() -> str:
            cursor = conn.cursor()
            cursor.execute("SELECT n FROM t /* rows=2 */")
            cursor.fetchall()
            return live.owner(cursor.query_id)

        first = where()
        assert all(where() == first for _ in range(4))
        other = ({"adhoc-1", "adhoc-2"} - {first}).pop()
        draining = copy.deepcopy(sticky())
        for cluster in draining["clusters"]:
            if cluster["name"] == first:
                cluster["state"] = "draining"
        assert live.envoy.push_filter_config(draining) == ACCEPTED
        assert [where() for _ in range(4)] == [other] * 4
        # Active again: the session stays where its renewed cookie says.
        assert live.envoy.push_filter_config(sticky()) == ACCEPTED
        assert [where() for _ in range(6)] == [other] * 6
        jar = {c.name: c.value for c in conn._http_session.cookies}
        assert set(jar) == {COOKIE}, jar
    finally:
        conn.close()


def test_a_coordinator_that_refuses_the_query_gets_the_session_no_cookie(live):
    # No user: the stand-in refuses it (401), as Trino does, and the session is not pinned.
    answer = requests.post(f"{live.url}/v1/statement", data=b"SELECT 1", timeout=10)
    assert answer.status_code == 401, "the stand-in wants a user, as Trino does"
    assert "Set-Cookie" not in answer.headers
