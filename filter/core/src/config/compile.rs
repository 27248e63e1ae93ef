//! Validation: turns the raw JSON model into a `Config`, collecting every problem with
//! the JSON path of the field it is about.

use super::cookies::{check_unique_names, compile_affinity, compile_web_ui};
use super::raw::{
    RawCluster, RawConfig, RawGroup, RawHealth, RawLoad, RawQueryLookup, RawRoutingGroupHeader, RawRule, RawStickiness,
};
use super::{
    Cluster, ClusterId, Config, Group, GroupId, Health, Limits, Load, LoadSource, Member, QueryLookup,
    RoutingGroupHeader,
};
use crate::error::{field, index, ConfigError};
use crate::inspect::SqlDepth;
use crate::pin::{PinBook, PinKeys};
use crate::rules::{parse_condition, Rule, Rules};
use std::collections::HashSet;

const MIN_KEY_BYTES: usize = 32;

/// Envoy buffers a paused body up to its connection buffer limit (1 MiB by default) and
/// answers 413 past it; the filter must decide before that.
const MAX_BODY_LIMIT: usize = 1024 * 1024;

pub fn compile(raw: RawConfig, errors: &mut Vec<ConfigError>) -> Option<Config> {
    let clusters = compile_clusters(&raw.clusters, errors);
    let mut groups = compile_groups(&raw.groups, &clusters, errors);
    let names: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
    let find_group = |name: &str| names.iter().position(|g| g == name).map(GroupId);
    link_fallbacks(&raw.groups, &mut groups, &find_group, errors);

    let default_group = find_group(&raw.default_group);
    if default_group.is_none() {
        errors.push(ConfigError::new("default_group", format!("no group named `{}`", raw.default_group)));
    }
    let rules = compile_rules(&raw.rules, &find_group, errors);
    let queue = compile_queue(&raw.queue, &raw.stickiness, errors);
    // A query that waits travels with its SQL: the body of every new query is read.
    let reads_sql = rules.read_sql() || raw.sql_inspection.route_kill_query || queue.enabled;
    // Analysis only when a rule or kill_query routing needs it: the queue needs the text,
    // kill_query routing the statement's facts (its id), no name.
    let kill_query = raw.sql_inspection.route_kill_query.then_some(SqlDepth::Statement);
    let sql_depth = rules.sql_depth().max(kill_query).unwrap_or(SqlDepth::Text);
    let routing_group_header = compile_routing_header(&raw.routing_group_header, &find_group, errors);
    let pin_keys = compile_keys(&raw.stickiness, errors);
    check_marker(&raw.stickiness.path_marker, errors);
    check_header_name("cluster_header", &raw.cluster_header, errors);
    let max_body = raw.sql_inspection.max_body_bytes;
    if max_body == 0 || max_body > MAX_BODY_LIMIT {
        errors
            .push(ConfigError::new("sql_inspection.max_body_bytes", format!("must be between 1 and {MAX_BODY_LIMIT}")));
    }
    let names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
    let pins = pin_keys.as_ref().and_then(|k| PinBook::new(k, &raw.stickiness.path_marker, &names)).unwrap_or_default();
    let health = compile_health(&raw.health, errors);
    let load = compile_load(raw.load, &health, errors);
    let web_ui = compile_web_ui(&raw.web_ui, errors);
    check_unique_names(&groups, web_ui.as_ref(), errors);
    check_limits(&raw.clusters, &load, errors);
    if raw.queue.enabled && raw.clusters.iter().all(|c| c.limits.is_none()) {
        errors.push(ConfigError::new(
            "queue.enabled",
            "no cluster has limits, so no query would ever wait: set clusters[].limits",
        ));
    }
    let query_lookup = compile_query_lookup(raw.query_lookup, errors);
    Some(Config {
        clusters,
        groups,
        default_group: default_group?,
        rules,
        routing_group_header,
        pin_keys: pin_keys?,
        pins,
        path_marker: raw.stickiness.path_marker,
        cluster_header: raw.cluster_header.to_ascii_lowercase(),
        health,
        load,
        query_lookup,
        max_body_bytes: max_body,
        reads_sql,
        sql_depth,
        route_kill_query: raw.sql_inspection.route_kill_query,
        debug_response_header: raw.debug_response_header,
        web_ui,
        queue,
    })
}

fn compile_queue(raw: &super::raw::RawQueue, keys: &RawStickiness, errors: &mut Vec<ConfigError>) -> super::Queue {
    if raw.max_wait_seconds == 0 || raw.max_wait_seconds > 86_400 {
        errors.push(ConfigError::new("queue.max_wait_seconds", "must be 1..86400"));
    }
    if raw.ticket_ttl_seconds < 5 || raw.ticket_ttl_seconds > 3600 {
        errors.push(ConfigError::new("queue.ticket_ttl_seconds", "must be 5..3600 (clients poll about every second)"));
    }
    if raw.max_ticket_bytes < 512 || raw.max_ticket_bytes > 32_768 {
        errors.push(ConfigError::new("queue.max_ticket_bytes", "must be 512..32768 (the ticket travels in a URL)"));
    }
    let signing =
        std::iter::once(keys.signing_key.as_bytes()).chain(keys.previous_signing_keys.iter().map(|k| k.as_bytes()));
    super::Queue {
        enabled: raw.enabled,
        max_wait_ms: raw.max_wait_seconds.saturating_mul(1000),
        ticket_ttl_ms: raw.ticket_ttl_seconds.saturating_mul(1000),
        max_ticket_bytes: raw.max_ticket_bytes,
        keys: crate::ticket::TicketKeys::new(signing),
    }
}

/// Resolves `fallback` names, and refuses chains that loop (a -> b -> a), which would
/// otherwise be walked on every query that finds no usable cluster.
fn link_fallbacks(
    raw: &[RawGroup],
    groups: &mut [Group],
    find_group: &dyn Fn(&str) -> Option<GroupId>,
    errors: &mut Vec<ConfigError>,
) {
    for (i, (r, g)) in raw.iter().zip(groups.iter_mut()).enumerate() {
        if let Some(name) = &r.fallback {
            g.fallback = find_group(name);
            if g.fallback.is_none() {
                errors
                    .push(ConfigError::new(field(&index("groups", i), "fallback"), format!("no group named `{name}`")));
            }
        }
    }
    for (i, g) in groups.iter().enumerate() {
        let mut seen = vec![i];
        let mut next = g.fallback;
        while let Some(GroupId(j)) = next {
            if seen.contains(&j) {
                let chain: Vec<&str> =
                    seen.iter().chain([&j]).filter_map(|k| groups.get(*k)).map(|g| g.name.as_str()).collect();
                errors.push(ConfigError::new(
                    field(&index("groups", i), "fallback"),
                    format!("fallbacks loop: {}", chain.join(" -> ")),
                ));
                break;
            }
            seen.push(j);
            next = groups.get(j).and_then(|g| g.fallback);
        }
    }
}

fn compile_health(raw: &RawHealth, errors: &mut Vec<ConfigError>) -> Health {
    let mut at_least = |name: &str, value: u64, min: u64| {
        if value < min {
            errors.push(ConfigError::new(field("health", name), format!("must be at least {min}")));
        }
    };
    at_least("poll_interval_seconds", raw.poll_interval_seconds, 1);
    at_least("poll_timeout_ms", raw.poll_timeout_ms, 1);
    at_least("unhealthy_after", u64::from(raw.unhealthy_after), 1);
    at_least("healthy_after", u64::from(raw.healthy_after), 1);
    Health {
        poll_interval_seconds: raw.poll_interval_seconds,
        poll_timeout_ms: raw.poll_timeout_ms,
        unhealthy_after: raw.unhealthy_after,
        healthy_after: raw.healthy_after,
        unhealthy_hold_seconds: raw.unhealthy_hold_seconds,
        lost_after_seconds: raw.lost_after_seconds,
    }
}

fn compile_load(raw: RawLoad, health: &Health, errors: &mut Vec<ConfigError>) -> Load {
    if raw.source != LoadSource::None && raw.user.is_empty() {
        errors.push(ConfigError::new("load.user", "must not be empty"));
    }
    // Three missed polls before figures count as stale, unless the operator says otherwise.
    let stale = raw.stale_after_seconds.unwrap_or(health.poll_interval_seconds.saturating_mul(3));
    if stale == 0 {
        errors.push(ConfigError::new("load.stale_after_seconds", "must be at least 1"));
    }
    if raw.replicas == 0 || raw.replicas > 1000 {
        errors.push(ConfigError::new("load.replicas", "must be 1..1000"));
    }
    Load {
        source: raw.source,
        user: raw.user,
        password: raw.password,
        stale_after_seconds: stale,
        replicas: raw.replicas,
    }
}

fn compile_query_lookup(raw: RawQueryLookup, errors: &mut Vec<ConfigError>) -> QueryLookup {
    if raw.enabled && raw.user.is_empty() {
        errors.push(ConfigError::new("query_lookup.user", "must not be empty"));
    }
    QueryLookup { enabled: raw.enabled, user: raw.user, password: raw.password }
}

fn compile_clusters(raw: &[RawCluster], errors: &mut Vec<ConfigError>) -> Vec<Cluster> {
    if raw.is_empty() {
        errors.push(ConfigError::new("clusters", "at least one cluster is required"));
    }
    let mut seen = HashSet::new();
    for (i, c) in raw.iter().enumerate() {
        let at = index("clusters", i);
        check_name(&field(&at, "name"), &c.name, errors);
        if !seen.insert(c.name.as_str()) {
            errors.push(ConfigError::new(field(&at, "name"), format!("duplicate cluster `{}`", c.name)));
        }
        if c.envoy_cluster.is_empty() || !c.envoy_cluster.bytes().all(|b| b.is_ascii_graphic()) {
            errors.push(ConfigError::new(
                field(&at, "envoy_cluster"),
                "must be a non-empty Envoy cluster name without spaces",
            ));
        }
    }
    raw.iter()
        .map(|c| Cluster {
            name: c.name.clone(),
            envoy_cluster: c.envoy_cluster.clone(),
            stickiness: c.stickiness,
            state: c.state,
            limits: c.limits.as_ref().map(|l| Limits { max_running: l.max_running, max_queued: l.max_queued }),
        })
        .collect()
}

/// Limits are judged from polled load figures: they need a load source, and a bound.
fn check_limits(raw: &[RawCluster], load: &Load, errors: &mut Vec<ConfigError>) {
    for (i, c) in raw.iter().enumerate() {
        let Some(limits) = &c.limits else { continue };
        let at = field(&index("clusters", i), "limits");
        if limits.max_running.is_none() && limits.max_queued.is_none() {
            errors.push(ConfigError::new(at.clone(), "set max_running, max_queued or both"));
        }
        if limits.max_running == Some(0) {
            errors.push(ConfigError::new(field(&at, "max_running"), "must be at least 1"));
        }
        if load.source == LoadSource::None {
            errors.push(ConfigError::new(
                at,
                "limits are judged from polled load: set load.source to metrics or ui_stats",
            ));
        }
    }
}

fn compile_groups(raw: &[RawGroup], clusters: &[Cluster], errors: &mut Vec<ConfigError>) -> Vec<Group> {
    if raw.is_empty() {
        errors.push(ConfigError::new("groups", "at least one group is required"));
    }
    let mut seen = HashSet::new();
    raw.iter()
        .enumerate()
        .map(|(i, g)| {
            let at = index("groups", i);
            check_name(&field(&at, "name"), &g.name, errors);
            if !seen.insert(g.name.as_str()) {
                errors.push(ConfigError::new(field(&at, "name"), format!("duplicate group `{}`", g.name)));
            }
            if g.members.is_empty() {
                errors.push(ConfigError::new(field(&at, "members"), "a group needs at least one cluster"));
            }
            let mut members: Vec<Member> = Vec::new();
            for (j, m) in g.members.iter().enumerate() {
                let mat = index(&field(&at, "members"), j);
                let Some(id) = clusters.iter().position(|c| c.name == m.cluster) else {
                    errors.push(ConfigError::new(field(&mat, "cluster"), format!("no cluster named `{}`", m.cluster)));
                    continue;
                };
                if members.iter().any(|x| x.cluster.0 == id) {
                    errors.push(ConfigError::new(
                        field(&mat, "cluster"),
                        format!("cluster `{}` is listed twice", m.cluster),
                    ));
                }
                if m.weight == 0 || m.weight > 1_000_000 {
                    errors.push(ConfigError::new(field(&mat, "weight"), "must be between 1 and 1000000"));
                }
                members.push(Member { cluster: ClusterId(id), weight: m.weight });
            }
            let affinity = g.affinity.as_ref().map(|a| compile_affinity(&at, &g.name, a, errors));
            Group { name: g.name.clone(), members, selection: g.selection, fallback: None, affinity }
        })
        .collect()
}

fn compile_rules(
    raw: &[RawRule],
    find_group: &dyn Fn(&str) -> Option<GroupId>,
    errors: &mut Vec<ConfigError>,
) -> Rules {
    let mut seen = HashSet::new();
    let mut rules = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let at = index("rules", i);
        check_name(&field(&at, "name"), &r.name, errors);
        if !seen.insert(r.name.as_str()) {
            errors.push(ConfigError::new(field(&at, "name"), format!("duplicate rule `{}`", r.name)));
        }
        let when = match &r.when {
            None => None,
            Some(v) => match parse_condition(v, &field(&at, "when")) {
                Ok(c) => Some(c),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
        };
        match find_group(&r.route_to) {
            Some(group) => rules.push(Rule { name: r.name.clone(), when, group }),
            None => errors.push(ConfigError::new(field(&at, "route_to"), format!("no group named `{}`", r.route_to))),
        }
    }
    Rules(rules)
}

fn compile_routing_header(
    raw: &RawRoutingGroupHeader,
    find_group: &dyn Fn(&str) -> Option<GroupId>,
    errors: &mut Vec<ConfigError>,
) -> RoutingGroupHeader {
    if !raw.enabled {
        if raw.allowed_groups.is_some() {
            errors.push(ConfigError::new(
                "routing_group_header.allowed_groups",
                "set `enabled: true` to use allowed_groups",
            ));
        }
        return RoutingGroupHeader::Ignored;
    }
    let Some(names) = &raw.allowed_groups else {
        return RoutingGroupHeader::Allowed(None);
    };
    let ids = names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            let id = find_group(n);
            if id.is_none() {
                errors.push(ConfigError::new(
                    index("routing_group_header.allowed_groups", i),
                    format!("no group named `{n}`"),
                ));
            }
            id
        })
        .collect();
    RoutingGroupHeader::Allowed(Some(ids))
}

fn compile_keys(raw: &RawStickiness, errors: &mut Vec<ConfigError>) -> Option<PinKeys> {
    // Messages say how long a key must be, never what it is.
    let short = |k: &str| k.len() < MIN_KEY_BYTES;
    if short(&raw.signing_key) {
        errors.push(ConfigError::new("stickiness.signing_key", format!("must be at least {MIN_KEY_BYTES} bytes")));
    }
    for (i, k) in raw.previous_signing_keys.iter().enumerate() {
        if short(k) {
            errors.push(ConfigError::new(
                index("stickiness.previous_signing_keys", i),
                format!("must be at least {MIN_KEY_BYTES} bytes"),
            ));
        }
    }
    let previous: Vec<&[u8]> = raw.previous_signing_keys.iter().map(|k| k.as_bytes()).collect();
    PinKeys::new(raw.signing_key.as_bytes(), &previous)
}

fn check_marker(marker: &str, errors: &mut Vec<ConfigError>) {
    let ok = !marker.is_empty() && marker.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        errors.push(ConfigError::new("stickiness.path_marker", "must be letters, digits, `-` or `_`"));
    } else if matches!(marker, "v1" | "ui") {
        errors.push(ConfigError::new("stickiness.path_marker", "must not be a Trino path segment (v1, ui)"));
    }
}

fn check_header_name(path: &str, name: &str, errors: &mut Vec<ConfigError>) {
    let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        errors.push(ConfigError::new(path, "must be a header name (letters, digits, `-`)"));
    }
}

/// Names travel in tokens (one length byte) and log lines, so keep them short and plain.
fn check_name(path: &str, name: &str, errors: &mut Vec<ConfigError>) {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        errors.push(ConfigError::new(path, "must be 1-100 letters, digits, `-`, `_` or `.`"));
    }
}
