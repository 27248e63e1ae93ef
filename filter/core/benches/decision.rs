//! Micro-benchmarks of the decision path, as the filter runs it per request:
//!
//! - `decide/follow_up_pinned`: a follow-up GET carrying a valid pin token (headers only);
//!   like the filter, each iteration reads the request (`Incoming::read`) and decides;
//! - `decide/new_query_headers/{mixed_rules,header_rules}`: a new query placed by header
//!   rules, against the 50-rule config and against a 50-rule config with no SQL rules;
//! - `new_query_sql_10kb/{from_body_and_decide,analyze}`: the full path for a ~10 KB
//!   TPC-DS-like statement (`SqlFacts::from_body` then `decide`), and `sql::analyze` alone;
//! - `new_query_sql_10kb/{sql_search,sql_search_literal}`: one `sql` `search` rule (a
//!   case-insensitive regex with word boundaries; a plain literal) over the same text;
//! - `pin/{sign,verify,sign_and_verify}`: the stickiness token.
//!
//! In both 50-rule configs the first 47 rules never match the benchmark requests, so
//! `first_match` walks them all. Run with `cargo bench -p trino-router-core --bench decision`.
// Bench code: a panic here fails the benchmark, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use serde_json::{json, Value};
use trino_router_core::config::{ClusterId, Config};
use trino_router_core::inspect::{SqlDepth, SqlFacts, SqlStatus};
use trino_router_core::observed::{ClusterView, LoadFigure};
use trino_router_core::pin;
use trino_router_core::protocol::CoordinatorId;
use trino_router_core::request::{Headers, RequestHead};
use trino_router_core::route::{decide, Decision, Incoming, Why};
use trino_router_core::rules::parse_matcher;
use trino_router_core::sql::{analyze, SessionContext};

const KEY: &str = "bench-signing-key-0123456789abcdefghij";
const QUERY_ID: &str = "20240101_000000_00001_abcde";

/// Rule `i` of the 47 that never match the benchmark requests. With `sql`, every other
/// kind looks at the SQL (sometimes before a header condition, so it is evaluated).
fn non_matching_rule(i: usize, sql: bool) -> Value {
    let kinds = if sql { 10 } else { 6 };
    let when = match i % kinds {
        0 => json!({"user": {"regex": format!("team{i}-(batch|stream)-.*")}}),
        1 => json!({"source": {"in": [format!("tool-{i}"), format!("dashboard-{i}"), "superset-legacy"]}}),
        2 => json!({"client_tags": {"any_of": [format!("tier{i}"), format!("cost-center-{i}")]}}),
        3 => json!({"session_property": {"name": format!("resource_group_{i}"), "value": {"exact": "critical"}}}),
        4 => json!({"all": [
            {"header": {"name": "X-Team", "value": {"in": [format!("team-{i}"), format!("squad-{i}")]}}},
            {"user": {"prefix": format!("svc-{i}-")}}
        ]}),
        5 => json!({"any": [
            {"client_tags": {"all_of": ["gpu", format!("zone-{i}")]}},
            {"source": {"regex": format!("(?i)notebook-{i}-.*")}}
        ]}),
        6 => json!({"all": [
            {"statement_type": {"in": ["INSERT", "MERGE", "CREATE_TABLE_AS_SELECT"]}},
            {"tables": {"any": {"glob": format!("hive.stage_{i}.*")}}}
        ]}),
        7 => json!({"any": [
            {"query_type": {"in": ["DELETE", "DATA_DEFINITION"]}},
            {"catalogs": {"all": {"exact": format!("iceberg_{i}")}}}
        ]}),
        8 => json!({"all": [
            {"tables": {"all": {"glob": format!("hive.vault_{i}.*")}}},
            {"user": {"regex": "auditor-.*"}}
        ]}),
        _ => json!({"all": [
            {"sql": {"search": format!("(?i)\\bfrom\\s+secret_{i}\\b")}},
            {"not": {"client_tags": {"any_of": ["break-glass"]}}}
        ]}),
    };
    let group = ["etl", "adhoc"][i % 2];
    json!({"name": format!("rule-{i:02}"), "when": when, "route_to": group})
}

/// 50 rules: 47 that never match, then the ones the benchmark requests hit.
fn config(sql: bool) -> Config {
    let mut rules: Vec<Value> = (0..47).map(|i| non_matching_rule(i, sql)).collect();
    rules.push(json!({"name": "etl-users", "when": {"all": [
        {"user": {"regex": "etl-.*"}},
        {"client_tags": {"any_of": ["nightly", "backfill"]}}
    ]}, "route_to": "etl"}));
    if sql {
        rules.push(json!({"name": "tpcds-reports", "when": {"all": [
            {"statement_type": {"exact": "SELECT"}},
            {"tables": {"any": {"glob": "hive.tpcds.store_*"}}},
            {"catalogs": {"all": {"in": ["hive", "tpch"]}}}
        ]}, "route_to": "adhoc"}));
    } else {
        rules.push(json!({"name": "analysts", "when": {"source": {"prefix": "trino-cli"}}, "route_to": "adhoc"}));
    }
    rules.push(json!({"name": "everything-else", "route_to": "adhoc"}));
    assert_eq!(rules.len(), 50);
    let json = json!({
        "clusters": [
            {"name": "adhoc-1", "envoy_cluster": "trino_adhoc_1"},
            {"name": "adhoc-2", "envoy_cluster": "trino_adhoc_2"},
            {"name": "etl-1", "envoy_cluster": "trino_etl_1"}
        ],
        "groups": [
            {"name": "adhoc", "members": [{"cluster": "adhoc-1"}, {"cluster": "adhoc-2", "weight": 2}]},
            {"name": "etl", "members": [{"cluster": "etl-1"}]}
        ],
        "default_group": "adhoc",
        "rules": rules,
        "stickiness": {"signing_key": KEY},
        // Without SQL rules and kill_query routing, the body of a new query is never read.
        "sql_inspection": {"route_kill_query": sql}
    });
    let config = Config::from_json(json.to_string().as_bytes()).unwrap();
    assert_eq!(config.reads_sql, sql);
    config
}

struct AllUsable;

impl ClusterView for AllUsable {
    fn accepts_new_queries(&self, _: ClusterId) -> bool {
        true
    }
    fn load(&self, _: ClusterId) -> Option<LoadFigure> {
        None
    }
    fn owner_of(&self, _: &CoordinatorId) -> Option<ClusterId> {
        None
    }
    fn now_s(&self) -> u64 {
        1_800_000_000
    }
}

/// The headers a Trino JDBC/CLI client sends with a new query.
fn request(method: &str, path: &str, user: &str, source: &str, tags: &str) -> RequestHead {
    let mut h = Headers::new();
    h.push(":method", method);
    h.push(":path", path);
    h.push(":authority", "trino.example.com");
    h.push("user-agent", "StatementClientV1/447");
    h.push("x-trino-user", user);
    h.push("x-trino-source", source);
    h.push("x-trino-catalog", "hive");
    h.push("x-trino-schema", "tpcds");
    h.push("x-trino-client-tags", tags);
    h.push("x-trino-session", "query_max_run_time=2h,hive.insert_existing_partitions_behavior=OVERWRITE");
    h.push("x-trino-time-zone", "UTC");
    h.push("x-trino-language", "en-US");
    h.push("accept-encoding", "gzip");
    RequestHead::from_headers(h)
}

/// `benches/tpcds_like.sql` with its select list and WHERE clause padded to at least 10 KB.
fn ten_kb_query() -> String {
    let template = include_str!("tpcds_like.sql");
    let (mut columns, mut predicates) = (String::new(), String::new());
    let mut i = 0;
    while template.len() + columns.len() + predicates.len() < 10 * 1024 {
        let month = i % 12 + 1;
        columns.push_str(&format!(
            "sum(CASE WHEN ss.ss_sold_date_sk % 12 = {month} THEN ss_ext_sales_price ELSE 0 END) AS sales_{i},\n       "
        ));
        predicates.push_str(&format!(
            "AND (ss.ss_quantity BETWEEN {} AND {} OR ss.ss_list_price > {}.5)\n  ",
            i * 5,
            i * 5 + 20,
            100 + i
        ));
        i += 1;
    }
    let sql = template.replace("/*EXTRA_COLUMNS*/", &columns).replace("/*EXTRA_PREDICATES*/", &predicates);
    assert!((10 * 1024..11 * 1024).contains(&sql.len()), "{} bytes", sql.len());
    sql
}

fn forward_rule(decision: &Decision) -> String {
    match decision {
        Decision::Forward(f) => match &f.why {
            Why::Rule { rule, .. } => rule.clone(),
            other => format!("{other}"),
        },
        Decision::Reply(r) => panic!("expected a forward, got {r:?}"),
    }
}

/// What the filter does with the headers of a request: read (classify) it once, decide.
fn read_and_decide(config: &Config, head: RequestHead) -> Decision {
    let incoming = Incoming::read(config, head);
    decide(black_box(config), &incoming, &SqlFacts::not_read(), &AllUsable, black_box(7))
}

fn route(config: &Config, head: &RequestHead, sql: &SqlFacts) -> Decision {
    decide(config, &Incoming::read(config, head.clone()), sql, &AllUsable, 7)
}

fn decide_benches(c: &mut Criterion) {
    let mixed = config(true);
    let headers_only = config(false);

    // (a) A follow-up page fetch: the pin token decides, the rules are not consulted.
    let token = mixed.pin_keys.sign("adhoc-2").unwrap();
    let path = format!("{}/v1/statement/executing/{QUERY_ID}/y3b8/2", pin::prefix(&mixed.path_marker, &token));
    let follow_up = request("GET", &path, "alice", "trino-cli", "");
    let not_read = SqlFacts::not_read();
    match route(&mixed, &follow_up, &not_read) {
        Decision::Forward(f) => assert_eq!((f.envoy_cluster.as_str(), f.why), ("trino_adhoc_2", Why::Pinned)),
        other => panic!("{other:?}"),
    }
    c.bench_function("decide/follow_up_pinned", |b| {
        b.iter_batched(|| follow_up.clone(), |h| read_and_decide(&mixed, h), BatchSize::SmallInput)
    });

    // (b) A new query placed by header rules (48th of 50), its body not read.
    let etl = request("POST", "/v1/statement", "etl-nightly", "airflow", "nightly, team-data");
    assert_eq!(forward_rule(&route(&mixed, &etl, &not_read)), "etl-users");
    assert_eq!(forward_rule(&route(&headers_only, &etl, &not_read)), "etl-users");
    let mut group = c.benchmark_group("decide/new_query_headers");
    group.bench_function("mixed_rules", |b| {
        b.iter_batched(|| etl.clone(), |h| read_and_decide(&mixed, h), BatchSize::SmallInput)
    });
    group.bench_function("header_rules", |b| {
        b.iter_batched(|| etl.clone(), |h| read_and_decide(&headers_only, h), BatchSize::SmallInput)
    });
    group.finish();
}

fn sql_benches(c: &mut Criterion) {
    let mixed = config(true);
    let sql = ten_kb_query();
    let head = request("POST", "/v1/statement", "analyst", "trino-cli", "adhoc");

    // (c) The whole new-query path: analyse the body in the session of the headers, decide.
    let facts = SqlFacts::from_body(sql.as_bytes(), &head, SqlDepth::TableNames);
    assert_eq!(facts.status, SqlStatus::Analysed, "{:?}", facts.problem);
    let tables = facts.analysis.as_ref().unwrap().tables.len();
    assert_eq!(tables, 15, "tables of the 10 KB query");
    assert_eq!(forward_rule(&route(&mixed, &head, &facts)), "tpcds-reports");
    let incoming = Incoming::read(&mixed, head.clone());
    let mut group = c.benchmark_group("new_query_sql_10kb");
    group.throughput(criterion::Throughput::Bytes(sql.len() as u64));
    group.bench_function("from_body_and_decide", |b| {
        b.iter(|| {
            let facts = SqlFacts::from_body(black_box(sql.as_bytes()), black_box(&incoming.head), SqlDepth::TableNames);
            decide(&mixed, &incoming, &facts, &AllUsable, black_box(7))
        })
    });

    // (d) The analyser alone on the same text.
    let ctx = SessionContext::new(Some("hive"), Some("tpcds"));
    group.bench_function("analyze", |b| b.iter(|| analyze(black_box(&sql), black_box(&ctx)).unwrap()));

    // (e) One `sql` search rule over the same text, as rules run it: no match, so the whole
    // text is scanned. What the regex crate's features (`perf`, Unicode tables) cost or save.
    let search = parse_matcher(&json!({"search": "(?i)\\bfrom\\s+secret_9\\b"}), "bench").unwrap();
    assert!(!search.matches(&sql));
    group.bench_function("sql_search", |b| b.iter(|| search.matches(black_box(&sql))));
    let plain = parse_matcher(&json!({"search": "approx_distinct"}), "bench").unwrap();
    group.bench_function("sql_search_literal", |b| b.iter(|| plain.matches(black_box(&sql))));
    group.finish();
}

fn pin_benches(c: &mut Criterion) {
    // (e) The token every forward mints, and the check every pinned follow-up makes.
    let config = config(false);
    let keys = &config.pin_keys;
    let token = keys.sign("adhoc-2").unwrap();
    assert_eq!(keys.verify(token.as_str()).unwrap(), "adhoc-2");
    let mut group = c.benchmark_group("pin");
    group.bench_function("sign", |b| b.iter(|| keys.sign(black_box("adhoc-2")).unwrap()));
    group.bench_function("verify", |b| b.iter(|| keys.verify(black_box(token.as_str())).unwrap()));
    group.bench_function("sign_and_verify", |b| {
        b.iter(|| {
            let t = keys.sign(black_box("adhoc-2")).unwrap();
            keys.verify(t.as_str()).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, decide_benches, sql_benches, pin_benches);
criterion_main!(benches);
