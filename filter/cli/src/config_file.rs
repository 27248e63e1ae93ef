//! Finds the router's JSON config in a file: the JSON itself, or every trino-router wasm
//! filter inside an Envoy YAML (bootstrap, ECDS `TypedExtensionConfig`, or Istio `WasmPlugin`).

use serde::Deserialize;
use serde_yaml::Value;

/// One embedded config and where it was found, for messages.
pub struct Found {
    pub location: String,
    pub json: String,
    /// Whether Envoy lets the filter hold a request's headers while it reads the body
    /// (`allow_on_headers_stop_iteration`); None when the file does not say (plain JSON).
    pub holds_headers: Option<bool>,
}

pub fn find_configs(text: &str) -> Result<Vec<Found>, String> {
    if text.trim_start().starts_with('{') {
        return Ok(vec![Found { location: "file".to_string(), json: text.to_string(), holds_headers: None }]);
    }
    let mut found = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(doc).map_err(|e| format!("not JSON, and not YAML: {e}"))?;
        walk(&value, &format!("document {}", i + 1), &mut found);
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
                    found.push(Found { location, json: s.to_string(), holds_headers: Some(holds == Some(true)) });
                }
            }
            if m.get("kind").and_then(Value::as_str) == Some("WasmPlugin") {
                if let Some(pc) = m.get("spec").and_then(|s| s.get("pluginConfig")) {
                    if let Ok(json) = serde_json::to_string(pc) {
                        // A WasmPlugin cannot set allow_on_headers_stop_iteration.
                        let location = format!("{at}: WasmPlugin pluginConfig");
                        found.push(Found { location, json, holds_headers: Some(false) });
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
