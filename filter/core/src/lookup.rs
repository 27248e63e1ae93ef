//! Who owns a query id that no one on this Envoy has learned the coordinator of: ask every
//! coordinator about the query (`HEAD /v1/query/{id}`). The one that knows it issued it, so
//! its 5-character coordinator id belongs to that cluster from then on.
//!
//! This is how any Envoy replica routes the follow-ups that carry a query id but no token
//! (`/v1/query/{id}`, `/ui/query.html?{id}`, `kill_query`) on Trino up to 476, whose
//! `/v1/info` does not say its coordinator id: that id is random per coordinator start and
//! Trino shows it nowhere but in its query ids. One lookup per coordinator start and Envoy
//! process; every later id of that coordinator routes from shared data.

use crate::config::{ClusterId, ClusterState, Config};
use crate::protocol::QueryId;

/// What the coordinators are asked, and how their answers read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub query: QueryId,
    /// The path of the HEAD request sent to every coordinator.
    pub path: String,
    kind: ProbeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProbeKind {
    /// The nextUri itself: HEAD on it is Trino's heartbeat (475+), public (its slug guards
    /// it), and answered also before the query is dispatched, which `/v1/query/{id}` is not
    /// (a query exists there only once its first nextUri was fetched). The owner answers
    /// 200, or 410 for a token it has moved past; every other coordinator 404.
    Statement,
    /// `/v1/query/{id}`: 200 (or 403 when the asker may not see the query) on the coordinator
    /// that has it, 410 on every other (476 looks the query up before it checks access). It needs an authenticated user (`query_lookup`).
    /// `pruned` spares the coordinator most of building a QueryInfo that HEAD then drops.
    QueryInfo,
}

impl Probe {
    /// For a nextUri (`path` without its query string).
    pub fn statement(query: QueryId, path: &str) -> Probe {
        Probe { query, path: path.to_string(), kind: ProbeKind::Statement }
    }

    /// For anything else that names a query: `/v1/query/{id}`, the infoUri page, a
    /// partialCancel, a `kill_query` call.
    pub fn query_info(query: QueryId) -> Probe {
        let path = format!("/v1/query/{}?pruned=true", query.as_str());
        Probe { query, path, kind: ProbeKind::QueryInfo }
    }

    /// Whether the probe must say who asks (`query_lookup.user`).
    pub fn needs_identity(&self) -> bool {
        self.kind == ProbeKind::QueryInfo
    }

    pub fn verdict(&self, status: Option<u16>) -> Verdict {
        match (self.kind, status) {
            (ProbeKind::Statement, Some(200 | 204 | 410)) | (ProbeKind::QueryInfo, Some(200)) => Verdict::Owns,
            (ProbeKind::QueryInfo, Some(403)) => Verdict::Forbidden,
            (ProbeKind::Statement, Some(404)) | (ProbeKind::QueryInfo, Some(404 | 410)) => Verdict::DoesNotOwn,
            _ => Verdict::CannotTell,
        }
    }
}

/// What one coordinator's answer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Owns,
    /// 403 on `/v1/query/{id}`: the owner refusing the lookup user the query, in 476. A Trino
    /// that checked access first would refuse it everywhere, so it counts only if it is the
    /// only claim: a wrong owner stored would misroute every query id of that coordinator.
    Forbidden,
    DoesNotOwn,
    /// No answer, or one that says nothing about the query: 401 (the lookup user is not
    /// accepted: see `query_lookup`), a 5xx, a timeout.
    CannotTell,
}

/// What a finished lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Owner(ClusterId),
    /// No coordinator has the query; `unsure` lists the clusters that could not tell, with
    /// their status (None: no answer), for the log.
    NotFound {
        unsure: Vec<(ClusterId, Option<u16>)>,
    },
}

/// One lookup under way: the calls sent, by token, and what has come back.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub probe: Probe,
    waiting: Vec<(u32, ClusterId)>,
    owner: Option<ClusterId>,
    /// Clusters that answered `Forbidden`.
    forbidden: Vec<ClusterId>,
    unsure: Vec<(ClusterId, Option<u16>)>,
}

impl Lookup {
    pub fn new(probe: Probe) -> Lookup {
        Lookup { probe, waiting: Vec::new(), owner: None, forbidden: Vec::new(), unsure: Vec::new() }
    }

    /// The clusters to ask: every configured one except those `disabled` (no traffic reaches
    /// them; their queries get 410 by token or id alike).
    pub fn clusters(config: &Config) -> impl Iterator<Item = ClusterId> + '_ {
        (0..config.clusters.len())
            .map(ClusterId)
            .filter(|c| config.cluster(*c).is_some_and(|cl| cl.state != ClusterState::Disabled))
    }

    /// A call to `cluster` went out under `token`.
    pub fn sent(&mut self, token: u32, cluster: ClusterId) {
        self.waiting.push((token, cluster));
    }

    /// A call could not be sent: that cluster cannot tell.
    pub fn not_sent(&mut self, cluster: ClusterId) {
        self.unsure.push((cluster, None));
    }

    /// Takes the answer to call `token`; false when the token is not one of this lookup's.
    pub fn answered(&mut self, token: u32, status: Option<u16>) -> bool {
        let Some(at) = self.waiting.iter().position(|(t, _)| *t == token) else { return false };
        let (_, cluster) = self.waiting.swap_remove(at);
        match self.probe.verdict(status) {
            // Query ids are unique: two owners cannot happen; the first answer stands.
            Verdict::Owns => {
                self.owner.get_or_insert(cluster);
            }
            Verdict::Forbidden => self.forbidden.push(cluster),
            Verdict::DoesNotOwn => {}
            Verdict::CannotTell => self.unsure.push((cluster, status)),
        }
        true
    }

    /// The outcome once every call has been answered, or as soon as one coordinator showed it
    /// has the query (the request need not wait for the others). None while it must wait.
    pub fn outcome(&self) -> Option<Outcome> {
        if let Some(owner) = self.owner {
            return Some(Outcome::Owner(owner));
        }
        if !self.waiting.is_empty() {
            return None;
        }
        match self.forbidden.as_slice() {
            [only] => Some(Outcome::Owner(*only)),
            claims => {
                let refused = claims.iter().map(|c| (*c, Some(403)));
                Some(Outcome::NotFound { unsure: self.unsure.iter().copied().chain(refused).collect() })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> QueryId {
        QueryId::parse("20261120_101500_00042_dup55").unwrap()
    }

    fn by_query_info() -> Lookup {
        Lookup::new(Probe::query_info(query()))
    }

    #[test]
    fn the_cluster_that_knows_the_query_owns_it_and_the_request_need_not_wait_for_the_rest() {
        let mut lookup = by_query_info();
        lookup.sent(1, ClusterId(0));
        lookup.sent(2, ClusterId(1));
        lookup.sent(3, ClusterId(2));
        assert!(lookup.answered(1, Some(410)));
        assert_eq!(lookup.outcome(), None);
        assert!(lookup.answered(2, Some(200)));
        assert_eq!(lookup.outcome(), Some(Outcome::Owner(ClusterId(1))));
    }

    #[test]
    fn a_coordinator_that_forbids_the_lookup_user_to_see_the_query_owns_it_when_it_alone_says_so() {
        let mut lookup = by_query_info();
        lookup.sent(7, ClusterId(1));
        lookup.sent(8, ClusterId(2));
        lookup.answered(7, Some(403));
        assert_eq!(lookup.outcome(), None, "a refusal waits for the other answers");
        lookup.answered(8, Some(410));
        assert_eq!(lookup.outcome(), Some(Outcome::Owner(ClusterId(1))));
    }

    #[test]
    fn refusals_from_several_coordinators_name_no_owner() {
        let mut lookup = by_query_info();
        lookup.sent(1, ClusterId(0));
        lookup.sent(2, ClusterId(1));
        lookup.answered(1, Some(403));
        lookup.answered(2, Some(403));
        let unsure = vec![(ClusterId(0), Some(403)), (ClusterId(1), Some(403))];
        assert_eq!(lookup.outcome(), Some(Outcome::NotFound { unsure }));
    }

    #[test]
    fn nobody_has_it_and_the_clusters_that_could_not_tell_are_named() {
        let mut lookup = by_query_info();
        lookup.sent(1, ClusterId(0));
        lookup.sent(2, ClusterId(1));
        lookup.not_sent(ClusterId(2));
        lookup.answered(1, Some(401));
        assert_eq!(lookup.outcome(), None);
        lookup.answered(2, None);
        let unsure = vec![(ClusterId(2), None), (ClusterId(0), Some(401)), (ClusterId(1), None)];
        assert_eq!(lookup.outcome(), Some(Outcome::NotFound { unsure }));
    }

    #[test]
    fn answers_to_calls_it_did_not_send_are_not_taken() {
        let mut lookup = by_query_info();
        lookup.sent(1, ClusterId(0));
        assert!(!lookup.answered(9, Some(200)));
        assert_eq!(lookup.outcome(), None);
        assert!(lookup.answered(1, Some(410)));
        assert!(!lookup.answered(1, Some(200)), "each call is answered once");
        assert_eq!(lookup.outcome(), Some(Outcome::NotFound { unsure: vec![] }));
    }

    #[test]
    fn every_status_is_read_as_trino_means_it_on_each_endpoint() {
        let info = Probe::query_info(query());
        assert_eq!(info.path, "/v1/query/20261120_101500_00042_dup55?pruned=true");
        assert!(info.needs_identity());
        let path = "/v1/statement/queued/20261120_101500_00042_dup55/yabc/1";
        let statement = Probe::statement(query(), path);
        assert_eq!(statement.path, path);
        assert!(!statement.needs_identity());
        let cases = [
            (Some(200), Verdict::Owns, Verdict::Owns),
            (Some(403), Verdict::Forbidden, Verdict::CannotTell),
            // /v1/query: unknown here; nextUri: a token the owner has moved past.
            (Some(410), Verdict::DoesNotOwn, Verdict::Owns),
            (Some(404), Verdict::DoesNotOwn, Verdict::DoesNotOwn),
            (Some(401), Verdict::CannotTell, Verdict::CannotTell),
            (Some(503), Verdict::CannotTell, Verdict::CannotTell),
            (Some(302), Verdict::CannotTell, Verdict::CannotTell),
            (None, Verdict::CannotTell, Verdict::CannotTell),
        ];
        for (status, by_info, by_statement) in cases {
            assert_eq!(info.verdict(status), by_info, "/v1/query answered {status:?}");
            assert_eq!(statement.verdict(status), by_statement, "nextUri answered {status:?}");
        }
    }
}
