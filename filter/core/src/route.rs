//! How a request is routed: a new query goes through the routing-group header, the rules
//! and the group's choice; a follow-up goes where its pin token or query id says; anything
//! the router cannot place gets a Trino-style error instead of a guess.

use crate::choose::weighted_pick;
use crate::cluster_state::ClusterView;
use crate::config::{ClusterId, Config, GroupId, RoutingGroupHeader, StickinessMode};
use crate::inspect::SqlFacts;
use crate::pin::{self, PinError};
use crate::protocol::{classify, Endpoint, QueryId};
use crate::request::{RequestHead, TrinoFacts};
use crate::rules::RuleInput;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Forward(Forward),
    Reply(Reply),
}

/// Send the request to a cluster, with these changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub cluster: ClusterId,
    pub envoy_cluster: String,
    /// Replaces `:path` when a pin prefix was stripped.
    pub path: Option<String>,
    /// `X-Forwarded-Prefix` for the coordinator; None removes any the client sent.
    pub forwarded_prefix: Option<String>,
    /// Read the query id off the response page to learn the coordinator id.
    pub learn_query_id: bool,
    pub why: Why,
}

/// Answer the client directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// Trino's own plain-text error form: `Error 404 Not Found: <message>`.
    pub body: String,
    pub retry_after_seconds: Option<u32>,
    pub why: Why,
}

/// Why the router decided what it did: for logs, metrics and `explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    Rule {
        rule: String,
        group: String,
    },
    DefaultGroup {
        group: String,
    },
    RoutingGroupHeader {
        group: String,
    },
    Pinned,
    QueryId,
    /// `CALL system.runtime.kill_query` goes to the cluster that runs the query it kills.
    KillQuery,
    ServerInfo {
        group: String,
    },
    NoUsableCluster {
        group: String,
    },
    BadToken(PinError),
    PinnedClusterGone,
    UnknownQuery,
    UnknownPath,
    Internal,
}

/// Whether the body must be read before `decide`: a new query, and some rule looks at SQL.
pub fn needs_body(config: &Config, head: &RequestHead) -> bool {
    if !config.reads_sql || head.method != "POST" {
        return false;
    }
    let path = pin::split_prefix(&config.path_marker, &head.path).map_or(head.path.as_str(), |(_, rest)| rest);
    classify(&head.method, path) == Endpoint::SubmitStatement
}

/// Decides where a request goes. `sql` is what its body revealed (`SqlFacts::not_read()`
/// when `needs_body` said no); `random` drives the weighted choice.
pub fn decide(config: &Config, head: &RequestHead, sql: &SqlFacts, view: &dyn ClusterView, random: u64) -> Decision {
    let pinned = pin::split_prefix(&config.path_marker, &head.path);
    let path = pinned.map_or(head.path.as_str(), |(_, rest)| rest);
    let endpoint = classify(&head.method, path);
    let stripped = pinned.map(|(_, rest)| rest.to_string());
    match (endpoint, pinned) {
        // A token is never honoured on a new query: the rules decide every new query.
        (Endpoint::SubmitStatement, _) => new_query(config, RuleInput { head, sql }, view, random, stripped),
        (_, Some((token, rest))) => follow_pinned(config, token, rest),
        (Endpoint::QueryFollowUp(id), None) => follow_query_id(config, view, &id),
        (Endpoint::ServerInfo, None) => server_info(config, view, random),
        (Endpoint::SpooledSegment, None) => {
            reply(404, "spooled segment URI carries no routing token", Why::UnknownPath)
        }
        (Endpoint::Unknown, None) => reply(404, "not a Trino client endpoint", Why::UnknownPath),
    }
}

/// `/v1/info` and friends go to any usable cluster of the default group, unpinned.
fn server_info(config: &Config, view: &dyn ClusterView, random: u64) -> Decision {
    let group = config.default_group;
    match pick_in_group(config, view, group, random, Why::ServerInfo { group: group_name(config, group) }, None) {
        Ok(f) => Decision::Forward(Forward { forwarded_prefix: None, ..f }),
        Err(r) => Decision::Reply(r),
    }
}

fn new_query(
    config: &Config,
    input: RuleInput<'_>,
    view: &dyn ClusterView,
    random: u64,
    path: Option<String>,
) -> Decision {
    if let Some(owner) = kill_target(input.sql, view) {
        if let Some(f) = forward(config, owner, path.clone(), Why::KillQuery) {
            return Decision::Forward(Forward { learn_query_id: true, ..f });
        }
    }
    let (group, why) = choose_group(config, input);
    match pick_in_group(config, view, group, random, why, path) {
        Ok(mut f) => {
            f.learn_query_id = true;
            Decision::Forward(f)
        }
        Err(r) => Decision::Reply(r),
    }
}

/// The group of a new query: an allowed X-Trino-Routing-Group, else the first matching
/// rule, else the default group.
pub fn choose_group(config: &Config, input: RuleInput<'_>) -> (GroupId, Why) {
    if let Some(group) = requested_group(config, input.head) {
        return (group, Why::RoutingGroupHeader { group: group_name(config, group) });
    }
    match config.rules.first_match(input) {
        Some(rule) => (rule.group, Why::Rule { rule: rule.name.clone(), group: group_name(config, rule.group) }),
        None => (config.default_group, Why::DefaultGroup { group: group_name(config, config.default_group) }),
    }
}

/// The owner of the query a `kill_query` call names, if known.
fn kill_target(sql: &SqlFacts, view: &dyn ClusterView) -> Option<ClusterId> {
    let id = QueryId::parse(sql.analysis.as_ref()?.kill_query_id.as_deref()?)?;
    view.owner_of(&id.coordinator()?)
}

fn requested_group(config: &Config, head: &RequestHead) -> Option<GroupId> {
    let RoutingGroupHeader::Allowed(allowed) = &config.routing_group_header else {
        return None;
    };
    let group = config.group_by_name(TrinoFacts::new(&head.headers).routing_group()?)?;
    allowed.as_ref().is_none_or(|list| list.contains(&group)).then_some(group)
}

fn pick_in_group(
    config: &Config,
    view: &dyn ClusterView,
    group: GroupId,
    random: u64,
    why: Why,
    path: Option<String>,
) -> Result<Forward, Reply> {
    let members = config.group(group).map(|g| g.members.as_slice()).unwrap_or_default();
    match weighted_pick(members, |c| view.accepts_new_queries(c), random) {
        Some(cluster) => forward(config, cluster, path, why).ok_or_else(internal_reply),
        None => Err(Reply {
            status: 503,
            body: trino_error(503, &format!("no cluster of group {} can take a query now", group_name(config, group))),
            retry_after_seconds: Some(1),
            why: Why::NoUsableCluster { group: group_name(config, group) },
        }),
    }
}

fn follow_pinned(config: &Config, token: &str, rest: &str) -> Decision {
    let name = match config.pin_keys.verify(token) {
        Ok(name) => name,
        Err(e) => return reply(400, &format!("invalid routing token: {e}"), Why::BadToken(e)),
    };
    let Some(cluster) = config.cluster_by_name(&name) else {
        return reply(404, "the cluster that ran this query is no longer configured", Why::PinnedClusterGone);
    };
    match forward(config, cluster, Some(rest.to_string()), Why::Pinned) {
        Some(f) => Decision::Forward(f),
        None => Decision::Reply(internal_reply()),
    }
}

fn follow_query_id(config: &Config, view: &dyn ClusterView, id: &QueryId) -> Decision {
    let owner = id.coordinator().and_then(|c| view.owner_of(&c));
    match owner.and_then(|cluster| forward(config, cluster, None, Why::QueryId)) {
        Some(f) => Decision::Forward(f),
        None => reply(404, &format!("no cluster is known to own query {}", id.as_str()), Why::UnknownQuery),
    }
}

/// A forward to `cluster`; in forwarded-prefix mode it carries a fresh token so every URI
/// the coordinator writes is pinned. None only if the token cannot be minted.
fn forward(config: &Config, cluster: ClusterId, path: Option<String>, why: Why) -> Option<Forward> {
    let c = config.cluster(cluster)?;
    let forwarded_prefix = match c.stickiness {
        StickinessMode::ForwardedPrefix => Some(pin::prefix(&config.path_marker, &config.pin_keys.sign(&c.name)?)),
    };
    Some(Forward {
        cluster,
        envoy_cluster: c.envoy_cluster.clone(),
        path,
        forwarded_prefix,
        learn_query_id: false,
        why,
    })
}

fn group_name(config: &Config, group: GroupId) -> String {
    config.group(group).map(|g| g.name.clone()).unwrap_or_default()
}

fn reply(status: u16, message: &str, why: Why) -> Decision {
    Decision::Reply(Reply { status, body: trino_error(status, message), retry_after_seconds: None, why })
}

fn internal_reply() -> Reply {
    Reply {
        status: 500,
        body: trino_error(500, "could not build a routing token"),
        retry_after_seconds: None,
        why: Why::Internal,
    }
}

/// Trino answers protocol errors as `text/plain` `Error <code> <reason>: <message>`.
pub fn trino_error(status: u16, message: &str) -> String {
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    format!("Error {status} {reason}: trino-router: {message}")
}

impl std::fmt::Display for Why {
    /// One short phrase for log lines; never includes a token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Rule { rule, group } => write!(f, "rule {rule} -> group {group}"),
            Why::DefaultGroup { group } => write!(f, "no rule matched -> default group {group}"),
            Why::RoutingGroupHeader { group } => {
                write!(f, "X-Trino-Routing-Group -> group {group}")
            }
            Why::Pinned => f.write_str("pinned by token"),
            Why::QueryId => f.write_str("owner of the query id"),
            Why::KillQuery => f.write_str("kill_query -> owner of the killed query"),
            Why::ServerInfo { group } => write!(f, "server info -> group {group}"),
            Why::NoUsableCluster { group } => write!(f, "no usable cluster in group {group}"),
            Why::BadToken(e) => write!(f, "{e}"),
            Why::PinnedClusterGone => f.write_str("pinned cluster no longer configured"),
            Why::UnknownQuery => f.write_str("no known owner for the query id"),
            Why::UnknownPath => f.write_str("not a Trino client endpoint"),
            Why::Internal => f.write_str("internal error"),
        }
    }
}
