//! Scenarios of the glue on the response side, against an in-memory Envoy: what the filter
//! learns from Envoy's verdicts, how a query whose coordinator is lost is reported, and the
//! page duties of rewrite mode (pins written into URIs, row data untouched).
// Test code: a panic here fails a test, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::fake_envoy::{Answer, FakeEnvoy, Health, Request, AUTHORITY};
use serde_json::{json, Value};
use trino_router_core::handle::Plugin;
use trino_router_core::host::LogLevel;

fn envoy_with(mutate: impl FnOnce(&mut Value)) -> FakeEnvoy {
    let mut config = common::config_json(json!([]), json!({}));
    mutate(&mut config);
    FakeEnvoy::new(&config)
}

/// New queries until one lands on `envoy_cluster`.
fn query_on(envoy: &FakeEnvoy, worker: &Plugin, envoy_cluster: &str) -> Answer {
    (0..50)
        .map(|_| envoy.send(worker, Request::query("SELECT 1")))
        .find(|a| a.cluster() == Some(envoy_cluster))
        .unwrap_or_else(|| panic!("no query reached {envoy_cluster}"))
}

fn spread(envoy: &FakeEnvoy, worker: &Plugin, n: usize) -> Vec<String> {
    (0..n).map(|_| envoy.send(worker, Request::query("SELECT 1")).cluster().unwrap().to_string()).collect()
}

#[test]
fn a_cluster_envoy_finds_unreachable_gets_no_new_queries_for_the_hold_time() {
    let envoy = envoy_with(|c| c["health"] = json!({"unhealthy_hold_seconds": 10}));
    let worker = envoy.worker();
    envoy.coordinator("trino_adhoc_1").health = Health::Gone;
    let failed = query_on(&envoy, &worker, "trino_adhoc_1");
    assert_eq!(failed.status, 503, "a new query gets Envoy's own answer");
    assert!(failed.body.contains("upstream connect error"));
    assert_eq!(envoy.counter("trino_router.cluster.adhoc-1.unreachable"), 1);
    envoy.coordinator("trino_adhoc_1").health = Health::Up;
    assert!(spread(&envoy, &worker, 20).iter().all(|c| c == "trino_adhoc_2"));
    let mut worker = worker;
    envoy.advance(9);
    envoy.tick(&mut worker);
    assert!(spread(&envoy, &worker, 20).iter().all(|c| c == "trino_adhoc_2"), "a good poll does not end the hold");
    envoy.advance(1);
    assert!(spread(&envoy, &worker, 30).iter().any(|c| c == "trino_adhoc_1"), "back after the hold");
}

#[test]
fn a_page_fetch_whose_coordinator_refuses_connections_is_retried_then_reads_as_a_failed_query() {
    let envoy = envoy_with(|c| c["health"] = json!({"lost_after_seconds": 5}));
    let worker = envoy.worker();
    let started = query_on(&envoy, &worker, "trino_adhoc_1");
    let id = started.json()["id"].as_str().unwrap().to_string();
    envoy.coordinator("trino_adhoc_1").health = Health::Gone;
    let next = started.next_path().unwrap();
    let first = envoy.send(&worker, Request::get(&next));
    assert_eq!((first.status, first.header("retry-after").as_deref()), (503, Some("1")), "refused for 0 s: retry");
    envoy.advance(4);
    assert_eq!(envoy.send(&worker, Request::get(&next)).status, 503, "refused for 4 s: retry");
    envoy.advance(1);
    let page = envoy.send(&worker, Request::get(&next));
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type").as_deref(), Some("application/json"));
    let v = page.json();
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["stats"]["state"], "FAILED");
    assert_eq!(v["error"]["errorName"], "TRINO_ROUTER_COORDINATOR_LOST");
    assert!(v.get("nextUri").is_none(), "the client stops polling");
    assert_eq!(envoy.counter("trino_router.cluster.adhoc-1.queries_lost"), 1);
    // Other follow-ups of the query get Envoy's answer as it is.
    let info = envoy.send(&worker, Request::get(&format!("/v1/query/{id}")));
    assert_eq!(info.status, 503);
}

#[test]
fn a_passing_failure_never_loses_a_running_query_however_long_it_lasts() {
    for details in ["no_healthy_upstream", "overflow", "upstream_reset_before_response_started{connection_termination}"]
    {
        let envoy = envoy_with(|c| c["health"] = json!({"lost_after_seconds": 5, "unhealthy_hold_seconds": 10}));
        let mut worker = envoy.worker();
        envoy.tick(&mut worker);
        let started = query_on(&envoy, &worker, "trino_adhoc_1");
        let next = started.next_path().unwrap();
        envoy.coordinator("trino_adhoc_1").health = Health::EnvoyAnswers(details);
        for _ in 0..12 {
            envoy.advance(5);
            envoy.tick(&mut worker);
            let page = envoy.send(&worker, Request::get(&next));
            assert_eq!((page.status, page.header("retry-after").as_deref()), (503, Some("1")), "{details}");
        }
        assert_eq!(envoy.counter("trino_router.cluster.adhoc-1.unreachable"), 0, "{details}");
        envoy.coordinator("trino_adhoc_1").health = Health::Up;
        let page = envoy.send(&worker, Request::get(&next));
        assert_eq!(page.status, 200, "{details}: the query goes on: {}", page.body);
        assert!(page.json().get("error").is_none(), "{details}");
    }
}

#[test]
fn a_page_fetch_that_a_restarted_coordinator_does_not_know_reads_as_a_failed_query() {
    let envoy = envoy_with(|_| {});
    let worker = envoy.worker();
    let started = query_on(&envoy, &worker, "trino_adhoc_1");
    let id = started.json()["id"].as_str().unwrap().to_string();
    // A query of an earlier coordinator of adhoc-1 (its id ends otherwise): Trino answers 410.
    let stale = started.next_path().unwrap().replace(&id, "20261120_101500_00099_zzzzz");
    let gone = envoy.send(&worker, Request::get(&stale));
    assert_eq!(gone.cluster(), Some("trino_adhoc_1"));
    assert_eq!(gone.json()["error"]["errorName"], "TRINO_ROUTER_COORDINATOR_LOST", "{}", gone.body);
    // An answer of the coordinator itself never marks the cluster.
    assert_eq!(envoy.counter("trino_router.cluster.adhoc-1.unreachable"), 0);
    assert!(spread(&envoy, &worker, 30).iter().any(|c| c == "trino_adhoc_1"));
}

#[test]
fn a_4xx_of_a_coordinator_never_marks_it_unreachable() {
    let envoy = envoy_with(|_| {});
    let worker = envoy.worker();
    envoy.coordinator("trino_adhoc_1").health = Health::Status(413);
    let refused = query_on(&envoy, &worker, "trino_adhoc_1");
    assert_eq!(refused.status, 413);
    envoy.coordinator("trino_adhoc_1").health = Health::Up;
    assert_eq!(envoy.counter("trino_router.cluster.adhoc-1.unreachable"), 0);
    assert!(spread(&envoy, &worker, 30).iter().any(|c| c == "trino_adhoc_1"));
}

fn rewrite_envoy() -> FakeEnvoy {
    envoy_with(|c| {
        for cluster in c["clusters"].as_array_mut().unwrap() {
            cluster["stickiness"] = json!("rewrite");
        }
    })
}

#[test]
fn in_rewrite_mode_stock_trino_sees_no_forwarded_header_and_the_client_sees_pinned_uris() {
    let envoy = rewrite_envoy();
    let worker = envoy.worker();
    let first = envoy.send(&worker, Request::query("SELECT 1").header("accept-encoding", "gzip"));
    assert_eq!(first.status, 200, "stock Trino answers 406 to any X-Forwarded-* header: {}", first.body);
    let up = first.upstream.as_ref().unwrap();
    assert_eq!(up.headers.get_str("accept-encoding"), Some("identity"), "a page to rewrite must come uncompressed");
    assert_eq!(first.header("content-length"), None, "the page changed length");
    let page = first.json();
    let pin = format!("http://{AUTHORITY}/trino-router/");
    for uri in ["nextUri", "infoUri"] {
        assert!(page[uri].as_str().unwrap().starts_with(&pin), "{uri}: {}", page[uri]);
    }
    let row = page["data"][0][0].as_str().unwrap();
    assert!(row.contains(&format!("http://{AUTHORITY}/v1/statement/executing/")), "row data untouched: {row}");
    let cluster = first.cluster().unwrap().to_string();
    let mut next = first.next_path().unwrap();
    while !next.is_empty() {
        let page = envoy.send(&worker, Request::get(&next).header("accept-encoding", "gzip"));
        assert_eq!((page.status, page.cluster()), (200, Some(cluster.as_str())), "{}", page.body);
        next = page.next_path().unwrap_or_default();
        assert!(next.is_empty() || next.starts_with("/trino-router/"), "{next}");
    }
}

/// Runs a whole query and checks what the client saw of every page: URIs pinned, rows as
/// the coordinator wrote them. Returns the number of pages.
fn run_pinned_query(envoy: &FakeEnvoy, worker: &Plugin, row_bytes: usize) -> usize {
    let pin = format!("http://{AUTHORITY}/trino-router/");
    let mut answer = envoy.send(worker, Request::query("SELECT 1"));
    let mut pages = 1;
    loop {
        assert_eq!(answer.status, 200, "{}", answer.body);
        let page = answer.json();
        assert!(page["infoUri"].as_str().unwrap().starts_with(&pin), "infoUri: {}", page["infoUri"]);
        let rows = page["data"].as_array().unwrap();
        assert!(rows[0][0].as_str().unwrap().contains("/v1/statement/executing/"), "row data untouched");
        if row_bytes > 0 {
            assert_eq!(rows[1][0].as_str().unwrap().len(), row_bytes, "the large row arrives whole");
        }
        let Some(next) = answer.next_path() else { return pages };
        assert!(next.starts_with("/trino-router/"), "nextUri pinned: {next}");
        answer = envoy.send(worker, Request::get(&next));
        pages += 1;
    }
}

#[test]
fn in_rewrite_mode_a_large_page_is_read_only_as_far_as_its_uris() {
    let envoy = rewrite_envoy();
    let worker = envoy.worker();
    envoy.chunk_bytes.set(2 << 20);
    for c in ["trino_adhoc_1", "trino_adhoc_2"] {
        envoy.coordinator(c).row_bytes = 1 << 20;
    }
    let pages = run_pinned_query(&envoy, &worker, 1 << 20);
    let read = envoy.response_bytes_read.get();
    assert!(pages >= 3 && read < pages * 16 * 1024, "{pages} pages of over 1 MB each, {read} bytes read into the VM");
}

#[test]
fn in_rewrite_mode_a_uri_across_two_reads_of_one_chunk_is_pinned() {
    // The filter reads a chunk a window at a time: with the page shifted by every offset,
    // some window boundary falls inside each URI and each key.
    let envoy = rewrite_envoy();
    let worker = envoy.worker();
    envoy.chunk_bytes.set(1 << 20);
    for offset in (0..9000).step_by(23) {
        for c in ["trino_adhoc_1", "trino_adhoc_2"] {
            envoy.coordinator(c).leading_spaces = offset;
        }
        run_pinned_query(&envoy, &worker, 0);
    }
}

#[test]
fn a_page_compressed_anyway_is_passed_through_unrewritten() {
    let envoy = rewrite_envoy();
    let worker = envoy.worker();
    for c in ["trino_adhoc_1", "trino_adhoc_2"] {
        envoy.coordinator(c).gzip = true;
    }
    let answer = envoy.send(&worker, Request::query("SELECT 1"));
    assert!(answer.header("content-length").is_some());
    assert!(answer.next_path().unwrap().starts_with("/v1/statement/"), "not rewritten");
    assert!(envoy.logs().iter().any(|(level, line)| *level == LogLevel::Warn && line.contains("compressed")));
}
