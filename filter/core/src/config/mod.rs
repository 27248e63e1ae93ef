//! The filter's configuration as routing uses it. `raw` is the JSON model users write;
//! `compile` validates it (every error names its field) into the `Config` below.

mod compile;
mod cookies;
mod raw;

use crate::error::{ConfigError, ConfigErrors};
use crate::pin::{PinBook, PinKeys};
use crate::rules::Rules;
use serde::Deserialize;

pub use crate::ids::{ClusterId, GroupId};

/// How follow-up requests of a query find their way back to its cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StickinessMode {
    /// Trino runs with `http-server.process-forwarded=true` and writes our
    /// `X-Forwarded-Prefix` (which carries the pin token) into every URI it returns.
    ForwardedPrefix,
    /// Stock Trino: no `X-Forwarded-*` header reaches it (it would answer 406), and the
    /// filter writes the pin into the URIs of each statement page as it streams through.
    Rewrite,
}

/// The operator's say on a cluster, changed by a config push (blue/green, upgrades).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterState {
    Active,
    /// No new queries; follow-ups of its running queries still reach it.
    Draining,
    /// Nothing: follow-ups get an error naming the cluster.
    Disabled,
}

/// How a group picks the cluster for a new query among its usable members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    WeightedRandom,
    /// The member with the fewest queued (then running) queries.
    LeastLoaded,
    /// Two members drawn by weight; the less loaded of the two.
    PowerOfTwo,
}

/// Where the filter reads queued and running query counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadSource {
    None,
    /// `/metrics` (OpenMetrics), `QueryManager_QueuedQueries` / `RunningQueries`.
    Metrics,
    /// `/ui/api/stats`, `queuedQueries` / `runningQueries`.
    UiStats,
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub name: String,
    /// The Envoy cluster that reaches this Trino coordinator.
    pub envoy_cluster: String,
    pub stickiness: StickinessMode,
    pub state: ClusterState,
    /// How many queries the router lets this cluster hold (see `observed::Observed::has_room`).
    pub limits: Option<Limits>,
}

/// A cluster's bound on queries: at most `max_running` running plus `max_queued` queued in
/// Trino's own queue (either may be left out; at least one is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_running: Option<u64>,
    pub max_queued: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub members: Vec<Member>,
    pub selection: Selection,
    /// Used when no member can take a new query.
    pub fallback: Option<GroupId>,
    /// New queries of one client session stay on one member (opt-in).
    pub affinity: Option<Affinity>,
}

/// Session affinity of a group: the cookie that names a client's cluster, and how long it
/// holds after the client's last new query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affinity {
    pub cookie: String,
    pub ttl_seconds: u64,
}

/// The Web UI through the router (opt-in): the cookie that pins a browser to one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebUi {
    pub cookie: String,
    pub ttl_seconds: u64,
    /// `/<marker>/ui/<cluster>/` opens that cluster's UI.
    pub cluster_entry: bool,
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

/// How the filter learns whether a cluster can take new queries.
#[derive(Debug, Clone)]
pub struct Health {
    pub poll_interval_seconds: u64,
    pub poll_timeout_ms: u64,
    /// Failed `/v1/info` polls in a row before a cluster gets no new queries.
    pub unhealthy_after: u32,
    /// Good polls in a row before it gets them again.
    pub healthy_after: u32,
    /// How long a cluster gets no new queries after Envoy found it unreachable on live traffic.
    pub unhealthy_hold_seconds: u64,
    /// A running query is declared lost when its coordinator has been unreachable (failed
    /// polls, refused connections) this long and a follow-up finds its connection refused.
    pub lost_after_seconds: u64,
}

#[derive(Debug, Clone)]
pub struct Load {
    pub source: LoadSource,
    /// Sent as X-Trino-User (and Basic auth when a password is set) on load polls.
    pub user: String,
    pub password: Option<String>,
    /// Figures older than this are not trusted for load-aware choice.
    pub stale_after_seconds: u64,
    /// How many Envoy replicas admit queries to the same clusters: each takes that share of
    /// a limited cluster's free room (it knows only its own submissions between polls).
    pub replicas: u64,
}

/// Finding the owner of a query id nobody on this Envoy has learned, by asking every
/// coordinator (`lookup.rs`): on or off, and who the filter is to Trino when it asks.
#[derive(Debug, Clone)]
pub struct QueryLookup {
    pub enabled: bool,
    /// Sent as X-Trino-User (and Basic auth when a password is set) on `/v1/query/{id}`.
    pub user: String,
    pub password: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub clusters: Vec<Cluster>,
    pub groups: Vec<Group>,
    pub default_group: GroupId,
    pub rules: Rules,
    pub routing_group_header: RoutingGroupHeader,
    pub pin_keys: PinKeys,
    /// Every cluster's token, made once: routing signs nothing per request.
    pub pins: PinBook,
    /// First path segment of pinned URIs: `/<marker>/<token>/v1/statement/...`.
    pub path_marker: String,
    /// The request header the filter sets and the Envoy route reads (`cluster_header`).
    pub cluster_header: String,
    pub health: Health,
    pub load: Load,
    pub query_lookup: QueryLookup,
    /// Longest body of a new query the filter reads for SQL rules.
    pub max_body_bytes: usize,
    /// Some rule looks at the SQL, or `kill_query` calls go to their query's owner, so new
    /// queries' bodies must be read before routing (and Envoy must allow the filter to
    /// hold the headers: `allow_on_headers_stop_iteration`).
    pub reads_sql: bool,
    /// How far a read body's SQL is worked out (the text alone when no rule needs more).
    pub sql_depth: crate::inspect::SqlDepth,
    /// Send `CALL system.runtime.kill_query(...)` to the cluster that runs the query.
    pub route_kill_query: bool,
    /// Answer every request with `x-trino-router-decision` (for debugging; off by default,
    /// since it tells clients about the routing setup).
    pub debug_response_header: bool,
    /// The Web UI through the router; None: only a token opens a query's page, and nothing
    /// under `/ui/` follows it.
    pub web_ui: Option<WebUi>,
    /// New queries wait at the router when their group is full (see `handle/queue.rs`).
    pub queue: Queue,
}

#[derive(Debug, Clone)]
pub struct Queue {
    pub enabled: bool,
    /// A query that waited this long gets a FAILED page.
    pub max_wait_ms: u64,
    /// A ticket not polled again within this time no longer opens.
    pub ticket_ttl_ms: u64,
    /// The longest sealed ticket (it travels in a URL); a larger query gets 503.
    pub max_ticket_bytes: usize,
    pub keys: crate::ticket::TicketKeys,
}

impl Config {
    /// Parses and validates a configuration; on error returns every problem found.
    pub fn from_json(json: &[u8]) -> Result<Config, ConfigErrors> {
        let de = &mut serde_json::Deserializer::from_slice(json);
        let raw: raw::RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
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
        match compile::compile(raw, &mut errors) {
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
