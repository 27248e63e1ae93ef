//! The routing invariant, over random methods, paths and headers: a request reaches a
//! cluster the rules did not choose only when it is a follow-up endpoint of the client
//! protocol and carries a valid token for that cluster (or, without a token, names a query
//! whose coordinator that cluster is known to run), or when it is a new query whose one
//! X-Trino-Transaction-Id is a valid binding to that cluster (a statement of a transaction
//! that cluster started). Paths not in normal form reach nothing.
//!
//! The oracle here is written from the protocol, independently of `protocol::classify`.
//! Requests come from a seeded generator (no property-testing crate: its regex features
//! would leak into the core's test build), so a failure names a reproducible case.
// Test code: a panic here fails a test, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::{config_json, decide, request, FakeView, Rng};
use serde_json::json;
use trino_router_core::config::{ClusterId, Config, GroupId};
use trino_router_core::inspect::SqlFacts;
use trino_router_core::route::{choose_group, Decision, Why};
use trino_router_core::rules::RuleInput;
use trino_router_core::transaction;

/// A query id issued by etl-1's coordinator (the view knows it), and one nobody knows.
const ETL_ID: &str = "20261120_101500_00042_dup55";
const LOST_ID: &str = "20261120_101500_00043_zzzzz";
const CASES: u64 = 20_000;

const METHODS: [&str; 7] = ["GET", "HEAD", "DELETE", "POST", "PUT", "PATCH", "OPTIONS"];
const SEGMENTS: [&str; 32] = [
    "v1",
    "statement",
    "queued",
    "executing",
    "partialCancel",
    "query",
    "ui",
    "query.html",
    "spooled",
    "download",
    "ack",
    "info",
    "state",
    "status",
    "metrics",
    "node",
    "y1",
    "1",
    "0",
    "killed",
    ETL_ID,
    LOST_ID,
    "",
    ".",
    "..",
    "%2e%2e",
    "%2E",
    "a%2Fb",
    "a%5cb",
    "a\\b",
    "V1",
    "x",
];
const TEMPLATES: [&[&str]; 10] = [
    &["v1", "statement"],
    &["v1", "statement", "queued", ETL_ID, "y1", "1"],
    &["v1", "statement", "executing", ETL_ID, "y1", "2"],
    &["v1", "statement", "executing", "partialCancel", ETL_ID, "0", "y1", "2"],
    &["v1", "query", ETL_ID],
    &["v1", "spooled", "download", "seg1"],
    &["v1", "spooled", "ack", "seg1"],
    &["v1", "info"],
    &["ui", "query.html"],
    &["ui"],
];
const MARKERS: [&str; 3] = ["trino-router", "TRINO-ROUTER", "trino-routerx"];
const QUERIES: [&str; 3] = [ETL_ID, "x=1", "/../v1"];
const HEADERS: [(&str, &str); 10] = [
    ("x-trino-user", "etl"),
    ("x-trino-user", "alice"),
    ("x-trino-user", ""),
    ("x-trino-user", " etl "),
    ("authorization", "Basic ZXRsOg"),
    ("authorization", "Basic YWxpY2U6"),
    ("x-trino-original-user", "etl"),
    ("x-trino-routing-group", "etl"),
    ("x-trino-routing-group", "adhoc"),
    ("forwarded", "host=evil.example"),
];

const SUBMITS: [&str; 8] = [
    "/v1/statement",
    "/v1/statement/",
    "/v1/statement?x=1",
    "/trino-router/AQdhZGhvYy0xAAAAAAAAAAAAAAAAAAAAAA/v1/statement",
    "/v1/statementx",
    "/v1/statement/queued",
    "/v1/../v1/statement",
    "/V1/statement",
];
const TX_ID: &str = "1f7c3f0e-6a52-4b0e-9d8e-0c7c7b5d2a11";

/// X-Trino-Transaction-Id values: bound to each cluster, then ones that must not route
/// anywhere the rules did not choose (spliced, cut, raw, NONE, garbage). Returns each value
/// with the cluster its binding validly names.
fn transaction_values(config: &Config) -> Vec<(String, Option<usize>)> {
    let bound = |cluster: &str| {
        String::from_utf8(transaction::bind(&config.pin_keys, TX_ID.as_bytes(), cluster).unwrap()).unwrap()
    };
    let mut values: Vec<(String, Option<usize>)> = (0..3).map(|i| (bound(&config.clusters[i].name), Some(i))).collect();
    let (_, binding) = values[2].0.rsplit_once('~').unwrap();
    values.push((format!("2f7c3f0e-6a52-4b0e-9d8e-0c7c7b5d2a11~{binding}"), None));
    values.push((values[1].0[..values[1].0.len() - 2].to_string(), None));
    for other in [TX_ID, "NONE", "none", "", "x~y", "~", "~~"] {
        values.push((other.to_string(), None));
    }
    values
}

/// A new query: `POST /v1/statement` (one trailing slash, a query string), maybe under a
/// `/<marker>/<anything>` prefix, which a new query ignores.
fn submit(method: &str, path_and_query: &str) -> bool {
    let path = path_and_query.split('?').next().unwrap();
    let path = match path.strip_prefix("/trino-router/") {
        Some(rest) => rest.split_once('/').map_or("/", |(_, p)| &path[path.len() - p.len() - 1..]),
        None => path,
    };
    method == "POST" && (path == "/v1/statement" || path == "/v1/statement/")
}

fn the_config() -> Config {
    let rules = json!([{"name": "etl", "when": {"user": {"exact": "etl"}}, "route_to": "etl"}]);
    let routing = json!({"enabled": true, "allowed_groups": ["adhoc"]});
    Config::from_json(config_json(rules, routing).to_string().as_bytes()).unwrap()
}

fn view() -> FakeView {
    let mut v = FakeView::default();
    v.owners.insert("dup55".into(), 2);
    v
}

/// A path: maybe a token prefix, then random segments or a client endpoint's segments with
/// some replaced (so near-misses of every endpoint are tried), maybe a trailing slash and a
/// query. Also returns the cluster a valid token in it names.
fn random_path(dice: &mut Rng, config: &Config) -> (String, Option<usize>) {
    let mut path = String::new();
    let mut pinned = None;
    if !dice.one_in(3) {
        let marker = *dice.pick(&MARKERS);
        let choice = dice.below(5);
        let token = match choice {
            0..=2 => config.pin_keys.sign(&config.clusters[choice].name).unwrap().as_str().to_string(),
            3 => "AQdhZGhvYy0xAAAAAAAAAAAAAAAAAAAAAA".to_string(),
            _ => String::new(),
        };
        path.push_str(&format!("/{marker}/{token}"));
        pinned = Some(choice).filter(|c| *c < 3 && marker == "trino-router");
    }
    let segments: Vec<String> = if dice.one_in(2) {
        (0..dice.below(9)).map(|_| dice.pick(&SEGMENTS).to_string()).collect()
    } else {
        let template = *dice.pick(&TEMPLATES);
        template.iter().map(|s| if dice.one_in(4) { dice.pick(&SEGMENTS).to_string() } else { s.to_string() }).collect()
    };
    path.push('/');
    path.push_str(&segments.join("/"));
    if dice.one_in(4) {
        path.push('/');
    }
    if dice.one_in(3) {
        path.push('?');
        let query = QUERIES[dice.below(QUERIES.len())];
        path.push_str(query);
    }
    (path, pinned)
}

/// The clusters the rules could give a new query (or server info) in `group`: its members
/// and those of its fallback chain.
fn rule_clusters(config: &Config, group: GroupId) -> Vec<ClusterId> {
    let mut out = Vec::new();
    let mut current = Some(group);
    while let Some(g) = current.and_then(|g| config.group(g)) {
        out.extend(g.members.iter().map(|m| m.cluster));
        current = g.fallback;
    }
    out
}

/// The follow-up endpoints of the client protocol, written from Trino's resources: Some(query
/// id, or None where the URI has none). One trailing slash is allowed, as JAX-RS allows it.
fn follow_up(method: &str, path_and_query: &str) -> Option<Option<String>> {
    let (path, query) = path_and_query.split_once('?').map_or((path_and_query, None), |(p, q)| (p, Some(q)));
    let path = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
    let s: Vec<&str> = path.split('/').collect();
    let read = method == "GET" || method == "HEAD";
    let id_ok = |id: &str| id == ETL_ID || id == LOST_ID;
    match s.as_slice() {
        ["", "v1", "statement", "queued" | "executing", id, slug, token]
            if (read || method == "DELETE") && id_ok(id) && !slug.is_empty() && !token.is_empty() =>
        {
            Some(Some(id.to_string()))
        }
        ["", "v1", "statement", "executing", "partialCancel", id, _, _, _] if method == "DELETE" && id_ok(id) => {
            Some(Some(id.to_string()))
        }
        ["", "v1", "query", id] if (read || method == "DELETE") && id_ok(id) => Some(Some(id.to_string())),
        ["", "ui", "query.html"] if read => query.filter(|q| id_ok(q)).map(|q| Some(q.to_string())),
        ["", "v1", "spooled", "download" | "ack", seg] if read && !seg.is_empty() => Some(None),
        ["", "ui"] if read => Some(None),
        _ => None,
    }
}

fn normal(path_and_query: &str) -> bool {
    let path = path_and_query.split('?').next().unwrap();
    let lower = path.to_ascii_lowercase();
    let inner = path.strip_suffix('/').unwrap_or(path);
    !(lower.contains("%2e") || lower.contains("%2f") || lower.contains("%5c") || path.contains('\\'))
        && (path == "/" || inner.split('/').skip(1).all(|s| !s.is_empty() && s != "." && s != ".."))
}

#[test]
fn only_a_valid_token_on_a_follow_up_or_a_transaction_binding_reaches_a_cluster_the_rules_did_not_choose() {
    let config = the_config();
    let view = view();
    let transactions = transaction_values(&config);
    let mut dice = Rng(0x9e37_79b9_7f4a_7c15);
    let mut forwarded = [0usize; 4];
    for case in 0..CASES {
        // One case in six is a new query or a near miss, so transaction headers meet many.
        let (method, (path, pinned)) = if dice.one_in(6) {
            (*dice.pick(&["POST", "POST", "POST", "GET"]), (dice.pick(&SUBMITS).to_string(), None))
        } else {
            (*dice.pick(&METHODS), random_path(&mut dice, &config))
        };
        let mut headers: Vec<(&str, &str)> = (0..dice.below(4)).map(|_| *dice.pick(&HEADERS)).collect();
        let sent: Vec<&(String, Option<usize>)> =
            (0..*dice.pick(&[0, 1, 1, 1, 2])).map(|_| dice.pick(&transactions)).collect();
        headers.extend(sent.iter().map(|(v, _)| ("x-trino-transaction-id", v.as_str())));
        let head = request(method, &path, &headers);
        let Decision::Forward(f) = decide(&config, &head, &SqlFacts::not_read(), &view, dice.next()) else {
            continue;
        };
        let case = format!("case {case}: {method} {path} {headers:?} -> {} ({:?})", f.cluster_name, f.why);
        assert!(normal(&path), "{case}: a path not in normal form reached a cluster");
        let stripped = match pinned {
            Some(_) => format!("/{}", path.splitn(4, '/').nth(3).unwrap()),
            None => path.clone(),
        };
        match &f.why {
            Why::Pinned => {
                assert!(follow_up(method, &stripped).is_some(), "{case}: pinned, but not a follow-up endpoint");
                assert_eq!(pinned, Some(f.cluster.0), "{case}: pinned without a valid token for that cluster");
                forwarded[0] += 1;
            }
            Why::Transaction => {
                assert!(submit(method, &path), "{case}: a transaction binding routed something other than a new query");
                assert_eq!(sent.len(), 1, "{case}: routed by one of several transaction headers");
                assert_eq!(sent[0].1, Some(f.cluster.0), "{case}: no valid binding to that cluster");
                forwarded[3] += 1;
            }
            Why::QueryId => {
                assert_eq!(follow_up(method, &path), Some(Some(ETL_ID.to_string())), "{case}");
                assert_eq!(f.cluster, ClusterId(2), "{case}: not the owner of the id");
                forwarded[1] += 1;
            }
            _ => {
                let (group, _) = choose_group(&config, RuleInput { head: &head, sql: &SqlFacts::not_read() });
                let group = if matches!(f.why, Why::ServerInfo { .. }) { config.default_group } else { group };
                assert!(rule_clusters(&config, group).contains(&f.cluster), "{case}: the rules did not choose it");
                forwarded[2] += 1;
            }
        }
    }
    // The generator must reach every kind of forward, or the checks above prove little.
    assert!(forwarded.iter().all(|n| *n > 100), "pinned, by query id, by rules, by transaction: {forwarded:?}");
}
