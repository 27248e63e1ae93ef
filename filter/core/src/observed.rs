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
    /// Seconds (the filter's clock) until which new queries avoid this cluster: Envoy could
    /// not connect to it on live traffic. A good poll does not cut the hold short.
    pub unreachable_until: u64,
    /// When that hold was set: a clock now before it stepped back, and the hold is over.
    pub unreachable_at: u64,
    /// When the cluster began failing (first failed poll or refused connection since the
    /// last answered poll); 0 = it answers. How long a query's coordinator is known gone.
    pub failing_since: u64,
    /// The last `/v1/info` reported a node state other than ACTIVE (shutting down, draining).
    pub inactive: bool,
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
    /// Every new query this filter (this Envoy process) ever sent here: the poller notes it
    /// when it asks for load, so queries sent while the poll is under way stay counted.
    pub sent_total: u64,
    /// When the last `RECENT_SENDS` new queries were sent (ms), oldest first: figures read
    /// shortly after a send may not show it yet (Trino registers a query only when its
    /// client first polls it), so sends within `SEND_GRACE_MS` before a poll left stay counted.
    pub recent_sends: Vec<u64>,
}

/// How many send times are kept: more than a limited cluster takes within the grace.
const RECENT_SENDS: usize = 32;
/// How long before a poll left a send still counts as possibly missing from its figures.
const SEND_GRACE_MS: u64 = 1000;

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
        let held = now < self.unreachable_until && now >= self.unreachable_at;
        !self.starting && !self.inactive && !self.down && !self.refused && !held
    }

    /// Whether the query whose coordinator id is `coordinator` is certainly gone: the
    /// cluster's coordinator restarted since (it has a newer id; a cluster has one
    /// coordinator), or its coordinator has been failing for `lost_after` seconds.
    pub fn query_lost(&self, coordinator: Option<&CoordinatorId>, now: u64, lost_after: u64) -> bool {
        self.restarted_since(coordinator) || self.failing_for(now) >= Some(lost_after)
    }

    /// The cluster's coordinator is known and is not the one that issued the query.
    pub fn restarted_since(&self, coordinator: Option<&CoordinatorId>) -> bool {
        matches!((self.coordinators.first(), coordinator), (Some(current), Some(c)) if current != c.as_str())
    }

    /// How long the cluster has been failing, if it is.
    pub fn failing_for(&self, now: u64) -> Option<u64> {
        (self.failing_since != 0).then(|| now.saturating_sub(self.failing_since))
    }

    fn note_failing(&mut self, now: u64) {
        if self.failing_since == 0 {
            self.failing_since = now.max(1);
        }
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

    /// Envoy could not connect to the coordinator on live traffic: no new queries for
    /// `hold_seconds` (a hold further away than that, left by a clock that stepped back, is
    /// cut to it), and the cluster counts as failing from now on.
    pub fn mark_unreachable(&mut self, now: u64, hold_seconds: u64) -> bool {
        let before = self.clone();
        let until = now.saturating_add(hold_seconds);
        self.unreachable_until = if self.unreachable_until > until { until } else { self.unreachable_until.max(until) };
        self.unreachable_at = now;
        self.note_failing(now);
        *self != before
    }

    /// A `/v1/info` answer arrived: Envoy could route to the coordinator.
    pub fn poll_succeeded(&mut self, info: &ServerInfo, health: &Health) -> bool {
        let before = self.clone();
        self.failed_polls = 0;
        self.refused = false;
        self.failing_since = 0;
        self.good_polls = self.good_polls.saturating_add(1);
        if self.good_polls >= health.healthy_after {
            self.down = false;
        }
        self.starting = info.starting;
        self.inactive = !info.active();
        if let Some(id) = &info.coordinator_id {
            self.learn_coordinator(id);
        }
        *self != before
    }

    /// A poll failed (no answer, not 200, or not Trino's `/v1/info`).
    pub fn poll_failed(&mut self, health: &Health, now: u64) -> bool {
        let before = self.clone();
        self.note_failing(now);
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
    pub fn poll_refused(&mut self, health: &Health, now: u64) -> bool {
        let was_refused = std::mem::replace(&mut self.refused, true);
        self.poll_failed(health, now) || !was_refused
    }

    /// New figures, read by a poll that left at `poll_left_ms` when `sent_total` was
    /// `sent_at_poll`: the queries sent since, or shortly before, may not be in the figures,
    /// so they stay counted (erring toward counting a query twice, never toward missing one).
    pub fn record_load(&mut self, queued: u64, running: u64, now: u64, sent_at_poll: u64, poll_left_ms: u64) {
        self.queued = queued;
        self.running = running;
        self.load_at = now;
        let since = poll_left_ms.saturating_sub(SEND_GRACE_MS);
        let recent = self.recent_sends.iter().filter(|t| **t >= since).count() as u64;
        self.sent_since_load = self.sent_total.saturating_sub(sent_at_poll).max(recent);
    }

    /// A new query was just sent here (at `now_ms`): count it until the figures include it.
    pub fn note_sent(&mut self, now_ms: u64) {
        self.sent_since_load = self.sent_since_load.saturating_add(1);
        self.sent_total = self.sent_total.saturating_add(1);
        self.recent_sends.push(now_ms);
        let excess = self.recent_sends.len().saturating_sub(RECENT_SENDS);
        self.recent_sends.drain(..excess);
    }

    /// Whether a new query fits under `limits`, judged from the polled figures plus the
    /// queries this Envoy sent since. Room is the bound minus the polled queries; with
    /// `replicas` Envoys admitting to the same cluster each takes only its share of it
    /// (each knows only its own submissions between polls). No fresh figures: no room,
    /// since the bound could not be kept.
    pub fn has_room(&self, limits: &crate::config::Limits, now: u64, stale_after: u64, replicas: u64) -> bool {
        let fresh = self.load_at != 0 && now.saturating_sub(self.load_at) <= stale_after;
        if !fresh {
            return false;
        }
        let queued_room = limits.max_queued.unwrap_or(0);
        let (bound, held) = match limits.max_running {
            Some(running) => (running.saturating_add(queued_room), self.running.saturating_add(self.queued)),
            None => (queued_room, self.queued),
        };
        let share = bound.saturating_sub(held).checked_div(replicas.max(1)).unwrap_or(0);
        self.sent_since_load < share
    }

    /// The load to choose by, or None when there are no figures younger than `stale_after`.
    pub fn load(&self, now: u64, stale_after: u64) -> Option<LoadFigure> {
        let fresh = self.load_at != 0 && now.saturating_sub(self.load_at) <= stale_after;
        fresh.then(|| LoadFigure { queued: self.queued.saturating_add(self.sent_since_load), running: self.running })
    }
}

/// Envoy's verdict on a forwarded request, read from `response.code_details` of a 5xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamVerdict {
    /// The connection could not be made (refused, connect timeout): new queries avoid the
    /// cluster for the hold time, and it counts as failing.
    Unreachable,
    /// Envoy answered for a reason that passes: no healthy host by its checks, a full
    /// circuit breaker, a reset or closed connection, a timeout. The coordinator may well
    /// still run the query; the client is told to retry.
    Transient,
    /// The coordinator answered.
    Fine,
}

pub fn verdict_of(code_details: &str) -> UpstreamVerdict {
    const TRANSIENT: [&str; 7] = [
        "no_healthy_upstream",
        "overflow",
        "connection_termination",
        "upstream_reset",
        "upstream_response_timeout",
        "upstream_per_try_timeout",
        "maintenance_mode",
    ];
    if code_details.contains("connection_failure") {
        UpstreamVerdict::Unreachable
    } else if TRANSIENT.iter().any(|m| code_details.contains(m)) {
        UpstreamVerdict::Transient
    } else {
        UpstreamVerdict::Fine
    }
}

/// The view of observed cluster states a routing decision needs; the host implements it
/// over Envoy's shared data, tests over a map.
pub trait ClusterView {
    fn accepts_new_queries(&self, cluster: ClusterId) -> bool;
    /// Whether a new query fits under the cluster's limits now (always, without limits).
    fn has_room(&self, _cluster: ClusterId) -> bool {
        true
    }
    /// Fresh load figures, if the config polls load and they are not stale.
    fn load(&self, cluster: ClusterId) -> Option<LoadFigure>;
    fn owner_of(&self, coordinator: &CoordinatorId) -> Option<ClusterId>;
    /// Unix seconds by the host's clock: when the router's cookies expire.
    fn now_s(&self) -> u64;
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
            lost_after_seconds: 5,
        }
    }

    fn info(starting: bool) -> ServerInfo {
        ServerInfo { starting, coordinator_id: Some(id("dup55")), state: None }
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
        s.poll_failed(&h, 0);
        assert!(s.accepts_new_queries(0), "one blip");
        s.poll_failed(&h, 0);
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
        s.poll_refused(&h, 100);
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
    fn unreachable_holds_for_the_whole_hold_time_even_after_a_good_poll() {
        let mut s = Observed::default();
        s.mark_unreachable(100, 10);
        assert!(!s.accepts_new_queries(109));
        assert!(s.accepts_new_queries(110));
        s.mark_unreachable(200, 10);
        s.poll_succeeded(&info(false), &health(1, 1));
        assert!(!s.accepts_new_queries(201), "the hold holds");
        assert!(s.accepts_new_queries(210));
    }

    #[test]
    fn a_hold_left_by_a_clock_that_stepped_back_is_cut_to_the_hold_time() {
        let mut s = Observed::default();
        s.mark_unreachable(1_000_000, 10);
        s.mark_unreachable(500, 10);
        assert!(s.accepts_new_queries(510), "not a million seconds");
    }

    #[test]
    fn a_query_is_lost_only_when_that_is_known() {
        let h = health(2, 1);
        let (dup55, other) = (id("dup55"), id("zzz99"));
        let mut s = Observed::default();
        assert!(!s.query_lost(Some(&dup55), 100, 5), "nothing known");
        s.poll_succeeded(&info(false), &h);
        assert!(!s.query_lost(Some(&dup55), 100, 5), "its coordinator answers");
        assert!(s.query_lost(Some(&other), 100, 5), "the cluster's coordinator restarted since");
        s.poll_failed(&h, 100);
        assert!(!s.query_lost(Some(&dup55), 104, 5), "failing, but not long enough");
        s.mark_unreachable(104, 10);
        assert!(s.query_lost(Some(&dup55), 105, 5), "failing for 5 s");
        s.poll_succeeded(&info(false), &h);
        assert!(!s.query_lost(Some(&dup55), 106, 5), "answers again");
    }

    #[test]
    fn a_coordinator_that_is_not_active_takes_no_new_queries() {
        let mut s = Observed::default();
        let draining = ServerInfo { state: Some("SHUTTING_DOWN".into()), ..info(false) };
        s.poll_succeeded(&draining, &health(1, 1));
        assert!(!s.accepts_new_queries(0));
        s.poll_succeeded(&ServerInfo { state: Some("ACTIVE".into()), ..info(false) }, &health(1, 1));
        assert!(s.accepts_new_queries(0));
    }

    #[test]
    fn load_counts_queries_sent_since_the_poll_and_goes_stale() {
        let mut s = Observed::default();
        assert_eq!(s.load(100, 15), None, "never read");
        s.record_load(3, 7, 100, 0, 0);
        s.note_sent(0);
        s.note_sent(0);
        assert_eq!(s.load(110, 15), Some(LoadFigure { queued: 5, running: 7 }));
        assert_eq!(s.load(116, 15), None, "stale");
        s.record_load(1, 0, 120, s.sent_total, 120_000);
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
        assert_eq!(
            verdict_of("upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_Connection_refused}"),
            UpstreamVerdict::Unreachable
        );
        assert_eq!(verdict_of("via_upstream"), UpstreamVerdict::Fine);
        for transient in [
            "no_healthy_upstream",
            "upstream_reset_before_response_started{connection_termination}",
            "overflow",
            "upstream_reset_after_response_started{remote_reset}",
        ] {
            assert_eq!(verdict_of(transient), UpstreamVerdict::Transient, "{transient}");
        }
    }

    fn limits(max_running: Option<u64>, max_queued: Option<u64>) -> crate::config::Limits {
        crate::config::Limits { max_running, max_queued }
    }

    #[test]
    fn room_is_the_bound_minus_polled_and_just_sent_queries() {
        let five = limits(Some(5), None);
        let mut s = Observed::default();
        assert!(!s.has_room(&five, 100, 15, 1), "no figures: the bound cannot be kept");
        s.record_load(1, 2, 100, 0, 100_000);
        for _ in 0..2 {
            assert!(s.has_room(&five, 100, 15, 1));
            s.note_sent(0);
        }
        assert!(!s.has_room(&five, 100, 15, 1), "2 running + 1 queued + 2 sent = 5");
        assert!(!s.has_room(&five, 200, 15, 1), "stale figures");
        let queue_too = limits(Some(5), Some(2));
        assert!(s.has_room(&queue_too, 100, 15, 1), "two more may wait in Trino's queue");
        assert!(!s.has_room(&limits(None, Some(1)), 100, 15, 1), "1 queued + 2 sent");
    }

    #[test]
    fn queries_sent_while_a_poll_was_under_way_stay_counted() {
        let mut s = Observed::default();
        s.note_sent(10_000);
        let at_poll = s.sent_total;
        s.note_sent(100_500);
        s.record_load(0, 1, 100, at_poll, 100_000);
        assert_eq!(s.sent_since_load, 1, "the query sent after the poll left may not be in its figures");
        s.note_sent(199_500);
        s.record_load(0, 1, 200, s.sent_total, 200_000);
        assert_eq!(s.sent_since_load, 1, "nor one sent just before: its client may not have polled it yet");
    }

    #[test]
    fn each_replica_takes_its_share_of_the_room() {
        let mut s = Observed::default();
        s.record_load(0, 1, 100, 0, 100_000);
        // 4 free of 5, 2 replicas: 2 each.
        assert!(s.has_room(&limits(Some(5), None), 100, 15, 2));
        s.note_sent(0);
        s.note_sent(0);
        assert!(!s.has_room(&limits(Some(5), None), 100, 15, 2));
    }
}
