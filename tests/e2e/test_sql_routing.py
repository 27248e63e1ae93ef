"""New queries routed by what their SQL does, read from the body of POST /v1/statement
inside Envoy: statement and query type, tables with session defaults, prepared statements,
the body-size limit, and kill_query sent to the owner of the query it kills.

Each group has one cluster, so the stand-in that got the POST shows the group chosen.
"""

import urllib.parse

import pytest
import trino

from harness.trino_http import post_statement, run_query

from .configs import one_cluster_per_group

MAX_BODY = 4096


@pytest.fixture(scope="module")
def filter_json():
    config = one_cluster_per_group()
    config["rules"] = [
        {"name": "vip-user", "when": {"user": {"exact": "vip"}}, "route_to": "etl"},
        {"name": "compliance", "when": {"tables": {"any": {"glob": "hive.finance.*"}}}, "route_to": "etl"},
        {"name": "writes", "when": {"query_type": {"in": ["INSERT", "UPDATE", "DELETE", "MERGE", "DATA_DEFINITION"]}},
         "route_to": "etl"},
        {"name": "metadata", "when": {"query_type": {"exact": "DESCRIBE"}}, "route_to": "second"},
        {"name": "approx", "when": {"sql": {"search": "(?i)approx_distinct"}}, "route_to": "second"},
        {"name": "unreadable", "when": {"sql_inspection": {"in": ["too_large", "unparseable"]}}, "route_to": "second"},
    ]
    config["sql_inspection"] = {"max_body_bytes": MAX_BODY, "route_kill_query": True}
    return config


def prepared(**statements) -> str:
    # Trino's clients send name=url-encoded-sql pairs, comma separated.
    return ",".join(f"{name}={urllib.parse.quote_plus(sql)}" for name, sql in statements.items())


HIVE_FINANCE = {"X-Trino-Catalog": "hive", "X-Trino-Schema": "finance"}

# (scenario, SQL, extra headers, stand-in that must get the POST)
CASES = [
    ("plain-select-default-group", "SELECT * FROM iceberg.web.clicks", {}, "adhoc-1"),
    ("fully-qualified-finance-table", "SELECT sum(amount) FROM hive.finance.ledger", {}, "etl-1"),
    ("finance-table-through-session-defaults", "SELECT * FROM ledger", HIVE_FINANCE, "etl-1"),
    ("quoted-mixed-case-names", 'SELECT * FROM "hive"."finance"."ledger" l JOIN iceberg.web.x ON true', {}, "etl-1"),
    ("table-text-in-string-and-comment-is-not-a-table",
     "SELECT 'hive.finance.ledger' AS t -- FROM hive.finance.ledger\nFROM iceberg.web.clicks", {}, "adhoc-1"),
    ("cte-named-like-a-finance-table-is-not-one", "WITH ledger AS (SELECT 1 AS a) SELECT * FROM ledger",
     HIVE_FINANCE, "adhoc-1"),
    ("insert-is-a-write", "INSERT INTO iceberg.web.t SELECT * FROM iceberg.web.u", {}, "etl-1"),
    ("ctas-is-an-insert", "CREATE TABLE iceberg.web.t AS SELECT 1 AS a", {}, "etl-1"),
    ("ddl", "DROP TABLE IF EXISTS iceberg.web.old", {}, "etl-1"),
    ("show-is-describe", "SHOW TABLES FROM iceberg.web", {}, "adhoc-2"),
    ("describe", "DESCRIBE iceberg.web.clicks", {}, "adhoc-2"),
    ("sql-text-search", "SELECT approx_distinct(user_id) FROM iceberg.web.clicks", {}, "adhoc-2"),
    ("execute-runs-the-prepared-insert", "EXECUTE ins USING 1",
     {"X-Trino-Prepared-Statement": prepared(ins="INSERT INTO iceberg.web.t VALUES (?)")}, "etl-1"),
    ("execute-immediate", "EXECUTE IMMEDIATE 'SELECT * FROM hive.finance.ledger WHERE id = 1'", {}, "etl-1"),
    ("unparseable-sql", "SELECT 'never closed", {}, "adhoc-2"),
]


@pytest.mark.parametrize("sql,headers,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_new_query_goes_where_its_sql_says(stack, sql, headers, expected):
    response = post_statement(stack.url, sql, "analyst", headers)
    assert response.status_code == 200, f"POST answered {response.status_code}: {response.text[:300]}"
    receivers = stack.receivers("POST", "/v1/statement")
    assert receivers == [expected], f"{sql!r}: expected {expected} to get the POST, got {receivers}"
    # Nothing of the body is lost on the way: the coordinator got exactly the SQL sent.
    posts = [r for r in stack.standins[expected].trino_requests() if r["method"] == "POST"]
    assert posts and posts[-1]["headers"].get("content-length") == str(len(sql.encode()))


def test_a_query_routed_by_its_sql_runs_to_the_end_with_the_trino_client(stack):
    conn = trino.dbapi.connect(host="127.0.0.1", port=stack.envoy.port, user="analyst",
                               catalog="hive", schema="finance")
    cursor = conn.cursor()
    cursor.execute("SELECT * FROM ledger /* rows=300 */")
    rows = cursor.fetchall()
    assert len(rows) == 300
    assert stack.owner(cursor.query_id) == "etl-1"


def test_over_the_body_limit_header_rules_still_decide_and_the_query_is_not_failed(stack):
    big = "SELECT * FROM hive.finance.ledger /* " + "x" * (2 * MAX_BODY) + " */"
    before = stack.envoy.stats("wasmcustom")
    response = post_statement(stack.url, big, "vip")
    assert response.status_code == 200, response.text[:300]
    assert stack.receivers() == ["etl-1"], "the header rule vip-user decides"
    stack.clear()
    response = post_statement(stack.url, big, "analyst")
    assert response.status_code == 200, response.text[:300]
    assert stack.receivers() == ["adhoc-2"], "compliance could not see the tables; the too_large rule caught it"
    after = stack.envoy.stats("wasmcustom")
    key = "wasmcustom.trino_router.sql.too_large"
    assert after.get(key, 0) - before.get(key, 0) == 2, (before, after)
    posts = [r for r in stack.standins["adhoc-2"].trino_requests() if r["method"] == "POST"]
    assert posts[-1]["headers"].get("content-length") == str(len(big)), "the whole body reached the coordinator"


def test_inspection_outcomes_are_counted(stack):
    before = stack.envoy.stats("wasmcustom")
    post_statement(stack.url, "SELECT 1", "analyst")
    post_statement(stack.url, "SELECT 'broken", "analyst")
    after = stack.envoy.stats("wasmcustom")
    for name, n in [("analysed", 1), ("unparseable", 1)]:
        key = f"wasmcustom.trino_router.sql.{name}"
        assert after.get(key, 0) - before.get(key, 0) == n, (name, before, after)


def test_kill_query_goes_to_the_cluster_running_the_query(stack):
    # A slow query placed on adhoc-2 (group `second`) with the routing-group header.
    run = run_query([stack.url], "SELECT * FROM t /* rows=100 */ /* sleep_ms=200 */", "analyst",
                    {"X-Trino-Routing-Group": "second"}, max_pages=2)
    owner = stack.owner(run.query_id)
    assert owner == "adhoc-2"
    stack.clear()
    kill = f"CALL system.runtime.kill_query(query_id => '{run.query_id}', message => 'stop')"
    response = post_statement(stack.url, kill, "vip")  # vip would otherwise go to etl-1
    assert response.status_code == 200, response.text[:300]
    assert stack.receivers() == ["adhoc-2"], "kill_query must reach the owner, before any rule"
