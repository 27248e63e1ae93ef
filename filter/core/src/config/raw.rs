//! The configuration exactly as users write it (serde model with defaults). `compile.rs`
//! validates it into the `Config` routing uses; nothing else reads these types.

use super::{ClusterState, LoadSource, Selection, StickinessMode};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub clusters: Vec<RawCluster>,
    pub groups: Vec<RawGroup>,
    pub default_group: String,
    #[serde(default)]
    pub rules: Vec<RawRule>,
    #[serde(default)]
    pub routing_group_header: RawRoutingGroupHeader,
    pub stickiness: RawStickiness,
    #[serde(default = "default_cluster_header")]
    pub cluster_header: String,
    #[serde(default)]
    pub health: RawHealth,
    #[serde(default)]
    pub load: RawLoad,
    #[serde(default)]
    pub sql_inspection: RawSqlInspection,
    #[serde(default)]
    pub query_lookup: RawQueryLookup,
    #[serde(default)]
    pub debug_response_header: bool,
    #[serde(default)]
    pub web_ui: RawWebUi,
    #[serde(default)]
    pub queue: RawQueue,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawQueue {
    pub enabled: bool,
    pub max_wait_seconds: u64,
    pub ticket_ttl_seconds: u64,
    pub max_ticket_bytes: usize,
}

impl Default for RawQueue {
    fn default() -> Self {
        RawQueue { enabled: false, max_wait_seconds: 300, ticket_ttl_seconds: 30, max_ticket_bytes: 8192 }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub name: String,
    pub envoy_cluster: String,
    #[serde(default = "default_mode")]
    pub stickiness: StickinessMode,
    #[serde(default = "default_state")]
    pub state: ClusterState,
    #[serde(default)]
    pub limits: Option<RawLimits>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_running: Option<u64>,
    pub max_queued: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    pub name: String,
    pub members: Vec<RawMember>,
    #[serde(default = "default_selection")]
    pub selection: Selection,
    #[serde(default)]
    pub fallback: Option<String>,
    #[serde(default)]
    pub affinity: Option<RawAffinity>,
}

/// `"affinity": {"ttl_seconds": 3600}`: a client session's new queries stay on one member.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAffinity {
    #[serde(default = "default_affinity_ttl")]
    pub ttl_seconds: u64,
    /// Default: `trino-router-affinity-<group>`.
    #[serde(default)]
    pub cookie: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMember {
    pub cluster: String,
    #[serde(default = "default_weight")]
    pub weight: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub name: String,
    #[serde(default)]
    pub when: Option<serde_json::Value>,
    pub route_to: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawRoutingGroupHeader {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub allowed_groups: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStickiness {
    pub signing_key: String,
    #[serde(default)]
    pub previous_signing_keys: Vec<String>,
    #[serde(default = "default_marker")]
    pub path_marker: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawHealth {
    pub poll_interval_seconds: u64,
    pub poll_timeout_ms: u64,
    pub unhealthy_after: u32,
    pub healthy_after: u32,
    pub unhealthy_hold_seconds: u64,
    pub lost_after_seconds: u64,
}

impl Default for RawHealth {
    fn default() -> Self {
        RawHealth {
            poll_interval_seconds: 5,
            poll_timeout_ms: 2000,
            unhealthy_after: 2,
            healthy_after: 1,
            unhealthy_hold_seconds: 10,
            lost_after_seconds: 5,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLoad {
    pub source: LoadSource,
    pub user: String,
    pub password: Option<String>,
    pub stale_after_seconds: Option<u64>,
    pub replicas: u64,
}

impl Default for RawLoad {
    fn default() -> Self {
        RawLoad {
            source: LoadSource::None,
            user: "trino-router".to_string(),
            password: None,
            stale_after_seconds: None,
            replicas: 1,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawQueryLookup {
    pub enabled: bool,
    pub user: String,
    pub password: Option<String>,
}

impl Default for RawQueryLookup {
    fn default() -> Self {
        RawQueryLookup { enabled: true, user: "trino-router".to_string(), password: None }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSqlInspection {
    pub max_body_bytes: usize,
    pub route_kill_query: bool,
}

impl Default for RawSqlInspection {
    fn default() -> Self {
        RawSqlInspection { max_body_bytes: 128 * 1024, route_kill_query: false }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawWebUi {
    pub enabled: bool,
    pub cluster_entry: bool,
    pub ttl_seconds: u64,
    pub cookie: String,
}

impl Default for RawWebUi {
    fn default() -> Self {
        RawWebUi { enabled: false, cluster_entry: false, ttl_seconds: 8 * 3600, cookie: "trino-router-ui".to_string() }
    }
}

fn default_affinity_ttl() -> u64 {
    3600
}
fn default_cluster_header() -> String {
    "x-trino-router-cluster".to_string()
}
fn default_mode() -> StickinessMode {
    StickinessMode::ForwardedPrefix
}
fn default_state() -> ClusterState {
    ClusterState::Active
}
fn default_selection() -> Selection {
    Selection::WeightedRandom
}
fn default_weight() -> u32 {
    1
}
fn default_marker() -> String {
    "trino-router".to_string()
}
