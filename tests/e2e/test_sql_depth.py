"""The SQL is analysed only as far as the configured rules need (issue 16): with rules on
statement and query types alone, table names are neither resolved nor kept, so a statement
naming more distinct tables than the analyser keeps (1000) is still routed by its type; once
a `tables` rule is configured, the same statement is unparseable, as before.

Each group has one cluster, so the stand-in that got the POST shows the group chosen.
"""

import pytest

from harness.trino_http import post_statement

from .configs import one_cluster_per_group

# One more distinct table than the analyser keeps (sql::MAX_TABLES).
TABLES = 1001
WIDE_INSERT = ("INSERT INTO iceberg.web.target SELECT * FROM "
               + ", ".join(f"iceberg.web.t{i}" for i in range(1, TABLES)))
DECISION = "x-trino-router-decision"


def typed_rules() -> list:
    return [
        {"name": "unreadable", "when": {"sql_inspection": {"in": ["too_large", "unparseable"]}},
         "route_to": "second"},
        {"name": "writes", "when": {"query_type": {"in": ["INSERT", "UPDATE", "DELETE", "MERGE"]}},
         "route_to": "etl"},
        {"name": "selects", "when": {"statement_type": {"exact": "SELECT"}}, "route_to": "adhoc"},
    ]


def config(rules: list) -> dict:
    c = one_cluster_per_group()
    c["rules"] = rules
    c["sql_inspection"] = {"max_body_bytes": 65536}
    c["debug_response_header"] = True
    return c


@pytest.fixture(scope="module")
def filter_json():
    """Statement-type, query-type and sql_inspection rules only: no rule needs a name."""
    return config(typed_rules())


def send(stack, url: str, sql: str) -> str:
    """POSTs `sql` through the Envoy at `url`; returns the router's decision line."""
    stack.clear()
    response = post_statement(url, sql, "analyst")
    assert response.status_code == 200, f"POST answered {response.status_code}: {response.text[:300]}"
    return response.headers.get(DECISION, "")


def test_with_only_type_rules_a_statement_of_1001_tables_is_routed_by_its_type(stack):
    assert len({t for t in WIDE_INSERT.replace(",", " ").split() if t.startswith("iceberg.")}) == TABLES
    before = stack.envoy.stats("wasmcustom")
    decision = send(stack, stack.url, WIDE_INSERT)
    assert stack.receivers() == ["etl-1"], f"the INSERT rule decides ({decision})"
    assert "rule=writes" in decision and "sql=analysed" in decision, decision
    after = stack.envoy.stats("wasmcustom")
    key = "wasmcustom.trino_router.sql.analysed"
    assert after.get(key, 0) - before.get(key, 0) == 1, (before, after)
    # The whole body reached the coordinator.
    posts = [r for r in stack.standins["etl-1"].trino_requests() if r["method"] == "POST"]
    assert posts and posts[-1]["headers"].get("content-length") == str(len(WIDE_INSERT))


def test_with_a_table_rule_the_same_statement_has_too_many_tables(stack, start_envoy):
    finance = {"name": "finance", "when": {"tables": {"any": {"glob": "hive.finance.*"}}}, "route_to": "etl"}
    router = start_envoy(config([finance, *typed_rules()]))
    decision = send(stack, router.url, WIDE_INSERT)
    assert stack.receivers() == ["adhoc-2"], f"unparseable: the sql_inspection rule decides ({decision})"
    assert "rule=unreadable" in decision and "sql=unparseable" in decision, decision
    assert f"SQL not used: more than {TABLES - 1} distinct tables" in router.log_text()
    # One table fewer is within the cap, and the INSERT rule decides again.
    within = WIDE_INSERT.rsplit(",", 1)[0]
    decision = send(stack, router.url, within)
    assert stack.receivers() == ["etl-1"], decision
    assert "rule=writes" in decision and "sql=analysed" in decision, decision


def test_type_only_and_table_configs_agree_on_ordinary_statements(stack, start_envoy):
    """The depth changes what is kept, never what a statement is."""
    router = start_envoy(config([{"name": "finance", "when": {"tables": {"any": {"exact": "x.y.z"}}},
                                  "route_to": "etl"}, *typed_rules()]))
    for sql, expected in [("SELECT * FROM hive.web.clicks", "adhoc-1"),
                          ("DELETE FROM hive.web.clicks WHERE id = 1", "etl-1"),
                          ("EXECUTE IMMEDIATE 'INSERT INTO t VALUES (1)'", "etl-1"),
                          ("SELECT 'never closed", "adhoc-2"),
                          ("SELECT 1; SELECT 2", "adhoc-2")]:
        for url in (stack.url, router.url):
            decision = send(stack, url, sql)
            assert stack.receivers() == [expected], f"{sql!r} via {url}: {decision}"


def test_with_only_statement_and_query_type_rules_a_query_is_typed_from_its_first_word(stack, start_envoy):
    """No sql_inspection rule: a query is typed from its first word and the rest is not read,
    so a malformed query still goes where queries go (its coordinator refuses it with
    Trino's own syntax error); every other statement is analysed whole."""
    router = start_envoy(config([
        {"name": "writes", "when": {"query_type": {"in": ["INSERT", "UPDATE", "DELETE", "MERGE"]}},
         "route_to": "etl"},
        {"name": "selects", "when": {"statement_type": {"exact": "SELECT"}}, "route_to": "second"},
    ]))
    for sql, expected in [("SELECT * FROM hive.web.clicks", "adhoc-2"),
                          ("-- a report\nWITH x AS (SELECT 1) SELECT * FROM x", "adhoc-2"),
                          ("SELECT 'never closed", "adhoc-2"),
                          ("/* SELECT */ DELETE FROM hive.web.clicks WHERE id = 1", "etl-1"),
                          ("EXECUTE IMMEDIATE 'INSERT INTO t VALUES (1)'", "etl-1"),
                          ("SHOW TABLES", "adhoc-1")]:
        decision = send(stack, router.url, sql)
        assert stack.receivers() == [expected], f"{sql!r}: {decision}"
        assert "sql=analysed" in decision, decision
