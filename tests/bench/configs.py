"""What the benchmark runs: the filter config with 30 rules, the three Envoy variants, the scenarios.

Every Envoy is derived from the shipped envoy/envoy.yaml (build_config, like the e2e
suites), so the filter is measured in the configuration users copy. Differences, the
same for all three variants: no access log (it would cost every variant the same and
hide part of the filter's share) and warning-level logs.
"""

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from tests.harness.envoy_config import build_config

BENCH_DIR = Path(__file__).resolve().parent
LUA_SCRIPT = BENCH_DIR / "trino.lua"
# ~2 KB of SQL: three CTEs and joins over hive.web.* tables.
STATEMENT_SQL = BENCH_DIR / "statement.sql"

SIGNING_KEY = "bench-signing-key-0123456789abcdef-0123"
PATH_MARKER = "trino-router"
TRINO_CLUSTERS = {"adhoc-1": "trino_adhoc_1", "adhoc-2": "trino_adhoc_2", "etl-1": "trino_etl_1"}

PLAIN, FORWARDED, REWRITE = "plain", "forwarded-prefix", "rewrite"
MODES = [PLAIN, FORWARDED, REWRITE]
# How the stand-in behind each mode treats X-Forwarded-*: the filter's forwarded-prefix
# mode needs Trino's process-forwarded; rewrite mode is for stock Trino (406 on any).
# Plain Envoy adds x-forwarded-proto, so its upstream must accept it too.
UPSTREAM_FORWARDED = {PLAIN: "accept", FORWARDED: "accept", REWRITE: "reject"}


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    # wrk arguments after `--` (see trino.lua); {sql} and {marker} are filled in.
    wrk_mode: str
    connections: int
    # Throughput the budget asks of the filter, as a share of plain Envoy's.
    budget: float
    # Modes the budget applies to (the 1 MB budget is for forwarded-prefix mode).
    budget_modes: tuple = (FORWARDED, REWRITE)


SCENARIOS = [
    Scenario("a", "POST /v1/statement, 2 KB SQL, 30 rules", "post", 16, 0.85),
    Scenario("b", "GET small result page", "get", 16, 0.90),
    Scenario("c", "GET 1 MB result page", "get", 16, 0.97, budget_modes=(FORWARDED,)),
    Scenario("d", "query lifecycle (POST + 6 GETs)", "lifecycle", 16, 0.90),
]


def _rule(name: str, when: dict, group: str) -> dict:
    return {"name": name, "when": when, "route_to": group}


def bench_rules() -> list:
    """30 rules on headers and SQL; the benchmark query matches only rule 29.

    So every POST reads and analyses the SQL, and evaluates 28 conditions that fail
    (regexes over the SQL text, table globs, statement and query types) before one
    matches: close to the worst case of a real rule set.
    """
    return [
        _rule("unreadable-sql", {"sql_inspection": {"in": ["too_large", "unparseable"]}}, "adhoc"),
        _rule("etl-user", {"user": {"exact": "etl"}}, "etl"),
        _rule("airflow", {"source": {"prefix": "airflow"}}, "etl"),
        _rule("batch-tags", {"client_tags": {"any_of": ["nightly", "batch"]}}, "etl"),
        _rule("finance-tables", {"tables": {"any": {"glob": "hive.finance.*"}}}, "compliance"),
        _rule("writes", {"query_type": {"in": ["INSERT", "UPDATE", "DELETE", "MERGE", "DATA_DEFINITION"]}}, "etl"),
        _rule("ctas", {"statement_type": {"in": ["CREATE_TABLE_AS_SELECT", "INSERT"]}}, "etl"),
        _rule("metadata", {"query_type": {"exact": "DESCRIBE"}}, "adhoc"),
        _rule("percentiles", {"sql": {"search": r"(?i)approx_percentile\s*\("}}, "heavy"),
        _rule("cross-joins", {"sql": {"search": r"(?i)\bcross\s+join\b"}}, "heavy"),
        _rule("iceberg-only", {"tables": {"all": {"glob": "iceberg.*"}}}, "etl"),
        _rule("postgres", {"catalogs": {"any": {"exact": "postgresql"}}}, "etl"),
        _rule("hr-finance-schemas", {"schemas": {"any": {"in": ["hive.finance", "hive.hr"]}}}, "compliance"),
        _rule("cron-services", {"all": [{"user": {"prefix": "svc-"}}, {"source": {"exact": "cron"}}]}, "etl"),
        _rule("data-eng", {"header": {"name": "x-team", "value": {"exact": "data-eng"}}}, "etl"),
        _rule("low-priority", {"session_property": {"name": "query_priority", "value": {"exact": "low"}}}, "etl"),
        _rule("dashboards", {"client_info": {"regex": "dashboard-[0-9]+"}}, "heavy"),
        _rule("iceberg-session", {"catalog": {"exact": "iceberg"}}, "etl"),
        _rule("huge-sql", {"body_size": {"min": 65536}}, "etl"),
        _rule("analyze", {"any": [{"statement_type": {"exact": "EXPLAIN_ANALYZE"}},
                                  {"statement_type": {"exact": "ANALYZE"}}]}, "etl"),
        _rule("not-hive", {"not": {"tables": {"any": {"glob": "hive.*"}}}}, "adhoc"),
        _rule("etl-hint", {"sql": {"search": r"(?i)/\*\s*etl\s*\*/"}}, "etl"),
        _rule("old-page-views", {"tables": {"any": {"regex": r"hive\.web\.page_views_(2019|2020)"}}}, "etl"),
        _rule("lake-path", {"sql_path": {"prefix": "lake."}}, "etl"),
        _rule("log-scans", {"all": [{"query_type": {"exact": "SELECT"}},
                                    {"tables": {"any": {"glob": "hive.logs.*"}}}]}, "heavy"),
        _rule("named-analysts", {"user": {"in": ["alice", "bob", "carol"]}}, "etl"),
        _rule("archive", {"tables": {"any": {"exact": "hive.web.clickstream_archive"}}}, "etl"),
        _rule("random-order", {"sql": {"search": r"(?i)\border\s+by\s+random\s*\(\s*\)"}}, "heavy"),
        _rule("web-joins", {"all": [{"query_type": {"exact": "SELECT"}}, {"sql": {"search": r"(?i)\bjoin\b"}},
                                    {"tables": {"any": {"glob": "hive.web.*"}}}]}, "adhoc"),
        _rule("selects", {"query_type": {"exact": "SELECT"}}, "adhoc"),
    ]


def filter_json(stickiness: str) -> dict:
    """The filter config: three Trino clusters (all on the one stand-in), 30 rules."""
    return {
        "clusters": [{"name": name, "envoy_cluster": envoy, "stickiness": stickiness}
                     for name, envoy in TRINO_CLUSTERS.items()],
        "groups": [
            {"name": "adhoc", "members": [{"cluster": "adhoc-1"}, {"cluster": "adhoc-2"}]},
            {"name": "etl", "members": [{"cluster": "etl-1"}]},
            {"name": "heavy", "members": [{"cluster": "etl-1"}]},
            {"name": "compliance", "members": [{"cluster": "adhoc-2"}]},
        ],
        "default_group": "adhoc",
        "rules": bench_rules(),
        "routing_group_header": {"enabled": True, "allowed_groups": ["adhoc", "etl"]},
        "stickiness": {"signing_key": SIGNING_KEY, "previous_signing_keys": [], "path_marker": PATH_MARKER},
    }


def _http_connection_manager(config: dict) -> dict:
    return config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]


def envoy_config(mode: str, listener_port: int, admin_port: int, upstream_port: int) -> dict:
    """The Envoy config of one mode; every Trino cluster points at the mode's stand-in."""
    ports = {envoy: upstream_port for envoy in TRINO_CLUSTERS.values()}
    stickiness = "rewrite" if mode == REWRITE else "forwarded_prefix"
    config = build_config(listener_port, admin_port, ports, filter_json=filter_json(stickiness),
                          health_interval="1s")
    hcm = _http_connection_manager(config)
    hcm.pop("access_log", None)
    if mode == PLAIN:
        _make_plain(hcm)
    return config


def _make_plain(hcm: dict) -> None:
    """No wasm and no compressor: the shipped catch-all route, sent straight to one cluster."""
    hcm["http_filters"] = [f for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.router"]
    vhost = hcm["route_config"]["virtual_hosts"][0]
    catch_all = copy.deepcopy(vhost["routes"][-1])
    route = catch_all["route"]
    route.pop("cluster_header", None)
    route["cluster"] = TRINO_CLUSTERS["adhoc-1"]
    catch_all.pop("request_headers_to_remove", None)
    vhost["routes"] = [catch_all]


def marker_prefix(mode: str) -> Optional[str]:
    """How a pinned path starts in this mode; None where nothing pins (plain)."""
    return None if mode == PLAIN else f"/{PATH_MARKER}/"


