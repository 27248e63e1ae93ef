//! Scenarios of query lookups: a request that names a query by id only (no token) reaches
//! the cluster that owns it on any Envoy replica, also one that never saw the query start
//! and runs against Trino without `coordinatorId` in `/v1/info` (476 and older). Two
//! in-memory Envoys stand for two replicas: they share nothing but the coordinators' ids.
// Test code: a panic here fails a test, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::fake_envoy::{Answer, FakeEnvoy, Request};
use serde_json::{json, Value};
use trino_router_core::host::LogLevel;

fn replica(mutate: impl FnOnce(&mut Value)) -> FakeEnvoy {
    let mut config = common::config_json(json!([]), json!({}));
    mutate(&mut config);
    FakeEnvoy::new(&config)
}

/// A query started through replica A: its first page.
fn started_on_a(cluster: &str) -> Answer {
    let a = replica(|_| {});
    let worker = a.worker();
    (0..40)
        .map(|_| a.send(&worker, Request::query("SELECT 1")))
        .find(|p| p.cluster() == Some(cluster))
        .expect("the group spreads queries over both clusters")
}

fn query_id(page: &Answer) -> String {
    page.json()["id"].as_str().unwrap().to_string()
}

#[test]
fn replica_b_finds_the_owner_of_a_query_it_never_saw_and_then_knows_its_coordinator() {
    let id = query_id(&started_on_a("trino_adhoc_2"));
    let b = replica(|_| {});
    let worker = b.worker();
    let info = b.send(&worker, Request::get(&format!("/v1/query/{id}")));
    assert_eq!((info.status, info.cluster()), (200, Some("trino_adhoc_2")), "{}", info.body);
    // Every cluster was asked, as the lookup user, by HEAD /v1/query/{id}.
    let asked = b.calls_made("HEAD");
    assert_eq!(asked.len(), 3, "{asked:?}");
    for call in &asked {
        assert_eq!(call.path, format!("/v1/query/{id}?pruned=true"));
        assert!(call.headers.contains(&("x-trino-user".into(), "trino-router".into())), "{call:?}");
    }
    assert_eq!(b.counter("trino_router.lookups.found"), 1);
    assert!(b.decision_logged().unwrap().contains("via=query_id"));
    // Learned for the whole Envoy: another worker routes the next query of that coordinator
    // by id, asking nobody.
    let other_worker = b.worker();
    let next = id.replace("_00", "_01");
    let page = b.send(&other_worker, Request::get(&format!("/ui/query.html?{next}")));
    assert_eq!(page.cluster(), Some("trino_adhoc_2"));
    assert_eq!(b.calls_made("HEAD").len(), 3, "no second lookup");
}

#[test]
fn the_info_page_and_a_cancel_by_query_id_reach_the_owner_through_another_replica() {
    let id = query_id(&started_on_a("trino_adhoc_1"));
    for request in [Request::get(&format!("/ui/query.html?{id}")), Request::new("DELETE", &format!("/v1/query/{id}"))] {
        let b = replica(|_| {});
        let answer = b.send(&b.worker(), request);
        assert_eq!(answer.cluster(), Some("trino_adhoc_1"), "{answer:?}");
    }
}

#[test]
fn a_next_uri_without_its_token_is_looked_up_by_the_next_uri_itself_with_no_user() {
    // What a client holds when a page reached it unrewritten: the coordinator's own nextUri.
    let first = started_on_a("trino_adhoc_2");
    let next = first.next_path().unwrap();
    let bare = next.splitn(4, '/').nth(3).map(|rest| format!("/{rest}")).unwrap();
    assert!(bare.starts_with("/v1/statement/"), "{bare}");
    let b = replica(|_| {});
    let page = b.send(&b.worker(), Request::get(&bare));
    assert_eq!((page.status, page.cluster()), (200, Some("trino_adhoc_2")), "{}", page.body);
    let asked = b.calls_made("HEAD");
    assert!(asked.iter().all(|c| c.path == bare && c.headers.is_empty()), "{asked:?}");
}

#[test]
fn a_query_no_coordinator_has_gets_404_and_teaches_nothing() {
    let b = replica(|_| {});
    let worker = b.worker();
    for _ in 0..2 {
        let answer = b.send(&worker, Request::get("/v1/query/20261120_101500_00001_zzzzz"));
        assert_eq!(answer.status, 404);
        assert!(answer.body.contains("no cluster is known to own query"), "{}", answer.body);
    }
    assert_eq!(b.calls_made("HEAD").len(), 6, "asked again: nothing was learned");
    assert_eq!(b.counter("trino_router.lookups.not_found"), 2);
}

#[test]
fn coordinators_that_refuse_the_lookup_user_are_named_in_a_warning() {
    let id = query_id(&started_on_a("trino_adhoc_1"));
    let b = replica(|_| {});
    for c in ["trino_adhoc_1", "trino_adhoc_2", "trino_etl_1"] {
        b.coordinator(c).lookup_status = Some(401);
    }
    let answer = b.send(&b.worker(), Request::get(&format!("/v1/query/{id}")));
    assert_eq!(answer.status, 404);
    let warned = b.logs().into_iter().find(|(level, line)| *level == LogLevel::Warn && line.contains("could not tell"));
    let (_, line) = warned.expect("a warning");
    assert!(line.contains("adhoc-1 (401)") && line.contains("query_lookup.user"), "{line}");
}

#[test]
fn the_lookup_user_and_password_are_the_configured_ones_and_lookups_can_be_turned_off() {
    let id = query_id(&started_on_a("trino_adhoc_1"));
    let b = replica(|c| c["query_lookup"] = json!({"user": "router", "password": "secret"}));
    assert_eq!(b.send(&b.worker(), Request::get(&format!("/v1/query/{id}"))).cluster(), Some("trino_adhoc_1"));
    let call = &b.calls_made("HEAD")[0];
    assert!(call.headers.contains(&("x-trino-user".into(), "router".into())));
    // base64("router:secret")
    assert!(call.headers.contains(&("authorization".into(), "Basic cm91dGVyOnNlY3JldA==".into())), "{call:?}");

    let off = replica(|c| c["query_lookup"] = json!({"enabled": false}));
    assert_eq!(off.send(&off.worker(), Request::get(&format!("/v1/query/{id}"))).status, 404);
    assert!(off.calls_made("HEAD").is_empty());
}

#[test]
fn a_disabled_cluster_is_not_asked() {
    let id = query_id(&started_on_a("trino_adhoc_1"));
    let b = replica(|c| c["clusters"][2]["state"] = json!("disabled"));
    assert_eq!(b.send(&b.worker(), Request::get(&format!("/v1/query/{id}"))).cluster(), Some("trino_adhoc_1"));
    assert!(b.calls_made("HEAD").iter().all(|c| c.envoy_cluster != "trino_etl_1"));
}

#[test]
fn kill_query_through_another_replica_goes_to_the_owner_once_looked_up() {
    let id = query_id(&started_on_a("trino_adhoc_2"));
    let b = replica(|c| c["sql_inspection"] = json!({"route_kill_query": true}));
    let worker = b.worker();
    for _ in 0..3 {
        let kill = b.send(&worker, Request::query(&format!("CALL system.runtime.kill_query(query_id => '{id}')")));
        assert_eq!(kill.cluster(), Some("trino_adhoc_2"));
    }
    assert_eq!(b.counter("trino_router.queries.via.kill_query"), 3);
    assert_eq!(b.counter("trino_router.lookups.found"), 1);
}

#[test]
fn a_worker_runs_a_bounded_number_of_lookups_and_frees_them_when_clients_go_away() {
    let b = replica(|_| {});
    let worker = b.worker();
    b.hold_calls.set(true);
    let unknown = |n: usize| Request::get(&format!("/v1/query/20261120_101500_{n:05}_zzzzz"));
    for n in 0..32 {
        assert_eq!(b.send(&worker, unknown(n)).status, 0, "held while its lookup runs");
    }
    let calls = b.calls_made("HEAD").len();
    let past_the_bound = b.send(&worker, unknown(99));
    assert_eq!(past_the_bound.status, 404, "decided at once");
    assert_eq!(b.calls_made("HEAD").len(), calls, "without asking anyone");
    assert_eq!(b.counter("trino_router.lookups.skipped"), 1);
    b.end_held();
    b.hold_calls.set(false);
    assert_eq!(b.send(&worker, unknown(100)).status, 404);
    assert_eq!(b.calls_made("HEAD").len(), calls + 3, "looked up again once the held ones ended");
}
