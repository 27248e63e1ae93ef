//! What the filter remembers about each Trino cluster across requests and Envoy workers:
//! whether Envoy lately found it unreachable, whether it is still starting, and which
//! coordinator ids it issued. The host stores one encoded `ClusterState` per cluster.

use crate::config::ClusterId;
use crate::protocol::{CoordinatorId, ServerInfo};
use serde::{Deserialize, Serialize};

/// A coordinator restart picks a new id; remembering a few old ones keeps
/// `/v1/query/{id}` of recent queries routable while bounding the stored value.
const REMEMBERED_COORDINATORS: usize = 8;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    /// Unix seconds until which new queries avoid this cluster (Envoy found it unreachable).
    #[serde(default)]
    pub unreachable_until: u64,
    /// The last `/v1/info` said `"starting": true`.
    #[serde(default)]
    pub starting: bool,
    /// Newest first.
    #[serde(default)]
    pub coordinators: Vec<String>,
}

impl ClusterState {
    pub fn decode(bytes: &[u8]) -> ClusterState {
        // A value this version cannot read is treated as "nothing known", never as an error.
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn accepts_new_queries(&self, now: u64) -> bool {
        !self.starting && now >= self.unreachable_until
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

    pub fn mark_unreachable(&mut self, now: u64, hold_seconds: u64) -> bool {
        let until = now.saturating_add(hold_seconds);
        let changed = until > self.unreachable_until;
        self.unreachable_until = self.unreachable_until.max(until);
        changed
    }

    /// Applies a `/v1/info` answer: the coordinator is reachable, maybe starting.
    pub fn apply_info(&mut self, info: &ServerInfo) -> bool {
        let mut changed = self.starting != info.starting;
        self.starting = info.starting;
        if let Some(id) = &info.coordinator_id {
            changed |= self.learn_coordinator(id);
        }
        changed
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

/// The view of cluster states a routing decision needs; the host implements it over
/// Envoy's shared data, tests over a map.
pub trait ClusterView {
    fn accepts_new_queries(&self, cluster: ClusterId) -> bool;
    fn owner_of(&self, coordinator: &CoordinatorId) -> Option<ClusterId>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> CoordinatorId {
        CoordinatorId::parse(s).unwrap()
    }

    #[test]
    fn remembers_recent_coordinators_newest_first() {
        let mut s = ClusterState::default();
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
    fn unreachable_holds_for_the_configured_time() {
        let mut s = ClusterState::default();
        assert!(s.accepts_new_queries(100));
        s.mark_unreachable(100, 10);
        assert!(!s.accepts_new_queries(109));
        assert!(s.accepts_new_queries(110));
    }

    #[test]
    fn encoding_round_trips_and_garbage_means_unknown() {
        let mut s = ClusterState::default();
        s.learn_coordinator(&id("dup55"));
        s.starting = true;
        assert_eq!(ClusterState::decode(&s.encode()), s);
        assert_eq!(ClusterState::decode(b"\xff{"), ClusterState::default());
    }

    #[test]
    fn envoy_verdicts() {
        assert_eq!(verdict_of("no_healthy_upstream"), UpstreamVerdict::Unreachable);
        assert_eq!(verdict_of("upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_Connection_refused}"), UpstreamVerdict::Unreachable);
        assert_eq!(verdict_of("via_upstream"), UpstreamVerdict::Fine);
    }
}
