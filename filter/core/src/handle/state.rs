//! What the filter has observed about each cluster, in the host's shared data, so every
//! worker sees what any one learned. One key per configured cluster: the key space is
//! bounded by the config (shared data has no delete in ABI 0.2.1). Each stored version is
//! decoded once per worker (`state_cache`); writers change a copy.

use super::state_cache;
use crate::config::{ClusterId, Config, LoadSource};
use crate::host::{log, Host, HostError, LogLevel};
use crate::observed::{ClusterView, LoadFigure, Observed};
use crate::protocol::CoordinatorId;
use std::cell::OnceCell;
use std::rc::Rc;

/// Compare-and-swap attempts before a write is given up (other workers keep winning).
const CAS_ATTEMPTS: usize = 8;
/// Counts writes given up after `CAS_ATTEMPTS` conflicts (rare: defined when first needed).
const GIVE_UPS: &str = "trino_router.state.cas_give_ups";

fn key(cluster: &str) -> String {
    format!("trino-router.cluster.{cluster}")
}

/// What is known about a cluster; nothing when the host cannot tell.
pub fn load(host: &impl Host, cluster: &str) -> Rc<Observed> {
    let key = key(cluster);
    match host.shared_get(&key) {
        Ok((value, cas)) => state_cache::observed(&key, value.as_deref(), cas),
        Err(_) => Rc::default(),
    }
}

/// Applies `change` with compare-and-swap, retrying when another worker wrote in between.
/// `change` returns whether it changed anything; unchanged states are not written.
/// Every write is conditional: a key never written is first seeded with the empty state
/// (several workers may seed it at once, all with the same value), then changed by CAS.
pub fn update(host: &impl Host, cluster: &str, mut change: impl FnMut(&mut Observed) -> bool) {
    let key = key(cluster);
    for _ in 0..CAS_ATTEMPTS {
        let (value, cas) = match host.shared_get(&key) {
            Ok(read) => read,
            Err(e) => {
                log(host, LogLevel::Warn, &format!("trino-router: cannot read state of cluster {cluster}: {e}"));
                return;
            }
        };
        let Some(cas) = cas else {
            if let Err(e) = host.shared_set(&key, &Observed::default().encode(), None) {
                log(host, LogLevel::Warn, &format!("trino-router: cannot store state of cluster {cluster}: {e}"));
                return;
            }
            continue;
        };
        let mut state = Rc::unwrap_or_clone(state_cache::observed(&key, value.as_deref(), Some(cas)));
        if !change(&mut state) {
            return;
        }
        match host.shared_set(&key, &state.encode(), Some(cas)) {
            Err(HostError::CasMismatch) => continue,
            Err(e) => {
                log(host, LogLevel::Warn, &format!("trino-router: cannot store state of cluster {cluster}: {e}"));
                return;
            }
            Ok(()) => return,
        }
    }
    log(
        host,
        LogLevel::Warn,
        &format!("trino-router: gave up storing state of cluster {cluster}: other workers kept writing"),
    );
    if let Ok(id) = host.define_counter(GIVE_UPS) {
        let _ = host.increment_counter(id);
    }
}

/// Takes room for one new query on a limited cluster, atomically with the other workers
/// (compare-and-swap): false when the cluster has no room, so two workers never both take
/// the last place. Unlimited clusters always have room (and are counted as before).
pub fn reserve(host: &impl Host, config: &Config, cluster: ClusterId) -> bool {
    let Some(c) = config.cluster(cluster) else { return false };
    let now_ms = super::now_ms(host);
    let Some(limits) = c.limits else {
        if config.load.source != LoadSource::None {
            update(host, &c.name, |s| {
                s.note_sent(now_ms);
                true
            });
        }
        return true;
    };
    let (key, load) = (key(&c.name), &config.load);
    for _ in 0..CAS_ATTEMPTS {
        let Ok((value, cas)) = host.shared_get(&key) else { return false };
        let state = state_cache::observed(&key, value.as_deref(), cas);
        if !state.has_room(&limits, now_ms / 1000, load.stale_after_seconds, load.replicas) {
            return false;
        }
        let mut state = Rc::unwrap_or_clone(state);
        state.note_sent(now_ms);
        match host.shared_set(&key, &state.encode(), cas) {
            Err(HostError::CasMismatch) => continue,
            Err(_) => return false,
            Ok(()) => return true,
        }
    }
    false
}

/// What routing sees of the clusters right now. Each cluster's state is read at most once
/// per decision, and the clock only if a decision needs it (follow-ups do not).
pub struct SharedClusterView<'a, H: Host> {
    host: &'a H,
    config: &'a Config,
    now_s: OnceCell<u64>,
    states: Vec<OnceCell<Rc<Observed>>>,
}

impl<'a, H: Host> SharedClusterView<'a, H> {
    pub fn new(host: &'a H, config: &'a Config) -> Self {
        let states = config.clusters.iter().map(|_| OnceCell::new()).collect();
        SharedClusterView { host, config, now_s: OnceCell::new(), states }
    }

    fn state(&self, cluster: ClusterId) -> Option<&Observed> {
        let name = &self.config.cluster(cluster)?.name;
        Some(self.states.get(cluster.0)?.get_or_init(|| load(self.host, name)).as_ref())
    }
}

impl<H: Host> ClusterView for SharedClusterView<'_, H> {
    fn accepts_new_queries(&self, cluster: ClusterId) -> bool {
        self.state(cluster).is_some_and(|s| s.accepts_new_queries(self.now_s()))
    }

    fn has_room(&self, cluster: ClusterId) -> bool {
        let Some(limits) = self.config.cluster(cluster).and_then(|c| c.limits) else { return true };
        let load = &self.config.load;
        self.state(cluster).is_some_and(|s| s.has_room(&limits, self.now_s(), load.stale_after_seconds, load.replicas))
    }

    fn load(&self, cluster: ClusterId) -> Option<LoadFigure> {
        if self.config.load.source == LoadSource::None {
            return None;
        }
        self.state(cluster)?.load(self.now_s(), self.config.load.stale_after_seconds)
    }

    fn owner_of(&self, coordinator: &CoordinatorId) -> Option<ClusterId> {
        (0..self.config.clusters.len()).map(ClusterId).find(|&c| self.state(c).is_some_and(|s| s.owns(coordinator)))
    }

    /// Read once per decision, and only when asked.
    fn now_s(&self) -> u64 {
        *self.now_s.get_or_init(|| super::now_s(self.host))
    }
}
