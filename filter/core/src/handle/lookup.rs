//! A request held while the coordinators are asked who owns its query id (`lookup.rs`):
//! one HEAD per cluster from the request's own context, the answers gathered as they come,
//! the owner's coordinator id stored for every worker, and the request decided after.

use super::state;
use super::{Exchange, Flow, Metrics};
use crate::config::Config;
use crate::host::{log, parse_status, Callout, Host, LogLevel};
use crate::inspect::SqlFacts;
use crate::lookup::{Lookup, Outcome, Probe};
use crate::request::identity_headers;
use crate::route::{trino_error, Incoming};
use std::cell::Cell;
use std::time::Duration;

/// Lookups one worker runs at once. Each asks every cluster, so a client sending made-up
/// query ids could otherwise multiply its requests by the number of clusters without bound;
/// past this, such requests are decided at once (404 for an unknown id). A real client needs
/// one lookup per coordinator start: after it, the id is known to every worker.
const MAX_IN_FLIGHT: usize = 32;

std::thread_local! {
    static IN_FLIGHT: Cell<usize> = const { Cell::new(0) };
}

/// A place among the worker's lookups under way, given back when the lookup is dropped (also
/// when Envoy ends the stream before the answers are in).
struct Slot;

impl Slot {
    fn take() -> Option<Slot> {
        IN_FLIGHT.with(|n| (n.get() < MAX_IN_FLIGHT).then(|| n.set(n.get().saturating_add(1)))).map(|()| Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        IN_FLIGHT.with(|n| n.set(n.get().saturating_sub(1)));
    }
}

/// A request waiting for its lookup, with what deciding it needs.
pub(super) struct Pending {
    lookup: Lookup,
    incoming: Incoming,
    sql: SqlFacts,
    _slot: Slot,
}

/// Sends the probe to every cluster that can be asked. None when the request should be
/// decided now: the worker has too many lookups under way, or no call could be sent.
pub(super) fn start(
    host: &impl Host,
    config: &Config,
    probe: Probe,
    incoming: &Incoming,
    sql: &SqlFacts,
    metrics: &Metrics,
) -> Option<Pending> {
    let Some(slot) = Slot::take() else {
        metrics.count(host, "trino_router.lookups.skipped");
        log(
            host,
            LogLevel::Debug,
            &format!("trino-router: too many lookups under way; {} not looked up", probe.query.as_str()),
        );
        return None;
    };
    let identity = config.query_lookup.password.as_deref();
    let headers =
        if probe.needs_identity() { identity_headers(&config.query_lookup.user, identity) } else { Vec::new() };
    let timeout = Duration::from_millis(config.health.poll_timeout_ms);
    let mut lookup = Lookup::new(probe);
    for cluster in Lookup::clusters(config) {
        let Some(c) = config.cluster(cluster) else { continue };
        let call = Callout {
            method: "HEAD",
            envoy_cluster: &c.envoy_cluster,
            path: &lookup.probe.path,
            headers: &headers,
            timeout,
        };
        match host.dispatch_call(&call) {
            Ok(token) => lookup.sent(token, cluster),
            Err(e) => {
                log(host, LogLevel::Debug, &format!("trino-router: cannot ask cluster {} about a query: {e}", c.name));
                lookup.not_sent(cluster);
            }
        }
    }
    if let Some(outcome) = lookup.outcome() {
        settle(host, config, &lookup.probe, &outcome, metrics);
        return None;
    }
    Some(Pending { lookup, incoming: incoming.clone(), sql: sql.clone(), _slot: slot })
}

/// Stores what a finished lookup found, where every worker reads it, and says so.
fn settle(host: &impl Host, config: &Config, probe: &Probe, outcome: &Outcome, metrics: &Metrics) {
    let id = probe.query.as_str();
    match outcome {
        Outcome::Owner(cluster) => {
            let (Some(c), Some(coordinator)) = (config.cluster(*cluster), probe.query.coordinator()) else { return };
            state::update(host, &c.name, |s| s.learn_coordinator(&coordinator));
            metrics.count(host, "trino_router.lookups.found");
            let line = format!(
                "trino-router: cluster {} owns query {id}: coordinator id {} learned",
                c.name,
                coordinator.as_str()
            );
            log(host, LogLevel::Debug, &line);
        }
        Outcome::NotFound { unsure } if unsure.is_empty() => {
            metrics.count(host, "trino_router.lookups.not_found");
            log(host, LogLevel::Debug, &format!("trino-router: no cluster has query {id}"));
        }
        Outcome::NotFound { unsure } => {
            metrics.count(host, "trino_router.lookups.not_found");
            let named: Vec<String> = unsure
                .iter()
                .filter_map(|(c, status)| {
                    let name = &config.cluster(*c)?.name;
                    Some(status.map_or(format!("{name} (no answer)"), |s| format!("{name} ({s})")))
                })
                .collect();
            let line = format!(
                "trino-router: looking up the owner of query {id}: {} could not tell (a 401 means query_lookup.user \
                 is not accepted there)",
                named.join(", ")
            );
            log(host, LogLevel::Warn, &line);
        }
    }
}

impl Exchange {
    /// Holds the request while its query id is looked up, when it needs one; Pause if so.
    pub(super) fn look_up(
        &mut self,
        host: &impl Host,
        config: &Config,
        probe: Probe,
        incoming: &Incoming,
        sql: &SqlFacts,
    ) -> bool {
        match start(host, config, probe, incoming, sql, &self.metrics) {
            Some(pending) => {
                self.lookup = Some(pending);
                true
            }
            None => false,
        }
    }

    /// The answer to one of this request's lookup calls (or its timeout, with no status). Once
    /// the lookup is over the request is decided, and goes on unless the filter answered it.
    pub(super) fn on_lookup_response(&mut self, host: &impl Host, token: u32) {
        let (Some(config), Some(pending)) = (self.config.clone(), self.lookup.as_mut()) else { return };
        let status = parse_status(host.call_response_header(":status").ok().flatten());
        if !pending.lookup.answered(token, status) {
            return;
        }
        let Some(outcome) = pending.lookup.outcome() else { return };
        let Some(Pending { lookup, incoming, sql, _slot }) = self.lookup.take() else { return };
        settle(host, &config, &lookup.probe, &outcome, &self.metrics);
        if self.decide_and_go(host, &config, &incoming, &sql, None) == Flow::Pause {
            return;
        }
        if let Err(e) = host.resume_request() {
            // A held request Envoy will not let go of would hang: answer it instead.
            log(host, LogLevel::Warn, &format!("trino-router: cannot resume the request after its lookup: {e}"));
            let _ = host.send_reply(
                500,
                &[("content-type", "text/plain")],
                trino_error(500, "cannot resume the request").as_bytes(),
            );
        }
    }
}
