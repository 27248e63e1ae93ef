//! Config validation: a good config compiles; every bad one is rejected with errors that
//! name the offending field, all of them at once.
// Test code: a panic here fails a test, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::config_json;
use serde_json::{json, Value};
use trino_router_core::config::Config;

fn errors(v: Value) -> Vec<String> {
    Config::from_json(v.to_string().as_bytes()).unwrap_err().0.iter().map(ToString::to_string).collect()
}

fn base() -> Value {
    config_json(json!([]), json!({}))
}

#[test]
fn the_shipped_envoy_config_embeds_a_valid_filter_config() {
    let yaml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../envoy/envoy.yaml")).unwrap();
    let start = yaml.find("value: |").unwrap();
    let json: String = yaml[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("                    "))
        .collect::<Vec<_>>()
        .join("\n");
    let c = Config::from_json(json.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.clusters.len(), 3);
}

#[test]
fn unknown_fields_are_rejected_with_their_path() {
    let mut v = base();
    v["clusters"][1]["envoy_clustr"] = json!("x");
    let e = errors(v);
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("clusters[1].envoy_clustr: unknown field `envoy_clustr`"), "{e:?}");

    let mut v = base();
    v["stickiness"]["signing_kee"] = json!("x");
    assert!(errors(v)[0].starts_with("stickiness.signing_kee: unknown field"));
}

#[test]
fn dangling_references_are_all_reported() {
    let mut v = base();
    v["groups"][0]["members"][1]["cluster"] = json!("adhoc-9");
    v["default_group"] = json!("nope");
    v["rules"] = json!([{"name": "r", "when": {"user": {"exact": "a"}}, "route_to": "missing"}]);
    v["routing_group_header"] = json!({"enabled": true, "allowed_groups": ["etl", "ghost"]});
    let e = errors(v);
    assert_eq!(
        e,
        vec![
            "groups[0].members[1].cluster: no cluster named `adhoc-9`",
            "default_group: no group named `nope`",
            "rules[0].route_to: no group named `missing`",
            "routing_group_header.allowed_groups[1]: no group named `ghost`",
        ]
    );
}

#[test]
fn bad_rules_name_the_field_inside_the_condition() {
    let mut v = base();
    v["rules"] = json!([
        {"name": "ok", "when": {"user": {"exact": "a"}}, "route_to": "etl"},
        {"name": "ok", "when": {"all": [{"source": {"regex": "a("}}]}, "route_to": "etl"}
    ]);
    assert_eq!(
        errors(v),
        vec!["rules[1].name: duplicate rule `ok`", "rules[1].when.all[0].source.regex: invalid regex: unclosed group"]
    );
}

#[test]
fn weak_keys_and_bad_names_are_rejected_without_echoing_the_key() {
    let mut v = base();
    v["stickiness"]["signing_key"] = json!("short-secret");
    v["clusters"][0]["name"] = json!("has space");
    v["groups"][1]["members"] = json!([]);
    v["groups"][0]["members"][0]["weight"] = json!(0);
    let e = errors(v);
    assert!(e.iter().all(|m| !m.contains("short-secret")));
    assert!(e.contains(&"stickiness.signing_key: must be at least 32 bytes".to_string()), "{e:?}");
    assert!(e.iter().any(|m| m.starts_with("clusters[0].name:")), "{e:?}");
    assert!(e.contains(&"groups[1].members: a group needs at least one cluster".to_string()), "{e:?}");
    assert!(
        e.iter().any(|m| m.starts_with("groups[0].members[0].cluster: no cluster named `adhoc-1`"))
            || e.iter().any(|m| m.starts_with("groups[0].members[0].weight")),
        "{e:?}"
    );
}

#[test]
fn malformed_json_and_wrong_types_say_where() {
    assert_eq!(
        Config::from_json(b"{").unwrap_err().to_string(),
        "invalid JSON: EOF while parsing an object at line 1 column 1"
    );
    let mut v = base();
    v["clusters"][0]["stickiness"] = json!("sometimes");
    assert!(errors(v)[0].starts_with("clusters[0].stickiness: unknown variant `sometimes`"));
    let mut v = base();
    v["health"] = json!({"poll_interval_seconds": "5"});
    assert!(errors(v)[0].starts_with("health.poll_interval_seconds: invalid type: string"));
}

#[test]
fn a_missing_required_field_is_named() {
    let mut v = base();
    v.as_object_mut().unwrap().remove("stickiness");
    assert_eq!(errors(v), vec!["missing field `stickiness`"]);
}

#[test]
fn fallback_chains_must_exist_and_not_loop() {
    let mut v = base();
    v["groups"][0]["fallback"] = json!("etl");
    v["groups"][1]["fallback"] = json!("adhoc");
    let e = errors(v);
    assert!(e.contains(&"groups[0].fallback: fallbacks loop: adhoc -> etl -> adhoc".to_string()), "{e:?}");
    let mut v = base();
    v["groups"][0]["fallback"] = json!("nowhere");
    assert_eq!(errors(v), vec!["groups[0].fallback: no group named `nowhere`"]);
}

#[test]
fn states_selections_and_health_settings_are_checked() {
    let mut v = base();
    v["clusters"][0]["state"] = json!("sleeping");
    assert!(errors(v)[0].starts_with("clusters[0].state: unknown variant `sleeping`"));
    let mut v = base();
    v["groups"][0]["selection"] = json!("round_robin");
    assert!(errors(v)[0].starts_with("groups[0].selection: unknown variant `round_robin`"));
    let mut v = base();
    v["health"] = json!({"unhealthy_after": 0, "poll_interval_seconds": 0});
    let e = errors(v);
    assert!(e.contains(&"health.poll_interval_seconds: must be at least 1".to_string()), "{e:?}");
    assert!(e.contains(&"health.unhealthy_after: must be at least 1".to_string()), "{e:?}");
    let mut v = base();
    v["load"] = json!({"source": "prometheus"});
    assert!(errors(v)[0].starts_with("load.source: unknown variant `prometheus`"));
}

#[test]
fn affinity_and_the_web_ui_are_checked_and_name_their_fields() {
    let mut v = base();
    v["groups"][0]["affinity"] = json!({});
    v["web_ui"] = json!({"enabled": true, "cluster_entry": true});
    let c = Config::from_json(v.to_string().as_bytes()).unwrap();
    let affinity = c.groups[0].affinity.as_ref().unwrap();
    assert_eq!((affinity.cookie.as_str(), affinity.ttl_seconds), ("trino-router-affinity-adhoc", 3600));
    let web_ui = c.web_ui.unwrap();
    assert_eq!((web_ui.cookie.as_str(), web_ui.ttl_seconds, web_ui.cluster_entry), ("trino-router-ui", 28800, true));
    assert!(
        c.groups[1].affinity.is_none() && Config::from_json(base().to_string().as_bytes()).unwrap().web_ui.is_none()
    );

    let mut v = base();
    v["groups"][0]["affinity"] = json!({"ttl_seconds": 0, "cookie": "bad cookie"});
    v["groups"][1]["affinity"] = json!({"ttl_seconds": 99_999_999, "cookie": "__Host-x"});
    v["web_ui"] = json!({"enabled": true, "ttl_seconds": 0, "cookie": ""});
    assert_eq!(
        errors(v),
        vec![
            "groups[0].affinity.ttl_seconds: must be between 1 and 2592000",
            "groups[0].affinity.cookie: must be 1-100 letters, digits, `-`, `_` or `.`, not starting with `__`",
            "groups[1].affinity.ttl_seconds: must be between 1 and 2592000",
            "groups[1].affinity.cookie: must be 1-100 letters, digits, `-`, `_` or `.`, not starting with `__`",
            "web_ui.ttl_seconds: must be between 1 and 2592000",
            "web_ui.cookie: must be 1-100 letters, digits, `-`, `_` or `.`, not starting with `__`",
        ]
    );
    let mut v = base();
    v["groups"][0]["affinity"] = json!({"cookie": "session"});
    v["groups"][1]["affinity"] = json!({"cookie": "session"});
    v["web_ui"] = json!({"enabled": true, "cookie": "session"});
    assert_eq!(
        errors(v),
        vec![
            "groups[1].affinity.cookie: cookie `session` is also set by groups[0].affinity.cookie",
            "web_ui.cookie: cookie `session` is also set by groups[0].affinity.cookie",
        ]
    );
    let mut v = base();
    v["groups"][0]["affinity"] = json!({"ttl": 5});
    assert!(errors(v)[0].starts_with("groups[0].affinity.ttl: unknown field `ttl`"));
    let mut v = base();
    v["web_ui"] = json!({"cluster_entry": true});
    assert_eq!(errors(v), vec!["web_ui.cluster_entry: set `enabled: true` to use cluster_entry"]);
    let mut v = base();
    v["groups"][0]["affinity"] = json!("session");
    assert!(errors(v)[0].starts_with("groups[0].affinity: invalid type: string"));
}

#[test]
fn limits_and_the_queue_are_checked_with_their_fields() {
    let mut v = base();
    v["clusters"][0]["limits"] = json!({});
    v["clusters"][1]["limits"] = json!({"max_running": 0});
    v["clusters"][2]["limits"] = json!({"max_runing": 3});
    v["load"] = json!({"replicas": 0});
    v["queue"] = json!({"enabled": true, "max_wait_seconds": 0, "ticket_ttl_seconds": 1, "max_ticket_bytes": 100});
    let e = errors(v);
    assert!(e[0].starts_with("clusters[2].limits.max_runing: unknown field"), "{e:?}");

    let mut v = base();
    v["clusters"][0]["limits"] = json!({});
    v["clusters"][1]["limits"] = json!({"max_running": 0});
    v["load"] = json!({"replicas": 0});
    v["queue"] = json!({"enabled": true, "max_wait_seconds": 0, "ticket_ttl_seconds": 1, "max_ticket_bytes": 100});
    let e = errors(v);
    for expected in [
        "queue.max_wait_seconds: must be 1..86400",
        "queue.ticket_ttl_seconds: must be 5..3600",
        "queue.max_ticket_bytes: must be 512..32768",
        "load.replicas: must be 1..1000",
        "clusters[0].limits: set max_running, max_queued or both",
        "clusters[1].limits.max_running: must be at least 1",
        "clusters[0].limits: limits are judged from polled load: set load.source to metrics or ui_stats",
    ] {
        assert!(e.iter().any(|x| x.starts_with(expected)), "missing {expected}: {e:?}");
    }

    let mut v = base();
    v["queue"] = json!({"enabled": true});
    assert!(errors(v)[0].starts_with("queue.enabled: no cluster has limits"));

    let mut v = base();
    v["clusters"][0]["limits"] = json!({"max_running": 5, "max_queued": 2});
    v["load"] = json!({"source": "metrics", "replicas": 2});
    v["queue"] = json!({"enabled": true});
    let c = Config::from_json(v.to_string().as_bytes()).unwrap();
    assert!(c.queue.enabled && c.reads_sql, "a waiting query travels with its SQL: bodies are read");
    assert_eq!(c.queue.max_wait_ms, 300_000);
}
