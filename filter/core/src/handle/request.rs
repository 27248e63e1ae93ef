//! One request through the filter, its request side: read the headers once (and, when SQL
//! rules need it, the bounded body of a new query), decide once, and carry out the plan.

use super::held_body::{BodyOutcome, HeldBody};
use super::lookup::Pending;
use super::page::PageWork;
use super::queue::{self, SharedQueue};
use super::state::{self, SharedClusterView};
use super::{Flow, Metrics};
use crate::config::Config;
use crate::host::{log, Body, Host, LogLevel};
use crate::inspect::{SqlFacts, SqlStatus};
use crate::request::{ip_of_socket_address, RequestHead};
use crate::route::{
    decide, query_to_look_up, summary, trino_error, Decision, Forward, HeaderEdit, Incoming, OnUnreachable, Reply, Why,
};
use std::rc::Rc;

/// Filter state key (`%FILTER_STATE(wasm.trino_router_decision:PLAIN)%` in access logs).
const DECISION_STATE: &str = "trino_router_decision";
/// The config's default `cluster_header`, for the one answer given without a config.
const DEFAULT_CLUSTER_HEADER: &str = "x-trino-router-cluster";

/// One request and its answer.
pub struct Exchange {
    pub(super) config: Option<Rc<Config>>,
    pub(super) metrics: Rc<Metrics>,
    random: u64,
    /// A new query held while its body arrives, for SQL rules.
    held: HeldBody,
    /// A request held while the coordinators are asked who owns its query id.
    pub(super) lookup: Option<Pending>,
    /// Set once the request went upstream: where, and what its answer brings.
    pub(super) sent: Option<Sent>,
    pub(super) page: PageWork,
    /// The decision line, kept for the debug response header when the config asks for it.
    pub(super) debug_line: Option<String>,
    /// Set when Envoy answered instead of a lost coordinator: the page that replaces it.
    pub(super) failed_page: Option<String>,
    queue: SharedQueue,
    /// Envoy's number for this stream: a held poll of a queue ticket is answered by it.
    context: u32,
    /// Set when this instance is the identify stage: the request is only named, not routed.
    pub(super) identify: Option<super::identify::Identify>,
}

/// What the response side needs of a forwarded request's plan.
pub(super) struct Sent {
    pub cluster: String,
    pub cluster_id: crate::config::ClusterId,
    /// Pin what an OAuth2 answer names (`AnswerDuties::pin_auth_flow`).
    pub pin_auth_flow: bool,
    pub on_unreachable: OnUnreachable,
    /// A statement page: bind a transaction it starts to `cluster`.
    pub bind_transaction: bool,
    /// A router cookie to give the client with the cluster's answer.
    pub set_cookie: Option<String>,
}

impl Exchange {
    pub(super) fn new(
        config: Option<Rc<Config>>,
        metrics: Rc<Metrics>,
        random: u64,
        queue: SharedQueue,
        context: u32,
    ) -> Self {
        Exchange {
            config,
            metrics,
            random,
            held: HeldBody::default(),
            lookup: None,
            sent: None,
            page: PageWork::default(),
            debug_line: None,
            failed_page: None,
            queue,
            context,
            identify: None,
        }
    }

    /// The answer to a call this stream made: a query-id lookup while the request is held
    /// for one, else a query the filter submits for it (a request is never held for both:
    /// lookups are for follow-ups, submissions for new queries).
    pub fn on_call_response(&mut self, host: &impl Host, token: u32, body_size: usize) {
        if self.lookup.is_some() {
            self.on_lookup_response(host, token);
        } else {
            queue::on_call_response(host, &self.queue, &self.metrics, token, body_size);
        }
    }

    /// The stream is over: a poll of it that was held waits no longer.
    pub fn on_done(&mut self, host: &impl Host) {
        queue::forget(host, &self.queue, &self.metrics, self.context);
    }

    pub fn on_request_headers(&mut self, host: &impl Host, end_of_stream: bool) -> Flow {
        if let Some(identify) = &mut self.identify {
            return identify.on_request_headers(host, super::plugin::main_config(), end_of_stream);
        }
        let Some(config) = self.config.clone() else {
            let reply = Reply { retry_after_seconds: Some(1), ..internal(503, "router has no configuration") };
            return answer(host, &reply, DEFAULT_CLUSTER_HEADER);
        };
        let incoming = match host.request_headers() {
            Ok(h) => {
                let head = RequestHead::from_headers(h);
                if let Some(sealed) = ticket_in(&config, &head.path) {
                    let (queue, metrics) = (Rc::clone(&self.queue), Rc::clone(&self.metrics));
                    return queue::on_ticket(host, &config, &queue, &metrics, self.context, &head.headers, sealed);
                }
                Incoming::read(&config, head)
            }
            Err(e) => {
                log(host, LogLevel::Warn, &format!("trino-router: cannot read request headers: {e}"));
                return answer(host, &internal(500, "cannot read request headers"), &config.cluster_header);
            }
        };
        let outcome = self.held.at_headers(host, &config, incoming, end_of_stream);
        self.decide_when_ready(host, &config, outcome)
    }

    pub fn on_request_body(&mut self, host: &impl Host, body_size: usize, end_of_stream: bool) -> Flow {
        if let Some(identify) = &mut self.identify {
            return identify.on_request_body(host, super::plugin::main_config(), body_size, end_of_stream);
        }
        let Some(config) = self.config.clone() else { return Flow::Continue };
        let outcome = self.held.at_body(host, &config, body_size, end_of_stream);
        self.decide_when_ready(host, &config, outcome)
    }

    /// Routes once the body has decided (counting how its SQL was read); else holds the
    /// request or lets its body through.
    fn decide_when_ready(&mut self, host: &impl Host, config: &Config, outcome: BodyOutcome) -> Flow {
        match outcome {
            BodyOutcome::Decide(incoming, facts) => {
                if facts.status != SqlStatus::NotRead {
                    self.metrics.count_sql(host, facts.status);
                }
                self.route(host, config, &incoming, &facts)
            }
            BodyOutcome::Hold => Flow::Pause,
            BodyOutcome::NotHeld => Flow::Continue,
        }
    }

    /// Decides and carries out the decision, or first holds the request while its query id is
    /// looked up; the Flow tells Envoy whether to go on.
    fn route(&mut self, host: &impl Host, config: &Config, incoming: &Incoming, sql: &SqlFacts) -> Flow {
        let view = SharedClusterView::new(host, config);
        if let Some(probe) = query_to_look_up(config, incoming, sql, &view) {
            if self.look_up(host, config, probe, incoming, sql) {
                return Flow::Pause;
            }
        }
        self.decide_and_go(host, config, incoming, sql, Some(&view))
    }

    /// Decides with what is known now (`view`, or a fresh read) and carries the decision out.
    pub(super) fn decide_and_go<H: Host>(
        &mut self,
        host: &H,
        config: &Config,
        incoming: &Incoming,
        sql: &SqlFacts,
        view: Option<&SharedClusterView<'_, H>>,
    ) -> Flow {
        let fresh;
        let view = match view {
            Some(v) => v,
            None => {
                fresh = SharedClusterView::new(host, config);
                &fresh
            }
        };
        let mut decision = decide(config, incoming, sql, view, self.random);
        // A new query takes its place on the chosen cluster atomically: another worker may
        // have taken the last one since the view was read. (Queries the rules did not place,
        // kill_query calls and statements of a transaction, go where they must.)
        if let Decision::Forward(f) = &decision {
            let limited = config.cluster(f.cluster).is_some_and(|c| c.limits.is_some());
            if config.queue.enabled && limited && f.new_query && f.why.group().is_some() {
                if let Some(flow) = self.submit_from_filter(host, config, incoming, sql, f) {
                    log_decision(host, &incoming.head, sql, &decision);
                    self.record(host, config, sql, &decision);
                    return flow;
                }
            }
            if f.count_as_queued && !state::reserve(host, config, f.cluster) && f.why.group().is_some() {
                let group = f.why.group().unwrap_or_default().to_string();
                let message = format!("every cluster of group {group} is at its query limit");
                decision = Decision::Reply(Reply {
                    status: 503,
                    body: trino_error(503, &message),
                    retry_after_seconds: Some(1),
                    headers: Vec::new(),
                    why: Why::GroupFull { group },
                });
            }
        }
        if let Decision::Reply(Reply { why: Why::GroupFull { group }, .. }) = &decision {
            if config.queue.enabled {
                if let Some(flow) = self.wait_at_router(host, config, incoming, sql, group) {
                    return flow;
                }
            }
        }
        log_decision(host, &incoming.head, sql, &decision);
        self.record(host, config, sql, &decision);
        match decision {
            Decision::Forward(f) => match self.send_upstream(host, f) {
                Ok(()) => Flow::Continue,
                Err(e) => {
                    log(host, LogLevel::Warn, &format!("trino-router: cannot rewrite the request: {e}"));
                    answer(host, &internal(500, "cannot rewrite the request"), &config.cluster_header)
                }
            },
            Decision::Reply(r) => answer(host, &r, &config.cluster_header),
        }
    }

    /// With the queue on, a new query for a limited cluster is submitted by the filter (see
    /// `queue::submit_now`); None when it cannot be (body unreadable, no room after all):
    /// it is then forwarded or waits as any other.
    fn submit_from_filter(
        &mut self,
        host: &impl Host,
        config: &Config,
        incoming: &Incoming,
        sql: &SqlFacts,
        f: &Forward,
    ) -> Option<Flow> {
        let group = f.why.group()?.to_string();
        let ticket = self.ticket_of(host, config, incoming, sql, &group).ok()?;
        let (queue, metrics) = (Rc::clone(&self.queue), Rc::clone(&self.metrics));
        let headers = &incoming.head.headers;
        let set_cookie = f.answer.set_cookie.clone();
        queue::submit_now(host, config, &queue, &metrics, self.context, ticket, headers, f.cluster, set_cookie)
            .then_some(Flow::Pause)
    }

    /// The new query as a ticket: its SQL and session headers; why not, when it cannot be one.
    fn ticket_of(
        &self,
        host: &impl Host,
        config: &Config,
        incoming: &Incoming,
        sql: &SqlFacts,
        group: &str,
    ) -> Result<crate::ticket::Ticket, &'static str> {
        if sql.status == crate::inspect::SqlStatus::TooLarge {
            return Err("its body is over sql_inspection.max_body_bytes");
        }
        let body = host.body(Body::Request, 0, config.max_body_bytes).ok().flatten().unwrap_or_default();
        let (Ok(body), Some(headers)) = (String::from_utf8(body), queue::session_headers(&incoming.head.headers))
        else {
            return Err("its body or a session header is not UTF-8");
        };
        let now = super::now_ms(host);
        let id = queue::new_ticket_id(host, self.random);
        Ok(crate::ticket::Ticket { id, queued_at_ms: now, issued_at_ms: now, group: group.to_string(), body, headers })
    }

    /// Answers a new query whose group is full with a QUEUED page and its ticket. None when
    /// the query cannot wait (body not read whole, not UTF-8, too large for a ticket): it
    /// then gets the group-full 503 with Retry-After.
    fn wait_at_router(
        &mut self,
        host: &impl Host,
        config: &Config,
        incoming: &Incoming,
        sql: &SqlFacts,
        group: &str,
    ) -> Option<Flow> {
        let reject = |why: &str| {
            self.metrics.count(host, &format!("trino_router.queue.group.{group}.rejected"));
            log(host, LogLevel::Debug, &format!("trino-router: POST /v1/statement cannot wait at the router: {why}"));
            None
        };
        let ticket = match self.ticket_of(host, config, incoming, sql, group) {
            Ok(t) => t,
            Err(why) => return reject(why),
        };
        let (scheme, authority) = queue::base_of(&incoming.head.headers);
        match queue::queued_answer(config, &ticket, &scheme, &authority) {
            Ok(page) => {
                self.metrics.count(host, &format!("trino_router.queue.group.{group}.queued"));
                let line = format!("trino-router: POST /v1/statement waits at the router (group {group} is full)");
                log(host, LogLevel::Debug, &line);
                let _ = host.set_filter_state(DECISION_STATE, format!("queued group={group}").as_bytes());
                if let Err(e) = host.send_reply(200, &[("content-type", "application/json")], page.as_bytes()) {
                    log(host, LogLevel::Warn, &format!("trino-router: cannot answer QUEUED: {e}"));
                }
                Some(Flow::Pause)
            }
            Err(e) => reject(&e.to_string()),
        }
    }

    /// Makes the decision visible: Envoy's access log (filter state), the counters, and the
    /// debug header when configured.
    fn record(&mut self, host: &impl Host, config: &Config, sql: &SqlFacts, decision: &Decision) {
        let line = summary(decision, config, sql);
        if let Err(e) = host.set_filter_state(DECISION_STATE, line.as_bytes()) {
            let message = format!("trino-router: cannot store the decision for the access log: {e}");
            log(host, LogLevel::Debug, &message);
        }
        self.metrics.count_decision(host, decision);
        if config.debug_response_header {
            self.debug_line = Some(line);
        }
    }

    /// Carries out a forward's plan: its header edits, then what its answer will need.
    fn send_upstream(&mut self, host: &impl Host, f: Forward) -> Result<(), crate::host::HostError> {
        apply_edits(host, &f.edits)?;
        host.clear_route_cache()?;
        self.page = PageWork::of(&f);
        self.sent = Some(Sent {
            cluster: f.cluster_name,
            cluster_id: f.cluster,
            pin_auth_flow: f.answer.pin_auth_flow,
            on_unreachable: f.answer.on_unreachable,
            bind_transaction: f.answer.bind_transaction,
            set_cookie: f.answer.set_cookie,
        });
        Ok(())
    }
}

/// Carries out request header edits, in order.
pub(super) fn apply_edits(host: &impl Host, edits: &[HeaderEdit]) -> Result<(), crate::host::HostError> {
    for edit in edits {
        match edit {
            HeaderEdit::Set(name, value) => host.set_request_header(name, value)?,
            HeaderEdit::Remove(name) => host.remove_request_header(name)?,
            HeaderEdit::SetClientAddress(name) => {
                let address = host.property(&["source", "address"]).ok().flatten();
                match address.as_deref().and_then(ip_of_socket_address) {
                    Some(ip) => host.set_request_header(name, ip.as_bytes())?,
                    None => host.remove_request_header(name)?,
                }
            }
        }
    }
    Ok(())
}

pub(super) fn internal(status: u16, message: &str) -> Reply {
    Reply {
        status,
        body: trino_error(status, message),
        retry_after_seconds: None,
        headers: Vec::new(),
        why: Why::Internal,
    }
}

/// Answers the client itself. Should Envoy refuse the local reply, the request goes on
/// without a cluster header: the route then finds no cluster and Envoy answers (404), where
/// holding the stream would leave the client hanging. If even the header cannot be removed,
/// the stream is held: a cluster named by the client must never be used.
pub(super) fn answer(host: &impl Host, reply: &Reply, cluster_header: &str) -> Flow {
    let retry_after = reply.retry_after_seconds.map(|s| s.to_string());
    let mut headers = vec![("content-type", "text/plain")];
    if let Some(r) = &retry_after {
        headers.push(("retry-after", r.as_str()));
    }
    headers.extend(reply.headers.iter().map(|(name, value)| (*name, value.as_str())));
    let Err(e) = host.send_reply(reply.status, &headers, reply.body.as_bytes()) else {
        return Flow::Pause;
    };
    log(host, LogLevel::Warn, &format!("trino-router: cannot send reply {}: {e}", reply.status));
    match host.remove_request_header(cluster_header).and_then(|()| host.clear_route_cache()) {
        Ok(()) => Flow::Continue,
        Err(e) => {
            log(host, LogLevel::Error, &format!("trino-router: cannot unroute the request either, holding it: {e}"));
            Flow::Pause
        }
    }
}

/// The sealed ticket of a `/<marker>/queue/<ticket>` path.
fn ticket_in<'p>(config: &Config, path: &'p str) -> Option<&'p str> {
    let rest = path.strip_prefix('/')?.strip_prefix(config.path_marker.as_str())?.strip_prefix('/')?;
    let sealed = rest.strip_prefix(queue::QUEUE_SEGMENT)?.strip_prefix('/')?;
    Some(sealed.split(['?', '/']).next().unwrap_or_default())
}

/// Logs the decision without the token: only the path after the pin prefix is shown.
fn log_decision(host: &impl Host, head: &RequestHead, sql: &SqlFacts, decision: &Decision) {
    if !host.log_level().is_ok_and(|l| l <= LogLevel::Debug) {
        return;
    }
    let sql_note = match &sql.problem {
        Some(p) => format!("; SQL not used: {p}"),
        None => String::new(),
    };
    let line = match decision {
        Decision::Forward(f) => {
            let path = f.path.as_deref().unwrap_or(&head.path);
            format!("trino-router: {} {} -> {} ({}{sql_note})", head.method, path, f.cluster_name, f.why)
        }
        Decision::Reply(r) => format!("trino-router: {} answered {} ({}{sql_note})", head.method, r.status, r.why),
    };
    log(host, LogLevel::Debug, &line);
}
