//! Scenarios for `route::decide`: where new queries and follow-ups go, and what the
//! router answers when it cannot place a request.
// Test code: a panic here fails a test, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::{config, decide, forward, reply, request, FakeView, KEY};
use serde_json::json;
use trino_router_core::config::{ClusterId, Config};
use trino_router_core::inspect::SqlFacts;
use trino_router_core::pin::{PinError, PinKeys};
use trino_router_core::route::Why;

const ID: &str = "20261120_101500_00042_dup55";
const SLUG: &str = "y620553a27984c040b3b35223339faffa77cef441";

fn etl_rule() -> serde_json::Value {
    json!([{"name": "etl-workloads", "when": {"any": [{"user": {"exact": "etl"}}, {"source": {"exact": "airflow"}}]}, "route_to": "etl"}])
}

fn pinned_path(c: &Config, cluster: &str, rest: &str) -> String {
    format!("/trino-router/{}{rest}", c.pin_keys.sign(cluster).unwrap().as_str())
}

#[test]
fn a_new_query_from_user_etl_lands_on_the_etl_cluster_with_a_pin_prefix() {
    let c = config(etl_rule());
    let f = forward(decide(
        &c,
        &request("POST", "/v1/statement", &[("x-trino-user", "etl")]),
        &SqlFacts::not_read(),
        &FakeView::default(),
        7,
    ));
    assert_eq!(f.envoy_cluster, "trino_etl_1");
    assert_eq!(f.why, Why::Rule { rule: "etl-workloads".into(), group: "etl".into() });
    assert!(f.new_query);
    let prefix = f.forwarded_prefix.unwrap();
    let token = prefix.strip_prefix("/trino-router/").unwrap();
    assert_eq!(c.pin_keys.verify(token).unwrap(), "etl-1");
}

#[test]
fn other_users_spread_over_the_default_group() {
    let c = config(etl_rule());
    let mut seen = std::collections::BTreeSet::new();
    for r in 0..50u64 {
        let f = forward(decide(
            &c,
            &request("POST", "/v1/statement", &[("x-trino-user", "alice")]),
            &SqlFacts::not_read(),
            &FakeView::default(),
            r,
        ));
        assert!(matches!(f.why, Why::DefaultGroup { .. }));
        seen.insert(f.envoy_cluster);
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["trino_adhoc_1", "trino_adhoc_2"]);
}

#[test]
fn a_cluster_envoy_found_unreachable_gets_no_new_query() {
    let c = config(etl_rule());
    let view = FakeView { down: [0].into(), ..Default::default() };
    for r in 0..50u64 {
        let f = forward(decide(&c, &request("POST", "/v1/statement", &[]), &SqlFacts::not_read(), &view, r));
        assert_eq!(f.cluster, ClusterId(1));
    }
}

#[test]
fn no_usable_cluster_answers_503_with_retry_after() {
    let c = config(etl_rule());
    let view = FakeView { down: [2].into(), ..Default::default() };
    let r = reply(decide(
        &c,
        &request("POST", "/v1/statement", &[("x-trino-user", "etl")]),
        &SqlFacts::not_read(),
        &view,
        1,
    ));
    assert_eq!((r.status, r.retry_after_seconds), (503, Some(1)));
    assert!(r.body.starts_with("Error 503 Service Unavailable: trino-router: no cluster of group etl"));
}

#[test]
fn the_routing_group_header_is_honoured_only_when_allowed() {
    let post = request("POST", "/v1/statement", &[("x-trino-routing-group", "etl")]);
    let ignored = config(json!([]));
    assert!(matches!(
        forward(decide(&ignored, &post, &SqlFacts::not_read(), &FakeView::default(), 1)).why,
        Why::DefaultGroup { .. }
    ));

    let body = common::config_json(json!([]), json!({"enabled": true, "allowed_groups": ["etl"]}));
    let allowed = Config::from_json(body.to_string().as_bytes()).unwrap();
    assert_eq!(
        forward(decide(&allowed, &post, &SqlFacts::not_read(), &FakeView::default(), 1)).envoy_cluster,
        "trino_etl_1"
    );
    let to_adhoc = request("POST", "/v1/statement", &[("x-trino-routing-group", "adhoc")]);
    assert!(
        matches!(
            forward(decide(&allowed, &to_adhoc, &SqlFacts::not_read(), &FakeView::default(), 1)).why,
            Why::DefaultGroup { .. }
        ),
        "adhoc is not in allowed_groups"
    );
}

#[test]
fn every_follow_up_with_a_token_goes_to_the_pinned_cluster_with_the_prefix_stripped() {
    let c = config(etl_rule());
    for (method, rest) in [
        ("GET", format!("/v1/statement/queued/{ID}/{SLUG}/1")),
        ("HEAD", format!("/v1/statement/executing/{ID}/{SLUG}/2")),
        ("DELETE", format!("/v1/statement/executing/{ID}/{SLUG}/2")),
        ("DELETE", format!("/v1/statement/executing/partialCancel/{ID}/0/{SLUG}/2")),
        ("GET", format!("/v1/query/{ID}")),
        ("GET", format!("/ui/query.html?{ID}")),
        ("GET", "/ui/".to_string()),
        ("GET", "/v1/spooled/download/abc123".to_string()),
        ("GET", "/v1/spooled/ack/abc123".to_string()),
    ] {
        let f = forward(decide(
            &c,
            &request(method, &pinned_path(&c, "etl-1", &rest), &[]),
            &SqlFacts::not_read(),
            &FakeView::default(),
            3,
        ));
        assert_eq!(
            (f.envoy_cluster.as_str(), f.path.as_deref(), &f.why),
            ("trino_etl_1", Some(rest.as_str()), &Why::Pinned),
            "{method} {rest}"
        );
        assert!(f.forwarded_prefix.is_some(), "follow-ups keep the prefix so later URIs stay pinned");
        assert!(!f.new_query);
    }
}

#[test]
fn a_token_routes_nothing_but_follow_ups_elsewhere_it_is_ignored() {
    let c = config(etl_rule());
    let view = FakeView::default();
    let no_token = |method: &str, rest: &str, headers: &[(&str, &str)]| {
        decide(&c, &request(method, rest, headers), &SqlFacts::not_read(), &view, 3)
    };
    for (method, rest) in [
        ("GET", "/metrics".to_string()),
        ("GET", "/ui/api/stats".to_string()),
        ("POST", "/ui/".to_string()),
        ("PUT", "/v1/info/state".to_string()),
        ("POST", format!("/v1/statement/executing/{ID}/{SLUG}/2")),
        ("GET", format!("/v1/statement/executing/partialCancel/{ID}/0/{SLUG}/2")),
        ("PUT", format!("/v1/query/{ID}/killed")),
        ("GET", format!("/v1/statement/executing/{ID}/{SLUG}/2/extra")),
        ("GET", "/v1/statement/executing/notanid/y/2".to_string()),
    ] {
        let r =
            reply(decide(&c, &request(method, &pinned_path(&c, "etl-1", &rest), &[]), &SqlFacts::not_read(), &view, 3));
        assert_eq!(r, reply(no_token(method, &rest, &[])), "{method} {rest}");
        assert_eq!(r.status, 404, "{method} {rest}");
    }
    // A new query and server info under a token go where they would go without one.
    for (method, rest, headers) in [
        ("POST", "/v1/statement/", &[("x-trino-user", "alice")][..]),
        ("POST", "/v1/statement", &[("x-trino-user", "alice")][..]),
        ("GET", "/v1/info", &[][..]),
    ] {
        let f = forward(decide(
            &c,
            &request(method, &pinned_path(&c, "etl-1", rest), headers),
            &SqlFacts::not_read(),
            &view,
            3,
        ));
        let without = forward(no_token(method, rest, headers));
        assert_eq!((&f.envoy_cluster, &f.why), (&without.envoy_cluster, &without.why), "{method} {rest}");
        assert_ne!(f.why, Why::Pinned);
        assert_eq!(f.path.as_deref(), Some(rest), "the token is stripped before Trino sees the path");
    }
}

#[test]
fn a_path_not_in_normal_form_is_refused_with_or_without_a_token() {
    let c = config(etl_rule());
    for path in [
        format!("/v1/query/{ID}/../../statement"),
        pinned_path(&c, "etl-1", &format!("/v1/query/{ID}/../../statement")),
        format!("/trino-router/../v1/query/{ID}"),
        "/trino-router//v1/statement/executing/x/y/1".to_string(),
        "/v1//statement".to_string(),
        "/v1/%2e%2e/statement".to_string(),
    ] {
        for method in ["GET", "POST"] {
            let r = reply(decide(&c, &request(method, &path, &[]), &SqlFacts::not_read(), &FakeView::default(), 1));
            assert_eq!((r.status, &r.why), (400, &Why::NotNormalPath), "{method} {path}");
        }
    }
}

#[test]
fn a_new_query_naming_its_user_twice_is_refused() {
    let c = config(etl_rule());
    for headers in [
        &[("x-trino-user", "alice"), ("x-trino-user", "etl")][..],
        &[("x-trino-user", "etl"), ("x-trino-original-user", "a"), ("x-trino-original-user", "b")][..],
        &[("authorization", "Basic ZXRsOg=="), ("authorization", "Basic Ym9iOg==")][..],
    ] {
        let r = reply(decide(
            &c,
            &request("POST", "/v1/statement", headers),
            &SqlFacts::not_read(),
            &FakeView::default(),
            1,
        ));
        assert_eq!((r.status, &r.why), (400, &Why::RepeatedIdentityHeader), "{headers:?}");
    }
}

#[test]
fn a_token_on_a_new_query_is_ignored() {
    let c = config(etl_rule());
    let path = pinned_path(&c, "etl-1", "/v1/statement");
    for r in 0..20 {
        let f = forward(decide(
            &c,
            &request("POST", &path, &[("x-trino-user", "alice")]),
            &SqlFacts::not_read(),
            &FakeView::default(),
            r,
        ));
        assert_ne!(f.envoy_cluster, "trino_etl_1");
        assert_eq!(f.path.as_deref(), Some("/v1/statement"));
    }
}

#[test]
fn forged_or_foreign_tokens_are_refused_and_routed_nowhere() {
    let c = config(etl_rule());
    let rest = format!("/v1/statement/executing/{ID}/{SLUG}/2");
    let foreign = PinKeys::new(b"some-other-key-0123456789abcdefghijkl", &[]).unwrap().sign("etl-1").unwrap();
    let good = c.pin_keys.sign("etl-1").unwrap();
    let mut flipped = good.as_str().to_string().into_bytes();
    flipped[4] = if flipped[4] == b'A' { b'B' } else { b'A' };
    for token in [
        foreign.as_str().to_string(),
        String::from_utf8(flipped).unwrap(),
        good.as_str()[..10].to_string(),
        "%%%".into(),
    ] {
        let r = reply(decide(
            &c,
            &request("GET", &format!("/trino-router/{token}{rest}"), &[]),
            &SqlFacts::not_read(),
            &FakeView::default(),
            1,
        ));
        assert_eq!(r.status, 400, "{token}");
        assert!(matches!(r.why, Why::BadToken(PinError::BadSignature | PinError::Malformed)), "{token}: {:?}", r.why);
        assert!(r.body.starts_with("Error 400 Bad Request: trino-router: invalid routing token"));
        assert!(!r.body.contains(&token) || token.is_empty(), "the token is not echoed");
    }
}

#[test]
fn a_token_for_a_cluster_no_longer_configured_gets_404() {
    let c = config(etl_rule());
    let keys = PinKeys::new(KEY.as_bytes(), &[]).unwrap();
    let path = format!("/trino-router/{}/v1/query/{ID}", keys.sign("retired-1").unwrap().as_str());
    assert_eq!(
        reply(decide(&c, &request("GET", &path, &[]), &SqlFacts::not_read(), &FakeView::default(), 1)).status,
        404
    );
}

#[test]
fn without_a_token_the_query_id_finds_its_owner() {
    let c = config(etl_rule());
    let view = FakeView { owners: [("dup55".to_string(), 1)].into(), ..Default::default() };
    for path in
        [format!("/v1/query/{ID}"), format!("/v1/statement/executing/{ID}/{SLUG}/4"), format!("/ui/query.html?{ID}")]
    {
        let f = forward(decide(&c, &request("GET", &path, &[]), &SqlFacts::not_read(), &view, 1));
        assert_eq!(
            (f.envoy_cluster.as_str(), &f.why, f.path.as_deref()),
            ("trino_adhoc_2", &Why::QueryId, None),
            "{path}"
        );
    }
    let r = reply(decide(
        &c,
        &request("GET", "/v1/query/20261120_101500_00042_zzzzz", &[]),
        &SqlFacts::not_read(),
        &view,
        1,
    ));
    assert_eq!(r.status, 404);
    assert!(r.body.contains("no cluster is known to own query 20261120_101500_00042_zzzzz"));
}

#[test]
fn unknown_paths_and_unpinned_spooled_segments_get_404() {
    let c = config(etl_rule());
    for (m, p) in [
        ("GET", "/foo"),
        ("GET", "/v1/statement"),
        ("PUT", "/v1/statement/queued/x/y/1"),
        ("GET", "/v1/spooled/download/abc"),
    ] {
        assert_eq!(
            reply(decide(&c, &request(m, p, &[]), &SqlFacts::not_read(), &FakeView::default(), 1)).status,
            404,
            "{m} {p}"
        );
    }
}

#[test]
fn server_info_goes_to_the_default_group_without_a_pin() {
    let c = config(etl_rule());
    let f = forward(decide(&c, &request("GET", "/v1/info", &[]), &SqlFacts::not_read(), &FakeView::default(), 1));
    assert!(f.envoy_cluster.starts_with("trino_adhoc_"));
    assert_eq!(f.forwarded_prefix, None);
}

#[test]
fn kill_query_goes_to_the_owner_of_the_query_it_kills() {
    let c = config_with(|v| v["sql_inspection"] = json!({"route_kill_query": true}));
    let off = config(etl_rule());
    let view = FakeView { owners: [("dup55".to_string(), 1)].into(), ..Default::default() };
    let head = request("POST", "/v1/statement", &[("x-trino-user", "etl")]);
    let sql = SqlFacts::from_body(
        format!("CALL system.runtime.kill_query(query_id => '{ID}', message => 'bye')").as_bytes(),
        &head,
        trino_router_core::inspect::SqlDepth::TableNames,
    );
    let f = forward(decide(&c, &head, &sql, &view, 1));
    assert_eq!((f.envoy_cluster.as_str(), &f.why), ("trino_adhoc_2", &Why::KillQuery), "not the etl rule");
    let unknown = SqlFacts::from_body(
        b"CALL system.runtime.kill_query('20261120_101500_00042_zzzzz')",
        &head,
        trino_router_core::inspect::SqlDepth::TableNames,
    );
    assert_eq!(
        forward(decide(&c, &head, &unknown, &view, 1)).envoy_cluster,
        "trino_etl_1",
        "unknown owner: rules decide"
    );
    assert_eq!(forward(decide(&off, &head, &sql, &view, 1)).envoy_cluster, "trino_etl_1", "off by default");
}

#[test]
fn the_body_is_read_only_for_new_queries_that_need_it() {
    use trino_router_core::route::Incoming;
    let needs_body =
        |c: &Config, head: &trino_router_core::request::RequestHead| Incoming::read(c, head.clone()).needs_body(c);
    let c = config(etl_rule());
    assert!(!needs_body(&c, &request("POST", "/v1/statement", &[])), "header rules only: the body is not read");
    let mut v = common::config_json(etl_rule(), json!({}));
    v["sql_inspection"] = json!({"route_kill_query": true});
    let kill = Config::from_json(v.to_string().as_bytes()).unwrap();
    assert!(needs_body(&kill, &request("POST", "/v1/statement", &[])));
    assert!(!needs_body(&kill, &request("GET", &format!("/v1/query/{ID}"), &[])));
    v["sql_inspection"] = json!({});
    v["rules"] = json!([{"name": "w", "when": {"query_type": {"exact": "INSERT"}}, "route_to": "etl"}]);
    let sql_rules = Config::from_json(v.to_string().as_bytes()).unwrap();
    assert!(needs_body(&sql_rules, &request("POST", "/v1/statement", &[])));
}

fn config_with(mutate: impl FnOnce(&mut serde_json::Value)) -> Config {
    let mut v = common::config_json(etl_rule(), json!({}));
    mutate(&mut v);
    Config::from_json(v.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_draining_cluster_gets_no_new_query_but_keeps_its_follow_ups() {
    let c = config_with(|v| v["clusters"][0]["state"] = json!("draining"));
    for r in 0..50 {
        let f =
            forward(decide(&c, &request("POST", "/v1/statement", &[]), &SqlFacts::not_read(), &FakeView::default(), r));
        assert_eq!(f.envoy_cluster, "trino_adhoc_2");
    }
    let rest = format!("/v1/statement/executing/{ID}/{SLUG}/3");
    let f = forward(decide(
        &c,
        &request("GET", &pinned_path(&c, "adhoc-1", &rest), &[]),
        &SqlFacts::not_read(),
        &FakeView::default(),
        1,
    ));
    assert_eq!(f.envoy_cluster, "trino_adhoc_1");
}

#[test]
fn a_disabled_cluster_gets_nothing_and_its_follow_ups_a_clear_error() {
    let c = config_with(|v| v["clusters"][2]["state"] = json!("disabled"));
    let etl = request("POST", "/v1/statement", &[("x-trino-user", "etl")]);
    assert_eq!(reply(decide(&c, &etl, &SqlFacts::not_read(), &FakeView::default(), 1)).status, 503);
    let rest = format!("/v1/statement/executing/{ID}/{SLUG}/3");
    let r = reply(decide(
        &c,
        &request("GET", &pinned_path(&c, "etl-1", &rest), &[]),
        &SqlFacts::not_read(),
        &FakeView::default(),
        1,
    ));
    assert_eq!(r.status, 410);
    assert!(r.body.contains("cluster etl-1 is disabled"), "{}", r.body);
    let view = FakeView { owners: [("dup55".to_string(), 2)].into(), ..Default::default() };
    assert_eq!(
        reply(decide(&c, &request("GET", &format!("/v1/query/{ID}"), &[]), &SqlFacts::not_read(), &view, 1)).status,
        410
    );
}

#[test]
fn a_group_without_a_usable_cluster_falls_back() {
    let c = config_with(|v| v["groups"][1]["fallback"] = json!("adhoc"));
    let view = FakeView { down: [2].into(), ..Default::default() };
    let f = forward(decide(
        &c,
        &request("POST", "/v1/statement", &[("x-trino-user", "etl")]),
        &SqlFacts::not_read(),
        &view,
        1,
    ));
    assert!(f.envoy_cluster.starts_with("trino_adhoc_"));
    assert!(matches!(&f.why, Why::Fallback { from, to, .. } if from == "etl" && to == "adhoc"), "{:?}", f.why);
    assert!(f.new_query);
}

#[test]
fn least_loaded_sends_new_queries_to_the_cluster_with_fewer_queued() {
    let c = config_with(|v| v["groups"][0]["selection"] = json!("least_loaded"));
    let view = FakeView { loads: [(0, (5, 1)), (1, (2, 9))].into(), ..Default::default() };
    for r in 0..30 {
        let f = forward(decide(&c, &request("POST", "/v1/statement", &[]), &SqlFacts::not_read(), &view, r));
        assert_eq!(f.envoy_cluster, "trino_adhoc_2");
    }
}

#[test]
fn a_decision_sums_up_in_one_token_free_line() {
    use trino_router_core::route::summary;
    let c = config(etl_rule());
    let head = request("POST", "/v1/statement", &[("x-trino-user", "etl")]);
    let sql = SqlFacts::from_body(b"SELECT 1", &head, trino_router_core::inspect::SqlDepth::TableNames);
    let d = decide(&c, &head, &sql, &FakeView::default(), 1);
    assert_eq!(summary(&d, &c, &sql), "cluster=etl-1 group=etl rule=etl-workloads via=rule sql=analysed");
    let path = pinned_path(&c, "adhoc-2", &format!("/v1/statement/executing/{ID}/{SLUG}/2"));
    let d = decide(&c, &request("GET", &path, &[]), &SqlFacts::not_read(), &FakeView::default(), 1);
    let line = summary(&d, &c, &SqlFacts::not_read());
    assert_eq!(line, "cluster=adhoc-2 via=pinned");
    let d = decide(
        &c,
        &request("GET", &format!("/trino-router/AAAA/v1/query/{ID}"), &[]),
        &SqlFacts::not_read(),
        &FakeView::default(),
        1,
    );
    assert_eq!(summary(&d, &c, &SqlFacts::not_read()), "reply=400 via=bad_token");
}

#[test]
fn a_statement_of_a_transaction_goes_where_it_started_over_the_rules_health_and_any_state() {
    let c = config(etl_rule());
    let bound =
        trino_router_core::transaction::bind(&c.pin_keys, b"1f7c3f0e-6a52-4b0e-9d8e-0c7c7b5d2a11", "adhoc-2").unwrap();
    let bound = String::from_utf8(bound).unwrap();
    // User etl: the rules say etl-1; adhoc-2 looks down; this replica has learned nothing.
    let mut view = FakeView::default();
    view.down.insert(1);
    for random in [0, 1, u64::MAX] {
        let head = request("POST", "/v1/statement", &[("x-trino-user", "etl"), ("x-trino-transaction-id", &bound)]);
        let f = forward(decide(&c, &head, &SqlFacts::not_read(), &view, random));
        assert_eq!((f.cluster_name.as_str(), &f.why), ("adhoc-2", &Why::Transaction));
        assert!(f.new_query && f.answer.bind_transaction);
        assert_eq!(f.transaction_id.as_deref(), Some("1f7c3f0e-6a52-4b0e-9d8e-0c7c7b5d2a11"));
    }
    // A follow-up GET carrying the header is routed by its token as always.
    let get = pinned_path(&c, "adhoc-1", &format!("/v1/statement/executing/{ID}/{SLUG}/1"));
    let f = forward(decide(
        &c,
        &request("GET", &get, &[("x-trino-transaction-id", &bound)]),
        &SqlFacts::not_read(),
        &view,
        0,
    ));
    assert_eq!((f.cluster_name.as_str(), f.why, f.transaction_id), ("adhoc-1", Why::Pinned, None));
}
