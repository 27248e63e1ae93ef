//! What the filter has observed about each cluster, in Envoy's shared data, so every worker
//! sees what any one learned. One key per configured cluster: the key space is bounded by
//! the config (shared data has no delete in ABI 0.2.1).

use crate::host;
use proxy_wasm::types::{LogLevel, Status};
use trino_router_core::config::{ClusterId, Config, LoadSource};
use trino_router_core::observed::{ClusterView, LoadFigure, Observed};
use trino_router_core::protocol::CoordinatorId;

fn key(cluster: &str) -> String {
    format!("trino-router.cluster.{cluster}")
}

pub fn load(cluster: &str) -> Observed {
    host::shared_get(&key(cluster)).0.map(|v| Observed::decode(&v)).unwrap_or_default()
}

/// Applies `change` with compare-and-swap, retrying when another worker wrote in between.
/// `change` returns whether it changed anything; unchanged states are not written.
pub fn update(cluster: &str, mut change: impl FnMut(&mut Observed) -> bool) {
    let key = key(cluster);
    for _ in 0..4 {
        let (value, cas) = host::shared_get(&key);
        let mut state = value.map(|v| Observed::decode(&v)).unwrap_or_default();
        if !change(&mut state) {
            return;
        }
        match host::shared_set(&key, &state.encode(), cas) {
            Err(Status::CasMismatch) => continue,
            Err(e) => {
                host::log(LogLevel::Warn, &format!("trino-router: cannot store state of cluster {cluster}: {e:?}"));
                return;
            }
            Ok(()) => return,
        }
    }
}

/// What routing sees of the clusters right now. The clock is read only if a decision
/// needs it (follow-ups do not).
pub struct SharedClusterView<'c> {
    pub config: &'c Config,
    now_s: std::cell::OnceCell<u64>,
}

impl<'c> SharedClusterView<'c> {
    pub fn new(config: &'c Config) -> Self {
        SharedClusterView { config, now_s: std::cell::OnceCell::new() }
    }

    fn now_s(&self) -> u64 {
        *self.now_s.get_or_init(host::now_s)
    }
}

impl ClusterView for SharedClusterView<'_> {
    fn accepts_new_queries(&self, cluster: ClusterId) -> bool {
        self.config.cluster(cluster).is_some_and(|c| load(&c.name).accepts_new_queries(self.now_s()))
    }

    fn load(&self, cluster: ClusterId) -> Option<LoadFigure> {
        if self.config.load.source == LoadSource::None {
            return None;
        }
        let c = self.config.cluster(cluster)?;
        load(&c.name).load(self.now_s(), self.config.load.stale_after_seconds)
    }

    fn owner_of(&self, coordinator: &CoordinatorId) -> Option<ClusterId> {
        self.config.clusters.iter().position(|c| load(&c.name).owns(coordinator)).map(ClusterId)
    }
}
