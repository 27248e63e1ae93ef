"""What the benchmark sends and how the filter is configured: the scenarios, the 30-rule
filter config and its header-only subset. The Envoy of each variant is in variants.py.
"""

from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
LUA_SCRIPT = BENCH_DIR / "trino.lua"
# ~2 KB of SQL: three CTEs and joins over hive.web.* tables.
STATEMENT_SQL = BENCH_DIR / "statement.sql"

SIGNING_KEY = "bench-signing-key-0123456789abcdef-0123"
PATH_MARKER = "trino-router"
TRINO_CLUSTERS = {"adhoc-1": "trino_adhoc_1", "adhoc-2": "trino_adhoc_2", "etl-1": "trino_etl_1"}

# Connections of a throughput run (enough to keep one Envoy worker busy) and of a
# low-load latency run (one request in flight: nothing queues, the added time shows).
LOAD_CONNECTIONS = 16
LOW_LOAD_CONNECTIONS = 1


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    # wrk arguments after `--` (see trino.lua); {sql} and {marker} are filled in.
    wrk_mode: str


SCENARIOS = [
    Scenario("a", "POST /v1/statement, 2 KB SQL", "post"),
    Scenario("b", "GET small result page", "get"),
    Scenario("c", "GET 1 MB result page", "get"),
    Scenario("d", "query lifecycle (POST + 6 GETs)", "lifecycle"),
]
SCENARIO = {s.key: s for s in SCENARIOS}

# Condition keys that need the statement's text: a rule set without them never reads the body.
SQL_CONDITIONS = {"sql_inspection", "tables", "catalogs", "schemas", "query_type", "statement_type", "sql",
                  "body_size"}


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


def reads_sql(condition) -> bool:
    """Whether a rule condition (nested all/any/not included) looks at the statement."""
    if isinstance(condition, dict):
        return any(key in SQL_CONDITIONS or reads_sql(value) for key, value in condition.items())
    if isinstance(condition, list):
        return any(reads_sql(c) for c in condition)
    return False


def header_rules() -> list:
    """The rules of bench_rules() that look only at headers (10 of 30): the filter routes
    a new query without reading its body, and the benchmark query falls to the default group."""
    return [r for r in bench_rules() if not reads_sql(r["when"])]


def filter_json(stickiness: str, rules: list) -> dict:
    """The filter config: three Trino clusters (all on one upstream), the given rules."""
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
        "rules": rules,
        "routing_group_header": {"enabled": True, "allowed_groups": ["adhoc", "etl"]},
        "stickiness": {"signing_key": SIGNING_KEY, "previous_signing_keys": [], "path_marker": PATH_MARKER},
    }
