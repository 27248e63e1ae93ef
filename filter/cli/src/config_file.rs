//! Finds the router's JSON config in a file: the JSON itself, or every trino-router wasm
//! filter inside an Envoy YAML (bootstrap, ECDS `TypedExtensionConfig`, or Istio `WasmPlugin`),
//! with what that Envoy document says about the filter's surroundings.

use serde::Deserialize;
use serde_yaml::Value;

/// One embedded config and where it was found, for messages.
pub struct Found {
    pub location: String,
    pub json: String,
    /// Whether Envoy lets the filter hold a request's headers while it reads the body
    /// (`allow_on_headers_stop_iteration`); None when the file does not say (plain JSON).
    pub holds_headers: Option<bool>,
    /// The Envoy document around the filter, when it is a bootstrap with static resources.
    pub envoy: Option<EnvoyFacts>,
    /// The `vm_config.vm_id` of a wasm filter: instances with the same one share a VM (the
    /// identify stage reads the router configuration of its VM).
    pub vm_id: Option<String>,
}

/// What an Envoy bootstrap says that the filter's config must agree with.
pub struct EnvoyFacts {
    /// Names of its static clusters.
    pub clusters: Vec<String>,
    /// The smallest request buffer limit of its listeners and routes, and the setting that
    /// sets it: Envoy answers 413 itself when a buffered request body outgrows it.
    pub buffer_limit: (u64, String),
}

/// Envoy's default `per_connection_buffer_limit_bytes`.
const DEFAULT_BUFFER_LIMIT: u64 = 1024 * 1024;

pub fn find_configs(text: &str) -> Result<Vec<Found>, String> {
    if text.trim_start().starts_with('{') {
        return Ok(vec![Found {
            location: "file".to_string(),
            json: text.to_string(),
            holds_headers: None,
            envoy: None,
            vm_id: None,
        }]);
    }
    let mut found = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(doc).map_err(|e| format!("not JSON, and not YAML: {e}"))?;
        let first_of_doc = found.len();
        walk(&value, &format!("document {}", i + 1), &mut found);
        for f in found.iter_mut().skip(first_of_doc) {
            f.envoy = envoy_facts(&value);
        }
    }
    if found.is_empty() {
        return Err("no wasm filter configuration found (looked for a typed_config of type \
                    envoy.extensions.filters.http.wasm.v3.Wasm and for an Istio WasmPlugin pluginConfig)"
            .to_string());
    }
    Ok(found)
}

fn walk(v: &Value, at: &str, found: &mut Vec<Found>) {
    match v {
        Value::Mapping(m) => {
            let is_wasm = m.get("@type").and_then(Value::as_str).is_some_and(|t| t.ends_with(".wasm.v3.Wasm"));
            if is_wasm {
                let config = m.get("config");
                let holds = config.and_then(|c| c.get("allow_on_headers_stop_iteration")).and_then(Value::as_bool);
                if let Some(s) =
                    config.and_then(|c| c.get("configuration")).and_then(|c| c.get("value")).and_then(Value::as_str)
                {
                    let location = format!("{at}: wasm filter");
                    let vm_id = config
                        .and_then(|c| c.get("vm_config"))
                        .and_then(|v| v.get("vm_id"))
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    found.push(Found {
                        location,
                        json: s.to_string(),
                        holds_headers: Some(holds == Some(true)),
                        envoy: None,
                        vm_id: Some(vm_id.unwrap_or_default()),
                    });
                }
            }
            if m.get("kind").and_then(Value::as_str) == Some("WasmPlugin") {
                if let Some(pc) = m.get("spec").and_then(|s| s.get("pluginConfig")) {
                    if let Ok(json) = serde_json::to_string(pc) {
                        // A WasmPlugin cannot set allow_on_headers_stop_iteration.
                        let location = format!("{at}: WasmPlugin pluginConfig");
                        found.push(Found { location, json, holds_headers: Some(false), envoy: None, vm_id: None });
                    }
                }
            }
            for (k, child) in m {
                let key = k.as_str().unwrap_or("?");
                walk(child, &format!("{at}.{key}"), found);
            }
        }
        Value::Sequence(s) => s.iter().enumerate().for_each(|(i, child)| walk(child, &format!("{at}[{i}]"), found)),
        Value::Tagged(t) => walk(&t.value, at, found),
        _ => {}
    }
}

/// The clusters and buffer limits of a bootstrap with `static_resources`; None otherwise
/// (an ECDS resource or an Istio manifest: their Envoy lives elsewhere).
fn envoy_facts(doc: &Value) -> Option<EnvoyFacts> {
    let resources = doc.get("static_resources")?;
    let clusters = resources
        .get("clusters")
        .and_then(Value::as_sequence)
        .map(|cs| cs.iter().filter_map(|c| c.get("name")?.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let mut limit = (u64::MAX, String::new());
    for (i, listener) in resources.get("listeners").and_then(Value::as_sequence).into_iter().flatten().enumerate() {
        let name = listener.get("name").and_then(Value::as_str).map_or(format!("listeners[{i}]"), str::to_string);
        let own = listener.get("per_connection_buffer_limit_bytes").and_then(as_u64).unwrap_or(DEFAULT_BUFFER_LIMIT);
        if own < limit.0 {
            limit = (own, format!("per_connection_buffer_limit_bytes of listener {name} (Envoy's default is 1048576)"));
        }
        route_limits(listener, &format!("listener {name}"), &mut limit);
    }
    (limit.0 != u64::MAX).then_some(EnvoyFacts { clusters, buffer_limit: limit })
}

/// Lowers `limit` to any per-route or per-virtual-host request buffer limit under `v`.
fn route_limits(v: &Value, at: &str, limit: &mut (u64, String)) {
    match v {
        Value::Mapping(m) => {
            for key in ["per_request_buffer_limit_bytes", "request_body_buffer_limit"] {
                if let Some(n) = m.get(key).and_then(as_u64).filter(|n| *n < limit.0) {
                    let name = m.get("name").and_then(Value::as_str).unwrap_or("a route");
                    *limit = (n, format!("{key} of {name} in {at}"));
                }
            }
            m.values().for_each(|child| route_limits(child, at, limit));
        }
        Value::Sequence(s) => s.iter().for_each(|child| route_limits(child, at, limit)),
        _ => {}
    }
}

/// A number as Envoy YAML writes it: plain, or a `UInt32Value`/`UInt64Value` wrapper.
fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.get("value")?.as_u64())
}
