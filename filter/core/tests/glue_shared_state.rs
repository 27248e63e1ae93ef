//! Scenarios of the cluster states workers share, against an in-memory Envoy: what one
//! worker stores (a poll's verdict, Envoy's on live traffic, a coordinator restart) steers
//! the very next decision of another that had read the state before. Each worker keeps the
//! states it decoded, by key and version: a kept state must never outlive a write.
// Test code: a panic here fails a test, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::fake_envoy::{FakeEnvoy, Health, Request};
use serde_json::{json, Value};
use trino_router_core::handle::Plugin;

fn envoy_with(mutate: impl FnOnce(&mut Value)) -> FakeEnvoy {
    let mut config = common::config_json(json!([]), json!({}));
    config["health"] = json!({"poll_interval_seconds": 5, "unhealthy_after": 1, "healthy_after": 1});
    mutate(&mut config);
    FakeEnvoy::new(&config)
}

/// Where `n` new queries of the adhoc group (the default) land.
fn spread(envoy: &FakeEnvoy, worker: &Plugin, n: usize) -> Vec<String> {
    (0..n).map(|_| envoy.send(worker, Request::query("SELECT 1")).cluster().unwrap().to_string()).collect()
}

fn query_of(coordinator: &str) -> String {
    format!("/v1/query/20261120_101500_00007_{coordinator}")
}

#[test]
fn a_cluster_another_worker_found_unreachable_gets_none_of_this_workers_next_queries() {
    let envoy = envoy_with(|_| {});
    let (a, b) = (envoy.worker(), envoy.worker());
    assert!(spread(&envoy, &a, 30).iter().any(|c| c == "trino_adhoc_1"), "a has read adhoc-1 as usable");
    envoy.coordinator("trino_adhoc_1").health = Health::Gone;
    assert!((0..50).any(|_| spread(&envoy, &b, 1)[0] == "trino_adhoc_1"), "b sent a query to adhoc-1");
    assert_eq!(envoy.counter("trino_router.cluster.adhoc-1.unreachable"), 1, "b stored the verdict");
    envoy.coordinator("trino_adhoc_1").health = Health::Up;
    assert!(spread(&envoy, &a, 30).iter().all(|c| c == "trino_adhoc_2"), "a avoids adhoc-1 from its next query");
}

#[test]
fn a_coordinator_another_worker_polled_as_starting_gets_none_of_this_workers_next_queries() {
    let envoy = envoy_with(|_| {});
    let (mut a, mut b) = (envoy.worker(), envoy.worker());
    envoy.tick(&mut a);
    assert!(spread(&envoy, &a, 30).iter().any(|c| c == "trino_adhoc_2"), "a has read adhoc-2 as usable");
    envoy.coordinator("trino_adhoc_2").health = Health::Starting;
    envoy.advance(5);
    envoy.tick(&mut b);
    assert!(spread(&envoy, &a, 30).iter().all(|c| c == "trino_adhoc_1"), "a avoids the restarting adhoc-2");
    envoy.coordinator("trino_adhoc_2").health = Health::Up;
    envoy.advance(5);
    envoy.tick(&mut b);
    assert!(spread(&envoy, &a, 30).iter().any(|c| c == "trino_adhoc_2"), "and takes it back once b saw it up");
}

#[test]
fn a_coordinator_id_another_worker_polled_routes_this_workers_next_request_for_its_queries() {
    // Without lookups, so only the stored state can place a query id the router never saw.
    let envoy = envoy_with(|c| c["query_lookup"] = json!({"enabled": false}));
    let (mut a, mut b) = (envoy.worker(), envoy.worker());
    envoy.coordinator("trino_etl_1").reports_id = true;
    envoy.tick(&mut a);
    let before = envoy.coordinator("trino_etl_1").id.clone();
    assert_eq!(envoy.send(&a, Request::get(&query_of(&before))).cluster(), Some("trino_etl_1"));
    // The coordinator restarts with a new id; b's poll learns it.
    envoy.coordinator("trino_etl_1").id = "zzz99".into();
    envoy.advance(5);
    envoy.tick(&mut b);
    let answer = envoy.send(&a, Request::get(&query_of("zzz99")));
    assert_eq!(answer.cluster(), Some("trino_etl_1"), "status {}: a still knew only {before}", answer.status);
}
