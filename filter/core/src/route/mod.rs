//! How a request is routed: a new query goes through the routing-group header, the rules
//! and the group's choice (with fallback groups, and a session's affinity cookie within a
//! group: `affinity.rs`); a follow-up goes where its pin token or query id says; with the Web
//! UI on, paths under `/ui/` follow the browser's pin (`web_ui.rs`); anything the router
//! cannot place gets a Trino-style error, not a guess.
//!
//! `Incoming::read` classifies a request once; `decide` turns it into one `Decision`, whose
//! `Forward` carries the whole plan (`plan.rs`): header edits, upstream, answer duties.

mod affinity;
mod incoming;
mod plan;
mod summary;
mod web_ui;
mod why;

pub use incoming::Incoming;
pub use plan::{AnswerDuties, Forward, HeaderEdit, OnUnreachable, PageRewrite, STRIP_FORWARDED_HEADER};
pub use summary::summary;
pub use why::{trino_error, Why};

use crate::choose::pick;
use crate::config::{ClusterId, ClusterState, Config, GroupId, RoutingGroupHeader};
use crate::inspect::SqlFacts;
use crate::lookup::Probe;
use crate::observed::ClusterView;
use crate::protocol::{Endpoint, FollowUp, QueryId};
use crate::request::{RequestHead, TrinoFacts};
use crate::rules::RuleInput;
use crate::transaction::{self, TransactionHeader};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Forward(Forward),
    Reply(Reply),
}

/// Answer the client directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// Trino's own plain-text error form: `Error 404 Not Found: <message>`.
    pub body: String,
    pub retry_after_seconds: Option<u32>,
    /// More headers of the answer (a redirect's `location` and `set-cookie`).
    pub headers: Vec<(&'static str, String)>,
    pub why: Why,
}

/// Where routing sends a request, before it becomes a plan.
struct Target {
    cluster: ClusterId,
    /// The path without the pin prefix, when there was one.
    path: Option<String>,
    why: Why,
    kind: Kind,
    /// A statement of a transaction: the id Trino issued, which replaces the bound one.
    transaction: Option<String>,
    /// A router cookie for the answer (session affinity, the Web UI pin).
    set_cookie: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    NewQuery,
    FollowUp,
    ServerInfo,
    /// A request under `/ui/` routed by the Web UI settings.
    WebUi,
}

/// Decides what happens to a request. `sql` is what its body revealed
/// (`SqlFacts::not_read()` when `Incoming::needs_body` said no); `random` drives the
/// choice inside a group.
pub fn decide(config: &Config, req: &Incoming, sql: &SqlFacts, view: &dyn ClusterView, random: u64) -> Decision {
    if let Some(target) = web_ui::route(config, req, view) {
        return match target {
            Ok(t) => plan::forward(config, req, t),
            Err(r) => Decision::Reply(r),
        };
    }
    let target = match (&req.endpoint, req.usable_token()) {
        // A token is never honoured on a new query: the rules decide every new query, except
        // a statement of a transaction, which only the cluster that started it knows.
        (Endpoint::SubmitStatement, _) => match TrinoFacts::new(&req.head.headers).repeated_identity_header() {
            Some(name) => Err(reply(
                400,
                &format!("header {name} is sent more than once; send it once"),
                Why::RepeatedIdentityHeader,
            )),
            None => match TransactionHeader::read(&req.head.headers) {
                TransactionHeader::NoTransaction | TransactionHeader::Unbound => {
                    new_query(config, RuleInput { head: &req.head, sql }, view, random, req.stripped_path())
                }
                TransactionHeader::Bound { id, binding } => in_transaction(config, id, binding, req.stripped_path()),
                TransactionHeader::Repeated => {
                    let e = transaction::BindingError::Repeated;
                    Err(reply(400, &e.to_string(), Why::BadTransaction(e)))
                }
            },
        },
        (Endpoint::NotNormal, _) => Err(reply(
            400,
            "the path is not in normal form (empty, '.' or '..' segments, or escaped '.', '/' or '\\')",
            Why::NotNormalPath,
        )),
        (_, Some(token)) => follow_pinned(config, token, &req.path),
        (Endpoint::QueryFollowUp(id, _), None) => follow_query_id(config, view, id),
        (Endpoint::ServerInfo, None) => server_info(config, view, random, req.stripped_path()),
        (Endpoint::SpooledSegment, None) => {
            Err(reply(404, "spooled segment URI carries no routing token", Why::UnknownPath))
        }
        // The coordinator that started the flow holds its state; nothing else says which it is.
        (Endpoint::AuthFlow, None) => Err(reply(
            404,
            "OAuth2 URI carries no routing token (register the identity provider's redirect URIs with \
             the router's prefix: see README, Authentication flows)",
            Why::UnknownPath,
        )),
        (Endpoint::UiEntry | Endpoint::Unknown, None) => {
            Err(reply(404, "not a Trino client endpoint", Why::UnknownPath))
        }
    };
    match target {
        Ok(t) => plan::forward(config, req, t),
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

fn new_query(
    config: &Config,
    input: RuleInput<'_>,
    view: &dyn ClusterView,
    random: u64,
    path: Option<String>,
) -> Result<Target, Reply> {
    if let Some(owner) = kill_target(config, input.sql, view) {
        let why = Why::KillQuery;
        return Ok(Target { cluster: owner, path, why, kind: Kind::NewQuery, transaction: None, set_cookie: None });
    }
    let (group, why) = choose_group(config, input);
    let now = || view.now_s();
    let session = affinity::Session { headers: &input.head.headers, now: &now };
    let picked = pick_with_fallback(config, view, group, random, why, PickFor::NewQuery(&session))?;
    Ok(Target {
        cluster: picked.cluster,
        path,
        why: picked.why,
        kind: Kind::NewQuery,
        transaction: None,
        set_cookie: picked.set_cookie,
    })
}

/// A cluster of `group` (or its fallbacks) with room for a query that waited at the router,
/// and the affinity cookie to give with its first page: the client's cookies (`session`, from
/// its poll) count as they do for a query routed at once.
pub fn pick_for_queue(
    config: &Config,
    view: &dyn ClusterView,
    group: &str,
    random: u64,
    session: &crate::request::Headers,
) -> Option<(ClusterId, Option<String>)> {
    let id = config.group_by_name(group)?;
    let why = Why::DefaultGroup { group: group.to_string() };
    let now = || view.now_s();
    let session = affinity::Session { headers: session, now: &now };
    let picked = pick_with_fallback(config, view, id, random, why, PickFor::NewQuery(&session)).ok()?;
    Some((picked.cluster, picked.set_cookie))
}

/// `/v1/info` and friends go to any usable cluster of the default group, unpinned.
fn server_info(config: &Config, view: &dyn ClusterView, random: u64, path: Option<String>) -> Result<Target, Reply> {
    let group = config.default_group;
    let why = Why::ServerInfo { group: group_name(config, group) };
    let picked = pick_with_fallback(config, view, group, random, why, PickFor::ServerInfo)?;
    let (cluster, why) = (picked.cluster, picked.why);
    Ok(Target { cluster, path, why, kind: Kind::ServerInfo, transaction: None, set_cookie: None })
}

/// The owner of the query a `kill_query` call names, if known and not disabled.
fn kill_target(config: &Config, sql: &SqlFacts, view: &dyn ClusterView) -> Option<ClusterId> {
    let id = killed_query(config, sql)?;
    let owner = view.owner_of(&id.coordinator()?)?;
    (config.cluster(owner)?.state != ClusterState::Disabled).then_some(owner)
}

/// The query a `kill_query` call names, when such calls are routed to its owner.
fn killed_query(config: &Config, sql: &SqlFacts) -> Option<QueryId> {
    if !config.route_kill_query {
        return None;
    }
    QueryId::parse(sql.analysis.as_ref()?.kill_query_id.as_deref()?)
}

/// The query id `decide` would route this request by, when nobody on this Envoy has learned
/// which cluster issued it: the glue then asks the coordinators (`lookup.rs`), stores what
/// it finds, and decides after. Only requests without a token that `decide` routes by a
/// query id qualify: a follow-up endpoint carrying one, and a `kill_query` call.
pub fn query_to_look_up(config: &Config, req: &Incoming, sql: &SqlFacts, view: &dyn ClusterView) -> Option<Probe> {
    if !config.query_lookup.enabled {
        return None;
    }
    let probe = match (&req.endpoint, req.usable_token()) {
        (Endpoint::QueryFollowUp(id, FollowUp::NextUri), None) => {
            Probe::statement(id.clone(), req.path.split('?').next().unwrap_or_default())
        }
        (Endpoint::QueryFollowUp(id, _), None) => Probe::query_info(id.clone()),
        (Endpoint::SubmitStatement, _) => Probe::query_info(killed_query(config, sql)?),
        _ => return None,
    };
    view.owner_of(&probe.query.coordinator()?).is_none().then_some(probe)
}

fn requested_group(config: &Config, head: &RequestHead) -> Option<GroupId> {
    let RoutingGroupHeader::Allowed(allowed) = &config.routing_group_header else {
        return None;
    };
    let group = config.group_by_name(TrinoFacts::new(&head.headers).routing_group()?)?;
    allowed.as_ref().is_none_or(|list| list.contains(&group)).then_some(group)
}

/// The cluster a group (or its fallback) chose, and the affinity cookie to hand out.
struct Picked {
    cluster: ClusterId,
    why: Why,
    set_cookie: Option<String>,
}

/// What a pick must honour.
enum PickFor<'a> {
    /// A new query (routed at once or admitted from the queue): only clusters with room under
    /// their limits, and the session's affinity cookie in a group with affinity.
    NewQuery(&'a affinity::Session<'a>),
    /// `/v1/info` and friends: any cluster that is up.
    ServerInfo,
}

/// Picks in `group`, else along its fallback chain (loop-free: the config checks). Only
/// active clusters that the observed state says can take a query are candidates, narrowed
/// by what the pick is `for_`.
fn pick_with_fallback(
    config: &Config,
    view: &dyn ClusterView,
    group: GroupId,
    random: u64,
    why: Why,
    for_: PickFor<'_>,
) -> Result<Picked, Reply> {
    let (limited, session) = match for_ {
        PickFor::NewQuery(session) => (true, Some(session)),
        PickFor::ServerInfo => (false, None),
    };
    let full = std::cell::Cell::new(false);
    let usable = |c: ClusterId| {
        let up = config.cluster(c).is_some_and(|cl| cl.state == ClusterState::Active) && view.accepts_new_queries(c);
        let room = !limited || view.has_room(c);
        full.set(full.get() || (up && !room));
        up && room
    };
    let mut current = Some(group);
    for _ in 0..=config.groups.len() {
        let Some((id, g)) = current.and_then(|id| config.group(id).map(|g| (id, g))) else { break };
        let session = session.filter(|_| g.affinity.is_some());
        let preferred = session.and_then(|s| affinity::preferred(config, g, s)).filter(|c| usable(*c));
        if let Some(cluster) = preferred.or_else(|| pick(g.selection, &g.members, usable, |c| view.load(c), random)) {
            let why = if id == group {
                why
            } else {
                Why::Fallback { from: group_name(config, group), to: g.name.clone(), first: Box::new(why) }
            };
            let why = if preferred.is_some() { Why::Affinity { first: Box::new(why) } } else { why };
            let set_cookie = session.and_then(|s| affinity::set_cookie(config, g, cluster, s));
            return Ok(Picked { cluster, why, set_cookie });
        }
        current = g.fallback;
    }
    if full.get() {
        let message = format!("every cluster of group {} is at its query limit", group_name(config, group));
        return Err(Reply {
            status: 503,
            body: trino_error(503, &message),
            retry_after_seconds: Some(1),
            headers: Vec::new(),
            why: Why::GroupFull { group: group_name(config, group) },
        });
    }
    Err(Reply {
        status: 503,
        body: trino_error(503, &format!("no cluster of group {} can take a query now", group_name(config, group))),
        retry_after_seconds: Some(1),
        headers: Vec::new(),
        why: Why::NoUsableCluster { group: group_name(config, group) },
    })
}

fn follow_pinned(config: &Config, token: &str, rest: &str) -> Result<Target, Reply> {
    // Every token this config mints is in the book; only others need the full check,
    // which tells a forged token from one for a cluster since removed from the config.
    if let Some(index) = config.pins.lookup(token) {
        return follow_to(config, ClusterId(index), Some(rest.to_string()), Why::Pinned);
    }
    let name = match config.pin_keys.verify(token) {
        Ok(name) => name,
        Err(e) => return Err(reply(400, &format!("invalid routing token: {e}"), Why::BadToken(e))),
    };
    match config.cluster_by_name(&name) {
        Some(cluster) => follow_to(config, cluster, Some(rest.to_string()), Why::Pinned),
        None => Err(reply(404, "the cluster that ran this query is no longer configured", Why::PinnedClusterGone)),
    }
}

/// A statement of a transaction goes to the cluster that started it, whatever the rules,
/// its health or draining say (the transaction must be able to finish), with the id Trino
/// issued. A binding that does not verify is refused; a cluster that is gone or disabled
/// took the transaction with it: 410, before any coordinator sees the statement.
fn in_transaction(config: &Config, id: &[u8], binding: &[u8], path: Option<String>) -> Result<Target, Reply> {
    let bound = transaction::verify(&config.pin_keys, id, binding)
        .map_err(|e| reply(400, &format!("invalid X-Trino-Transaction-Id: {e}"), Why::BadTransaction(e)))?;
    let gone = |why: Why, state: &str| {
        let message = format!(
            "the cluster {} that ran transaction {} is {state}; the transaction is lost, start a new one",
            bound.cluster, bound.id
        );
        Err(reply(410, &message, why))
    };
    match config.cluster_by_name(&bound.cluster) {
        None => gone(Why::TransactionClusterGone, "no longer configured"),
        Some(c) if config.cluster(c).is_some_and(|cl| cl.state == ClusterState::Disabled) => {
            gone(Why::ClusterDisabled { cluster: bound.cluster.clone() }, "disabled")
        }
        Some(cluster) => {
            let transaction = Some(bound.id);
            Ok(Target { cluster, path, why: Why::Transaction, kind: Kind::NewQuery, transaction, set_cookie: None })
        }
    }
}

fn follow_query_id(config: &Config, view: &dyn ClusterView, id: &QueryId) -> Result<Target, Reply> {
    match id.coordinator().and_then(|c| view.owner_of(&c)) {
        Some(cluster) => follow_to(config, cluster, None, Why::QueryId),
        None => Err(reply(404, &format!("no cluster is known to own query {}", id.as_str()), Why::UnknownQuery)),
    }
}

/// A follow-up reaches its cluster whatever its health or draining; only `disabled` stops it.
fn follow_to(config: &Config, cluster: ClusterId, path: Option<String>, why: Why) -> Result<Target, Reply> {
    match config.cluster(cluster) {
        Some(c) if c.state == ClusterState::Disabled => Err(reply(
            410,
            &format!("cluster {} is disabled; its queries can no longer be reached", c.name),
            Why::ClusterDisabled { cluster: c.name.clone() },
        )),
        _ => Ok(Target { cluster, path, why, kind: Kind::FollowUp, transaction: None, set_cookie: None }),
    }
}

fn group_name(config: &Config, group: GroupId) -> String {
    config.group(group).map(|g| g.name.clone()).unwrap_or_default()
}

fn reply(status: u16, message: &str, why: Why) -> Reply {
    Reply { status, body: trino_error(status, message), retry_after_seconds: None, headers: Vec::new(), why }
}

fn internal_reply() -> Reply {
    Reply {
        status: 500,
        body: trino_error(500, "could not build a routing token"),
        retry_after_seconds: None,
        headers: Vec::new(),
        why: Why::Internal,
    }
}
