//! Scenarios of the glue on the request side, against an in-memory Envoy: where new
//! queries and their follow-ups go, what reaches the coordinator, and what the client gets
//! when the router answers itself. Body scenarios: SQL rules, limits, kill_query.
// Test code: a panic here fails a test, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::fake_envoy::{FakeEnvoy, Health, Request};
use serde_json::{json, Value};

fn etl_rule() -> Value {
    json!([{"name": "etl-workloads", "when": {"user": {"exact": "etl"}}, "route_to": "etl"}])
}

fn envoy_with(mutate: impl FnOnce(&mut Value)) -> FakeEnvoy {
    let mut config = common::config_json(etl_rule(), json!({}));
    mutate(&mut config);
    FakeEnvoy::new(&config)
}

#[test]
fn a_query_of_user_etl_runs_on_etl_1_and_every_page_comes_back_from_it() {
    let envoy = envoy_with(|_| {});
    let worker = envoy.worker();
    let first = envoy.send(&worker, Request::query("SELECT 1").header("x-trino-user", "etl"));
    assert_eq!((first.status, first.cluster()), (200, Some("trino_etl_1")));
    let prefix = first.upstream.as_ref().unwrap().headers.get_str("x-forwarded-prefix").unwrap().to_string();
    assert!(prefix.starts_with("/trino-router/"), "{prefix}");
    let mut next = first.next_path().unwrap();
    assert!(next.starts_with(&prefix), "the coordinator wrote the pin into nextUri: {next}");
    let mut pages = 1;
    while !next.is_empty() {
        let page = envoy.send(&worker, Request::get(&next).header("x-trino-user", "etl"));
        assert_eq!((page.status, page.cluster()), (200, Some("trino_etl_1")), "{}", page.body);
        let up = page.upstream.as_ref().unwrap();
        assert!(up.path.starts_with("/v1/statement/executing/"), "the pin is stripped upstream: {}", up.path);
        next = page.next_path().unwrap_or_default();
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(envoy.counter("trino_router.queries.cluster.etl-1"), 1);
    assert_eq!(envoy.counter("trino_router.followups.pinned"), 2);
}

#[test]
fn given_adhoc_1_refused_two_polls_new_queries_go_to_adhoc_2_and_its_pinned_follow_ups_still_reach_it() {
    let envoy = envoy_with(|_| {});
    let mut worker = envoy.worker();
    // A query that started on adhoc-1 before it went bad.
    let started = (0..20)
        .map(|_| envoy.send(&worker, Request::query("SELECT 1")))
        .find(|a| a.cluster() == Some("trino_adhoc_1"))
        .expect("adhoc-1 takes some of the adhoc queries");
    envoy.coordinator("trino_adhoc_1").health = Health::Refused;
    envoy.tick(&mut worker);
    envoy.advance(1);
    envoy.tick(&mut worker);
    // Envoy's health checks say adhoc-1 is bad, yet the coordinator still serves its queries.
    envoy.coordinator("trino_adhoc_1").health = Health::Up;
    for _ in 0..20 {
        assert_eq!(envoy.send(&worker, Request::query("SELECT 1")).cluster(), Some("trino_adhoc_2"));
    }
    let follow_up = envoy.send(&worker, Request::get(&started.next_path().unwrap()));
    assert_eq!((follow_up.status, follow_up.cluster()), (200, Some("trino_adhoc_1")));
}

#[test]
fn a_follow_up_by_query_id_alone_reaches_the_coordinator_that_issued_the_id() {
    let envoy = envoy_with(|_| {});
    let worker = envoy.worker();
    let first = envoy.send(&worker, Request::query("SELECT 1").header("x-trino-user", "etl"));
    let id = first.json()["id"].as_str().unwrap().to_string();
    let info = envoy.send(&worker, Request::get(&format!("/v1/query/{id}")));
    assert_eq!((info.status, info.cluster()), (200, Some("trino_etl_1")));
    assert_eq!(envoy.counter("trino_router.followups.query_id"), 1);
}

#[test]
fn what_a_client_sends_cannot_choose_the_pin_or_the_route() {
    let envoy = envoy_with(|_| {});
    let worker = envoy.worker();
    let answer = envoy.send(
        &worker,
        Request::query("SELECT 1")
            .header("x-trino-user", "etl")
            .header("x-trino-router-cluster", "trino_adhoc_1")
            .header("x-forwarded-prefix", "/evil")
            .header("accept-encoding", "gzip"),
    );
    let up = answer.upstream.unwrap();
    assert_eq!(up.envoy_cluster, "trino_etl_1");
    assert_ne!(up.headers.get_str("x-forwarded-prefix"), Some("/evil"));
    assert_eq!(
        up.headers.get_str("accept-encoding"),
        Some("identity"),
        "a new query's page is read, so it must come uncompressed"
    );
    let info = envoy.send(&worker, Request::get("/v1/info").header("x-forwarded-prefix", "/evil"));
    assert_eq!(info.upstream.unwrap().headers.get("x-forwarded-prefix"), None, "server info is not pinned");
}

#[test]
fn a_coordinator_that_processes_forwarded_headers_sees_only_what_envoy_knows() {
    let envoy = envoy_with(|_| {});
    let worker = envoy.worker();
    let answer = envoy.send(
        &worker,
        Request::query("SELECT 1")
            .header("x-trino-user", "alice")
            .header("forwarded", "for=1.2.3.4;host=evil.example;proto=https")
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-port", "4443")
            .header("x-forwarded-server", "evil.example")
            .header("x-forwarded-for", "1.2.3.4"),
    );
    let up = answer.upstream.unwrap();
    assert!(up.envoy_cluster.starts_with("trino_adhoc"), "{}", up.envoy_cluster);
    for name in ["forwarded", "x-forwarded-host", "x-forwarded-port", "x-forwarded-server"] {
        assert_eq!(up.headers.get(name), None, "{name} reached the coordinator");
    }
    assert_eq!(up.headers.get_str("x-forwarded-for"), Some("10.9.8.7"), "the address Envoy determined");
}

#[test]
fn the_router_answers_what_it_cannot_place_in_trinos_error_form() {
    let envoy = envoy_with(|_| {});
    let worker = envoy.worker();
    let unknown = envoy.send(&worker, Request::get("/etc/passwd"));
    assert_eq!((unknown.status, unknown.upstream.is_none()), (404, true));
    assert!(unknown.body.starts_with("Error 404 Not Found: trino-router:"), "{}", unknown.body);
    let forged = envoy.send(
        &worker,
        Request::get(
            "/trino-router/AQdhZGhvYy0xAAAAAAAAAAAAAAAAAAAAAA/v1/statement/executing/20261120_101500_00001_zzzzz/y1/1",
        ),
    );
    assert_eq!(forged.status, 400, "{}", forged.body);
    let lost = envoy.send(&worker, Request::get("/v1/query/20261120_101500_00001_zzzzz"));
    assert_eq!(lost.status, 404);
    assert_eq!(envoy.counter("trino_router.refused.unknown_path"), 1);
    assert_eq!(envoy.decision_logged().as_deref(), Some("reply=404 via=unknown_query"));
}

#[test]
fn with_every_member_of_the_group_down_a_new_query_is_told_to_retry() {
    let envoy = envoy_with(|_| {});
    let mut worker = envoy.worker();
    for c in ["trino_adhoc_1", "trino_adhoc_2"] {
        envoy.coordinator(c).health = Health::Refused;
    }
    envoy.tick(&mut worker);
    let answer = envoy.send(&worker, Request::query("SELECT 1"));
    assert_eq!((answer.status, answer.header("retry-after").as_deref()), (503, Some("1")));
}

#[test]
fn a_worker_without_a_config_refuses_requests_but_never_hangs_them() {
    let envoy = envoy_with(|_| {});
    envoy.set_config(&json!({"clusters": []}));
    let mut worker = trino_router_core::handle::Plugin::new(&envoy);
    assert!(!worker.configure(&envoy), "an invalid config is refused");
    let answer = envoy.send(&worker, Request::query("SELECT 1"));
    assert_eq!((answer.status, answer.header("retry-after").as_deref()), (503, Some("1")));
}

#[test]
fn a_failing_hostcall_becomes_an_error_answer_not_a_crash() {
    let envoy = envoy_with(|_| {});
    let worker = envoy.worker();
    envoy.fail("set_request_header");
    let answer = envoy.send(&worker, Request::query("SELECT 1"));
    assert_eq!(answer.status, 500);
    assert!(answer.body.contains("cannot rewrite the request"), "{}", answer.body);
    envoy.fail("request_headers");
    assert_eq!(envoy.send(&worker, Request::query("SELECT 1")).status, 500);
}

/// Every hostcall of the `Host` trait, by the fake's name for it.
const HOSTCALLS: [&str; 26] = [
    "now_ms",
    "plugin_configuration",
    "set_tick_period",
    "request_headers",
    "set_request_header",
    "remove_request_header",
    "clear_route_cache",
    "set_filter_state",
    "send_reply",
    "response_header",
    "response_headers",
    "set_response_header",
    "add_response_header",
    "remove_response_header",
    "property",
    "body",
    "replace_response_body",
    "shared_get",
    "shared_set",
    "dispatch_call",
    "resume_request",
    "call_response_header",
    "define_counter",
    "increment_counter",
    "log",
    "log_level",
];

#[test]
fn whichever_hostcall_fails_every_client_still_gets_an_answer() {
    for hostcall in HOSTCALLS {
        let envoy = envoy_with(|c| c["debug_response_header"] = json!(true));
        let mut worker = envoy.worker();
        envoy.tick(&mut worker);
        let first = envoy.send(&worker, Request::query("SELECT 1"));
        let next = first.next_path().unwrap();
        envoy.fail(hostcall);
        envoy.tick(&mut worker);
        // The fake fails a test when the filter holds a request with no answer (Envoy would
        // hang) or a stream gets two local replies; a panic fails it too.
        let new = envoy.send(&worker, Request::query("SELECT 1"));
        let page = envoy.send(&worker, Request::get(&next));
        let refused = envoy.send(&worker, Request::get("/trino-router/forged/v1/statement/executing/x/y/1"));
        let cluster_named = envoy.send(&worker, Request::get("/nope").header("x-trino-router-cluster", "trino_etl_1"));
        // etl-1's coordinator id is not known yet: the request is held while it is looked up.
        let looked_up = envoy.send(&worker, Request::get("/v1/query/20261120_101500_00001_ccccc"));
        for answer in [&new, &page, &refused, &looked_up] {
            assert!(answer.status >= 200, "{hostcall}: {answer:?}");
        }
        assert_ne!(refused.status, 200, "{hostcall}: a forged token never reaches a coordinator");
        assert!(cluster_named.upstream.is_none(), "{hostcall}: a client never picks the cluster");
        if hostcall == "send_reply" {
            assert_eq!(refused.status, 404, "Envoy's own answer: no route without the cluster header");
        }
    }
}

#[test]
fn the_debug_header_tells_the_decision_when_configured() {
    let envoy = envoy_with(|c| c["debug_response_header"] = json!(true));
    let worker = envoy.worker();
    let answer = envoy.send(&worker, Request::query("SELECT 1").header("x-trino-user", "etl"));
    assert_eq!(
        answer.header("x-trino-router-decision").as_deref(),
        Some("cluster=etl-1 group=etl rule=etl-workloads via=rule")
    );
    let refused = envoy.send(&worker, Request::get("/nope"));
    assert_eq!(refused.header("x-trino-router-decision").as_deref(), Some("reply=404 via=unknown_path"));
}

// Body scenarios.

fn sql_rules() -> Value {
    json!([
        {"name": "too-big", "when": {"sql_inspection": {"exact": "too_large"}}, "route_to": "etl"},
        {"name": "writes", "when": {"query_type": {"in": ["INSERT", "DELETE"]}}, "route_to": "etl"}
    ])
}

#[test]
fn with_sql_rules_a_write_goes_to_etl_and_a_read_to_adhoc_whatever_the_body_chunks() {
    let envoy = envoy_with(|c| c["rules"] = sql_rules());
    let worker = envoy.worker();
    let long_insert = format!("INSERT INTO hive.s.t SELECT * FROM hive.s.u WHERE x IN ({})", "1, ".repeat(100) + "1");
    let write = envoy.send(&worker, Request::query(&long_insert));
    assert_eq!(write.cluster(), Some("trino_etl_1"));
    let read = envoy.send(&worker, Request::query("SELECT * FROM hive.s.u"));
    assert!(read.cluster().unwrap().starts_with("trino_adhoc"));
    assert_eq!(envoy.counter("trino_router.sql.analysed"), 2);
    assert_eq!(envoy.decision_logged().as_deref().map(|d| d.ends_with("sql=analysed")), Some(true));
}

#[test]
fn a_body_over_the_limit_is_decided_at_once_without_reading_it() {
    let envoy = envoy_with(|c| {
        c["rules"] = sql_rules();
        c["sql_inspection"] = json!({"max_body_bytes": 100});
    });
    let worker = envoy.worker();
    let big = format!("SELECT {}", "1 + ".repeat(100) + "1");
    assert_eq!(envoy.send(&worker, Request::query(&big)).cluster(), Some("trino_etl_1"));
    assert_eq!(envoy.counter("trino_router.sql.too_large"), 1);
    let broken = envoy.send(&worker, Request::query("SELECT 'unterminated"));
    assert!(broken.cluster().unwrap().starts_with("trino_adhoc"), "unparseable SQL matches no SQL rule");
    assert_eq!(envoy.counter("trino_router.sql.unparseable"), 1);
}

#[test]
fn a_body_declared_over_the_limit_is_never_held_so_envoy_never_has_to_buffer_it() {
    let envoy = envoy_with(|c| {
        c["rules"] = sql_rules();
        c["sql_inspection"] = json!({"max_body_bytes": 100});
    });
    let worker = envoy.worker();
    let big = envoy.send(&worker, Request::query(&format!("SELECT {}", "1 + ".repeat(100) + "1")));
    assert_eq!((big.cluster(), big.held_for_body), (Some("trino_etl_1"), false));
    let small = envoy.send(&worker, Request::query(&format!("SELECT {}", "1 + ".repeat(20) + "1")));
    assert!(small.held_for_body, "a declared body within the limit is read, in as many pieces as it takes");
    assert_eq!(envoy.counter("trino_router.sql.analysed"), 1);
}

#[test]
fn a_body_of_undeclared_length_is_read_only_when_it_comes_whole() {
    let envoy = envoy_with(|c| c["rules"] = sql_rules());
    let worker = envoy.worker();
    let insert = format!("INSERT INTO hive.s.t SELECT * FROM hive.s.u WHERE x IN ({})", "1, ".repeat(100) + "1");
    let whole = envoy.send(&worker, Request::query(&insert).chunked().in_pieces_of(100_000));
    assert_eq!(whole.cluster(), Some("trino_etl_1"));
    assert_eq!(envoy.counter("trino_router.sql.analysed"), 1);
    // In pieces it would have to be buffered, with no bound Envoy knows of: not read.
    let pieces = envoy.send(
        &worker,
        Request::query("SELECT * FROM hive.s.u -- a comment that runs on and on, longer than one piece").chunked(),
    );
    assert_eq!(pieces.cluster(), Some("trino_etl_1"), "the too_large rule takes it");
    assert_eq!(envoy.counter("trino_router.sql.too_large"), 1);
}

#[test]
fn kill_query_goes_to_the_cluster_that_runs_the_query_it_kills() {
    let envoy = envoy_with(|c| c["sql_inspection"] = json!({"route_kill_query": true}));
    let worker = envoy.worker();
    let victim = envoy.send(&worker, Request::query("SELECT 1").header("x-trino-user", "etl"));
    let id = victim.json()["id"].as_str().unwrap().to_string();
    let kill = envoy.send(&worker, Request::query(&format!("CALL system.runtime.kill_query(query_id => '{id}')")));
    assert_eq!(kill.cluster(), Some("trino_etl_1"));
    assert_eq!(envoy.counter("trino_router.queries.via.kill_query"), 1);
}

#[test]
fn without_sql_rules_the_body_is_never_read() {
    let envoy = envoy_with(|_| {});
    let worker = envoy.worker();
    envoy.send(&worker, Request::query("INSERT INTO t VALUES 1"));
    assert_eq!(envoy.counter("trino_router.sql.analysed"), 0);
    assert_eq!(envoy.decision_logged().map(|d| d.contains("sql=")), Some(false));
}

#[test]
fn with_sql_rules_a_new_query_without_a_body_is_decided_at_once() {
    let envoy = envoy_with(|c| c["rules"] = sql_rules());
    let worker = envoy.worker();
    let answer = envoy.send(&worker, Request::new("POST", "/v1/statement"));
    assert!(answer.cluster().unwrap().starts_with("trino_adhoc"), "empty SQL matches no SQL rule");
    assert_eq!(envoy.counter("trino_router.sql.unparseable"), 1);
}

#[test]
fn a_strip_mark_sent_by_a_client_does_not_reach_a_forwarded_prefix_cluster() {
    let envoy = envoy_with(|_| {});
    let worker = envoy.worker();
    let answer = envoy.send(
        &worker,
        Request::query("SELECT 1").header("x-trino-user", "etl").header("x-trino-router-strip-forwarded", "true"),
    );
    let up = answer.upstream.unwrap();
    assert_eq!(up.headers.get("x-trino-router-strip-forwarded"), None);
    assert!(up.headers.get("x-forwarded-prefix").is_some(), "the pin still reaches the coordinator");
}

#[test]
fn with_only_sql_searches_the_text_is_searched_and_never_analysed() {
    let envoy = envoy_with(|c| {
        c["rules"] = json!([{"name": "joins", "when": {"sql": {"search": "(?i)\\bjoin\\b"}}, "route_to": "etl"}]);
    });
    let worker = envoy.worker();
    let join = envoy.send(&worker, Request::query("SELECT * FROM a JOIN b ON a.x = b.x"));
    let plain = envoy.send(&worker, Request::query("SELECT 1"));
    assert_eq!(
        (join.cluster(), plain.cluster().is_some_and(|c| c.starts_with("trino_adhoc"))),
        (Some("trino_etl_1"), true)
    );
    assert_eq!(envoy.counter("trino_router.sql.read"), 2);
    assert_eq!(envoy.counter("trino_router.sql.analysed"), 0, "no rule needs the analysis");
}

#[test]
fn two_workers_started_in_the_same_millisecond_spread_queries_differently() {
    let envoy = envoy_with(|_| {});
    let (first, second) = (envoy.worker(), envoy.worker());
    let picks = |worker| -> Vec<Option<String>> {
        (0..32).map(|_| envoy.send(worker, Request::query("SELECT 1")).cluster().map(str::to_string)).collect()
    };
    let (a, b) = (picks(&first), picks(&second));
    assert!(a.iter().chain(&b).all(|c| c.as_deref().is_some_and(|c| c.starts_with("trino_adhoc"))));
    assert_ne!(a, b, "same clock, same sequence: the workers' randomness is not independent");
}
