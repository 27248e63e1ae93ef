"""Filter configurations the suites run with, written out so a reader sees what each test relies on.

The stand-ins are always adhoc-1, adhoc-2 and etl-1 behind the Envoy clusters of
envoy/envoy.yaml; only the filter's JSON changes between suites.
"""

import copy

from harness import filter_config

SIGNING_KEY = "e2e-signing-key-0123456789abcdef-0123"
OTHER_KEY = "some-other-key-nobody-configured-0123456789"
STANDIN_NAMES = ["adhoc-1", "adhoc-2", "etl-1"]
ENVOY_CLUSTER = {"adhoc-1": "trino_adhoc_1", "adhoc-2": "trino_adhoc_2", "etl-1": "trino_etl_1"}

_CLUSTERS = [{"name": n, "envoy_cluster": ENVOY_CLUSTER[n], "stickiness": "forwarded_prefix"} for n in STANDIN_NAMES]
_STICKINESS = {"signing_key": SIGNING_KEY, "previous_signing_keys": [], "path_marker": "trino-router"}
# Fast polling so tests that depend on what the filter learns from /v1/info wait ~1 s.
_HEALTH = {"unhealthy_hold_seconds": 10, "poll_interval_seconds": 1}


def shipped_filter() -> dict:
    """envoy/envoy.yaml's filter config, with the test key and fast polling."""
    config = filter_config()
    config["stickiness"] = {**config["stickiness"], "signing_key": SIGNING_KEY}
    config["health"] = dict(_HEALTH)
    return config


def one_cluster_per_group() -> dict:
    """Every group has exactly one cluster, so where a POST lands shows which group was chosen.

    Each rule has its own trigger value; the default group is `adhoc` (adhoc-1) and the
    rules send to `second` (adhoc-2) or `etl` (etl-1), so a rule that does not fire is
    seen as a query on adhoc-1. `hidden` exists but clients may not ask for it.
    """
    def rule(name, when, to):
        return {"name": name, "when": when, "route_to": to}

    rules = [
        rule("user", {"user": {"exact": "etl-user"}}, "etl"),
        rule("source", {"source": {"prefix": "airflow"}}, "etl"),
        rule("tags-any", {"client_tags": {"any_of": ["nightly", "batch"]}}, "etl"),
        rule("tags-all", {"client_tags": {"all_of": ["team-a", "heavy"]}}, "second"),
        rule("client-info", {"client_info": {"regex": "dashboard-[0-9]+"}}, "second"),
        rule("catalog", {"catalog": {"exact": "hive"}}, "etl"),
        rule("schema", {"schema": {"in": ["reports", "finance"]}}, "second"),
        rule("session", {"session_property": {"name": "query_priority", "value": {"exact": "low"}}}, "etl"),
        rule("header", {"header": {"name": "x-team", "value": {"exact": "data-eng"}}}, "second"),
        rule("sql-path", {"sql_path": {"prefix": "lake."}}, "etl"),
        rule("all", {"all": [{"user": {"prefix": "svc-"}}, {"source": {"exact": "cron"}}]}, "second"),
        rule("any", {"any": [{"user": {"exact": "alice"}}, {"user": {"exact": "bob"}}]}, "etl"),
        rule("not", {"all": [{"user": {"exact": "probe"}}, {"not": {"source": {"exact": "manual"}}}]}, "second"),
    ]
    return {
        "clusters": copy.deepcopy(_CLUSTERS),
        "groups": [
            {"name": "adhoc", "members": [{"cluster": "adhoc-1", "weight": 1}]},
            {"name": "second", "members": [{"cluster": "adhoc-2", "weight": 1}]},
            {"name": "etl", "members": [{"cluster": "etl-1", "weight": 1}]},
            {"name": "hidden", "members": [{"cluster": "adhoc-2", "weight": 1}]},
        ],
        "default_group": "adhoc",
        "rules": rules,
        "routing_group_header": {"enabled": True, "allowed_groups": ["adhoc", "second", "etl"]},
        "stickiness": dict(_STICKINESS),
        "health": dict(_HEALTH),
    }


def with_fallback() -> dict:
    """adhoc = adhoc-1 + adhoc-2 (weighted random); etl = etl-1 alone, falling back to adhoc.

    User `etl` goes to the etl group; any group may be asked for with the routing-group
    header. One failed poll stops new queries (`unhealthy_after: 1`), so failover shows
    within a poll interval or two.
    """
    return {
        "clusters": copy.deepcopy(_CLUSTERS),
        "groups": [
            {"name": "adhoc", "members": [{"cluster": "adhoc-1"}, {"cluster": "adhoc-2"}]},
            {"name": "etl", "members": [{"cluster": "etl-1"}], "fallback": "adhoc"},
        ],
        "default_group": "adhoc",
        "rules": [{"name": "etl-workloads", "when": {"user": {"exact": "etl"}}, "route_to": "etl"}],
        "routing_group_header": {"enabled": True},
        "stickiness": dict(_STICKINESS),
        "health": {"poll_interval_seconds": 1, "unhealthy_after": 1, "healthy_after": 1, "unhealthy_hold_seconds": 2},
    }


def load_aware(source: str) -> dict:
    """Load-aware groups over figures polled from `source` (`metrics` or `ui_stats`) as user `router`.

    `adhoc` (the default) is least_loaded over adhoc-1 and adhoc-2; `spread` is
    power_of_two over all three clusters.
    """
    members = [{"cluster": n} for n in STANDIN_NAMES]
    return {
        "clusters": copy.deepcopy(_CLUSTERS),
        "groups": [
            {"name": "adhoc", "selection": "least_loaded", "members": members[:2]},
            {"name": "spread", "selection": "power_of_two", "members": members},
        ],
        "default_group": "adhoc",
        "routing_group_header": {"enabled": True},
        "stickiness": dict(_STICKINESS),
        "health": dict(_HEALTH),
        "load": {"source": source, "user": "router"},
    }
