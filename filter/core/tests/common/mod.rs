//! Shared fixtures for the core's scenario tests: a three-cluster config like the local
//! run's, requests built from header lists, and an in-memory view of cluster states.
// Test code: a panic here fails a test, not an Envoy worker.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

pub mod fake_envoy;

use std::collections::{HashMap, HashSet};
use trino_router_core::config::{ClusterId, Config};
use trino_router_core::inspect::SqlFacts;
use trino_router_core::observed::{ClusterView, LoadFigure};
use trino_router_core::protocol::CoordinatorId;
use trino_router_core::request::{Headers, RequestHead};
use trino_router_core::route::{Decision, Forward, Incoming, Reply};

pub const KEY: &str = "test-signing-key-0123456789abcdefghij";

pub fn config_json(rules: serde_json::Value, routing_header: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "clusters": [
            {"name": "adhoc-1", "envoy_cluster": "trino_adhoc_1"},
            {"name": "adhoc-2", "envoy_cluster": "trino_adhoc_2"},
            {"name": "etl-1", "envoy_cluster": "trino_etl_1", "stickiness": "forwarded_prefix"}
        ],
        "groups": [
            {"name": "adhoc", "members": [{"cluster": "adhoc-1"}, {"cluster": "adhoc-2", "weight": 1}]},
            {"name": "etl", "members": [{"cluster": "etl-1"}]}
        ],
        "default_group": "adhoc",
        "rules": rules,
        "routing_group_header": routing_header,
        "stickiness": {"signing_key": KEY}
    })
}

pub fn config(rules: serde_json::Value) -> Config {
    Config::from_json(config_json(rules, serde_json::json!({})).to_string().as_bytes()).unwrap()
}

pub fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> RequestHead {
    let mut h = Headers::new();
    h.push(":method", method);
    h.push(":path", path);
    for (n, v) in headers {
        h.push(n, v.as_bytes());
    }
    RequestHead::from_headers(h)
}

/// Cluster states for tests: which clusters are down, which coordinator ids each owns.
#[derive(Default)]
pub struct FakeView {
    pub down: HashSet<usize>,
    pub owners: HashMap<String, usize>,
    /// (queued, running) per cluster index; absent = no fresh figures.
    pub loads: HashMap<usize, (u64, u64)>,
    /// Unix seconds; 0 means `NOW`.
    pub now: u64,
}

/// The time the scenario tests decide at, unless a view says otherwise.
pub const NOW: u64 = 1_800_000_000;

impl ClusterView for FakeView {
    fn accepts_new_queries(&self, cluster: ClusterId) -> bool {
        !self.down.contains(&cluster.0)
    }
    fn load(&self, cluster: ClusterId) -> Option<LoadFigure> {
        self.loads.get(&cluster.0).map(|(queued, running)| LoadFigure { queued: *queued, running: *running })
    }
    fn owner_of(&self, coordinator: &CoordinatorId) -> Option<ClusterId> {
        self.owners.get(coordinator.as_str()).copied().map(ClusterId)
    }
    fn now_s(&self) -> u64 {
        if self.now == 0 {
            NOW
        } else {
            self.now
        }
    }
}

/// Reads and decides a request, as the filter does with the headers it gets.
pub fn decide(config: &Config, head: &RequestHead, sql: &SqlFacts, view: &dyn ClusterView, random: u64) -> Decision {
    trino_router_core::route::decide(config, &Incoming::read(config, head.clone()), sql, view, random)
}

/// The forward a decision must be.
pub fn forward(d: Decision) -> Forward {
    match d {
        Decision::Forward(f) => f,
        Decision::Reply(r) => panic!("expected a forward, got {r:?}"),
    }
}

/// The reply a decision must be.
pub fn reply(d: Decision) -> Reply {
    match d {
        Decision::Reply(r) => r,
        Decision::Forward(f) => panic!("expected a reply, got {f:?}"),
    }
}

/// xorshift64*: a seeded generator for the randomised tests, so a failing case reproduces.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}
