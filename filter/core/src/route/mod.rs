//! How a request is routed: a new query goes through the routing-group header, the rules
//! and the group's choice (with fallback groups); a follow-up goes where its pin token or
//! query id says; anything the router cannot place gets a Trino-style error, not a guess.

mod summary;
mod why;

pub use summary::summary;
pub use why::{trino_error, Why};

use crate::choose::pick;
use crate::config::{ClusterId, ClusterState, Config, GroupId, RoutingGroupHeader, StickinessMode};
use crate::inspect::SqlFacts;
use crate::observed::ClusterView;
use crate::pin;
use crate::protocol::{classify, is_statement_page, Endpoint, QueryId};
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
    /// Rewrite mode: remove every `X-Forwarded-*` header (stock Trino answers 406).
    pub strip_forwarded: bool,
    /// Rewrite mode, statement pages: insert this prefix into the URIs of the answer.
    pub rewrite_prefix: Option<String>,
    /// This starts a query: learn its id from the response, count it toward the load.
    pub new_query: bool,
    /// A nextUri GET: the query it polls, so a coordinator lost meanwhile can be reported
    /// as a failed query.
    pub polled_query: Option<QueryId>,
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

/// Whether the body must be read before `decide`: a new query, and some rule (or
/// kill_query routing) looks at the SQL.
pub fn needs_body(config: &Config, head: &RequestHead) -> bool {
    if !config.reads_sql || head.method != "POST" {
        return false;
    }
    let path = pin::split_prefix(&config.path_marker, &head.path).map_or(head.path.as_str(), |(_, rest)| rest);
    classify(&head.method, path) == Endpoint::SubmitStatement
}

/// Decides where a request goes. `sql` is what its body revealed (`SqlFacts::not_read()`
/// when `needs_body` said no); `random` drives the choice inside a group.
pub fn decide(config: &Config, head: &RequestHead, sql: &SqlFacts, view: &dyn ClusterView, random: u64) -> Decision {
    let pinned = pin::split_prefix(&config.path_marker, &head.path);
    let path = pinned.map_or(head.path.as_str(), |(_, rest)| rest);
    let stripped = pinned.map(|(_, rest)| rest.to_string());
    let endpoint = classify(&head.method, path);
    let statement_page = is_statement_page(&head.method, path);
    let polled = match &endpoint {
        Endpoint::QueryFollowUp(id) if statement_page => Some(id.clone()),
        _ => None,
    };
    let decision = match (endpoint, pinned) {
        // A token is never honoured on a new query: the rules decide every new query.
        (Endpoint::SubmitStatement, _) => new_query(config, RuleInput { head, sql }, view, random, stripped),
        (_, Some((token, rest))) => follow_pinned(config, token, rest),
        (Endpoint::QueryFollowUp(id), None) => follow_query_id(config, view, &id),
        (Endpoint::ServerInfo, None) => server_info(config, view, random),
        (Endpoint::SpooledSegment, None) => {
            reply(404, "spooled segment URI carries no routing token", Why::UnknownPath)
        }
        (Endpoint::Unknown, None) => reply(404, "not a Trino client endpoint", Why::UnknownPath),
    };
    with_page_work(config, decision, statement_page, polled)
}

/// What the answer to a statement page needs: in rewrite mode its URIs must get the pin,
/// and a nextUri GET names the query it polls.
fn with_page_work(config: &Config, decision: Decision, statement_page: bool, polled: Option<QueryId>) -> Decision {
    match decision {
        Decision::Forward(mut f) => {
            f.polled_query = polled;
            let rewrite = config.cluster(f.cluster).is_some_and(|c| c.stickiness == StickinessMode::Rewrite);
            if rewrite && statement_page {
                f.rewrite_prefix = config.pins.prefix(f.cluster.0).map(str::to_string);
            }
            Decision::Forward(f)
        }
        other => other,
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

fn new_query(
    config: &Config,
    input: RuleInput<'_>,
    view: &dyn ClusterView,
    random: u64,
    path: Option<String>,
) -> Decision {
    if let Some(owner) = kill_target(config, input.sql, view) {
        if let Some(f) = forward(config, owner, path.clone(), Why::KillQuery) {
            return Decision::Forward(Forward { new_query: true, ..f });
        }
    }
    let (group, why) = choose_group(config, input);
    match pick_with_fallback(config, view, group, random, why, path) {
        Ok(f) => Decision::Forward(Forward { new_query: true, ..f }),
        Err(r) => Decision::Reply(r),
    }
}

/// `/v1/info` and friends go to any usable cluster of the default group, unpinned.
fn server_info(config: &Config, view: &dyn ClusterView, random: u64) -> Decision {
    let group = config.default_group;
    let why = Why::ServerInfo { group: group_name(config, group) };
    match pick_with_fallback(config, view, group, random, why, None) {
        Ok(f) => Decision::Forward(Forward { forwarded_prefix: None, ..f }),
        Err(r) => Decision::Reply(r),
    }
}

/// The owner of the query a `kill_query` call names, if known and not disabled.
fn kill_target(config: &Config, sql: &SqlFacts, view: &dyn ClusterView) -> Option<ClusterId> {
    if !config.route_kill_query {
        return None;
    }
    let id = QueryId::parse(sql.analysis.as_ref()?.kill_query_id.as_deref()?)?;
    let owner = view.owner_of(&id.coordinator()?)?;
    (config.cluster(owner)?.state != ClusterState::Disabled).then_some(owner)
}

fn requested_group(config: &Config, head: &RequestHead) -> Option<GroupId> {
    let RoutingGroupHeader::Allowed(allowed) = &config.routing_group_header else {
        return None;
    };
    let group = config.group_by_name(TrinoFacts::new(&head.headers).routing_group()?)?;
    allowed.as_ref().is_none_or(|list| list.contains(&group)).then_some(group)
}

/// Picks in `group`, else along its fallback chain (loop-free: the config checks). Only
/// active clusters that the observed state says can take a query are candidates.
fn pick_with_fallback(
    config: &Config,
    view: &dyn ClusterView,
    group: GroupId,
    random: u64,
    why: Why,
    path: Option<String>,
) -> Result<Forward, Reply> {
    let usable = |c: ClusterId| {
        config.cluster(c).is_some_and(|cl| cl.state == ClusterState::Active) && view.accepts_new_queries(c)
    };
    let mut current = Some(group);
    for _ in 0..=config.groups.len() {
        let Some(g) = current.and_then(|id| config.group(id).map(|g| (id, g))) else { break };
        if let Some(cluster) = pick(g.1.selection, &g.1.members, usable, |c| view.load(c), random) {
            let why = if g.0 == group {
                why
            } else {
                Why::Fallback { from: group_name(config, group), to: g.1.name.clone(), first: Box::new(why) }
            };
            return forward(config, cluster, path, why).ok_or_else(internal_reply);
        }
        current = g.1.fallback;
    }
    Err(Reply {
        status: 503,
        body: trino_error(503, &format!("no cluster of group {} can take a query now", group_name(config, group))),
        retry_after_seconds: Some(1),
        why: Why::NoUsableCluster { group: group_name(config, group) },
    })
}

fn follow_pinned(config: &Config, token: &str, rest: &str) -> Decision {
    // Every token this config mints is in the book; only others need the full check,
    // which tells a forged token from one for a cluster since removed from the config.
    if let Some(index) = config.pins.lookup(token) {
        return follow_to(config, ClusterId(index), Some(rest.to_string()), Why::Pinned);
    }
    let name = match config.pin_keys.verify(token) {
        Ok(name) => name,
        Err(e) => return reply(400, &format!("invalid routing token: {e}"), Why::BadToken(e)),
    };
    match config.cluster_by_name(&name) {
        Some(cluster) => follow_to(config, cluster, Some(rest.to_string()), Why::Pinned),
        None => reply(404, "the cluster that ran this query is no longer configured", Why::PinnedClusterGone),
    }
}

fn follow_query_id(config: &Config, view: &dyn ClusterView, id: &QueryId) -> Decision {
    match id.coordinator().and_then(|c| view.owner_of(&c)) {
        Some(cluster) => follow_to(config, cluster, None, Why::QueryId),
        None => reply(404, &format!("no cluster is known to own query {}", id.as_str()), Why::UnknownQuery),
    }
}

/// A follow-up reaches its cluster whatever its health or draining; only `disabled` stops it.
fn follow_to(config: &Config, cluster: ClusterId, path: Option<String>, why: Why) -> Decision {
    match config.cluster(cluster) {
        Some(c) if c.state == ClusterState::Disabled => reply(
            410,
            &format!("cluster {} is disabled; its queries can no longer be reached", c.name),
            Why::ClusterDisabled { cluster: c.name.clone() },
        ),
        _ => match forward(config, cluster, path, why) {
            Some(f) => Decision::Forward(f),
            None => Decision::Reply(internal_reply()),
        },
    }
}

/// A forward to `cluster`; in forwarded-prefix mode it carries a fresh token so every URI
/// the coordinator writes is pinned. None only if the token cannot be minted.
fn forward(config: &Config, cluster: ClusterId, path: Option<String>, why: Why) -> Option<Forward> {
    let c = config.cluster(cluster)?;
    let forwarded_prefix = match c.stickiness {
        StickinessMode::ForwardedPrefix => Some(config.pins.prefix(cluster.0)?.to_string()),
        StickinessMode::Rewrite => None,
    };
    Some(Forward {
        cluster,
        envoy_cluster: c.envoy_cluster.clone(),
        path,
        forwarded_prefix,
        strip_forwarded: c.stickiness == StickinessMode::Rewrite,
        rewrite_prefix: None,
        new_query: false,
        polled_query: None,
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
