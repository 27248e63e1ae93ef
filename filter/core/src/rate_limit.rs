//! What Envoy's own rate-limit filters key on: the "identify stage", a second instance of this
//! module placed before them, tells them who a new query is (user, source, client address) and
//! which group the routing rules choose for it, as request headers; the main instance removes
//! those headers again before anything reaches Trino. Here: which stage a plugin configuration
//! asks for, and the header edits of one request.

use crate::config::Config;
use crate::error::{ConfigError, ConfigErrors};
use crate::inspect::SqlFacts;
use crate::request::{RequestHead, TrinoFacts};
use crate::route::{choose_group, HeaderEdit, Incoming};
use crate::rules::RuleInput;

pub const USER_HEADER: &str = "x-trino-router-user";
pub const GROUP_HEADER: &str = "x-trino-router-group";
pub const SOURCE_HEADER: &str = "x-trino-router-source";
pub const CLIENT_ADDRESS_HEADER: &str = "x-trino-router-client-address";

/// The headers the identify stage sets. Only the filter may set them: copies a client sent are
/// removed from every request (else a client could spend another user's rate limit, or escape
/// its own), and the main instance removes them before the request goes upstream.
pub const IDENTITY_HEADERS: [&str; 4] = [USER_HEADER, GROUP_HEADER, SOURCE_HEADER, CLIENT_ADDRESS_HEADER];

/// The plugin configuration that selects the identify stage.
pub const IDENTIFY_STAGE_JSON: &str = r#"{"stage": "identify"}"#;

/// Which job an instance of the module does, by its plugin configuration.
#[derive(Debug)]
pub enum Stage {
    /// The router itself, with its whole configuration.
    Route(Box<Config>),
    /// `{"stage": "identify"}`: sets the identity headers, with the configuration of the main
    /// instance of the same VM (`vm_id`).
    Identify,
}

impl Stage {
    /// Reads a plugin configuration: `{"stage": "identify"}`, or a router configuration.
    pub fn from_json(json: &[u8]) -> Result<Stage, ConfigErrors> {
        let value: Option<serde_json::Map<String, serde_json::Value>> = serde_json::from_slice(json).ok();
        let Some(object) = value.filter(|o| o.contains_key("stage")) else {
            return Config::from_json(json).map(|c| Stage::Route(Box::new(c)));
        };
        let mut errors = Vec::new();
        match object.get("stage").and_then(serde_json::Value::as_str) {
            Some("identify") => {}
            Some(other) => {
                errors.push(ConfigError::new("stage", format!("unknown stage `{other}`, expected `identify`")))
            }
            None => errors.push(ConfigError::new("stage", "expected the string `identify`")),
        }
        for key in object.keys().filter(|k| *k != "stage") {
            let message = "the identify stage takes no other field: it uses the configuration of the \
                           trino-router filter that shares its vm_id";
            errors.push(ConfigError::new(key.as_str(), message));
        }
        if errors.is_empty() {
            Ok(Stage::Identify)
        } else {
            Err(ConfigErrors(errors))
        }
    }
}

/// The header edits of the identify stage for one request: every client-sent copy of the
/// identity headers is removed; a new query then gets them set to what the router knows. The
/// group is the one the routing header or the rules choose (before any fallback: the group a
/// limit is about is the one the query asked for, not where a full group sends it).
pub fn identify(config: &Config, incoming: &Incoming, sql: &SqlFacts) -> Vec<HeaderEdit> {
    let head = &incoming.head;
    let mut edits: Vec<HeaderEdit> = strip_for_upstream(head).collect();
    if !incoming.is_new_query() {
        return edits;
    }
    let facts = TrinoFacts::new(&head.headers);
    let (group, _) = choose_group(config, RuleInput { head, sql });
    if let Some(g) = config.group(group) {
        edits.push(HeaderEdit::Set(GROUP_HEADER.to_string(), g.name.as_bytes().to_vec()));
    }
    if let Some(user) = facts.user().filter(|u| is_header_safe(u)) {
        edits.push(HeaderEdit::Set(USER_HEADER.to_string(), user.into_bytes()));
    }
    if let Some(source) = facts.source().filter(|s| is_header_safe(s)) {
        edits.push(HeaderEdit::Set(SOURCE_HEADER.to_string(), source.as_bytes().to_vec()));
    }
    edits.push(HeaderEdit::SetClientAddress(CLIENT_ADDRESS_HEADER));
    edits
}

/// The removals the main instance makes before a request goes upstream: the identity headers
/// are for Envoy's rate-limit filters only.
pub fn strip_for_upstream(head: &RequestHead) -> impl Iterator<Item = HeaderEdit> + '_ {
    IDENTITY_HEADERS.into_iter().filter(|name| head.headers.get(name).is_some()).map(HeaderEdit::Remove)
}

/// Whether a value can go into a header as is: a user decoded from Basic authentication may
/// hold control characters, which Envoy refuses in a header (the header is then left unset,
/// and a descriptor that needs it does not apply).
fn is_header_safe(value: &str) -> bool {
    !value.is_empty() && value.len() <= 256 && !value.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Headers;
    use serde_json::json;

    fn config() -> Config {
        let c = json!({
            "clusters": [{"name": "a", "envoy_cluster": "ea"}, {"name": "b", "envoy_cluster": "eb"}],
            "groups": [{"name": "adhoc", "members": [{"cluster": "a"}], "fallback": "etl"},
                       {"name": "etl", "members": [{"cluster": "b"}]}],
            "default_group": "adhoc",
            "rules": [{"name": "etl", "when": {"user": {"exact": "etl"}}, "route_to": "etl"}],
            "stickiness": {"signing_key": "0123456789abcdef0123456789abcdef"}
        });
        Config::from_json(c.to_string().as_bytes()).unwrap()
    }

    fn incoming(config: &Config, method: &str, path: &str, headers: &[(&str, &str)]) -> Incoming {
        let mut h = Headers::from_pairs(headers.iter().map(|(n, v)| (*n, v.as_bytes().to_vec())));
        h.push(":method", method);
        h.push(":path", path);
        Incoming::read(config, RequestHead::from_headers(h))
    }

    fn set(edits: &[HeaderEdit], name: &str) -> Option<String> {
        edits.iter().find_map(|e| match e {
            HeaderEdit::Set(n, v) if n == name => Some(String::from_utf8_lossy(v).into_owned()),
            _ => None,
        })
    }

    #[test]
    fn a_new_query_is_named_by_its_user_source_and_group() {
        let c = config();
        let req = incoming(&c, "POST", "/v1/statement", &[("x-trino-user", "etl"), ("x-trino-source", "airflow")]);
        let edits = identify(&c, &req, &SqlFacts::not_read());
        assert_eq!(set(&edits, USER_HEADER).as_deref(), Some("etl"));
        assert_eq!(set(&edits, SOURCE_HEADER).as_deref(), Some("airflow"));
        assert_eq!(set(&edits, GROUP_HEADER).as_deref(), Some("etl"));
        assert!(edits.contains(&HeaderEdit::SetClientAddress(CLIENT_ADDRESS_HEADER)));
    }

    #[test]
    fn forged_copies_are_removed_and_follow_ups_get_none() {
        let c = config();
        let forged = [("x-trino-user", "bob"), (USER_HEADER, "alice"), (GROUP_HEADER, "etl")];
        let edits = identify(&c, &incoming(&c, "POST", "/v1/statement", &forged), &SqlFacts::not_read());
        assert!(edits.contains(&HeaderEdit::Remove(USER_HEADER)) && edits.contains(&HeaderEdit::Remove(GROUP_HEADER)));
        assert_eq!(set(&edits, USER_HEADER).as_deref(), Some("bob"));
        assert_eq!(set(&edits, GROUP_HEADER).as_deref(), Some("adhoc"));
        let poll = incoming(&c, "GET", "/v1/statement/queued/20250101_000000_00001_abcde/x/1", &forged);
        assert_eq!(
            identify(&c, &poll, &SqlFacts::not_read()),
            vec![HeaderEdit::Remove(USER_HEADER), HeaderEdit::Remove(GROUP_HEADER)]
        );
    }

    #[test]
    fn a_user_unfit_for_a_header_is_left_out() {
        let c = config();
        // Basic credentials whose user holds a line break ("a\nb:pw").
        let req = incoming(&c, "POST", "/v1/statement", &[("authorization", "Basic YQpiOnB3")]);
        assert_eq!(set(&identify(&c, &req, &SqlFacts::not_read()), USER_HEADER), None);
    }

    #[test]
    fn the_stage_is_read_from_the_plugin_configuration() {
        assert!(matches!(Stage::from_json(IDENTIFY_STAGE_JSON.as_bytes()), Ok(Stage::Identify)));
        let err = Stage::from_json(br#"{"stage": "count"}"#).unwrap_err().to_string();
        assert_eq!(err, "stage: unknown stage `count`, expected `identify`");
        let err = Stage::from_json(br#"{"stage": "identify", "clusters": []}"#).unwrap_err().to_string();
        assert!(err.starts_with("clusters: the identify stage takes no other field"), "{err}");
        let err = Stage::from_json(br#"{"clusters": []}"#).unwrap_err().to_string();
        assert!(err.contains("groups"), "a router config is checked as before: {err}");
    }
}
