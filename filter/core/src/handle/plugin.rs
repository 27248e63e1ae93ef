//! The filter on one Envoy worker: validates and holds the config (Envoy keeps the previous
//! one when `configure` refuses a new one), drives the poller from the tick, and starts an
//! `Exchange` for each request with the config, the counters and fresh randomness.
//!
//! An instance configured `{"stage": "identify"}` (`rate_limit.rs`) routes nothing: its
//! exchanges set the identity headers for Envoy's rate-limit filters, with the configuration of
//! the router instance that shares its VM (same `vm_id`), which it finds in `MAIN_CONFIG`.

use super::poll::Poller;
use super::queue::{self, SharedQueue};
use super::{Exchange, Metrics};
use crate::config::Config;
use crate::host::{log, Host, LogLevel};
use crate::rate_limit::Stage;
use std::cell::{Cell, RefCell};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::rc::Rc;
use std::time::Duration;

const TICK: Duration = Duration::from_secs(1);

std::thread_local! {
    /// The configuration the router instance of this VM accepted last, for identify stages.
    /// (A VM is one thread per Envoy worker; each instance has its own root context in it.)
    static MAIN_CONFIG: RefCell<Option<Rc<Config>>> = const { RefCell::new(None) };
}

/// The router configuration of this VM, if a router instance has accepted one.
pub(super) fn main_config() -> Option<Rc<Config>> {
    MAIN_CONFIG.with(|c| c.borrow().clone())
}

pub struct Plugin {
    config: Option<Rc<Config>>,
    /// Configured as the identify stage.
    identify: bool,
    metrics: Rc<Metrics>,
    poller: Poller,
    /// Queries waiting at the router on this worker.
    queue: SharedQueue,
    /// Seed for per-request randomness; advanced by every request of this worker.
    random: Cell<u64>,
}

impl Plugin {
    pub fn new(host: &impl Host) -> Self {
        // Workers that start in the same millisecond must not share a sequence: the clock is
        // mixed with std's per-VM random keys (WASI `random_get`, already used by every
        // HashMap of the filter, so this adds no new way to fail).
        let seed = RandomState::new().hash_one(host.now_ms().unwrap_or(0x5eed));
        Plugin {
            config: None,
            identify: false,
            metrics: Rc::new(Metrics::default()),
            poller: Poller::default(),
            queue: SharedQueue::default(),
            random: Cell::new(seed),
        }
    }

    /// Reads and validates the plugin configuration; false makes Envoy refuse it (and, on
    /// a live update, keep the last good one).
    pub fn configure(&mut self, host: &impl Host) -> bool {
        let bytes = match host.plugin_configuration() {
            Ok(Some(b)) => b,
            Ok(None) => {
                log(host, LogLevel::Error, "trino-router: config rejected: the filter needs a JSON configuration");
                return false;
            }
            Err(e) => {
                log(host, LogLevel::Error, &format!("trino-router: cannot read the configuration: {e}"));
                return false;
            }
        };
        match Stage::from_json(&bytes) {
            Ok(Stage::Identify) => {
                log(host, LogLevel::Info, "trino-router: identify stage accepted (for Envoy's rate-limit filters)");
                self.identify = true;
                self.config = None;
                true
            }
            Ok(Stage::Route(config)) => {
                let (clusters, groups, rules) = (config.clusters.len(), config.groups.len(), config.rules.0.len());
                let line =
                    format!("trino-router: config accepted: {clusters} clusters, {groups} groups, {rules} rules");
                log(host, LogLevel::Info, &line);
                let config = Rc::new(*config);
                MAIN_CONFIG.with(|c| *c.borrow_mut() = Some(Rc::clone(&config)));
                self.identify = false;
                self.config = Some(config);
                if let Err(e) = host.set_tick_period(TICK) {
                    log(host, LogLevel::Warn, &format!("trino-router: no tick, so no polling: {e}"));
                }
                true
            }
            Err(errors) => {
                log(host, LogLevel::Error, &format!("trino-router: config rejected: {errors}"));
                false
            }
        }
    }

    pub fn tick(&mut self, host: &impl Host) {
        let Some(config) = self.config.clone() else { return };
        if self.poller.due(host, &config) {
            self.poller.start(host, &config, &self.metrics);
        }
        queue::advance(host, &config, &self.queue, &self.metrics, self.next_random());
    }

    /// The answer (or timeout) of a poll.
    pub fn on_call_response(&mut self, host: &impl Host, token: u32, body_size: usize) {
        if queue::on_call_response(host, &self.queue, &self.metrics, token, body_size) {
            return;
        }
        if let Some(config) = self.config.clone() {
            self.poller.on_response(host, token, body_size, &config, &self.metrics);
        }
    }

    /// The exchange of the stream Envoy numbers `context`.
    pub fn new_exchange(&self, context: u32) -> Exchange {
        let queue = Rc::clone(&self.queue);
        let mut exchange =
            Exchange::new(self.config.clone(), Rc::clone(&self.metrics), self.next_random(), queue, context);
        if self.identify {
            exchange.identify = Some(super::identify::Identify::default());
        }
        exchange
    }

    fn next_random(&self) -> u64 {
        let seed = self.random.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.random.set(seed);
        splitmix64(seed)
    }
}

/// A well-mixed 64-bit value from a counter (SplitMix64 finaliser).
fn splitmix64(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
