"""Rate limits with Envoy's own filters, through real Envoy running envoy/examples/rate-limits.yaml
(stand-in coordinators): the identify stage (the module again, same VM, `{"stage": "identify"}`)
sets x-trino-router-user/-group/-source/-client-address on new queries, Envoy's local rate limit
keys its buckets on them (10 new queries per user, then one per 6 s; 429 with Retry-After: 6),
and the router removes them before anything reaches a coordinator.

Names are unique per test so the per-user buckets of one Envoy do not carry over between tests.
"""

import copy
import itertools
import json

import pytest
import requests

from harness import Envoy, envoys
from harness.envoy_config import build_config, filter_config, http_filter, shipped_config
from harness.paths import REPO_ROOT
from harness.ports import free_port
from harness.trino_http import coordinator_of, post_statement

from .configs import ENVOY_CLUSTER, SIGNING_KEY

LOCAL = REPO_ROOT / "envoy" / "examples" / "rate-limits.yaml"
GLOBAL = REPO_ROOT / "envoy" / "examples" / "rate-limits-global.yaml"
IDENTITY = ("x-trino-router-user", "x-trino-router-group", "x-trino-router-source", "x-trino-router-client-address")
BURST = 10  # the example's per-user bucket
_names = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


def example_filter(base: dict) -> dict:
    """The example's own router config, with the test key, fast polls and a SQL rule."""
    config = filter_config(base)
    config["stickiness"] = {**config["stickiness"], "signing_key": SIGNING_KEY}
    config["health"] = {"poll_interval_seconds": 1}
    # A rule that needs the SQL: the identify stage must read the body to name the group.
    config["rules"].append({"name": "finance", "when": {"tables": {"any": {"glob": "hive.finance.*"}}},
                            "route_to": "etl"})
    return config


def local_ratelimit(config: dict) -> dict:
    return http_filter(config, "envoy.filters.http.local_ratelimit")["typed_config"]


def identify_stage(config: dict) -> dict:
    return http_filter(config, "trino_router_identify")["typed_config"]["config"]


def launch(standins, log_dir, path=LOCAL, adjust=None, wait_healthy=True) -> Envoy:
    base = shipped_config(path)
    ports = {ENVOY_CLUSTER[name]: s.port for name, s in standins.items()}
    return envoys.launch_envoy(ports, example_filter(base), log_dir, base=base, adjust=adjust,
                               wait_healthy=wait_healthy)


@pytest.fixture(scope="module")
def router(standins, module_logs):
    started = launch(standins, module_logs)
    yield started
    envoys.stop_envoy(started)


@pytest.fixture
def clean(standins):
    for s in standins.values():
        s.clear_requests()
    return standins


def post(url: str, user, sql: str = "SELECT 1", **headers) -> requests.Response:
    return post_statement(url, sql, user=user, headers=headers)


def posts_by(standins, user: str) -> int:
    return sum(1 for s in standins.values() for r in s.trino_requests()
               if r["method"] == "POST" and r["headers"].get("x-trino-user") == user)


def test_a_user_over_the_limit_gets_429_with_retry_after_and_others_are_unaffected(router, clean):
    greedy, patient = unique("greedy"), unique("patient")
    answers = [post(router.url, greedy) for _ in range(BURST)]
    assert [a.status_code for a in answers] == [200] * BURST, [a.text for a in answers if a.status_code != 200]
    limited = post(router.url, greedy)
    assert limited.status_code == 429, limited.text
    assert limited.headers.get("Retry-After") == "6", dict(limited.headers)
    assert posts_by(clean, greedy) == BURST, "the limited query never reached a coordinator"
    # Another user is unaffected, and the limited user's running queries go on: their pages
    # carry no identity header, so no bucket counts them.
    assert post(router.url, patient).status_code == 200
    uri = answers[0].json()["nextUri"]
    while uri:
        page = requests.get(uri, headers={"X-Trino-User": greedy}, timeout=10)
        assert page.status_code == 200, page.text
        uri = page.json().get("nextUri")


def test_forged_identity_headers_do_not_spend_another_users_limit(router, clean):
    victim = unique("victim")
    forged = {"x-trino-router-user": victim}
    for i in range(BURST + 2):
        # On requests that are not new queries (nothing would set the header again) ...
        requests.get(f"{router.url}/v1/info", headers=forged, timeout=10)
        # ... and on new queries of other users.
        post(router.url, unique("forger"), **forged)
    answers = [post(router.url, victim).status_code for _ in range(BURST)]
    assert answers == [200] * BURST, f"the victim was limited by queries forged in its name: {answers}"


def test_the_identity_headers_never_reach_a_coordinator(router, clean):
    user = unique("quiet")
    forged = {h: "forged" for h in IDENTITY}
    first = post(router.url, user, **{"X-Trino-Source": "cli", **forged}).json()
    uri = first.get("nextUri")
    while uri:
        uri = requests.get(uri, headers={"X-Trino-User": user, **forged}, timeout=10).json().get("nextUri")
    requests.get(f"{router.url}/v1/info", headers=forged, timeout=10)
    seen = [(r["method"], r["path"], h) for s in clean.values() for r in s.trino_requests() for h in r["headers"]
            if h in IDENTITY]
    assert seen == []
    assert posts_by(clean, user) == 1


def test_the_group_is_the_one_the_rules_choose_even_from_the_sql(standins, module_logs, clean):
    def etl_bucket_of_three(config):
        limits = local_ratelimit(config)
        [etl] = [d for d in limits["descriptors"] if d["entries"][0]["key"] == "trino_group"]
        etl["token_bucket"] = {"max_tokens": 3, "tokens_per_fill": 1, "fill_interval": "60s"}

    router = launch(standins, module_logs, adjust=etl_bucket_of_three)
    try:
        # Three etl queries, each by another user: by source (a rule), by user, by the SQL.
        assert post(router.url, unique("a"), **{"X-Trino-Source": "airflow"}).status_code == 200
        assert post(router.url, "etl").status_code == 200
        by_sql = post(router.url, unique("b"), "SELECT * FROM hive.finance.ledger")
        assert by_sql.status_code == 200, by_sql.text
        # The router after the stage places it by the same SQL (it reuses the stage's reading).
        owner = coordinator_of(by_sql.json()["id"])
        assert owner == standins["etl-1"].state()["coordinatorId"], f"routed by its SQL to etl-1: {by_sql.json()['id']}"
        fourth = post(router.url, unique("c"), "SELECT * FROM hive.finance.payroll")
        assert fourth.status_code == 429, f"the 4th etl query (named etl from its SQL) is over the group limit: {fourth.text}"
        assert post(router.url, unique("d"), "SELECT * FROM hive.sales.orders").status_code == 200, "adhoc is not"
    finally:
        envoys.stop_envoy(router)


def test_an_identify_stage_without_a_router_in_its_vm_answers_503(standins, module_logs):
    def own_vm(config):
        identify_stage(config)["vm_config"]["vm_id"] = "somewhere_else"

    router = launch(standins, module_logs, adjust=own_vm, wait_healthy=False)
    try:
        answer = post(router.url, "alice")
        assert answer.status_code == 503, answer.text
        assert "identify stage has no router configuration in its VM" in answer.text
    finally:
        envoys.stop_envoy(router)


def test_the_global_example_loads_and_without_a_service_lets_queries_through(standins, module_logs, clean):
    base = shipped_config(GLOBAL)
    ports = {ENVOY_CLUSTER[name]: s.port for name, s in standins.items()}
    ports["rate_limit_service"] = free_port()  # nothing listens there
    ports["trino_router_identified"] = 0  # no endpoints: never sent to
    config = build_config(free_port(), free_port(), ports, filter_json=example_filter(base), base=base)
    checked = Envoy(copy.deepcopy(config), log_dir=module_logs).validate()
    assert checked.returncode == 0, f"{checked.stdout[-2000:]}\n{checked.stderr[-2000:]}"

    router = envoys.launch_envoy(ports, example_filter(base), module_logs, base=base, wait_healthy=False)
    try:
        router.wait_clusters_healthy(clusters=list(ENVOY_CLUSTER.values()))
        user = unique("open")
        # failure_mode_deny: false, so with the service down every query goes on (fail open).
        answers = [post(router.url, user).status_code for _ in range(BURST + 2)]
        assert answers == [200] * (BURST + 2), answers
        allowed = sum(v for k, v in router.stats("ratelimit").items() if k.endswith("failure_mode_allowed"))
        assert allowed >= BURST + 2, json.dumps(router.stats("ratelimit"), indent=1)
    finally:
        envoys.stop_envoy(router)
