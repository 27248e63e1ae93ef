//! Validation of the settings of the router's cookies: each group's session affinity and the
//! Web UI pin. Every cookie name must be one a browser keeps and unique among them.

use super::raw::{RawAffinity, RawWebUi};
use super::{Affinity, Group, WebUi};
use crate::error::{field, index, ConfigError};

/// Longest lifetime of a router cookie: a session, a working day, a week; not forever.
const MAX_TTL_SECONDS: u64 = 30 * 24 * 3600;

/// A group's `affinity`, checked; the default cookie name carries the group's.
pub fn compile_affinity(group_at: &str, group: &str, raw: &RawAffinity, errors: &mut Vec<ConfigError>) -> Affinity {
    let at = field(group_at, "affinity");
    check_ttl(&field(&at, "ttl_seconds"), raw.ttl_seconds, errors);
    let cookie = raw.cookie.clone().unwrap_or_else(|| format!("trino-router-affinity-{group}"));
    if raw.cookie.is_some() {
        check_cookie_name(&field(&at, "cookie"), &cookie, errors);
    }
    Affinity { cookie, ttl_seconds: raw.ttl_seconds }
}

pub fn compile_web_ui(raw: &RawWebUi, errors: &mut Vec<ConfigError>) -> Option<WebUi> {
    if !raw.enabled {
        if raw.cluster_entry {
            errors.push(ConfigError::new("web_ui.cluster_entry", "set `enabled: true` to use cluster_entry"));
        }
        return None;
    }
    check_ttl("web_ui.ttl_seconds", raw.ttl_seconds, errors);
    check_cookie_name("web_ui.cookie", &raw.cookie, errors);
    Some(WebUi { cookie: raw.cookie.clone(), ttl_seconds: raw.ttl_seconds, cluster_entry: raw.cluster_entry })
}

/// Two settings sharing a cookie would overwrite each other's in the client's jar.
pub fn check_unique_names(groups: &[Group], web_ui: Option<&WebUi>, errors: &mut Vec<ConfigError>) {
    let mut seen: Vec<(&str, String)> = Vec::new();
    let affinity = groups.iter().enumerate().filter_map(|(i, g)| {
        let at = field(&field(&index("groups", i), "affinity"), "cookie");
        g.affinity.as_ref().map(|a| (a.cookie.as_str(), at))
    });
    for (name, at) in affinity.chain(web_ui.map(|w| (w.cookie.as_str(), "web_ui.cookie".to_string()))) {
        match seen.iter().find(|(n, _)| *n == name) {
            Some((_, first)) => errors.push(ConfigError::new(at, format!("cookie `{name}` is also set by {first}"))),
            None => seen.push((name, at)),
        }
    }
}

fn check_ttl(at: &str, ttl: u64, errors: &mut Vec<ConfigError>) {
    if ttl == 0 || ttl > MAX_TTL_SECONDS {
        errors.push(ConfigError::new(at, format!("must be between 1 and {MAX_TTL_SECONDS}")));
    }
}

/// Plain token characters, and no `__Secure-`/`__Host-` prefix (browsers refuse those
/// without `Secure`, which the router sets only over TLS).
fn check_cookie_name(at: &str, name: &str, errors: &mut Vec<ConfigError>) {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with("__")
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        errors.push(ConfigError::new(at, "must be 1-100 letters, digits, `-`, `_` or `.`, not starting with `__`"));
    }
}
