//! Process-wide state shared by all connections: config, identity, registry, log.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::args::Config;
use crate::ids;
use crate::introspect::RequestLog;
use crate::queries::Registry;
use crate::slug::SlugKey;
use crate::spooling::SpoolStore;

pub struct App {
    pub config: Config,
    pub coordinator_id: String,
    pub node_id: String,
    /// `host:port` we are bound to: the base URI when a request has no Host.
    pub bound: String,
    pub slugs: SlugKey,
    pub started: Instant,
    starting_until: Mutex<Instant>,
    registry: Mutex<Registry>,
    pub requests: RequestLog,
    /// Spooling protocol state: which queries spool, which segments exist.
    pub spool: SpoolStore,
}

impl App {
    pub fn new(config: Config, bound: String) -> App {
        let coordinator_id = config.coordinator_id.clone().unwrap_or_else(ids::random_coordinator_id);
        let now = Instant::now();
        let registry = Registry::new(&coordinator_id, config.rows, config.page_rows, config.queued_polls);
        App {
            starting_until: Mutex::new(now + Duration::from_secs(config.starting_secs)),
            config,
            coordinator_id,
            node_id: ids::random_node_id(),
            bound,
            slugs: SlugKey::random(),
            started: now,
            registry: Mutex::new(registry),
            requests: RequestLog::default(),
            spool: SpoolStore::default(),
        }
    }

    /// The registry lock. Nothing panics while holding it, but a poisoned lock
    /// is still usable: the state is plain data.
    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_starting(&self) -> bool {
        let until = *self.starting_until.lock().unwrap_or_else(|e| e.into_inner());
        Instant::now() < until
    }

    /// `POST /_standin/starting?secs=N`: report `starting:true` for N seconds.
    pub fn set_starting_for(&self, secs: u64) {
        let until = Instant::now() + Duration::from_secs(secs.min(365 * 86_400));
        *self.starting_until.lock().unwrap_or_else(|e| e.into_inner()) = until;
    }
}

#[cfg(test)]
pub fn test_app(config: Config) -> std::sync::Arc<App> {
    std::sync::Arc::new(App::new(config, "127.0.0.1:1".to_string()))
}
