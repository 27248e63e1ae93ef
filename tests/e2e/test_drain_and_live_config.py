"""Live configuration (ECDS, envoy/envoy-live.yaml): a cluster drained under load fails no query,
a disabled one answers its follow-ups with 410, a drained group falls back, nothing usable
gives 503, and a rejected update leaves the last good config serving.

Each test starts from the module's base config (`with_fallback`), pushed anew.
"""

import copy

import pytest
import requests
import trino.exceptions

from harness import wait_until
from harness.client_runs import ConcurrentQueries, run_client_query
from harness.live_config import ACCEPTED, REJECTED, cli_validate
from harness.trino_http import post_statement

from .configs import with_fallback

# ~3.5 s each: the executing pages (running, 5 with data, finished) wait 0.5 s apiece.
DRAIN_SQL = "SELECT n, s FROM t /* rows=200 */ /* sleep_ms=500 */"
SHORT_SQL = "SELECT n, s FROM t /* rows=10 */"
ADHOC = {"adhoc-1", "adhoc-2"}


@pytest.fixture(scope="module")
def live_filter_config():
    return True


@pytest.fixture(scope="module")
def filter_json():
    return with_fallback()


@pytest.fixture
def live(stack):
    """The stack, with the base config pushed (a previous test may have left another)."""
    assert stack.envoy.push_filter_config(with_fallback()) == ACCEPTED
    return stack


def with_states(states: dict, config=None) -> dict:
    """The config with these cluster states (the others active)."""
    config = copy.deepcopy(config or with_fallback())
    for cluster in config["clusters"]:
        cluster["state"] = states.get(cluster["name"], "active")
    return config


def posts(standin) -> int:
    return sum(1 for r in standin.trino_requests() if r["method"] == "POST")


def live_queries(standin) -> int:
    counts = standin.state()["queries"]
    return counts["queued"] + counts["running"]


def test_draining_a_cluster_under_load_fails_no_query_and_its_queries_finish_there(live):
    adhoc1, adhoc2 = live.standins["adhoc-1"], live.standins["adhoc-2"]
    before = {n: (live_queries(s), s.state()["queries"]) for n, s in live.standins.items()}
    with ConcurrentQueries(live.envoy.port) as running, ConcurrentQueries(live.envoy.port) as later:
        for _ in range(50):
            running.submit(DRAIN_SQL)
        wait_until(lambda: sum(live_queries(live.standins[n]) - before[n][0] for n in ADHOC) == 50, 20,
                   "50 queries to be running on adhoc-1 and adhoc-2 at once")
        assert all(live_queries(live.standins[n]) > before[n][0] for n in ADHOC), "both must run some"
        posts_before_drain, log_mark = posts(adhoc2), len(adhoc2.requests())

        assert live.envoy.push_filter_config(with_states({"adhoc-2": "draining"})) == ACCEPTED
        for _ in range(20):
            later.submit(SHORT_SQL)
        new = later.results(timeout=60)
        drained = running.results(timeout=60)

    failed = [r for r in drained + new if not r.ok]
    assert not failed, f"{len(failed)} of {len(drained) + len(new)} queries failed across the drain: {failed[:5]}"
    assert all(r.rows == 200 for r in drained) and all(r.rows == 10 for r in new)
    assert {live.owner(r.query_id) for r in new} == {"adhoc-1"}, new
    assert posts(adhoc2) == posts_before_drain, "a new query reached adhoc-2 after it was set to draining"

    # Every query adhoc-2 was running kept polling adhoc-2 after the push, and finished there.
    on_adhoc2 = [r.query_id for r in drained if live.owner(r.query_id) == "adhoc-2"]
    assert on_adhoc2, "no query ran on adhoc-2"
    after_push = adhoc2.requests()[log_mark:]
    not_followed = [q for q in on_adhoc2 if not any(q in r["path"] for r in after_push)]
    assert not not_followed, f"queries of adhoc-2 with no follow-up there after the push: {not_followed}"
    counts, was = adhoc2.state()["queries"], before["adhoc-2"][1]
    assert counts["finished"] - was["finished"] == len(on_adhoc2), (counts, was, len(on_adhoc2))
    assert (counts["failed"], counts["canceled"]) == (was["failed"], was["canceled"]), counts
    assert live_queries(adhoc2) == before["adhoc-2"][0], "adhoc-2 still has queries of this test running"
    leaked = [r["path"] for r in adhoc1.trino_requests() if any(q in r["path"] for q in on_adhoc2)]
    assert not leaked, f"follow-ups of adhoc-2's queries reached adhoc-1: {leaked[:3]}"
    print(f"\ndrain under load: {len(on_adhoc2)} of 50 running on adhoc-2 finished there; 20 new on adhoc-1")


def test_follow_ups_of_a_query_on_a_disabled_cluster_get_410_naming_it_and_reach_nothing(live):
    etl = live.standins["etl-1"]
    idle = post_statement(live.url, SHORT_SQL, user="etl").json()  # a query between two polls
    assert live.owner(idle["id"]) == "etl-1"
    with ConcurrentQueries(live.envoy.port) as polling:
        in_flight = polling.submit(DRAIN_SQL, user="etl")
        wait_until(lambda: etl.state()["queries"]["running"] > 0, 10, "a client query to be running on etl-1")
        assert live.envoy.push_filter_config(with_states({"etl-1": "disabled"})) == ACCEPTED
        etl.clear_requests()

        expected = "Error 410 Gone: trino-router: cluster etl-1 is disabled; its queries can no longer be reached"
        headers = {"X-Trino-User": "etl"}
        for method, url in [("GET", idle["nextUri"]), ("DELETE", idle["nextUri"]),
                            ("GET", f"{live.url}/v1/query/{idle['id']}")]:
            answer = requests.request(method, url, headers=headers, timeout=10)
            assert (answer.status_code, answer.text) == (410, expected), f"{method} {url}: {answer.text[:200]}"
            assert answer.headers["content-type"].startswith("text/plain"), answer.headers

        client_view = in_flight.result(timeout=30)
    # The Python client raises HttpError from execute() and re-raises its text as an
    # OperationalError from a fetch (after rows came): which one depends on timing.
    assert isinstance(client_view.error, (trino.exceptions.HttpError, trino.exceptions.OperationalError)), \
        client_view
    assert "error 410" in str(client_view.error) and "cluster etl-1 is disabled" in str(client_view.error), \
        client_view
    # New etl queries fall back to adhoc; nothing of the idle query, and no new query, reached etl-1.
    fallback = run_client_query(live.envoy.port, SHORT_SQL, user="etl")
    assert fallback.ok and live.owner(fallback.query_id) in ADHOC, fallback
    reached = [r for r in etl.trino_requests() if idle["id"] in r["path"] or r["method"] == "POST"]
    assert not reached, f"requests reached the disabled etl-1: {reached}"


def test_a_drained_group_falls_back_and_with_nothing_usable_a_new_query_gets_503(live):
    assert live.envoy.push_filter_config(with_states({"etl-1": "draining"})) == ACCEPTED
    runs = [run_client_query(live.envoy.port, SHORT_SQL, user="etl") for _ in range(4)]
    assert all(r.ok and live.owner(r.query_id) in ADHOC for r in runs), runs

    assert live.envoy.push_filter_config(
        with_states({"adhoc-1": "draining", "adhoc-2": "draining", "etl-1": "draining"})) == ACCEPTED
    live.clear()
    for user, group in [("etl", "etl"), ("demo", "adhoc")]:
        answer = post_statement(live.url, SHORT_SQL, user=user)
        assert answer.status_code == 503 and answer.headers.get("retry-after") == "1", (answer, answer.headers)
        assert answer.text == (f"Error 503 Service Unavailable: trino-router: no cluster of group {group} "
                               f"can take a query now"), answer.text
    refused = run_client_query(live.envoy.port, SHORT_SQL, user="etl")
    assert isinstance(refused.error, trino.exceptions.Http503Error), refused
    assert live.receivers("POST") == [], "a POST reached a coordinator while every cluster was draining"

    assert live.envoy.push_filter_config(with_fallback()) == ACCEPTED
    back = run_client_query(live.envoy.port, SHORT_SQL, user="etl")
    assert back.ok and live.owner(back.query_id) == "etl-1", back


def etl_to_adhoc() -> dict:
    """A good update that changes routing: user etl goes to the adhoc group."""
    config = with_fallback()
    config["rules"][0]["route_to"] = "adhoc"
    return config


def rule_to_missing_group(config):
    config["rules"][0]["route_to"] = "nowhere"


def misspelt_weight(config):
    config["groups"][0]["members"][0]["wieght"] = 2


def unknown_state(config):
    config["clusters"][2]["state"] = "retired"


BAD_UPDATES = [
    (rule_to_missing_group, "rules[0].route_to: no group named `nowhere`"),
    (misspelt_weight, "groups[0].members[0].wieght: unknown field `wieght`"),
    (unknown_state, "clusters[2].state: unknown variant `retired`"),
]


@pytest.mark.parametrize("break_it, error", BAD_UPDATES, ids=[b[0].__name__ for b in BAD_UPDATES])
def test_a_rejected_update_is_counted_and_named_and_the_last_good_config_keeps_routing(live, break_it, error):
    good = etl_to_adhoc()
    assert live.envoy.push_filter_config(good) == ACCEPTED
    good_file = live.envoy.filter_file.path.read_text()
    bad = copy.deepcopy(good)
    break_it(bad)
    log_mark = len(live.envoy.log_text())
    rejected_before = live.envoy.filter_updates()[REJECTED]

    assert live.envoy.push_filter_config(bad) == REJECTED
    assert live.envoy.filter_updates()[REJECTED] == rejected_before + 1
    log = live.envoy.log_text()[log_mark:]
    assert f"trino-router: config rejected: {error}" in log, log[-2000:]

    # Still the good update's rules: etl goes to adhoc, not to etl-1 as in the base config.
    live.clear()
    answers = [post_statement(live.url, SHORT_SQL, user="etl") for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 6, [a.text[:200] for a in answers]
    assert {live.owner(a.json()["id"]) for a in answers} <= ADHOC
    assert live.receivers("POST") and "etl-1" not in live.receivers("POST")
    run = run_client_query(live.envoy.port, SHORT_SQL, user="etl")
    assert run.ok and live.owner(run.query_id) in ADHOC, run

    # The offline check says the same about the very file Envoy rejected, and passes the good one.
    checked = cli_validate(live.envoy.filter_file.path)
    assert checked.returncode == 1 and error in checked.stdout, (checked.returncode, checked.stdout, checked.stderr)
    good_copy = live.envoy.filter_file.directory.parent / "good-filter-config.yaml"
    good_copy.write_text(good_file)
    assert cli_validate(good_copy).returncode == 0, cli_validate(good_copy).stdout
