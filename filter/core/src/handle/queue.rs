//! Queries that wait at the router, with no store: a new query whose group is full gets a
//! QUEUED page whose nextUri carries a sealed ticket (`ticket.rs`). Each poll of a ticket is
//! held on this worker; the tick (about every second) admits the oldest waiting queries that
//! fit, submitting them to the chosen coordinator from the root context, and answers the others
//! QUEUED again with a fresh ticket. The coordinator's first page becomes the poll's answer.
//!
//! What one Envoy process shares (its workers, through shared data): the ids of tickets that
//! were admitted or cancelled, so a retried poll or a poll after DELETE submits nothing. Other
//! replicas do not see it (README, "Queueing and limits").

use super::state::{self, SharedClusterView};
use super::{now_ms, Flow, Metrics};
use crate::config::{Config, StickinessMode};
use crate::host::{log, Body, Host, HostError, LogLevel, Submission};
use crate::protocol::{failed_page, query_id_in_page, queued_page};
use crate::request::Headers;
use crate::rewrite::UriRewriter;
use crate::route::{pick_for_queue, trino_error};
use crate::ticket::{Ticket, TicketError};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

/// Ids of tickets that ended (admitted or cancelled) in this Envoy process, newest last.
const ENDED_KEY: &str = "trino-router.queue.ended";
/// How many ended ids are remembered: far more than are polled within a ticket's lifetime.
const ENDED_REMEMBERED: usize = 512;
/// A poll that cannot be admitted is answered QUEUED after being held at least this long.
const HOLD_MS: u64 = 900;
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(10);

/// The path segment after the marker that names a ticket: `/<marker>/queue/<ticket>`.
pub const QUEUE_SEGMENT: &str = "queue";

/// A poll held until the tick decides.
struct Waiter {
    context: u32,
    ticket: Ticket,
    /// When this poll arrived.
    since_ms: u64,
    /// Where the client reached the router: the URIs of its pages point there.
    scheme: String,
    authority: String,
    /// Headers of the poll that go with the submission (credentials, user agent).
    poll_headers: Vec<(String, String)>,
}

struct Submitted {
    waiter: Waiter,
    cluster: String,
    rewrite: Option<String>,
}

#[derive(Default)]
pub struct Queue {
    waiting: Vec<Waiter>,
    submitted: HashMap<u32, Submitted>,
}

pub type SharedQueue = Rc<RefCell<Queue>>;

/// How a ticket ended, as remembered in shared data.
#[derive(Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Ended {
    Admitted,
    Cancelled,
}

/// The client's view of the router: scheme and authority its URIs use.
pub fn base_of(headers: &Headers) -> (String, String) {
    let scheme = headers.get_str("x-forwarded-proto").filter(|s| *s == "https").unwrap_or("http");
    (scheme.to_string(), headers.get_str(":authority").unwrap_or("localhost").to_string())
}

/// Headers of a new query that travel in its ticket: the Trino session headers.
pub fn session_headers(headers: &Headers) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (name, value) in headers.iter() {
        if name.starts_with("x-trino-") && name != "x-trino-routing-group" {
            out.push((name.to_string(), String::from_utf8(value.to_vec()).ok()?));
        }
    }
    Some(out)
}

/// The query id clients see while the query waits (Trino's id characters).
fn waiting_query_id(ticket: &Ticket) -> String {
    format!("router_queued_{:016x}", ticket.id)
}

/// The QUEUED page for `ticket`, sealed; an error when the query does not fit in a ticket.
pub fn queued_answer(config: &Config, ticket: &Ticket, scheme: &str, authority: &str) -> Result<String, TicketError> {
    let sealed = config.queue.keys.seal(ticket, config.queue.max_ticket_bytes)?;
    let base = format!("{scheme}://{authority}");
    let id = waiting_query_id(ticket);
    let next = format!("{base}/{}/{QUEUE_SEGMENT}/{sealed}", config.path_marker);
    let info = format!("{base}/ui/query.html?{id}");
    let waited = ticket.issued_at_ms.saturating_sub(ticket.queued_at_ms);
    Ok(queued_page(&id, &info, &next, waited))
}

const JSON: (&str, &str) = ("content-type", "application/json");

/// A poll or DELETE of a ticket, on its stream. Holds a poll for the tick to decide.
pub fn on_ticket(
    host: &impl Host,
    config: &Config,
    queue: &SharedQueue,
    metrics: &Metrics,
    context: u32,
    headers: &Headers,
    sealed: &str,
) -> Flow {
    let now = now_ms(host);
    let method = headers.get_str(":method").unwrap_or_default();
    let ticket = match config.queue.keys.open(sealed, now, config.queue.ticket_ttl_ms) {
        Ok(t) => t,
        Err(TicketError::Expired) if method == "DELETE" => return reply(host, 204, &[], ""),
        Err(e) => {
            let status = if e == TicketError::Expired { 410 } else { 400 };
            return reply(host, status, &[("content-type", "text/plain")], &trino_error(status, &e.to_string()));
        }
    };
    let group = ticket.group.clone();
    match method {
        "DELETE" => {
            mark_ended(host, ticket.id, Ended::Cancelled);
            metrics.count(host, &format!("trino_router.queue.group.{group}.cancelled"));
            log(host, LogLevel::Debug, &format!("trino-router: queued query {} cancelled", waiting_query_id(&ticket)));
            reply(host, 204, &[], "")
        }
        "GET" => {
            if let Some(done) = ended(host, ticket.id) {
                return reply(host, 200, &[JSON], &ended_page(&ticket, done));
            }
            let (scheme, authority) = base_of(headers);
            let poll_headers = ["authorization", "user-agent"]
                .iter()
                .filter_map(|n| Some((n.to_string(), headers.get_str(n)?.to_string())))
                .collect();
            let waiter = Waiter { context, ticket, since_ms: now, scheme, authority, poll_headers };
            queue.borrow_mut().waiting.push(waiter);
            Flow::Pause
        }
        _ => reply(host, 405, &[("allow", "GET, DELETE")], ""),
    }
}

/// The stream ended (client gone): its held poll no longer waits.
pub fn forget(queue: &SharedQueue, context: u32) {
    queue.borrow_mut().waiting.retain(|w| w.context != context);
}

/// On the tick: the oldest waiting queries first, each admitted if its group has room now,
/// answered QUEUED again once held about a second, or failed once it waited too long.
pub fn advance(host: &impl Host, config: &Config, queue: &SharedQueue, metrics: &Metrics, random: u64) {
    let mut waiting = std::mem::take(&mut queue.borrow_mut().waiting);
    if waiting.is_empty() {
        return;
    }
    waiting.sort_by_key(|w| (w.ticket.queued_at_ms, w.ticket.id));
    let now = now_ms(host);
    let mut kept = Vec::new();
    for (i, w) in waiting.into_iter().enumerate() {
        let group = w.ticket.group.clone();
        if let Some(done) = ended(host, w.ticket.id) {
            answer_held(host, w.context, 200, &ended_page(&w.ticket, done));
            continue;
        }
        let waited = now.saturating_sub(w.ticket.queued_at_ms);
        if waited > config.queue.max_wait_ms {
            metrics.count(host, &format!("trino_router.queue.group.{group}.timed_out"));
            let message = format!(
                "the query waited {} s at the router for room in group {group} (queue.max_wait_seconds); try again later",
                waited / 1000
            );
            answer_held(host, w.context, 200, &failed_page(&waiting_query_id(&w.ticket), "TRINO_ROUTER_QUEUE_TIMEOUT", &message));
            continue;
        }
        let view = SharedClusterView::new(host, config);
        match pick_for_queue(config, &view, &group, random.wrapping_add(i as u64)) {
            Some(cluster) => match submit(host, config, queue, w, cluster) {
                Ok(()) => {}
                Err(w) => kept.push(w),
            },
            None if now.saturating_sub(w.since_ms) >= HOLD_MS => requeue(host, config, metrics, w, now),
            None => kept.push(w),
        }
    }
    let mut q = queue.borrow_mut();
    kept.append(&mut q.waiting);
    q.waiting = kept;
}

/// Answers a held poll QUEUED again, with a fresh ticket.
fn requeue(host: &impl Host, config: &Config, metrics: &Metrics, w: Waiter, now: u64) {
    let ticket = Ticket { issued_at_ms: now, ..w.ticket };
    match queued_answer(config, &ticket, &w.scheme, &w.authority) {
        Ok(page) => answer_held(host, w.context, 200, &page),
        Err(e) => {
            metrics.count(host, &format!("trino_router.queue.group.{}.rejected", ticket.group));
            answer_held(host, w.context, 200, &failed_page(&waiting_query_id(&ticket), "TRINO_ROUTER_QUEUE", &e.to_string()));
        }
    }
}

/// Sends the waiting query to `cluster`'s coordinator from the root context. The waiter is
/// given back when Envoy refuses the call, to try again at the next tick.
fn submit(
    host: &impl Host,
    config: &Config,
    queue: &SharedQueue,
    w: Waiter,
    cluster: crate::config::ClusterId,
) -> Result<(), Waiter> {
    let (Some(c), Some(prefix)) = (config.cluster(cluster), config.pins.prefix(cluster.0)) else { return Err(w) };
    let mut headers = vec![
        (":method".to_string(), "POST".to_string()),
        (":path".to_string(), "/v1/statement".to_string()),
        (":authority".to_string(), w.authority.clone()),
    ];
    let rewrite = match c.stickiness {
        StickinessMode::ForwardedPrefix => {
            headers.push(("x-forwarded-proto".to_string(), w.scheme.clone()));
            headers.push(("x-forwarded-prefix".to_string(), prefix.to_string()));
            None
        }
        StickinessMode::Rewrite => Some(prefix.to_string()),
    };
    headers.extend(w.ticket.headers.iter().cloned());
    headers.extend(w.poll_headers.iter().cloned());
    let call = Submission { envoy_cluster: &c.envoy_cluster, headers: &headers, body: w.ticket.body.as_bytes(), timeout: SUBMIT_TIMEOUT };
    match host.dispatch_submission(&call) {
        Ok(token) => {
            // Counted before the answer: the next waiter of this tick must see the room taken.
            state::update(host, &c.name, |s| {
                s.note_sent();
                true
            });
            mark_ended(host, w.ticket.id, Ended::Admitted);
            queue.borrow_mut().submitted.insert(token, Submitted { waiter: w, cluster: c.name.clone(), rewrite });
            Ok(())
        }
        Err(e) => {
            log(host, LogLevel::Warn, &format!("trino-router: cannot submit a queued query to cluster {}: {e}", c.name));
            Err(w)
        }
    }
}

/// Whether `token` is the answer to a submission; if so, hands the coordinator's page to
/// the client that waited.
pub fn on_call_response(host: &impl Host, queue: &SharedQueue, metrics: &Metrics, token: u32, body_size: usize) -> bool {
    let Some(done) = queue.borrow_mut().submitted.remove(&token) else { return false };
    let Submitted { waiter: w, cluster, rewrite } = done;
    let status = crate::host::parse_status(host.call_response_header(":status").ok().flatten());
    let body = host.body(Body::CallResponse, body_size).ok().flatten().unwrap_or_default();
    let waited_ms = now_ms(host).saturating_sub(w.ticket.queued_at_ms);
    let group = &w.ticket.group;
    let page = match (status, rewrite) {
        (Some(200), Some(prefix)) => UriRewriter::new(w.authority.as_bytes(), prefix.as_bytes()).feed(&body, true),
        _ => body,
    };
    if status == Some(200) {
        if let Some(coordinator) = query_id_in_page(&page).and_then(|id| id.coordinator()) {
            state::update(host, &cluster, |s| s.learn_coordinator(&coordinator));
        }
    }
    metrics.count(host, &format!("trino_router.queue.group.{group}.admitted"));
    let line = format!(
        "trino-router: queued query {} admitted to cluster {cluster} after waiting {waited_ms} ms (group {group}, coordinator answered {})",
        waiting_query_id(&w.ticket),
        status.map_or("nothing".to_string(), |s| s.to_string()),
    );
    log(host, LogLevel::Debug, &line);
    match status {
        Some(s) => answer_held(host, w.context, s, &String::from_utf8_lossy(&page)),
        None => {
            let message = "the coordinator did not answer the submission of a queued query; try again";
            answer_held(host, w.context, 503, &trino_error(503, message));
        }
    }
    true
}

/// Answers a held stream from the root context. A stream that is gone (client left) is
/// only logged: a query already submitted for it is abandoned, as Trino abandons any query
/// whose client stops polling.
fn answer_held(host: &impl Host, context: u32, status: u16, body: &str) {
    let result = host.set_effective_context(context).and_then(|()| {
        let json = body.starts_with('{');
        let headers: &[(&str, &str)] = if json { &[JSON] } else { &[("content-type", "text/plain")] };
        host.send_reply(status, headers, body.as_bytes())
    });
    if let Err(e) = result {
        log(host, LogLevel::Debug, &format!("trino-router: a held poll is gone ({e})"));
    }
}

fn reply(host: &impl Host, status: u16, headers: &[(&str, &str)], body: &str) -> Flow {
    if let Err(e) = host.send_reply(status, headers, body.as_bytes()) {
        log(host, LogLevel::Warn, &format!("trino-router: cannot answer a ticket: {e}"));
    }
    Flow::Pause
}

fn ended_page(ticket: &Ticket, done: Ended) -> String {
    let (name, message) = match done {
        Ended::Admitted => (
            "TRINO_ROUTER_QUEUE_TICKET_USED",
            "this queued query was already submitted through this ticket; its answer went to an earlier request",
        ),
        Ended::Cancelled => ("USER_CANCELED", "the query was canceled while it waited at the router"),
    };
    failed_page(&waiting_query_id(ticket), name, message)
}

fn read_ended(host: &impl Host) -> (Vec<(u64, Ended)>, Option<u32>) {
    match host.shared_get(ENDED_KEY) {
        Ok((value, cas)) => (value.and_then(|v| serde_json::from_slice(&v).ok()).unwrap_or_default(), cas),
        Err(_) => (Vec::new(), None),
    }
}

fn ended(host: &impl Host, id: u64) -> Option<Ended> {
    read_ended(host).0.iter().find(|(i, _)| *i == id).map(|(_, e)| *e)
}

/// Remembers that a ticket ended, by compare-and-swap with the other workers.
fn mark_ended(host: &impl Host, id: u64, how: Ended) {
    for _ in 0..8 {
        let (mut list, cas) = read_ended(host);
        if list.iter().any(|(i, _)| *i == id) {
            return;
        }
        list.push((id, how));
        let excess = list.len().saturating_sub(ENDED_REMEMBERED);
        list.drain(..excess);
        let Ok(bytes) = serde_json::to_vec(&list) else { return };
        match host.shared_set(ENDED_KEY, &bytes, cas) {
            Err(HostError::CasMismatch) => continue,
            _ => return,
        }
    }
}
