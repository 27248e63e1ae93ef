//! The `trino-router` binary as an operator runs it: exit codes and what it prints.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trino-router")).args(args).output().unwrap();
    (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn repo(path: &str) -> String {
    format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))
}

fn temp_file(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("trino-router-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn validate_accepts_the_shipped_envoy_config() {
    let (code, out, _) = run(&["validate", &repo("envoy/envoy.yaml")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("valid: 3 clusters, 2 groups, 1 rules"), "{out}");
}

#[test]
fn validate_checks_the_config_against_the_envoy_yaml_around_it() {
    let shipped = std::fs::read_to_string(repo("envoy/envoy.yaml")).unwrap();
    let typo = shipped.replacen(r#""envoy_cluster": "trino_etl_1""#, r#""envoy_cluster": "trino_etl1""#, 1);
    let (code, out, _) = run(&["validate", &temp_file("typo.yaml", &typo)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("clusters[2].envoy_cluster: no Envoy cluster named `trino_etl1` in this file"), "{out}");

    // The shipped file reads SQL (route_kill_query) with the default limit of 128 KiB.
    let small_buffer =
        shipped.replacen("    filter_chains:", "    per_connection_buffer_limit_bytes: 65536\n    filter_chains:", 1);
    let (code, out, _) = run(&["validate", &temp_file("buffer.yaml", &small_buffer)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("sql_inspection.max_body_bytes: 131072 is over Envoy's request buffer limit of 65536 (per_connection_buffer_limit_bytes of listener trino"), "{out}");

    let route_limit = shipped.replacen(
        "                route:\n",
        "                per_request_buffer_limit_bytes: 4096\n                route:\n",
        1,
    );
    let (code, out, _) = run(&["validate", &temp_file("route.yaml", &route_limit)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("request buffer limit of 4096 (per_request_buffer_limit_bytes"), "{out}");
}

#[test]
fn validate_names_every_bad_field_and_fails() {
    let bad = r#"{"clusters": [{"name": "a", "envoy_cluster": "x"}],
        "groups": [{"name": "g", "members": [{"cluster": "b"}]}], "default_group": "g",
        "rules": [{"name": "r", "when": {"user": {"regex": "("}}, "route_to": "g"}],
        "stickiness": {"signing_key": "0123456789abcdef0123456789abcdef"}}"#;
    let (code, out, _) = run(&["validate", &temp_file("bad.json", bad)]);
    assert_eq!(code, 1);
    assert!(out.contains("groups[0].members[0].cluster: no cluster named `b`"), "{out}");
    assert!(out.contains("rules[0].when.user.regex: invalid regex"), "{out}");
}

#[test]
fn validate_reads_a_config_embedded_in_yaml() {
    let yaml = r#"
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: trino-router}
spec:
  pluginConfig:
    clusters: [{name: a, envoy_cluster: x}]
    groups: [{name: g, members: [{cluster: a}]}]
    default_group: nope
    stickiness: {signing_key: 0123456789abcdef0123456789abcdef}
"#;
    let (code, out, _) = run(&["validate", &temp_file("plugin.yaml", yaml)]);
    assert_eq!(code, 1);
    assert!(out.contains("WasmPlugin pluginConfig): default_group: no group named `nope`"), "{out}");
}

#[test]
fn explain_with_a_config_names_rule_group_and_clusters() {
    let (code, out, err) = run(&[
        "explain",
        "--config",
        &repo("envoy/envoy.yaml"),
        "--header",
        "X-Trino-Source: airflow",
        "--header",
        "X-Trino-Catalog: hive",
        "--sql",
        "SELECT * FROM finance.ledger",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["rule"], "etl-workloads");
    assert_eq!(v["group"], "etl");
    assert_eq!(v["clusters"][0]["name"], "etl-1");
    assert_eq!(v["tables"], serde_json::json!(["hive.finance.ledger"]));
    assert_eq!(v["statement_type"], "SELECT");
}

#[test]
fn explain_without_a_config_only_analyses() {
    let (code, out, _) = run(&["explain", "--sql", "CREATE TABLE iceberg.s.t AS SELECT * FROM hive.s.u"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["query_type"], "INSERT");
    assert_eq!(v["tables"], serde_json::json!(["hive.s.u", "iceberg.s.t"]));
    assert!(v.get("rule").is_none());
}

#[test]
fn bad_usage_exits_2_with_the_usage() {
    let (code, _, err) = run(&["explain", "--config"]);
    assert_eq!(code, 2);
    assert!(err.contains("--config needs a value"), "{err}");
    let (code, _, err) = run(&["frobnicate"]);
    assert_eq!(code, 2);
    assert!(err.contains("usage:"), "{err}");
}

#[test]
fn validate_refuses_sql_rules_where_envoy_would_not_deliver_the_body() {
    let yaml = std::fs::read_to_string(repo("envoy/envoy.yaml"))
        .unwrap()
        .replace("allow_on_headers_stop_iteration: true", "allow_on_headers_stop_iteration: false")
        .replace(
            r#""rules": ["#,
            r#""rules": [{"name": "w", "when": {"query_type": {"exact": "INSERT"}}, "route_to": "etl"},"#,
        );
    let (code, out, _) = run(&["validate", &temp_file("no-stop.yaml", &yaml)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("does not set allow_on_headers_stop_iteration: true"), "{out}");
}

#[test]
fn validate_checks_the_identify_stage_of_the_rate_limit_examples() {
    for example in ["envoy/examples/rate-limits.yaml", "envoy/examples/rate-limits-global.yaml"] {
        let (code, out, _) = run(&["validate", &repo(example)]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("valid: identify stage for the rate-limit filters"), "{out}");
        assert!(out.contains("valid: 3 clusters, 2 groups, 1 rules"), "{out}");
    }
    let shipped = std::fs::read_to_string(repo("envoy/examples/rate-limits.yaml")).unwrap();
    // The identify stage comes first in the file: these change only its settings.
    let own_vm = shipped.replacen("vm_id: trino_router\n", "vm_id: elsewhere\n", 1);
    let (code, out, _) = run(&["validate", &temp_file("own-vm.yaml", &own_vm)]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("config.vm_config.vm_id: no trino-router filter with vm_id `elsewhere` in this file"),
        "{out}"
    );
    let no_hold =
        shipped.replacen("allow_on_headers_stop_iteration: true", "allow_on_headers_stop_iteration: false", 1);
    let (code, out, _) = run(&["validate", &temp_file("no-hold.yaml", &no_hold)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("config.allow_on_headers_stop_iteration: the router configuration reads the SQL"), "{out}");
    let (code, out, _) = run(&["validate", &temp_file("stage.json", r#"{"stage": "count"}"#)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("stage: unknown stage `count`, expected `identify`"), "{out}");
    let (code, out, _) = run(&["validate", &temp_file("identify.json", r#"{"stage": "identify"}"#)]);
    assert_eq!(code, 0, "{out}");
}
