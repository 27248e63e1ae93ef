//! An in-memory Envoy for scenario tests of the glue: it implements `Host` with shared data
//! (CAS), a clock, counters, logs and HTTP calls, routes forwarded requests by the cluster
//! header to stand-in coordinators that answer like Trino, and streams their pages back
//! through the filter in chunks. Tests talk to it as clients do, never in hostcalls.

mod client;
mod coordinator;
mod host;

pub use client::{Answer, Request};
pub use coordinator::{Coordinator, Health};

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use trino_router_core::handle::{Exchange, Flow, Plugin};
use trino_router_core::host::{HostError, HostResult, LogLevel};
use trino_router_core::request::Headers;

pub const AUTHORITY: &str = "router.test";
const CLUSTER_HEADER: &str = "x-trino-router-cluster";
/// Pages come back in chunks of this many bytes unless a test says otherwise
/// (`FakeEnvoy::chunk_bytes`), so rewriting across chunks is exercised.
const CHUNK: usize = 40;

/// What the coordinator received.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub envoy_cluster: String,
    pub path: String,
    pub headers: Headers,
    /// The SQL of a POST.
    pub body: Vec<u8>,
}

type HeaderList = Vec<(String, Vec<u8>)>;

/// An HTTP call the filter made through Envoy (a poll, or a query lookup).
#[derive(Debug, Clone)]
pub struct Call {
    pub token: u32,
    pub envoy_cluster: String,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

/// An answer on its way back to the client, before the filter sees it.
struct Response {
    status: u16,
    headers: HeaderList,
    body: Vec<u8>,
    /// Envoy's `response.code_details`; None for the filter's own replies.
    details: Option<String>,
}

impl Response {
    fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        let headers = vec![("content-type".to_string(), content_type.as_bytes().to_vec())];
        Response { status, headers, body: body.into(), details: Some("via_upstream".into()) }
    }

    fn by_envoy(details: &str, body: &str) -> Response {
        Response { details: Some(details.into()), ..Response::new(503, "text/plain", body) }
    }
}

#[derive(Default)]
struct Stream {
    request_headers: HeaderList,
    request_body: Vec<u8>,
    /// The whole body the client sent, which Envoy forwards whether the filter read it or not.
    client_body: Vec<u8>,
    reply: Option<Response>,
    response_headers: HeaderList,
    code_details: Option<String>,
    chunk: Vec<u8>,
    filter_state: HashMap<String, Vec<u8>>,
    /// The filter let a request it held go on (`resume_request`).
    resumed: bool,
}

#[derive(Default)]
pub struct FakeEnvoy {
    config: RefCell<Vec<u8>>,
    clock_ms: Cell<u64>,
    pub log_level: Cell<Option<LogLevel>>,
    shared: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    counters: RefCell<Vec<(String, u64)>>,
    logs: RefCell<Vec<(LogLevel, String)>>,
    coordinators: RefCell<HashMap<String, Coordinator>>,
    stream: RefCell<Stream>,
    calls: RefCell<Vec<Call>>,
    /// Every call the filter made, answered or not.
    pub(super) call_log: RefCell<Vec<Call>>,
    /// Calls made while a request is held are left unanswered, and the request with them.
    pub hold_calls: Cell<bool>,
    /// Requests held for their lookup's answers, which never came (`hold_calls`).
    held: RefCell<Vec<Exchange>>,
    polls_sent: Cell<usize>,
    next_token: Cell<u32>,
    call_answer: RefCell<Option<(u16, Vec<u8>)>>,
    /// Hostcalls (by method name) that fail, to check the filter survives them.
    failing: RefCell<HashSet<&'static str>>,
    tick_period: Cell<Option<Duration>>,
    cas_conflicts: Cell<bool>,
    /// Size of the chunks a response body comes in (0: `CHUNK`).
    pub chunk_bytes: Cell<usize>,
    /// Response body bytes the filter copied into its VM, over all requests.
    pub response_bytes_read: Cell<usize>,
}

impl FakeEnvoy {
    /// An Envoy with this filter config and one healthy coordinator per Envoy cluster.
    pub fn new(config: &serde_json::Value) -> FakeEnvoy {
        let envoy = FakeEnvoy { clock_ms: Cell::new(1_790_000_000_000), ..Default::default() };
        *envoy.config.borrow_mut() = config.to_string().into_bytes();
        let ids = ["aaaaa", "bbbbb", "ccccc", "ddddd", "eeeee", "fffff"];
        for (i, c) in config["clusters"].as_array().unwrap().iter().enumerate() {
            let stock = c["stickiness"] == "rewrite";
            let coordinator = Coordinator::new(ids[i], stock);
            envoy.coordinators.borrow_mut().insert(c["envoy_cluster"].as_str().unwrap().to_string(), coordinator);
        }
        envoy
    }

    /// A worker with the config applied, as Envoy starts one.
    pub fn worker(&self) -> Plugin {
        let mut plugin = Plugin::new(self);
        assert!(plugin.configure(self), "config refused: {:?}", self.logs());
        plugin
    }

    pub fn coordinator(&self, envoy_cluster: &str) -> std::cell::RefMut<'_, Coordinator> {
        std::cell::RefMut::map(self.coordinators.borrow_mut(), |m| m.get_mut(envoy_cluster).unwrap())
    }

    pub fn set_config(&self, config: &serde_json::Value) {
        *self.config.borrow_mut() = config.to_string().into_bytes();
    }

    pub fn advance(&self, seconds: u64) {
        self.clock_ms.set(self.clock_ms.get() + seconds * 1000);
    }

    /// The wall clock steps back (NTP, a VM restored): the filter must keep working.
    pub fn step_back(&self, seconds: u64) {
        self.clock_ms.set(self.clock_ms.get() - seconds * 1000);
    }

    /// Every compare-and-swap write fails as if another worker always wrote first.
    pub fn conflict_always(&self) {
        self.cas_conflicts.set(true);
    }

    pub fn fail(&self, hostcall: &'static str) {
        self.failing.borrow_mut().insert(hostcall);
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.counters.borrow().iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v)
    }

    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.logs.borrow().clone()
    }

    pub fn tick_period(&self) -> Option<Duration> {
        self.tick_period.get()
    }

    /// `/v1/info` polls sent so far, by all workers.
    pub fn polls_sent(&self) -> usize {
        self.polls_sent.get()
    }

    /// A tick of `worker`, then every poll it started is answered by its coordinator.
    pub fn tick(&self, worker: &mut Plugin) {
        worker.tick(self);
        let calls: Vec<_> = self.calls.borrow_mut().drain(..).collect();
        for call in calls {
            let answer = self.coordinators.borrow().get(&call.envoy_cluster).and_then(|c| c.poll(&call.path));
            let size = answer.as_ref().map_or(0, |(_, b)| b.len());
            *self.call_answer.borrow_mut() = answer;
            worker.on_call_response(self, call.token, size);
            *self.call_answer.borrow_mut() = None;
        }
    }

    /// The clients of requests still held give up: Envoy ends their streams.
    pub fn end_held(&self) {
        self.held.borrow_mut().clear();
    }

    /// The calls the filter made so far with this method (`HEAD`: query lookups).
    pub fn calls_made(&self, method: &str) -> Vec<Call> {
        self.call_log.borrow().iter().filter(|c| c.method == method).cloned().collect()
    }

    /// Answers the calls a held request made, each by its coordinator, until the filter lets
    /// the request go or answers it. The answers of calls still out after that come too, as
    /// Envoy delivers them, and must change nothing.
    fn answer_lookup_calls(&self, exchange: &mut Exchange) {
        let calls: Vec<_> = self.calls.borrow_mut().drain(..).collect();
        if self.hold_calls.get() {
            return;
        }
        for call in calls {
            let answer = self.coordinators.borrow().get(&call.envoy_cluster).and_then(|c| c.probe(&call));
            *self.call_answer.borrow_mut() = answer.map(|status| (status, Vec::new()));
            exchange.on_call_response(self, call.token, 0);
            *self.call_answer.borrow_mut() = None;
        }
    }

    /// Sends a request through a new exchange of `worker`, as a client would.
    pub fn send(&self, worker: &Plugin, request: Request) -> Answer {
        let mut exchange = worker.new_exchange(0);
        let mut headers = vec![
            (":method".to_string(), request.method.clone().into_bytes()),
            (":path".to_string(), request.path.clone().into_bytes()),
            (":authority".to_string(), AUTHORITY.as_bytes().to_vec()),
        ];
        headers.extend(request.headers);
        *self.stream.borrow_mut() =
            Stream { request_headers: headers, client_body: request.body.clone(), ..Default::default() };
        let mut flow = exchange.on_request_headers(self, request.body.is_empty());
        let held_for_body = flow == Flow::Pause && self.stream.borrow().reply.is_none();
        // Envoy delivers the body in pieces and tells the filter how much it has buffered.
        let pieces: Vec<&[u8]> = request.body.chunks(request.piece).collect();
        for (i, piece) in pieces.iter().enumerate() {
            if flow == Flow::Continue || self.stream.borrow().reply.is_some() {
                break;
            }
            self.stream.borrow_mut().request_body.extend_from_slice(piece);
            let size = self.stream.borrow().request_body.len();
            flow = exchange.on_request_body(self, size, i + 1 == pieces.len());
        }
        if flow == Flow::Pause && self.stream.borrow().reply.is_none() {
            self.answer_lookup_calls(&mut exchange);
        }
        let reply = self.stream.borrow_mut().reply.take();
        let resumed = self.stream.borrow().resumed;
        let answer = match reply {
            Some(reply) => self.respond(&mut exchange, reply, None),
            None if flow == Flow::Pause && !resumed && self.hold_calls.get() => {
                // Still waiting: the client sees nothing yet (status 0) until `end_held`.
                self.held.borrow_mut().push(exchange);
                return Answer { status: 0, headers: Vec::new(), body: String::new(), upstream: None, held_for_body };
            }
            None => {
                assert!(
                    flow == Flow::Continue || resumed,
                    "the filter holds the request with no answer: Envoy would hang"
                );
                self.forward(&mut exchange)
            }
        };
        Answer { held_for_body, ..answer }
    }

    fn forward(&self, exchange: &mut Exchange) -> Answer {
        let mut headers = Headers::from_owned(self.stream.borrow().request_headers.clone());
        let Some(envoy_cluster) = headers.get_str(CLUSTER_HEADER).map(str::to_string) else {
            // The route needs the cluster header: without it Envoy answers itself.
            let answer = Response { details: Some("route_not_found".into()), ..Response::new(404, "text/plain", "") };
            return self.respond(exchange, answer, None);
        };
        if headers.get("x-trino-router-strip-forwarded").is_some() {
            // The route that matches the mark removes every X-Forwarded-* header.
            let mut kept = self.stream.borrow().request_headers.clone();
            kept.retain(|(n, _)| !n.starts_with("x-forwarded-"));
            headers = Headers::from_owned(kept);
        }
        let path = headers.get_str(":path").unwrap_or_default().to_string();
        let body = self.stream.borrow().client_body.clone();
        let upstream = Upstream { envoy_cluster: envoy_cluster.clone(), path: path.clone(), headers, body };
        let response = self.coordinator(&upstream.envoy_cluster).answer(&upstream);
        self.respond(exchange, response, Some(upstream))
    }

    fn chunk_size(&self) -> usize {
        match self.chunk_bytes.get() {
            0 => CHUNK,
            n => n,
        }
    }

    /// Runs the response side of the filter over an answer, chunk by chunk.
    fn respond(&self, exchange: &mut Exchange, response: Response, upstream: Option<Upstream>) -> Answer {
        let Response { status, mut headers, body, details } = response;
        headers.insert(0, (":status".into(), status.to_string().into_bytes()));
        {
            let mut s = self.stream.borrow_mut();
            s.response_headers = headers;
            s.code_details = details;
        }
        assert_eq!(exchange.on_response_headers(self), Flow::Continue);
        let mut out = Vec::new();
        let chunks: Vec<&[u8]> = if body.is_empty() { vec![&[][..]] } else { body.chunks(self.chunk_size()).collect() };
        for (i, chunk) in chunks.iter().enumerate() {
            self.stream.borrow_mut().chunk = chunk.to_vec();
            assert_eq!(exchange.on_response_body(self, chunk.len(), i + 1 == chunks.len()), Flow::Continue);
            out.extend_from_slice(&self.stream.borrow().chunk);
        }
        let s = self.stream.borrow();
        let status =
            s.response_headers.iter().find(|(n, _)| n == ":status").map(|(_, v)| v.clone()).unwrap_or_default();
        Answer {
            status: String::from_utf8_lossy(&status).parse().unwrap(),
            headers: s.response_headers.clone(),
            body: String::from_utf8(out).unwrap(),
            upstream,
            held_for_body: false,
        }
    }

    /// What the filter put into the access log of the last request.
    pub fn decision_logged(&self) -> Option<String> {
        let s = self.stream.borrow();
        s.filter_state.get("trino_router_decision").map(|v| String::from_utf8_lossy(v).into_owned())
    }

    fn check(&self, hostcall: &'static str) -> HostResult<()> {
        if self.failing.borrow().contains(hostcall) {
            return Err(HostError::Failed(format!("{hostcall} failed (test)")));
        }
        Ok(())
    }
}
