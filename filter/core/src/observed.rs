//! What the filter has observed about each Trino cluster, shared by all Envoy workers:
//! reachability (from `/v1/info` polls and Envoy's verdicts on live traffic), whether the
//! coordinator is still starting, its load, and the coordinator ids it issued.
//! The host stores one encoded `Observed` per cluster.

use crate::config::{ClusterId, Health};
use crate::protocol::{CoordinatorId, ServerInfo};
use serde::{Deserialize, Serialize};

/// A coordinator restart picks a new id; remembering a few old ones keeps
/// `/v1/query/{id}` of recent queries routable while bounding the stored value.
const REMEMBERED_COORDINATORS: usize = 8;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Observed {
    /// Unix seconds until which new queries avoid this cluster (Envoy found it unreachable).
    pub unreachable_until: u64,
    /// `unhealthy_after` polls failed in a row, and not yet `healthy_after` good ones since.
    pub down: bool,
    pub failed_polls: u32,
    pub good_polls: u32,
    /// The last `/v1/info` said `"starting": true`.
    pub starting: bool,
    /// Envoy refused the last poll: by its own health checks no host is healthy.
    pub refused: bool,
    /// Newest first.
    pub coordinators: Vec<String>,
    pub queued: u64,
    pub running: u64,
    /// Unix seconds of the last load figures; 0 = never read.
    pub load_at: u64,
    /// New queries this filter sent since the figures were read, counted as queued.
    pub sent_since_load: u64,
}

/// A cluster's load as choice sees it: queued (including queries just sent), then running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LoadFigure {
    pub queued: u64,
    pub running: u64,
}

impl Observed {
    pub fn decode(bytes: &[u8]) -> Observed {
        // A value this version cannot read is treated as "nothing known", never as an error.
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn accepts_new_queries(&self, now: u64) -> bool {
        !self.starting && !self.down && !self.refused && now >= self.unreachable_until
    }

    pub fn owns(&self, coordinator: &CoordinatorId) -> bool {
        self.coordinators.iter().any(|c| c == coordinator.as_str())
    }

    /// Returns whether anything changed, so the host writes only when it must.
    pub fn learn_coordinator(&mut self, coordinator: &CoordinatorId) -> bool {
        if self.coordinators.first().map(String::as_str) == Some(coordinator.as_str()) {
            return false;
        }
        self.coordinators.retain(|c| c != coordinator.as_str());
        self.coordinators.insert(0, coordinator.as_str().to_string());
        self.coordinators.truncate(REMEMBERED_COORDINATORS);
        true
    }

    /// Envoy found no healthy host or could not connect, on live traffic.
    pub fn mark_unreachable(&mut self, now: u64, hold_seconds: u64) -> bool {
        let until = now.saturating_add(hold_seconds);
        let changed = until > self.unreachable_until;
        self.unreachable_until = self.unreachable_until.max(until);
        changed
    }

    /// A `/v1/info` answer arrived: Envoy could route to the coordinator.
    pub fn poll_succeeded(&mut self, info: &ServerInfo, health: &Health) -> bool {
        let before = self.clone();
        self.failed_polls = 0;
        self.refused = false;
        self.good_polls = self.good_polls.saturating_add(1);
        if self.good_polls >= health.healthy_after {
            self.down = false;
            self.unreachable_until = 0;
        }
        self.starting = info.starting;
        if let Some(id) = &info.coordinator_id {
            self.learn_coordinator(id);
        }
        *self != before
    }

    /// A poll failed (no answer, not 200, or not Trino's `/v1/info`).
    pub fn poll_failed(&mut self, health: &Health) -> bool {
        let before = self.clone();
        self.good_polls = 0;
        self.failed_polls = self.failed_polls.saturating_add(1);
        if self.failed_polls >= health.unhealthy_after {
            self.down = true;
        }
        *self != before
    }

    /// Envoy refused the poll outright: by its own health checks (already debounced by
    /// their thresholds) no host is healthy. Envoy would refuse live traffic too, so the
    /// cluster takes no new queries until a poll gets through; it also counts as failed.
    pub fn poll_refused(&mut self, health: &Health) -> bool {
        let was_refused = std::mem::replace(&mut self.refused, true);
        self.poll_failed(health) || !was_refused
    }

    pub fn record_load(&mut self, queued: u64, running: u64, now: u64) {
        self.queued = queued;
        self.running = running;
        self.load_at = now;
        self.sent_since_load = 0;
    }

    /// A new query was just sent here: count it until the next figures include it.
    pub fn note_sent(&mut self) {
        self.sent_since_load = self.sent_since_load.saturating_add(1);
    }

    /// The load to choose by, or None when there are no figures younger than `stale_after`.
    pub fn load(&self, now: u64, stale_after: u64) -> Option<LoadFigure> {
        let fresh = self.load_at != 0 && now.saturating_sub(self.load_at) <= stale_after;
        fresh.then(|| LoadFigure { queued: self.queued.saturating_add(self.sent_since_load), running: self.running })
    }
}

/// Envoy's verdict on a forwarded request, read from `response.code_details`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamVerdict {
    /// No healthy host, or the connection could not be made: new queries must avoid it.
    Unreachable,
    Fine,
}

pub fn verdict_of(code_details: &str) -> UpstreamVerdict {
    const UNREACHABLE: [&str; 4] = ["no_healthy_upstream", "connection_failure", "connection_termination", "overflow"];
    if UNREACHABLE.iter().any(|m| code_details.contains(m)) {
        UpstreamVerdict::Unreachable
    } else {
        UpstreamVerdict::Fine
    }
}

/// The view of observed cluster states a routing decision needs; the host implements it
/// over Envoy's shared data, tests over a map.
pub trait ClusterView {
    fn accepts_new_queries(&self, cluster: ClusterId) -> bool;
    /// Fresh load figures, if the config polls load and they are not stale.
    fn load(&self, cluster: ClusterId) -> Option<LoadFigure>;
    fn owner_of(&self, coordinator: &CoordinatorId) -> Option<ClusterId>;
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    fn id(s: &str) -> CoordinatorId {
        CoordinatorId::parse(s).unwrap()
    }

    fn health(unhealthy_after: u32, healthy_after: u32) -> Health {
        Health {
            poll_interval_seconds: 5,
            poll_timeout_ms: 1000,
            unhealthy_after,
            healthy_after,
            unhealthy_hold_seconds: 10,
        }
    }

    fn info(starting: bool) -> ServerInfo {
        ServerInfo { starting, coordinator_id: Some(id("dup55")) }
    }

    #[test]
    fn remembers_recent_coordinators_newest_first() {
        let mut s = Observed::default();
        assert!(s.learn_coordinator(&id("aaaaa")));
        assert!(!s.learn_coordinator(&id("aaaaa")));
        for c in ["bbbbb", "ccccc", "ddddd", "eeeee", "fffff", "ggggg", "hhhhh", "iiiii"] {
            s.learn_coordinator(&id(c));
        }
        assert_eq!(s.coordinators.len(), 8);
        assert_eq!(s.coordinators[0], "iiiii");
        assert!(!s.owns(&id("aaaaa")));
        assert!(s.owns(&id("bbbbb")));
    }

    #[test]
    fn one_failed_poll_does_not_flap_a_cluster() {
        let h = health(2, 2);
        let mut s = Observed::default();
        s.poll_failed(&h);
        assert!(s.accepts_new_queries(0), "one blip");
        s.poll_failed(&h);
        assert!(!s.accepts_new_queries(0), "two in a row");
        s.poll_succeeded(&info(false), &h);
        assert!(!s.accepts_new_queries(0), "one good poll is not enough with healthy_after 2");
        s.poll_succeeded(&info(false), &h);
        assert!(s.accepts_new_queries(0));
        assert!(s.owns(&id("dup55")));
    }

    #[test]
    fn a_refused_poll_keeps_new_queries_away_until_a_poll_gets_through() {
        let h = health(3, 1);
        let mut s = Observed::default();
        s.poll_refused(&h);
        assert!(!s.accepts_new_queries(100), "Envoy has no healthy host: neither has the router");
        assert!(!s.down, "one refusal is one failed poll of three");
        s.poll_succeeded(&info(false), &h);
        assert!(s.accepts_new_queries(100));
    }

    #[test]
    fn a_starting_coordinator_takes_no_new_queries() {
        let mut s = Observed::default();
        s.poll_succeeded(&info(true), &health(1, 1));
        assert!(!s.accepts_new_queries(0));
        s.poll_succeeded(&info(false), &health(1, 1));
        assert!(s.accepts_new_queries(0));
    }

    #[test]
    fn unreachable_holds_until_the_time_or_a_good_poll() {
        let mut s = Observed::default();
        s.mark_unreachable(100, 10);
        assert!(!s.accepts_new_queries(109));
        assert!(s.accepts_new_queries(110));
        s.mark_unreachable(200, 10);
        s.poll_succeeded(&info(false), &health(1, 1));
        assert!(s.accepts_new_queries(201));
    }

    #[test]
    fn load_counts_queries_sent_since_the_poll_and_goes_stale() {
        let mut s = Observed::default();
        assert_eq!(s.load(100, 15), None, "never read");
        s.record_load(3, 7, 100);
        s.note_sent();
        s.note_sent();
        assert_eq!(s.load(110, 15), Some(LoadFigure { queued: 5, running: 7 }));
        assert_eq!(s.load(116, 15), None, "stale");
        s.record_load(1, 0, 120);
        assert_eq!(s.load(120, 15), Some(LoadFigure { queued: 1, running: 0 }), "the poll resets the count");
    }

    #[test]
    fn encoding_round_trips_and_garbage_means_unknown() {
        let mut s = Observed::default();
        s.learn_coordinator(&id("dup55"));
        s.starting = true;
        assert_eq!(Observed::decode(&s.encode()), s);
        assert_eq!(Observed::decode(b"\xff{"), Observed::default());
        assert!(Observed::decode(br#"{"starting":true,"future_field":1}"#).starting);
    }

    #[test]
    fn envoy_verdicts() {
        assert_eq!(verdict_of("no_healthy_upstream"), UpstreamVerdict::Unreachable);
        assert_eq!(
            verdict_of("upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_Connection_refused}"),
            UpstreamVerdict::Unreachable
        );
        assert_eq!(verdict_of("via_upstream"), UpstreamVerdict::Fine);
    }
}
