//! Scenarios of the poller against an in-memory Envoy: one worker polls per interval,
//! `/v1/info` decides which clusters take new queries (with debouncing, starting
//! coordinators and Envoy's refusals), and load figures steer load-aware groups.
// Test code: a panic here fails a test, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::fake_envoy::{FakeEnvoy, Health, Request};
use serde_json::{json, Value};
use std::time::Duration;
use trino_router_core::handle::Plugin;

fn envoy_with(mutate: impl FnOnce(&mut Value)) -> FakeEnvoy {
    let mut config = common::config_json(json!([]), json!({}));
    config["health"] = json!({"poll_interval_seconds": 5, "unhealthy_after": 2, "healthy_after": 1});
    mutate(&mut config);
    FakeEnvoy::new(&config)
}

fn clusters_of_new_queries(envoy: &FakeEnvoy, worker: &Plugin, n: usize) -> Vec<String> {
    (0..n).map(|_| envoy.send(worker, Request::query("SELECT 1")).cluster().unwrap().to_string()).collect()
}

fn takes_queries(envoy: &FakeEnvoy, worker: &Plugin, envoy_cluster: &str) -> bool {
    clusters_of_new_queries(envoy, worker, 30).iter().any(|c| c == envoy_cluster)
}

#[test]
fn a_configured_worker_ticks_every_second() {
    let envoy = envoy_with(|_| {});
    envoy.worker();
    assert_eq!(envoy.tick_period(), Some(Duration::from_secs(1)));
}

#[test]
fn two_workers_ticking_together_poll_each_coordinator_once_per_interval() {
    let envoy = envoy_with(|_| {});
    let (mut a, mut b) = (envoy.worker(), envoy.worker());
    envoy.tick(&mut a);
    envoy.tick(&mut b);
    assert_eq!(envoy.polls_sent(), 3, "one /v1/info per cluster");
    envoy.advance(4);
    envoy.tick(&mut a);
    envoy.tick(&mut b);
    assert_eq!(envoy.polls_sent(), 3, "not due yet");
    envoy.advance(1);
    envoy.tick(&mut b);
    envoy.tick(&mut a);
    assert_eq!(envoy.polls_sent(), 6);
}

#[test]
fn a_clock_stepped_back_an_hour_does_not_stop_polling() {
    let envoy = envoy_with(|_| {});
    let (mut a, mut b) = (envoy.worker(), envoy.worker());
    envoy.tick(&mut a);
    assert_eq!(envoy.polls_sent(), 3);
    envoy.step_back(3600);
    for round in 1..=3 {
        envoy.advance(5);
        envoy.tick(&mut b);
        envoy.tick(&mut a);
        assert_eq!(envoy.polls_sent(), 3 + 3 * round, "round {round}: one worker polls, once");
    }
}

#[test]
fn a_hold_set_before_the_clock_stepped_back_does_not_outlast_it() {
    let envoy = envoy_with(|c| c["health"] = json!({"unhealthy_hold_seconds": 10}));
    let worker = envoy.worker();
    envoy.coordinator("trino_adhoc_1").health = Health::Gone;
    while takes_queries(&envoy, &worker, "trino_adhoc_1") {}
    envoy.coordinator("trino_adhoc_1").health = Health::Up;
    assert!(!takes_queries(&envoy, &worker, "trino_adhoc_1"), "held");
    envoy.step_back(3600);
    assert!(takes_queries(&envoy, &worker, "trino_adhoc_1"), "not held for an hour");
}

#[test]
fn writes_given_up_after_cas_conflicts_are_counted_and_nothing_else_breaks() {
    let envoy = envoy_with(|_| {});
    let mut worker = envoy.worker();
    envoy.tick(&mut worker);
    envoy.conflict_always();
    envoy.coordinator("trino_adhoc_1").health = Health::Gone;
    let answer = envoy.send(&worker, Request::query("SELECT 1").header("x-trino-routing-group", "adhoc"));
    assert!(answer.status == 200 || answer.status == 503, "{}", answer.status);
    while envoy.counter("trino_router.state.cas_give_ups") == 0 {
        envoy.send(&worker, Request::query("SELECT 1"));
    }
    assert!(envoy.logs().iter().any(|(_, l)| l.contains("gave up storing state of cluster")));
}

#[test]
fn one_failed_poll_does_not_flap_a_cluster_two_do_and_one_good_poll_brings_it_back() {
    let envoy = envoy_with(|_| {});
    let mut worker = envoy.worker();
    envoy.coordinator("trino_adhoc_1").health = Health::Gone;
    envoy.tick(&mut worker);
    assert!(takes_queries(&envoy, &worker, "trino_adhoc_1"), "one blip");
    envoy.advance(5);
    envoy.tick(&mut worker);
    envoy.coordinator("trino_adhoc_1").health = Health::Up;
    assert!(!takes_queries(&envoy, &worker, "trino_adhoc_1"), "two failed polls in a row");
    assert_eq!(envoy.counter("trino_router.cluster.adhoc-1.unusable"), 1);
    envoy.advance(5);
    envoy.tick(&mut worker);
    assert!(takes_queries(&envoy, &worker, "trino_adhoc_1"));
    assert_eq!(envoy.counter("trino_router.cluster.adhoc-1.usable"), 1);
}

#[test]
fn a_starting_coordinator_gets_new_queries_only_once_it_has_started() {
    let envoy = envoy_with(|_| {});
    let mut worker = envoy.worker();
    envoy.coordinator("trino_adhoc_2").health = Health::Starting;
    envoy.tick(&mut worker);
    assert!(!takes_queries(&envoy, &worker, "trino_adhoc_2"));
    envoy.coordinator("trino_adhoc_2").health = Health::Up;
    envoy.advance(5);
    envoy.tick(&mut worker);
    assert!(takes_queries(&envoy, &worker, "trino_adhoc_2"));
}

#[test]
fn a_cluster_envoy_refuses_to_poll_is_polled_again_a_second_later() {
    let envoy = envoy_with(|_| {});
    let mut worker = envoy.worker();
    envoy.coordinator("trino_adhoc_1").health = Health::Refused;
    envoy.tick(&mut worker);
    assert!(!takes_queries(&envoy, &worker, "trino_adhoc_1"), "no healthy host for Envoy: none for the router");
    envoy.coordinator("trino_adhoc_1").health = Health::Up;
    envoy.advance(1);
    envoy.tick(&mut worker);
    assert!(takes_queries(&envoy, &worker, "trino_adhoc_1"), "back one second later, not one interval");
}

#[test]
fn every_poll_outcome_is_counted_per_cluster_once_its_verdict_is_stored() {
    let envoy = envoy_with(|_| {});
    let mut worker = envoy.worker();
    envoy.coordinator("trino_adhoc_1").health = Health::Refused;
    envoy.coordinator("trino_adhoc_2").health = Health::Gone;
    envoy.tick(&mut worker);
    assert_eq!(envoy.counter("trino_router.cluster.adhoc-1.polls.refused"), 1);
    assert_eq!(envoy.counter("trino_router.cluster.adhoc-2.polls.failed"), 1);
    assert_eq!(envoy.counter("trino_router.cluster.etl-1.polls.answered"), 1);
    envoy.coordinator("trino_adhoc_1").health = Health::Up;
    envoy.advance(1);
    envoy.tick(&mut worker);
    // What the counter says is already true of routing: an answered poll brought adhoc-1 back.
    assert_eq!(envoy.counter("trino_router.cluster.adhoc-1.polls.answered"), 1);
    assert!(takes_queries(&envoy, &worker, "trino_adhoc_1"));
}

#[test]
fn coordinator_ids_reported_by_v1_info_route_queries_the_router_never_saw_start() {
    // Without lookups, so only the poll can have taught it (lookups: glue_lookups.rs).
    let envoy = envoy_with(|c| c["query_lookup"] = json!({"enabled": false}));
    let mut worker = envoy.worker();
    envoy.coordinator("trino_etl_1").reports_id = true;
    let id = format!("20261120_101500_00007_{}", envoy.coordinator("trino_etl_1").id);
    assert_eq!(envoy.send(&worker, Request::get(&format!("/v1/query/{id}"))).status, 404, "not known yet");
    envoy.tick(&mut worker);
    let answer = envoy.send(&worker, Request::get(&format!("/v1/query/{id}")));
    assert_eq!(answer.cluster(), Some("trino_etl_1"));
    assert!(envoy.calls_made("HEAD").is_empty(), "nothing was looked up");
}

#[test]
fn a_least_loaded_group_fills_the_idle_cluster_counting_what_it_sent_since_the_poll() {
    let envoy = envoy_with(|c| {
        c["groups"][0]["selection"] = json!("least_loaded");
        c["load"] = json!({"source": "metrics"});
    });
    let mut worker = envoy.worker();
    envoy.coordinator("trino_adhoc_1").load = (3, 0);
    envoy.tick(&mut worker);
    let first = clusters_of_new_queries(&envoy, &worker, 3);
    assert!(first.iter().all(|c| c == "trino_adhoc_2"), "{first:?}");
    assert!(takes_queries(&envoy, &worker, "trino_adhoc_1"), "three sent to adhoc-2 count as queued there");
}
