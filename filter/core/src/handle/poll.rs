//! Polls every coordinator through its Envoy cluster: `/v1/info` (reachable, starting,
//! coordinator id) and, when configured, its load. One worker polls per interval for the
//! whole Envoy process: the lease in shared data goes to whichever worker's tick wins it.

use super::{now_s, state, Metrics};
use crate::config::{Config, Load, LoadSource};
use crate::host::{log, parse_status, Body, Callout, Host, LogLevel};
use crate::protocol::{parse_metrics_load, parse_server_info, parse_ui_stats_load, ServerInfo};
use crate::request::identity_headers;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const POLL_LEASE_KEY: &str = "trino-router.poll-lease";
/// A refused cluster is asked again this soon rather than a whole interval later.
const REFUSED_RETRY_MS: u64 = 1000;

#[derive(Clone, Copy)]
enum Kind {
    Info,
    /// With the cluster's `sent_total` and the time (ms) when the poll left.
    Load(u64, u64),
}

#[derive(Default)]
pub struct Poller {
    /// Calls under way: token -> (cluster name, what was asked).
    in_flight: HashMap<u32, (String, Kind)>,
    /// Clusters whose poll Envoy refused to send, already logged at error by this worker.
    refusal_logged: HashSet<String>,
}

impl Poller {
    /// Takes the poll lease if this round is due and no other worker took it: by
    /// compare-and-swap, so exactly one worker polls a round. The lease holds the time the
    /// next round is due; one further away than an interval was set by a clock that has
    /// stepped back since, and is due now (a wall-clock deadline must not stop polling).
    pub fn due(&self, host: &impl Host, config: &Config) -> bool {
        let now = super::now_ms(host);
        let Ok((mut value, mut cas)) = host.shared_get(POLL_LEASE_KEY) else { return false };
        if cas.is_none() {
            // No lease yet: every worker may seed it (the same value, no lease taken); the
            // round is then contended for with CAS like every other.
            let _ = host.shared_set(POLL_LEASE_KEY, b"0", None);
            let Ok(read) = host.shared_get(POLL_LEASE_KEY) else { return false };
            (value, cas) = read;
        }
        let Some(cas) = cas else { return false };
        let interval_ms = config.health.poll_interval_seconds.saturating_mul(1000);
        let due: u64 = value.and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()).unwrap_or(0);
        if now < due && due <= now.saturating_add(interval_ms) {
            return false;
        }
        let next = now.saturating_add(interval_ms);
        host.shared_set(POLL_LEASE_KEY, next.to_string().as_bytes(), Some(cas)).is_ok()
    }

    pub fn start(&mut self, host: &impl Host, config: &Config, metrics: &Metrics) {
        let timeout = Duration::from_millis(config.health.poll_timeout_ms);
        let load = load_poll_request(&config.load);
        let mut any_refused = false;
        for cluster in &config.clusters {
            let info = Callout {
                method: "GET",
                envoy_cluster: &cluster.envoy_cluster,
                path: "/v1/info",
                headers: &[],
                timeout,
            };
            // Envoy refuses the call at once when no host of the cluster is healthy (also
            // at start, until its first health check passes).
            if !self.dispatch(host, &cluster.name, &info, Kind::Info, metrics) {
                on_info(host, &cluster.name, Poll::Refused, config, metrics);
                any_refused = true;
            }
            if let Some((path, headers)) = &load {
                let call = Callout { method: "GET", envoy_cluster: &cluster.envoy_cluster, path, headers, timeout };
                let sent_at_poll = state::load(host, &cluster.name).sent_total;
                let left = Kind::Load(sent_at_poll, super::now_ms(host));
                self.dispatch(host, &cluster.name, &call, left, metrics);
            }
        }
        if any_refused {
            // A refused cluster takes no new queries until a poll gets through: ask again at
            // the next tick. Refusals cost no network.
            // This worker holds the lease it just took: shorten it, by CAS like every write.
            let retry = super::now_ms(host).saturating_add(REFUSED_RETRY_MS).to_string();
            if let Ok((_, Some(cas))) = host.shared_get(POLL_LEASE_KEY) {
                let _ = host.shared_set(POLL_LEASE_KEY, retry.as_bytes(), Some(cas));
            }
        }
    }

    /// Envoy's shipped clusters run in panic mode (see envoy/envoy.yaml), so it refuses a
    /// call only when it cannot route it at all: most often an `envoy_cluster` that does not
    /// exist. That is a configuration error: logged at error once per worker, and counted.
    fn dispatch(&mut self, host: &impl Host, name: &str, call: &Callout<'_>, kind: Kind, metrics: &Metrics) -> bool {
        match host.dispatch_call(call) {
            Ok(token) => {
                self.in_flight.insert(token, (name.to_string(), kind));
                self.refusal_logged.remove(name);
                true
            }
            Err(e) => {
                let (path, via) = (call.path, call.envoy_cluster);
                let line = format!(
                    "trino-router: Envoy refuses to send {path} to cluster {name} via Envoy cluster {via} ({e}): \
                     is there an Envoy cluster named {via}? The cluster takes no new queries until it can be polled"
                );
                let first = self.refusal_logged.insert(name.to_string());
                log(host, if first { LogLevel::Error } else { LogLevel::Debug }, &line);
                metrics.count(host, &format!("trino_router.cluster.{name}.polls.unroutable"));
                false
            }
        }
    }

    /// Handles an answer (or a timeout, which arrives as an answer without status).
    pub fn on_response(&mut self, host: &impl Host, token: u32, body_size: usize, config: &Config, metrics: &Metrics) {
        let Some((cluster, kind)) = self.in_flight.remove(&token) else { return };
        let body = match parse_status(host.call_response_header(":status").ok().flatten()) {
            Some(200) => host.body(Body::CallResponse, 0, body_size).ok().flatten(),
            _ => None,
        };
        match kind {
            Kind::Info => {
                let outcome = body.as_deref().and_then(parse_server_info).map_or(Poll::Failed, Poll::Answered);
                on_info(host, &cluster, outcome, config, metrics)
            }
            Kind::Load(sent_at_poll, left_ms) => {
                on_load(host, &cluster, body.as_deref(), config, (sent_at_poll, left_ms))
            }
        }
    }
}

/// The request that reads a cluster's load: path and headers, or None when load is not polled.
/// Both endpoints want a user; a password turns it into Basic authentication.
pub fn load_poll_request(load: &Load) -> Option<(&'static str, Vec<(String, String)>)> {
    let path = match load.source {
        LoadSource::None => return None,
        LoadSource::Metrics => "/metrics",
        LoadSource::UiStats => "/ui/api/stats",
    };
    let headers = identity_headers(&load.user, load.password.as_deref());
    Some((path, headers))
}

/// How a `/v1/info` poll went.
enum Poll {
    Answered(ServerInfo),
    /// No answer, not 200, or not Trino's `/v1/info`.
    Failed,
    /// Envoy would not send it: no host of the cluster is healthy by its checks.
    Refused,
}

fn on_info(host: &impl Host, cluster: &str, outcome: Poll, config: &Config, metrics: &Metrics) {
    let now_s = now_s(host);
    // Counted after the state is stored: a reader that sees `answered` go up can rely on
    // the filter having taken that answer into account (the harness waits on it).
    let counter = match outcome {
        Poll::Answered(_) => "answered",
        Poll::Failed => "failed",
        Poll::Refused => "refused",
    };
    on_info_state(host, cluster, outcome, config, metrics, now_s);
    metrics.count(host, &format!("trino_router.cluster.{cluster}.polls.{counter}"));
}

fn on_info_state(host: &impl Host, cluster: &str, outcome: Poll, config: &Config, metrics: &Metrics, now_s: u64) {
    match outcome {
        Poll::Answered(info) => state::update(host, cluster, |s| {
            let was_usable = s.accepts_new_queries(now_s);
            let changed = s.poll_succeeded(&info, &config.health);
            if changed && !was_usable && s.accepts_new_queries(now_s) {
                log(host, LogLevel::Info, &format!("trino-router: cluster {cluster} takes new queries again"));
                metrics.count(host, &format!("trino_router.cluster.{cluster}.usable"));
            }
            changed
        }),
        failed => state::update(host, cluster, |s| {
            let was_down = s.down;
            let changed = match failed {
                Poll::Refused => s.poll_refused(&config.health, now_s),
                _ => s.poll_failed(&config.health, now_s),
            };
            if s.down && !was_down {
                let n = s.failed_polls;
                let line =
                    format!("trino-router: /v1/info of cluster {cluster} failed {n} times; no new queries go there");
                log(host, LogLevel::Warn, &line);
                metrics.count(host, &format!("trino_router.cluster.{cluster}.unusable"));
            }
            changed
        }),
    }
}

fn on_load(host: &impl Host, cluster: &str, body: Option<&[u8]>, config: &Config, poll: (u64, u64)) {
    let figures = body.and_then(|b| match config.load.source {
        LoadSource::Metrics => parse_metrics_load(b),
        LoadSource::UiStats => parse_ui_stats_load(b),
        LoadSource::None => None,
    });
    let Some((queued, running)) = figures else {
        // Stale figures age out by themselves; load-aware choice then uses weights.
        log(host, LogLevel::Debug, &format!("trino-router: no load figures from cluster {cluster}"));
        return;
    };
    let now_s = now_s(host);
    state::update(host, cluster, |s| {
        s.record_load(queued, running, now_s, poll.0, poll.1);
        true
    });
}
