//! The root context, one per Envoy worker: validates and holds the config (Envoy keeps the
//! previous one when `on_configure` refuses a new one), hands it to each request, and
//! drives the poller from its tick.

use crate::host;
use crate::http::RequestFilter;
use crate::metrics::Metrics;
use crate::poller::Poller;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use trino_router_core::config::Config;

const TICK: Duration = Duration::from_secs(1);

pub struct Root {
    config: Option<Rc<Config>>,
    metrics: Rc<Metrics>,
    poller: Poller,
    /// Seed for per-request randomness; advanced by every request of this worker.
    random: Rc<Cell<u64>>,
}

impl Root {
    pub fn new() -> Self {
        let seed = host::now_ms().unwrap_or(0x5eed) ^ 0x9E37_79B9_7F4A_7C15;
        Root {
            config: None,
            metrics: Rc::new(Metrics::default()),
            poller: Poller::default(),
            random: Rc::new(Cell::new(seed)),
        }
    }
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, _headers: usize, body_size: usize, _trailers: usize) {
        if let Some(config) = self.config.clone() {
            self.poller.on_response(token, body_size, &config, &self.metrics);
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
                host::refresh_log_level();
                if let Err(e) = host::set_tick_period(TICK) {
                    host::log(LogLevel::Warn, &format!("trino-router: no tick, so no polling: {e:?}"));
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
        host::refresh_log_level();
        let Some(config) = self.config.clone() else { return };
        if self.poller.due(&config) {
            self.poller.start(&config, &self.metrics);
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
