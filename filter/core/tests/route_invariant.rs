//! The routing invariant, over random methods, paths and headers: a request reaches a
//! cluster the rules did not choose only when it is a follow-up endpoint of the client
//! protocol and carries a valid token for that cluster (or, without a token, names a query
//! whose coordinator that cluster is known to run). Paths not in normal form reach nothing.
//!
//! The oracle here is written from the protocol, independently of `protocol::classify`.
// Test code: a panic here fails a test, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::{config_json, decide, request, FakeView};
use proptest::prelude::*;
use serde_json::json;
use trino_router_core::config::{ClusterId, Config, GroupId};
use trino_router_core::inspect::SqlFacts;
use trino_router_core::route::{choose_group, Decision, Why};
use trino_router_core::rules::RuleInput;

/// A query id issued by etl-1's coordinator (the view knows it), and one nobody knows.
const ETL_ID: &str = "20261120_101500_00042_dup55";
const LOST_ID: &str = "20261120_101500_00043_zzzzz";

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

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "v1", "statement", "queued", "executing", "partialCancel", "query", "ui", "query.html", "spooled",
            "download", "ack", "info", "state", "status", "metrics", "node", "y1", "1", "0", "killed",
        ]).prop_map(str::to_string),
        2 => prop::sample::select(vec![ETL_ID, LOST_ID]).prop_map(str::to_string),
        1 => prop::sample::select(vec!["", ".", "..", "%2e%2e", "%2E", "a%2Fb", "a%5cb", "a\\b", "V1", "x"])
            .prop_map(str::to_string),
    ]
}

/// The segments of a real client endpoint, each kept or (one time in four) replaced, so
/// near-misses of every endpoint are tried.
fn protocol_shaped() -> impl Strategy<Value = Vec<String>> {
    let templates: Vec<Vec<&str>> = vec![
        vec!["v1", "statement"],
        vec!["v1", "statement", "queued", ETL_ID, "y1", "1"],
        vec!["v1", "statement", "executing", ETL_ID, "y1", "2"],
        vec!["v1", "statement", "executing", "partialCancel", ETL_ID, "0", "y1", "2"],
        vec!["v1", "query", ETL_ID],
        vec!["v1", "spooled", "download", "seg1"],
        vec!["v1", "spooled", "ack", "seg1"],
        vec!["v1", "info"],
        vec!["ui", "query.html"],
    ];
    prop::sample::select(templates).prop_flat_map(|t| {
        let n = t.len();
        (Just(t), prop::collection::vec((0..4u8, segment()), n)).prop_map(|(t, swaps)| {
            t.iter().zip(swaps).map(|(s, (dice, other))| if dice == 0 { other } else { s.to_string() }).collect()
        })
    })
}

/// A path: maybe a token prefix, then segments, maybe a trailing slash, maybe a query.
fn path(config: &Config) -> impl Strategy<Value = (String, Option<usize>)> {
    let tokens: Vec<(String, Option<usize>)> = (0..3)
        .map(|i| (config.pin_keys.sign(&config.clusters[i].name).unwrap().as_str().to_string(), Some(i)))
        .chain([("AQdhZGhvYy0xAAAAAAAAAAAAAAAAAAAAAA".to_string(), None), (String::new(), None)])
        .collect();
    (
        prop::option::of(prop::sample::select(tokens)),
        prop::sample::select(vec!["trino-router", "TRINO-ROUTER", "trino-routerx"]),
        prop_oneof![prop::collection::vec(segment(), 0..9), protocol_shaped()],
        any::<bool>(),
        prop::option::of(prop::sample::select(vec![ETL_ID.to_string(), "x=1".into(), "/../v1".into()])),
    )
        .prop_map(|(token, marker, segments, slash, query)| {
            let mut p = String::new();
            let mut pinned = None;
            if let Some((t, cluster)) = token {
                p.push_str(&format!("/{marker}/{t}"));
                pinned = cluster.filter(|_| marker == "trino-router");
            }
            p.push('/');
            p.push_str(&segments.join("/"));
            if slash {
                p.push('/');
            }
            if let Some(q) = query {
                p.push('?');
                p.push_str(&q);
            }
            (p, pinned)
        })
}

fn headers() -> impl Strategy<Value = Vec<(&'static str, &'static str)>> {
    prop::collection::vec(
        prop::sample::select(vec![
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
        ]),
        0..4,
    )
}

/// The clusters the rules could give a new query (or server info) with these headers:
/// the chosen group's members and those of its fallback chain.
fn rule_clusters(config: &Config, group: GroupId) -> Vec<ClusterId> {
    let mut out = Vec::new();
    let mut current = Some(group);
    while let Some(g) = current.and_then(|g| config.group(g)) {
        out.extend(g.members.iter().map(|m| m.cluster));
        current = g.fallback;
    }
    out
}

/// The follow-up endpoints of the client protocol, written from Trino's resources: (query id
/// or None for spooled segments). One trailing slash is allowed, as JAX-RS allows it.
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn only_a_valid_token_on_a_follow_up_reaches_a_cluster_the_rules_did_not_choose(
        method in prop::sample::select(vec!["GET", "HEAD", "DELETE", "POST", "PUT", "PATCH", "OPTIONS"]),
        (path, pinned) in path(&the_config()),
        headers in headers(),
        random in any::<u64>(),
    ) {
        let config = the_config();
        let head = request(method, &path, &headers);
        let decision = decide(&config, &head, &SqlFacts::not_read(), &view(), random);
        let Decision::Forward(f) = decision else { return Ok(()) };
        prop_assert!(normal(&path), "{method} {path} is not normal yet reached {}", f.cluster_name);
        let stripped = match pinned {
            Some(_) => path.splitn(4, '/').nth(3).map(|rest| format!("/{rest}")).unwrap(),
            None => path.clone(),
        };
        match &f.why {
            Why::Pinned => {
                prop_assert!(follow_up(method, &stripped).is_some(), "{method} {path}: pinned but not a follow-up");
                prop_assert_eq!(pinned, Some(f.cluster.0), "{} {}: pinned without a valid token for it", method, path);
            }
            Why::QueryId => {
                prop_assert!(pinned.is_none());
                prop_assert_eq!(follow_up(method, &path), Some(Some(ETL_ID.to_string())), "{} {}", method, path);
                prop_assert_eq!(f.cluster, ClusterId(2), "the owner of the id");
            }
            _ => {
                let (group, _) = choose_group(&config, RuleInput { head: &head, sql: &SqlFacts::not_read() });
                let group = if matches!(f.why, Why::ServerInfo { .. }) { config.default_group } else { group };
                prop_assert!(
                    rule_clusters(&config, group).contains(&f.cluster),
                    "{} {}: went to {} which the rules did not choose ({:?})", method, path, f.cluster_name, f.why
                );
            }
        }
    }
}
