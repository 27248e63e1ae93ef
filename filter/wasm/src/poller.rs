//! Polls every coordinator through its Envoy cluster: `/v1/info` (reachable, starting,
//! coordinator id) and, when configured, its load. One worker polls per interval for the
//! whole Envoy process: the lease in shared data goes to whichever worker's tick wins it.

use crate::host;
use crate::metrics::Metrics;
use crate::shared_state;
use proxy_wasm::types::LogLevel;
use std::collections::HashMap;
use std::time::Duration;
use trino_router_core::config::{Config, LoadSource};
use trino_router_core::observed::load_poll_request;
use trino_router_core::protocol::{parse_metrics_load, parse_server_info, parse_ui_stats_load, ServerInfo};

const POLL_LEASE_KEY: &str = "trino-router.poll-lease";
const REFUSED_RETRY_MS: u64 = 1000;

#[derive(Clone, Copy)]
enum Kind {
    Info,
    Load,
}

#[derive(Default)]
pub struct Poller {
    /// Calls under way: token -> (cluster name, what was asked).
    in_flight: HashMap<u32, (String, Kind)>,
}

impl Poller {
    /// Takes the poll lease if this round is due and no other worker took it.
    pub fn due(&self, config: &Config) -> bool {
        let Some(now) = host::now_ms() else { return false };
        let (value, cas) = host::shared_get(POLL_LEASE_KEY);
        let due: u64 = value.and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()).unwrap_or(0);
        if now < due {
            return false;
        }
        let next = now.saturating_add(config.health.poll_interval_seconds.saturating_mul(1000));
        host::shared_set(POLL_LEASE_KEY, next.to_string().as_bytes(), cas).is_ok()
    }

    pub fn start(&mut self, config: &Config, metrics: &Metrics) {
        let timeout = Duration::from_millis(config.health.poll_timeout_ms);
        let load = load_poll_request(&config.load);
        let mut any_refused = false;
        for cluster in &config.clusters {
            // Envoy refuses the call at once when no host of the cluster is healthy (also
            // at start, until its first health check passes).
            if !self.dispatch(&cluster.name, &cluster.envoy_cluster, "/v1/info", &[], Kind::Info, timeout) {
                on_info(&cluster.name, Poll::Refused, config, metrics);
                any_refused = true;
            }
            if let Some((path, headers)) = &load {
                self.dispatch(&cluster.name, &cluster.envoy_cluster, path, headers, Kind::Load, timeout);
            }
        }
        if any_refused {
            // A refused cluster takes no new queries until a poll gets through: ask again at
            // the next tick rather than a whole interval later. Refusals cost no network.
            if let Some(now) = host::now_ms() {
                let _ =
                    host::shared_set(POLL_LEASE_KEY, now.saturating_add(REFUSED_RETRY_MS).to_string().as_bytes(), None);
            }
        }
    }

    fn dispatch(
        &mut self,
        name: &str,
        envoy_cluster: &str,
        path: &str,
        headers: &[(String, String)],
        kind: Kind,
        timeout: Duration,
    ) -> bool {
        match host::dispatch_get(envoy_cluster, path, headers, timeout) {
            Ok(token) => {
                self.in_flight.insert(token, (name.to_string(), kind));
                true
            }
            Err(e) => {
                host::log(
                    LogLevel::Debug,
                    &format!(
                        "trino-router: cannot poll {path} of cluster {name} via Envoy cluster {envoy_cluster}: {e:?}"
                    ),
                );
                false
            }
        }
    }

    /// Handles an answer (or a timeout, which arrives as an answer without status).
    pub fn on_response(&mut self, token: u32, body_size: usize, config: &Config, metrics: &Metrics) {
        let Some((cluster, kind)) = self.in_flight.remove(&token) else { return };
        let body = match host::http_call_status() {
            Some(200) => host::http_call_body(body_size),
            _ => None,
        };
        match kind {
            Kind::Info => {
                let outcome = body.as_deref().and_then(parse_server_info).map_or(Poll::Failed, Poll::Answered);
                on_info(&cluster, outcome, config, metrics)
            }
            Kind::Load => on_load(&cluster, body.as_deref(), config),
        }
    }
}

/// How a `/v1/info` poll went.
enum Poll {
    Answered(ServerInfo),
    /// No answer, not 200, or not Trino's `/v1/info`.
    Failed,
    /// Envoy would not send it: no host of the cluster is healthy by its checks.
    Refused,
}

fn on_info(cluster: &str, outcome: Poll, config: &Config, metrics: &Metrics) {
    let now_s = host::now_s();
    match outcome {
        Poll::Answered(info) => shared_state::update(cluster, |s| {
            let was_usable = s.accepts_new_queries(now_s);
            let changed = s.poll_succeeded(&info, &config.health);
            if changed && !was_usable && s.accepts_new_queries(now_s) {
                host::log(LogLevel::Info, &format!("trino-router: cluster {cluster} takes new queries again"));
                metrics.count(&format!("trino_router.cluster.{cluster}.usable"));
            }
            changed
        }),
        failed => shared_state::update(cluster, |s| {
            let was_down = s.down;
            let changed = match failed {
                Poll::Refused => s.poll_refused(&config.health),
                _ => s.poll_failed(&config.health),
            };
            if s.down && !was_down {
                host::log(
                    LogLevel::Warn,
                    &format!(
                        "trino-router: /v1/info of cluster {cluster} failed {} times; no new queries go there",
                        s.failed_polls
                    ),
                );
                metrics.count(&format!("trino_router.cluster.{cluster}.unusable"));
            }
            changed
        }),
    }
}

fn on_load(cluster: &str, body: Option<&[u8]>, config: &Config) {
    let figures = body.and_then(|b| match config.load.source {
        LoadSource::Metrics => parse_metrics_load(b),
        LoadSource::UiStats => parse_ui_stats_load(b),
        LoadSource::None => None,
    });
    let Some((queued, running)) = figures else {
        // Stale figures age out by themselves; load-aware choice then uses weights.
        host::log(LogLevel::Debug, &format!("trino-router: no load figures from cluster {cluster}"));
        return;
    };
    let now_s = host::now_s();
    shared_state::update(cluster, |s| {
        s.record_load(queued, running, now_s);
        true
    });
}
