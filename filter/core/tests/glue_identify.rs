//! The identify stage through the glue, against an in-memory Envoy: an instance configured
//! `{"stage": "identify"}` routes nothing and uses the router configuration of its VM (a thread
//! here, as a VM is per Envoy worker); without one it answers 503 saying so.
// Test code: a panic here fails a test, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::fake_envoy::{FakeEnvoy, Request};
use serde_json::json;

#[test]
fn an_identify_stage_needs_a_router_in_its_vm_and_then_routes_nothing() {
    // Its own thread: the router configuration of a VM is per thread.
    std::thread::spawn(|| {
        let router_config = common::config_json(json!([]), json!({}));
        let envoy = FakeEnvoy::new(&router_config);
        envoy.set_config(&json!({"stage": "identify"}));
        let identify = envoy.worker();
        let alone = envoy.send(&identify, Request::query("SELECT 1"));
        assert_eq!(alone.status, 503);
        assert!(alone.body.contains("identify stage has no router configuration in its VM"), "{}", alone.body);

        envoy.set_config(&router_config);
        let _router = envoy.worker();
        let named = envoy.send(&identify, Request::query("SELECT 1").header("x-trino-router-user", "forged"));
        // It set its headers and let the request go on: no cluster header, so no route (the
        // router instance after it in the chain would have set one).
        assert_eq!(named.status, 404, "{named:?}");
        assert!(named.upstream.is_none());
    })
    .join()
    .unwrap();
}

#[test]
fn a_stage_the_module_does_not_know_is_refused_naming_the_field() {
    let envoy = FakeEnvoy::new(&common::config_json(json!([]), json!({})));
    envoy.set_config(&json!({"stage": "counting"}));
    let mut plugin = trino_router_core::handle::Plugin::new(&envoy);
    assert!(!plugin.configure(&envoy));
    let logs = envoy.logs();
    assert!(logs.iter().any(|(_, l)| l.contains("stage: unknown stage `counting`")), "{logs:?}");
}

#[test]
fn the_router_after_the_stage_routes_by_its_own_query_whatever_the_stage_read_before() {
    // The stage's SQL facts are kept in the VM for the router's turn on the same query; a
    // query that differs in its SQL or in the session it names tables in gets its own.
    std::thread::spawn(|| {
        let rules = json!([{"name": "finance", "when": {"tables": {"any": {"glob": "hive.finance.*"}}},
                            "route_to": "etl"}]);
        let router_config = common::config_json(rules, json!({}));
        let envoy = FakeEnvoy::new(&router_config);
        envoy.set_config(&json!({"stage": "identify"}));
        let stage = envoy.worker();
        envoy.set_config(&router_config);
        let router = envoy.worker();
        let query = |sql: &str, schema: &str| {
            Request::query(sql).header("x-trino-catalog", "hive").header("x-trino-schema", schema)
        };
        let through_both = |stage_reads: Request, router_gets: Request| {
            assert_eq!(envoy.send(&stage, stage_reads).status, 404, "the stage routes nothing");
            envoy.send(&router, router_gets).cluster().map(str::to_string)
        };
        let etl = Some("trino_etl_1".to_string());
        assert_eq!(through_both(query("SELECT * FROM t", "finance"), query("SELECT * FROM t", "finance")), etl);
        let other_session = through_both(query("SELECT * FROM t", "finance"), query("SELECT * FROM t", "web"));
        assert_ne!(other_session, etl, "the same SQL in schema web names hive.web.t");
        let other_sql = through_both(query("SELECT * FROM t", "web"), query("SELECT * FROM finance.t", "web"));
        assert_eq!(other_sql, etl, "the router's own SQL names hive.finance.t");
        let other_sql = through_both(query("SELECT * FROM finance.t", "web"), query("SELECT * FROM t", "web"));
        assert_ne!(other_sql, etl, "the router's own SQL names hive.web.t");
    })
    .join()
    .unwrap();
}
