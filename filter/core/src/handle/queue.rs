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

/// Shared-data slots that remember what became of a ticket (`Slot`), by ticket id modulo
/// this: the key space stays bounded; a slot is reused by a much later ticket.
const SLOTS: u64 = 256;
/// The process-wide sequence ticket ids are drawn from.
const SEQUENCE_KEY: &str = "trino-router.queue.sequence";
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
    /// The poll's cookies and scheme: a group with session affinity reads its cookie there.
    session: Headers,
    /// The affinity `Set-Cookie` for the coordinator's first page, once a cluster is chosen.
    set_cookie: Option<String>,
}

/// What of a request's headers session affinity reads (`route::affinity`).
fn session_of(headers: &Headers) -> Headers {
    let mut session = Headers::new();
    for (name, value) in headers.iter().filter(|(n, _)| *n == "cookie" || *n == "x-forwarded-proto") {
        session.push(name, value);
    }
    session
}

struct Submitted {
    waiter: Waiter,
    cluster: String,
    envoy_cluster: String,
    rewrite: Option<String>,
    /// The headers the submission carried: the registering poll carries them too.
    headers: Vec<(String, String)>,
    /// Set once the POST was answered: the first page, while the filter polls its nextUri.
    first_page: Option<(u16, Vec<u8>)>,
}

#[derive(Default)]
pub struct Queue {
    waiting: Vec<Waiter>,
    submitted: HashMap<u32, Submitted>,
}

pub type SharedQueue = Rc<RefCell<Queue>>;

/// What became of a ticket, as this Envoy process remembers it in shared data.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Slot {
    /// A worker is submitting it now: another poll of it waits for the answer.
    Submitting,
    /// The coordinator answered the submission: a retried poll gets the same answer.
    Admitted {
        status: u16,
        page: String,
    },
    Cancelled,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SlotValue {
    id: u64,
    slot: Slot,
}

fn slot_key(id: u64) -> String {
    format!("trino-router.queue.slot.{}", id % SLOTS)
}

/// What this process remembers of ticket `id`, with the CAS version of its slot.
fn read_slot(host: &impl Host, id: u64) -> (Option<Slot>, Option<u32>) {
    match host.shared_get(&slot_key(id)) {
        Ok((value, cas)) => {
            let value: Option<SlotValue> = value.and_then(|v| serde_json::from_slice(&v).ok());
            (value.filter(|v| v.id == id).map(|v| v.slot), cas)
        }
        Err(_) => (None, None),
    }
}

/// Writes the slot of `id` if it still holds `expected` (by CAS); false if another worker
/// changed it first.
fn write_slot(host: &impl Host, id: u64, expected: Option<&Slot>, slot: Slot) -> bool {
    for _ in 0..8 {
        let (current, cas) = read_slot(host, id);
        if current.as_ref() != expected {
            return false;
        }
        let Ok(bytes) = serde_json::to_vec(&SlotValue { id, slot: slot.clone() }) else { return false };
        match host.shared_set(&slot_key(id), &bytes, cas) {
            Err(HostError::CasMismatch) => continue,
            Ok(()) => return true,
            Err(_) => return false,
        }
    }
    false
}

/// A ticket id unique in this process (a CAS sequence in shared data, so workers never draw
/// the same one) and across replicas (the sequence starts from the time and randomness of
/// the worker that created it).
pub fn new_ticket_id(host: &impl Host, random: u64) -> u64 {
    for _ in 0..8 {
        let (value, cas) = host.shared_get(SEQUENCE_KEY).unwrap_or((None, None));
        let current = value.and_then(|v| std::str::from_utf8(&v).ok()?.parse::<u64>().ok());
        let next = match current {
            Some(n) => n.wrapping_add(1),
            None => (now_ms(host) << 20) ^ random,
        };
        let cas = if current.is_some() { cas } else { None };
        match host.shared_set(SEQUENCE_KEY, next.to_string().as_bytes(), cas) {
            Ok(()) => return mix(next),
            Err(HostError::CasMismatch) => continue,
            Err(_) => break,
        }
    }
    mix(random ^ now_ms(host))
}

fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The client's view of the router: scheme and authority its URIs use.
pub fn base_of(headers: &Headers) -> (String, String) {
    let scheme = headers.get_str("x-forwarded-proto").filter(|s| *s == "https").unwrap_or("http");
    (scheme.to_string(), headers.get_str(":authority").unwrap_or("localhost").to_string())
}

/// Headers of a new query that travel in its ticket: the Trino session headers (not those for
/// the router or Envoy's rate-limit filters).
pub fn session_headers(headers: &Headers) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (name, value) in headers.iter() {
        let for_envoy = name == "x-trino-routing-group" || crate::rate_limit::IDENTITY_HEADERS.contains(&name);
        if name.starts_with("x-trino-") && !for_envoy {
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
            // Once submitted the query is Trino's: the client was given (or will be given on a
            // retry) its first page, and cancels it there.
            let (current, _) = read_slot(host, ticket.id);
            if current.is_none() {
                write_slot(host, ticket.id, None, Slot::Cancelled);
            }
            metrics.count(host, &format!("trino_router.queue.group.{group}.cancelled"));
            log(host, LogLevel::Debug, &format!("trino-router: queued query {} cancelled", waiting_query_id(&ticket)));
            reply(host, 204, &[], "")
        }
        "GET" => {
            let (scheme, authority) = base_of(headers);
            match read_slot(host, ticket.id).0 {
                Some(Slot::Cancelled) => {
                    return reply(host, 200, &[JSON], &cancelled_page(&ticket, &scheme, &authority))
                }
                Some(Slot::Admitted { status, page }) => {
                    return reply(host, status, &headers_for(status, &page), &page)
                }
                Some(Slot::Submitting) | None => {}
            }
            let poll_headers = ["authorization", "user-agent"]
                .iter()
                .filter_map(|n| Some((n.to_string(), headers.get_str(n)?.to_string())))
                .collect();
            metrics.add_to_gauge(host, &waiting_gauge(&group), 1);
            let session = session_of(headers);
            let waiter =
                Waiter { context, ticket, since_ms: now, scheme, authority, poll_headers, session, set_cookie: None };
            queue.borrow_mut().waiting.push(waiter);
            Flow::Pause
        }
        _ => reply(host, 405, &[("allow", "GET, DELETE")], ""),
    }
}

/// The stream ended (client gone): its held poll no longer waits.
pub fn forget(host: &impl Host, queue: &SharedQueue, metrics: &Metrics, context: u32) {
    let gone: Vec<Waiter> = {
        let mut q = queue.borrow_mut();
        let (gone, kept) = std::mem::take(&mut q.waiting).into_iter().partition(|w| w.context == context);
        q.waiting = kept;
        gone
    };
    for w in gone {
        metrics.add_to_gauge(host, &waiting_gauge(&w.ticket.group), -1);
    }
}

/// Polls held now for room in a group (Envoy sums the gauge over its workers).
fn waiting_gauge(group: &str) -> String {
    format!("trino_router.queue.group.{group}.waiting")
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
        match read_slot(host, w.ticket.id).0 {
            Some(Slot::Cancelled) => {
                answer_held(host, metrics, &w, 200, &cancelled_page(&w.ticket, &w.scheme, &w.authority));
                continue;
            }
            Some(Slot::Admitted { status, page }) => {
                answer_held(host, metrics, &w, status, &page);
                continue;
            }
            Some(Slot::Submitting) => {
                // Another poll of the same ticket (a client's retry) is being submitted: this
                // one gets the same answer once it is in.
                kept.push(w);
                continue;
            }
            None => {}
        }
        let waited = now.saturating_sub(w.ticket.queued_at_ms);
        if waited > config.queue.max_wait_ms {
            metrics.count(host, &format!("trino_router.queue.group.{group}.timed_out"));
            let message = format!(
                "the query waited {} s at the router for room in group {group} (queue.max_wait_seconds); try again later",
                waited / 1000
            );
            answer_held(
                host,
                metrics,
                &w,
                200,
                &failed_page(&waiting_query_id(&w.ticket), &info_uri(&w), "TRINO_ROUTER_QUEUE_TIMEOUT", &message),
            );
            continue;
        }
        let view = SharedClusterView::new(host, config);
        match pick_for_queue(config, &view, &group, random.wrapping_add(i as u64), &w.session) {
            Some((cluster, set_cookie)) => match submit(host, config, queue, Waiter { set_cookie, ..w }, cluster) {
                Ok(()) => {}
                Err(w) => kept.push(*w),
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
    let ticket = Ticket { issued_at_ms: now, ..w.ticket.clone() };
    match queued_answer(config, &ticket, &w.scheme, &w.authority) {
        Ok(page) => answer_held(host, metrics, &w, 200, &page),
        Err(e) => {
            metrics.count(host, &format!("trino_router.queue.group.{}.rejected", ticket.group));
            answer_held(
                host,
                metrics,
                &w,
                200,
                &failed_page(&waiting_query_id(&ticket), &info_uri(&w), "TRINO_ROUTER_QUEUE", &e.to_string()),
            );
        }
    }
}

/// A new query bound for a limited cluster with room, submitted by the filter at once (from
/// its own stream) rather than forwarded: the filter polls its first nextUri before the client
/// sees it, so the coordinator counts it from the start (`register`). Given back when the
/// cluster has no room after all or Envoy refuses the call.
#[allow(clippy::too_many_arguments)]
pub fn submit_now(
    host: &impl Host,
    config: &Config,
    queue: &SharedQueue,
    metrics: &Metrics,
    context: u32,
    ticket: Ticket,
    headers: &Headers,
    cluster: crate::config::ClusterId,
    set_cookie: Option<String>,
) -> bool {
    let (scheme, authority) = base_of(headers);
    let poll_headers = ["authorization", "user-agent"]
        .iter()
        .filter_map(|n| Some((n.to_string(), headers.get_str(n)?.to_string())))
        .collect();
    let group = ticket.group.clone();
    let since_ms = ticket.queued_at_ms;
    let session = Headers::new();
    let w = Waiter { context, ticket, since_ms, scheme, authority, poll_headers, session, set_cookie };
    let submitted = submit(host, config, queue, w, cluster).is_ok();
    if submitted {
        metrics.add_to_gauge(host, &waiting_gauge(&group), 1);
    }
    submitted
}

/// Sends the waiting query to `cluster`'s coordinator from the root context. The waiter is
/// given back when Envoy refuses the call, to try again at the next tick.
fn submit(
    host: &impl Host,
    config: &Config,
    queue: &SharedQueue,
    w: Waiter,
    cluster: crate::config::ClusterId,
) -> Result<(), Box<Waiter>> {
    let (Some(c), Some(prefix)) = (config.cluster(cluster), config.pins.prefix(cluster.0)) else {
        return Err(Box::new(w));
    };
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
    if !state::reserve(host, config, cluster) {
        // Another worker took the last place since the view was read.
        return Err(Box::new(w));
    }
    if !write_slot(host, w.ticket.id, None, Slot::Submitting) {
        // Another worker took this ticket (or it was cancelled) since it was read: decided next tick.
        return Err(Box::new(w));
    }
    let call = Submission {
        envoy_cluster: &c.envoy_cluster,
        headers: &headers,
        body: w.ticket.body.as_bytes(),
        timeout: SUBMIT_TIMEOUT,
    };
    match host.dispatch_submission(&call) {
        Ok(token) => {
            let submitted = Submitted {
                waiter: w,
                cluster: c.name.clone(),
                envoy_cluster: c.envoy_cluster.clone(),
                rewrite,
                headers,
                first_page: None,
            };
            queue.borrow_mut().submitted.insert(token, submitted);
            Ok(())
        }
        Err(e) => {
            log(
                host,
                LogLevel::Warn,
                &format!("trino-router: cannot submit a queued query to cluster {}: {e}", c.name),
            );
            let (current, _) = read_slot(host, w.ticket.id);
            if current == Some(Slot::Submitting) {
                // Nothing was sent: the ticket is free again (a slot cannot be deleted).
                write_slot_free(host, w.ticket.id);
            }
            Err(Box::new(w))
        }
    }
}

/// Whether `token` is the answer to a submission; if so, hands the coordinator's page to
/// the client that waited.
pub fn on_call_response(
    host: &impl Host,
    queue: &SharedQueue,
    metrics: &Metrics,
    token: u32,
    body_size: usize,
) -> bool {
    let Some(mut done) = queue.borrow_mut().submitted.remove(&token) else { return false };
    let first_page = done.first_page.take();
    let status = crate::host::parse_status(host.call_response_header(":status").ok().flatten());
    let body = host.body(Body::CallResponse, 0, body_size).ok().flatten().unwrap_or_default();
    let (status, body) = match first_page {
        // The registering poll: its page if it was answered, else the first page (the client
        // then polls the same URI itself, which Trino allows).
        Some(first) => match status {
            Some(200) => (status, body),
            _ => (Some(first.0), first.1),
        },
        None if status == Some(200) => match register(host, queue, done, &body) {
            Ok(()) => return true,
            Err(back) => {
                done = *back;
                (status, body)
            }
        },
        None => (status, body),
    };
    let Submitted { waiter: w, cluster, rewrite, .. } = done;
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
    let Some(status) = status else {
        // No answer within the timeout (or Envoy could not send it): the ticket is free again
        // and the client's retry of this poll waits anew. Should the coordinator have taken
        // the query after all, it abandons it, as any query whose client stops polling.
        write_slot_free(host, w.ticket.id);
        let message = "the coordinator did not answer the submission of a queued query; retry";
        answer_held(host, metrics, &w, 503, &trino_error(503, message));
        return true;
    };
    let page = String::from_utf8_lossy(&page).into_owned();
    // A retried poll of this ticket gets this same answer: the query is never submitted twice
    // through this Envoy process.
    let admitted = Slot::Admitted { status, page: page.clone() };
    write_slot(host, w.ticket.id, Some(&Slot::Submitting), admitted);
    metrics.count(host, &format!("trino_router.queue.group.{group}.admitted"));
    let line = format!(
        "trino-router: query {} submitted by the router to cluster {cluster} after waiting {waited_ms} ms (group {group}, coordinator answered {})",
        waiting_query_id(&w.ticket),
        status,
    );
    log(host, LogLevel::Debug, &line);
    answer_held(host, metrics, &w, status, &page);
    true
}

/// Trino registers a new query only when its client first polls the nextUri of the POST's
/// page; until then no figure counts it. The filter polls it once itself before answering,
/// so an admitted query is counted by the coordinator before its client has it. True when
/// that poll is under way (the submission waits for its answer under the new token).
fn register(host: &impl Host, queue: &SharedQueue, done: Submitted, page: &[u8]) -> Result<(), Box<Submitted>> {
    let next: Option<String> = serde_json::from_slice::<serde_json::Value>(page)
        .ok()
        .and_then(|v| v.get("nextUri")?.as_str().map(str::to_string));
    let Some(path) = next.as_deref().and_then(|uri| uri.find("/v1/statement/").and_then(|i| uri.get(i..))) else {
        return Err(Box::new(done));
    };
    let mut headers: Vec<(String, String)> =
        done.headers.iter().filter(|(n, _)| n != ":method" && n != ":path").cloned().collect();
    headers.push((":method".to_string(), "GET".to_string()));
    headers.push((":path".to_string(), path.to_string()));
    let call = Submission { envoy_cluster: &done.envoy_cluster, headers: &headers, body: &[], timeout: SUBMIT_TIMEOUT };
    match host.dispatch_submission(&call) {
        Ok(token) => {
            let polling = Submitted { first_page: Some((200, page.to_vec())), ..done };
            queue.borrow_mut().submitted.insert(token, polling);
            Ok(())
        }
        Err(_) => Err(Box::new(done)),
    }
}

/// Answers a held stream from the root context. A stream that is gone (client left) is
/// only logged: a query already submitted for it is abandoned, as Trino abandons any query
/// whose client stops polling.
fn answer_held(host: &impl Host, metrics: &Metrics, w: &Waiter, status: u16, body: &str) {
    metrics.add_to_gauge(host, &waiting_gauge(&w.ticket.group), -1);
    let context = w.context;
    let mut headers = headers_for(status, body);
    // As for a query routed at once: only the cluster's own answer pins the session to it.
    if let (Some(cookie), 200..=399) = (&w.set_cookie, status) {
        headers.push(("set-cookie", cookie.as_str()));
    }
    let result = host.set_effective_context(context).and_then(|()| host.send_reply(status, &headers, body.as_bytes()));
    if let Err(e) = result {
        log(host, LogLevel::Debug, &format!("trino-router: a held poll is gone ({e})"));
    }
}

/// Content type by the body's form; a 503 says when to retry, as every Trino client expects.
fn headers_for<'a>(status: u16, body: &str) -> Vec<(&'static str, &'a str)> {
    let mut headers = vec![if body.starts_with('{') { JSON } else { ("content-type", "text/plain") }];
    if status == 503 {
        headers.push(("retry-after", "1"));
    }
    headers
}

fn reply(host: &impl Host, status: u16, headers: &[(&str, &str)], body: &str) -> Flow {
    if let Err(e) = host.send_reply(status, headers, body.as_bytes()) {
        log(host, LogLevel::Warn, &format!("trino-router: cannot answer a ticket: {e}"));
    }
    Flow::Pause
}

fn cancelled_page(ticket: &Ticket, scheme: &str, authority: &str) -> String {
    let id = waiting_query_id(ticket);
    let info = format!("{scheme}://{authority}/ui/query.html?{id}");
    failed_page(&id, &info, "USER_CANCELED", "the query was canceled while it waited at the router")
}

/// The infoUri of a waiting query's pages (the one its QUEUED pages gave).
fn info_uri(w: &Waiter) -> String {
    format!("{}://{}/ui/query.html?{}", w.scheme, w.authority, waiting_query_id(&w.ticket))
}

/// Frees a slot a failed submission left: it then names no ticket at all.
fn write_slot_free(host: &impl Host, id: u64) {
    let (_, cas) = host.shared_get(&slot_key(id)).unwrap_or((None, None));
    let _ = host.shared_set(&slot_key(id), b"{}", cas);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_carries_the_session_headers_but_not_those_for_envoy_or_the_router() {
        let headers = Headers::from_pairs([
            ("x-trino-user", "alice"),
            ("x-trino-catalog", "tpch"),
            ("x-trino-routing-group", "etl"),
            ("x-trino-router-user", "alice"),
            ("x-trino-router-group", "adhoc"),
            ("x-trino-router-client-address", "127.0.0.1"),
            ("authorization", "Basic YTpi"),
        ]);
        let names: Vec<String> = session_headers(&headers).unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["x-trino-user", "x-trino-catalog"]);
    }
}
