//! The root context, one per Envoy worker: loads and validates the config, hands it to
//! each request, and polls every coordinator's `/v1/info` (one worker per interval, by lease).

use crate::host;
use crate::http::RequestFilter;
use crate::metrics::Metrics;
use crate::shared_state;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};
use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;
use trino_router_core::cluster_state::ClusterState;
use trino_router_core::config::Config;
use trino_router_core::protocol::parse_server_info;

const POLL_LEASE_KEY: &str = "trino-router.poll-lease";
const POLL_TIMEOUT: Duration = Duration::from_secs(2);
const TICK: Duration = Duration::from_secs(1);

pub struct Root {
    config: Option<Rc<Config>>,
    metrics: Rc<Metrics>,
    /// Seed for per-request randomness; advanced by every request of this worker.
    random: Rc<Cell<u64>>,
    /// In-flight `/v1/info` calls: token -> cluster name.
    polls: HashMap<u32, String>,
}

impl Root {
    pub fn new() -> Self {
        let seed = host::now_ms().unwrap_or(0x5eed) ^ 0x9E37_79B9_7F4A_7C15;
        Root {
            config: None,
            metrics: Rc::new(Metrics::default()),
            random: Rc::new(Cell::new(seed)),
            polls: HashMap::new(),
        }
    }

    fn poll_due(&self, config: &Config) -> bool {
        let Some(now) = host::now_ms() else {
            return false;
        };
        let (value, cas) = host::shared_get(POLL_LEASE_KEY);
        let due: u64 = value.and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()).unwrap_or(0);
        if now < due {
            return false;
        }
        let next = now.saturating_add(config.poll_interval_seconds.saturating_mul(1000));
        // Only the worker whose compare-and-swap wins polls this round.
        host::shared_set(POLL_LEASE_KEY, next.to_string().as_bytes(), cas).is_ok()
    }

    fn poll_all(&mut self, config: &Config) {
        for cluster in &config.clusters {
            match host::dispatch_get(&cluster.envoy_cluster, "/v1/info", POLL_TIMEOUT) {
                Ok(token) => {
                    self.polls.insert(token, cluster.name.clone());
                }
                Err(e) => host::log(
                    LogLevel::Warn,
                    &format!(
                        "trino-router: cannot poll cluster {} via Envoy cluster {}: {e:?}",
                        cluster.name, cluster.envoy_cluster
                    ),
                ),
            }
        }
    }
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, _headers: usize, body_size: usize, _trailers: usize) {
        let Some(cluster) = self.polls.remove(&token) else {
            return;
        };
        let Some(config) = self.config.clone() else {
            return;
        };
        let now_s = host::now_ms().unwrap_or(0) / 1000;
        let info = match host::http_call_status() {
            Some(200) => host::http_call_body(body_size).and_then(|b| parse_server_info(&b)),
            _ => None,
        };
        match info {
            // Envoy routed the poll, so the coordinator is reachable again.
            Some(info) => shared_state::update(&cluster, |s: &mut ClusterState| {
                let cleared = std::mem::take(&mut s.unreachable_until) != 0;
                s.apply_info(&info) | cleared
            }),
            None => {
                host::log(
                    LogLevel::Info,
                    &format!("trino-router: /v1/info of cluster {cluster} failed; avoiding it for new queries"),
                );
                shared_state::update(&cluster, |s| s.mark_unreachable(now_s, config.unhealthy_hold_seconds));
            }
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = match host::plugin_configuration() {
            Ok(Some(b)) => b,
            Ok(None) => {
                host::log(LogLevel::Error, "trino-router: config rejected: the filter needs a JSON configuration");
                return false;
            }
            Err(e) => {
                host::log(LogLevel::Error, &format!("trino-router: cannot read the configuration: {e:?}"));
                return false;
            }
        };
        match Config::from_json(&bytes) {
            Ok(config) => {
                host::log(
                    LogLevel::Info,
                    &format!(
                        "trino-router: config accepted: {} clusters, {} groups, {} rules",
                        config.clusters.len(),
                        config.groups.len(),
                        config.rules.0.len()
                    ),
                );
                self.config = Some(Rc::new(config));
                self.metrics = Rc::new(Metrics::define());
                if let Err(e) = host::set_tick_period(TICK) {
                    host::log(LogLevel::Warn, &format!("trino-router: no tick, so no /v1/info polling: {e:?}"));
                }
                true
            }
            Err(errors) => {
                // Returning false makes Envoy refuse this config and keep the last good one.
                host::log(LogLevel::Error, &format!("trino-router: config rejected: {errors}"));
                false
            }
        }
    }

    fn on_tick(&mut self) {
        let Some(config) = self.config.clone() else {
            return;
        };
        if self.poll_due(&config) {
            self.poll_all(&config);
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        let seed = self.random.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.random.set(seed);
        Some(Box::new(RequestFilter::new(self.config.clone(), Rc::clone(&self.metrics), splitmix64(seed))))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// A well-mixed 64-bit value from a counter (SplitMix64 finaliser).
fn splitmix64(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
