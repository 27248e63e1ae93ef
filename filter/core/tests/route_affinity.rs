//! Scenarios of session affinity in `route::decide`: in a group with `affinity`, a new query
//! whose cookie names a member that can take it goes there; the rules still choose the group,
//! and a forged, expired or foreign cookie is only no hint.
// Test code: a panic here fails a test, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::{config_json, decide, forward, request, FakeView, NOW};
use serde_json::json;
use trino_router_core::config::Config;
use trino_router_core::cookie::{self, Scope};
use trino_router_core::inspect::SqlFacts;
use trino_router_core::route::{Forward, Why};

const ADHOC_COOKIE: &str = "trino-router-affinity-adhoc";
const TTL: u64 = 600;

/// adhoc (adhoc-1 + adhoc-2) and etl (etl-1 + adhoc-2), both with affinity; user etl -> etl.
fn sticky_config() -> Config {
    let mut c = config_json(json!([{"name": "etl", "when": {"user": {"exact": "etl"}}, "route_to": "etl"}]), json!({}));
    c["groups"][0]["affinity"] = json!({"ttl_seconds": TTL});
    c["groups"][1] = json!({"name": "etl", "members": [{"cluster": "etl-1"}, {"cluster": "adhoc-2"}],
                            "affinity": {"ttl_seconds": TTL, "cookie": "etl-session"}});
    Config::from_json(c.to_string().as_bytes()).unwrap()
}

fn post(c: &Config, view: &FakeView, user: &str, cookies: &str, random: u64) -> Forward {
    let mut headers = vec![("x-trino-user", user)];
    if !cookies.is_empty() {
        headers.push(("cookie", cookies));
    }
    forward(decide(c, &request("POST", "/v1/statement", &headers), &SqlFacts::not_read(), view, random))
}

/// The cookie pair a client sends back for a `Set-Cookie` it got.
fn sent_back(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

fn value_for(c: &Config, group: &str, cluster: &str, expires_at: u64) -> String {
    cookie::mint(&c.pin_keys, Scope::Affinity { group }, cluster, expires_at).unwrap()
}

#[test]
fn a_session_that_got_the_cookie_keeps_landing_on_that_cluster_of_its_group() {
    let c = sticky_config();
    let view = FakeView::default();
    let mut landed = Vec::new();
    for first in 0..20u64 {
        let f = post(&c, &view, "alice", "", first.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let set_cookie = f.answer.set_cookie.clone().expect("a group with affinity hands out its cookie");
        assert!(set_cookie.starts_with(&format!("{ADHOC_COOKIE}=")), "{set_cookie}");
        assert!(set_cookie.contains("; Path=/; Max-Age=600; HttpOnly; SameSite=Lax"), "{set_cookie}");
        assert!(!set_cookie.contains("Secure"), "not over TLS: {set_cookie}");
        for later in 0..30u64 {
            let g = post(&c, &view, "alice", &sent_back(&set_cookie), later.wrapping_mul(0xD1B5_4A32_D192_ED03));
            assert_eq!(g.cluster, f.cluster, "query {later} of session {first} left its cluster");
            assert_eq!(g.why, Why::Affinity { first: Box::new(Why::DefaultGroup { group: "adhoc".into() }) });
            assert_eq!(g.why.via(), "affinity");
            assert_eq!(g.why.group(), Some("adhoc"));
            assert!(g.answer.set_cookie.is_some(), "the cookie is renewed while the session is active");
        }
        landed.push(f.cluster);
    }
    assert!(
        landed.contains(&c.cluster_by_name("adhoc-1").unwrap())
            && landed.contains(&c.cluster_by_name("adhoc-2").unwrap()),
        "sessions still spread over the group: {landed:?}"
    );
}

#[test]
fn the_rules_still_choose_the_group_and_a_cookie_of_another_group_is_ignored() {
    let c = sticky_config();
    let view = FakeView::default();
    // An adhoc session on adhoc-2 runs a query as etl: the rule sends it to etl, where the
    // adhoc cookie means nothing; the etl group hands out its own cookie.
    let adhoc_on_2 = format!("{ADHOC_COOKIE}={}", value_for(&c, "adhoc", "adhoc-2", NOW + 60));
    let etl_1 = c.cluster_by_name("etl-1").unwrap();
    let mut seen = std::collections::HashSet::new();
    for r in 0..40u64 {
        let f = post(&c, &view, "etl", &adhoc_on_2, r.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        assert_eq!(f.why, Why::Rule { rule: "etl".into(), group: "etl".into() }, "no affinity from adhoc's cookie");
        assert!(f.answer.set_cookie.as_deref().unwrap().starts_with("etl-session="));
        seen.insert(f.cluster);
    }
    assert!(seen.contains(&etl_1) && seen.len() == 2, "etl spreads over its members: {seen:?}");
    // The adhoc group's signature under etl's cookie name (adhoc-2 is a member of both).
    let moved = format!("etl-session={}", value_for(&c, "adhoc", "adhoc-2", NOW + 60));
    let picks: std::collections::HashSet<_> =
        (0..40u64).map(|r| post(&c, &view, "etl", &moved, r.wrapping_mul(0x9E37_79B9_7F4A_7C15)).cluster).collect();
    assert_eq!(picks.len(), 2, "a cookie signed for another group is no hint");
    // A valid adhoc cookie naming a cluster outside adhoc never takes a query there.
    let outside = format!("{ADHOC_COOKIE}={}", value_for(&c, "adhoc", "etl-1", NOW + 60));
    for r in 0..40u64 {
        let f = post(&c, &view, "alice", &outside, r);
        assert_ne!(f.cluster, etl_1, "a cookie routed outside the rule-chosen group");
        assert!(!matches!(f.why, Why::Affinity { .. }));
    }
}

#[test]
fn forged_expired_and_stretched_cookies_are_no_hint_and_no_error() {
    let c = sticky_config();
    let view = FakeView::default();
    let good = value_for(&c, "adhoc", "adhoc-2", NOW + 60);
    let mut forged = good.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let other_key = trino_router_core::pin::PinKeys::new(b"some-other-key-nobody-configured-0123", &[]).unwrap();
    let foreign = cookie::mint(&other_key, Scope::Affinity { group: "adhoc" }, "adhoc-2", NOW + 60).unwrap();
    let cases = [
        forged,
        foreign,
        value_for(&c, "adhoc", "adhoc-2", NOW),              // expired just now
        value_for(&c, "adhoc", "adhoc-2", NOW + TTL + 3600), // longer than the TTL allows
        value_for(&c, "adhoc", "no-such-cluster", NOW + 60),
        "garbage".to_string(),
        String::new(),
    ];
    for value in cases {
        let cookies = format!("{ADHOC_COOKIE}={value}");
        let clusters: std::collections::HashSet<_> = (0..40u64)
            .map(|r| {
                let f = post(&c, &view, "alice", &cookies, r.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                assert_eq!(f.why, Why::DefaultGroup { group: "adhoc".into() }, "{value}");
                assert!(f.answer.set_cookie.is_some(), "a fresh cookie replaces the bad one");
                f.cluster
            })
            .collect();
        assert_eq!(clusters.len(), 2, "{value:?} steered the choice");
    }
}

#[test]
fn when_the_cluster_cannot_take_queries_the_session_moves_and_gets_a_new_cookie() {
    let adhoc_1 = 0;
    for state in ["draining", "disabled", "down", "expired"] {
        let mut raw = config_json(json!([]), json!({}));
        raw["groups"][0]["affinity"] = json!({"ttl_seconds": TTL});
        if state == "draining" || state == "disabled" {
            raw["clusters"][adhoc_1]["state"] = json!(state);
        }
        let c = Config::from_json(raw.to_string().as_bytes()).unwrap();
        let mut view = FakeView::default();
        if state == "down" {
            view.down.insert(adhoc_1);
        }
        if state == "expired" {
            view.now = NOW + 61;
        }
        let cookies = format!("{ADHOC_COOKIE}={}", value_for(&c, "adhoc", "adhoc-1", NOW + 60));
        let f = post(&c, &view, "alice", &cookies, 0);
        if state == "expired" {
            // Both members can take it: a fresh choice, whichever it is.
            assert!(!matches!(f.why, Why::Affinity { .. }), "{state}");
        } else {
            assert_eq!(f.envoy_cluster, "trino_adhoc_2", "{state}: the session falls back to a usable member");
        }
        let renewed = sent_back(f.answer.set_cookie.as_deref().unwrap());
        let g = post(&c, &view, "alice", &renewed, 12345);
        assert_eq!(g.cluster, f.cluster, "{state}: the renewed cookie names where the session went");
        assert!(matches!(g.why, Why::Affinity { .. }), "{state}");
    }
}

#[test]
fn a_fallback_group_with_affinity_keeps_its_own_sessions() {
    let mut raw = config_json(json!([]), json!({}));
    raw["groups"][1]["fallback"] = json!("adhoc");
    raw["groups"][0]["affinity"] = json!({});
    raw["rules"] = json!([{"name": "etl", "when": {"user": {"exact": "etl"}}, "route_to": "etl"}]);
    let c = Config::from_json(raw.to_string().as_bytes()).unwrap();
    let mut view = FakeView::default();
    view.down.insert(2); // etl-1: etl falls back to adhoc
    let cookies = format!("{ADHOC_COOKIE}={}", value_for(&c, "adhoc", "adhoc-1", NOW + 60));
    for r in 0..20 {
        let f = post(&c, &view, "etl", &cookies, r);
        assert_eq!(f.envoy_cluster, "trino_adhoc_1");
        assert!(matches!(&f.why, Why::Affinity { first } if matches!(**first, Why::Fallback { .. })), "{:?}", f.why);
        assert_eq!(f.why.group(), Some("adhoc"));
        assert_eq!(f.why.rule(), Some("etl"));
    }
}

#[test]
fn groups_without_affinity_hand_out_no_cookie_and_read_none() {
    let c = common::config(json!([]));
    let view = FakeView::default();
    let cookies = format!("{ADHOC_COOKIE}={}", value_for(&c, "adhoc", "adhoc-1", NOW + 60));
    let clusters: std::collections::HashSet<_> = (0..40u64)
        .map(|r| {
            let f = post(&c, &view, "alice", &cookies, r.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            assert_eq!(f.answer.set_cookie, None);
            f.cluster
        })
        .collect();
    assert_eq!(clusters.len(), 2);
}

#[test]
fn over_tls_the_cookie_is_secure_and_transactions_and_server_info_get_none() {
    let c = sticky_config();
    let view = FakeView::default();
    let headers = [("x-trino-user", "alice"), ("x-forwarded-proto", "https")];
    let f = forward(decide(&c, &request("POST", "/v1/statement", &headers), &SqlFacts::not_read(), &view, 1));
    assert!(f.answer.set_cookie.unwrap().ends_with("; Secure"));
    let bound =
        trino_router_core::transaction::bind(&c.pin_keys, b"1f7c3f0e-6a52-4b0e-9d8e-0c7c7b5d2a11", "adhoc-1").unwrap();
    let bound = String::from_utf8(bound).unwrap();
    let tx = [("x-trino-user", "alice"), ("x-trino-transaction-id", bound.as_str())];
    let f = forward(decide(&c, &request("POST", "/v1/statement", &tx), &SqlFacts::not_read(), &view, 1));
    assert_eq!((f.why, f.answer.set_cookie), (Why::Transaction, None));
    let f = forward(decide(&c, &request("GET", "/v1/info", &[]), &SqlFacts::not_read(), &view, 1));
    assert_eq!(f.answer.set_cookie, None);
}
