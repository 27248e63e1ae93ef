//! The filter's JSON configuration: the serde model as users write it, and `Config::from_json`,
//! which validates everything (every error names its field) and compiles it for routing.

use crate::error::{field, index, ConfigError, ConfigErrors};
use crate::pin::PinKeys;
use crate::rules::{parse_condition, Rule, Rules};
use serde::Deserialize;
use std::collections::HashSet;

/// Position of a cluster in `Config::clusters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterId(pub usize);

/// Position of a group in `Config::groups`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupId(pub usize);

/// How follow-up requests of a query find their way back to this cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StickinessMode {
    /// Trino runs with `http-server.process-forwarded=true` and writes our
    /// `X-Forwarded-Prefix` (which carries the pin token) into every URI it returns.
    ForwardedPrefix,
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub name: String,
    /// The Envoy cluster that reaches this Trino coordinator.
    pub envoy_cluster: String,
    pub stickiness: StickinessMode,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Copy)]
pub struct Member {
    pub cluster: ClusterId,
    pub weight: u32,
}

/// Whether clients may pick a group with `X-Trino-Routing-Group`.
#[derive(Debug, Clone)]
pub enum RoutingGroupHeader {
    Ignored,
    /// Honoured for these groups; `None` means every group.
    Allowed(Option<Vec<GroupId>>),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub clusters: Vec<Cluster>,
    pub groups: Vec<Group>,
    pub default_group: GroupId,
    pub rules: Rules<GroupId>,
    pub routing_group_header: RoutingGroupHeader,
    pub pin_keys: PinKeys,
    /// First path segment of pinned URIs: `/<marker>/<token>/v1/statement/...`.
    pub path_marker: String,
    /// The request header the filter sets and the Envoy route reads (`cluster_header`).
    pub cluster_header: String,
    /// How long a cluster is skipped for new queries after Envoy reported it unreachable.
    pub unhealthy_hold_seconds: u64,
    /// How often the filter polls each coordinator's `/v1/info`.
    pub poll_interval_seconds: u64,
    /// Longest body of a new query the filter reads for SQL rules.
    pub max_body_bytes: usize,
    /// Some rule looks at the SQL, or `kill_query` calls go to their query's owner, so new
    /// queries' bodies must be read before routing.
    pub reads_sql: bool,
}

const MIN_KEY_BYTES: usize = 32;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    clusters: Vec<RawCluster>,
    groups: Vec<RawGroup>,
    default_group: String,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    routing_group_header: RawRoutingGroupHeader,
    stickiness: RawStickiness,
    #[serde(default = "default_cluster_header")]
    cluster_header: String,
    #[serde(default)]
    health: RawHealth,
    #[serde(default)]
    sql_inspection: RawSqlInspection,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSqlInspection {
    #[serde(default = "default_max_body")]
    max_body_bytes: usize,
    #[serde(default = "default_true")]
    route_kill_query: bool,
}

impl Default for RawSqlInspection {
    fn default() -> Self {
        RawSqlInspection { max_body_bytes: default_max_body(), route_kill_query: true }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    name: String,
    envoy_cluster: String,
    #[serde(default = "default_mode")]
    stickiness: StickinessMode,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    members: Vec<RawMember>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMember {
    cluster: String,
    #[serde(default = "default_weight")]
    weight: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    #[serde(default)]
    when: Option<serde_json::Value>,
    route_to: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRoutingGroupHeader {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    allowed_groups: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStickiness {
    signing_key: String,
    #[serde(default)]
    previous_signing_keys: Vec<String>,
    #[serde(default = "default_marker")]
    path_marker: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    #[serde(default = "default_hold")]
    unhealthy_hold_seconds: u64,
    #[serde(default = "default_poll")]
    poll_interval_seconds: u64,
}

impl Default for RawHealth {
    fn default() -> Self {
        RawHealth { unhealthy_hold_seconds: default_hold(), poll_interval_seconds: default_poll() }
    }
}

fn default_cluster_header() -> String {
    "x-trino-router-cluster".to_string()
}
fn default_mode() -> StickinessMode {
    StickinessMode::ForwardedPrefix
}
fn default_weight() -> u32 {
    1
}
fn default_marker() -> String {
    "trino-router".to_string()
}
fn default_hold() -> u64 {
    10
}
fn default_poll() -> u64 {
    5
}
fn default_true() -> bool {
    true
}
fn default_max_body() -> usize {
    128 * 1024
}

/// Envoy buffers a paused body up to its connection buffer limit (1 MiB by default) and
/// answers 413 past it; the filter must decide before that.
const MAX_BODY_LIMIT: usize = 1024 * 1024;

impl Config {
    /// Parses and validates a configuration; on error returns every problem found.
    pub fn from_json(json: &[u8]) -> Result<Config, ConfigErrors> {
        let de = &mut serde_json::Deserializer::from_slice(json);
        let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let inner = e.inner();
            // Broken JSON is located by line and column; a wrong field by its path.
            if inner.is_syntax() || inner.is_eof() {
                return ConfigErrors(vec![ConfigError::new("", format!("invalid JSON: {inner}"))]);
            }
            let path = e.path().to_string();
            let path = if path == "." || path == "?" { String::new() } else { path };
            ConfigErrors(vec![ConfigError::new(path, strip_position(&inner.to_string()))])
        })?;
        let mut errors = Vec::new();
        let config = compile(raw, &mut errors);
        match config {
            Some(c) if errors.is_empty() => Ok(c),
            _ => Err(ConfigErrors(errors)),
        }
    }

    pub fn cluster(&self, id: ClusterId) -> Option<&Cluster> {
        self.clusters.get(id.0)
    }

    pub fn group(&self, id: GroupId) -> Option<&Group> {
        self.groups.get(id.0)
    }

    pub fn cluster_by_name(&self, name: &str) -> Option<ClusterId> {
        self.clusters.iter().position(|c| c.name == name).map(ClusterId)
    }

    pub fn group_by_name(&self, name: &str) -> Option<GroupId> {
        self.groups.iter().position(|g| g.name == name).map(GroupId)
    }
}

/// serde_json appends "at line 1 column 40"; the field path already says where.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg.get(..i).unwrap_or(msg).to_string(),
        None => msg.to_string(),
    }
}

fn compile(raw: RawConfig, errors: &mut Vec<ConfigError>) -> Option<Config> {
    let clusters = compile_clusters(&raw.clusters, errors);
    let groups = compile_groups(&raw.groups, &clusters, errors);
    let find_group = |name: &str| groups.iter().position(|g| g.name == name).map(GroupId);

    let default_group = find_group(&raw.default_group);
    if default_group.is_none() {
        errors.push(ConfigError::new("default_group", format!("no group named `{}`", raw.default_group)));
    }
    let rules = compile_rules(&raw.rules, &find_group, errors);
    let reads_sql = rules.read_sql() || raw.sql_inspection.route_kill_query;
    let routing_group_header = compile_routing_header(&raw.routing_group_header, &find_group, errors);
    let pin_keys = compile_keys(&raw.stickiness, errors);
    check_marker(&raw.stickiness.path_marker, errors);
    check_header_name("cluster_header", &raw.cluster_header, errors);
    let max_body = raw.sql_inspection.max_body_bytes;
    if max_body == 0 || max_body > MAX_BODY_LIMIT {
        errors
            .push(ConfigError::new("sql_inspection.max_body_bytes", format!("must be between 1 and {MAX_BODY_LIMIT}")));
    }
    if raw.health.poll_interval_seconds == 0 {
        errors.push(ConfigError::new("health.poll_interval_seconds", "must be at least 1"));
    }
    Some(Config {
        clusters,
        groups,
        default_group: default_group?,
        rules,
        routing_group_header,
        pin_keys: pin_keys?,
        path_marker: raw.stickiness.path_marker,
        cluster_header: raw.cluster_header.to_ascii_lowercase(),
        unhealthy_hold_seconds: raw.health.unhealthy_hold_seconds,
        poll_interval_seconds: raw.health.poll_interval_seconds,
        max_body_bytes: max_body,
        reads_sql,
    })
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
        .map(|c| Cluster { name: c.name.clone(), envoy_cluster: c.envoy_cluster.clone(), stickiness: c.stickiness })
        .collect()
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
            Group { name: g.name.clone(), members }
        })
        .collect()
}

fn compile_rules(
    raw: &[RawRule],
    find_group: &dyn Fn(&str) -> Option<GroupId>,
    errors: &mut Vec<ConfigError>,
) -> Rules<GroupId> {
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
