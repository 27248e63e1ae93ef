//! An in-memory Envoy for scenario tests of the glue: it implements `Host` with shared data
//! (CAS), a clock, counters, logs and HTTP calls, routes forwarded requests by the cluster
//! header to stand-in coordinators that answer like Trino, and streams their pages back
//! through the filter in chunks. Tests talk to it as clients do, never in hostcalls.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use trino_router_core::handle::{Exchange, Flow, Plugin};
use trino_router_core::host::{Body, Callout, Host, HostError, HostResult, LogLevel};
use trino_router_core::request::Headers;

pub const AUTHORITY: &str = "router.test";
const CLUSTER_HEADER: &str = "x-trino-router-cluster";
/// Pages come back in chunks of this many bytes, so rewriting across chunks is exercised.
const CHUNK: usize = 40;

/// How a stand-in coordinator behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Up,
    /// Answers `/v1/info` with `"starting": true`.
    Starting,
    /// Envoy's health checks failed: Envoy refuses polls and answers live traffic itself.
    Refused,
    /// The coordinator vanished: polls time out, live traffic gets Envoy's 503.
    Gone,
}

pub struct Coordinator {
    pub id: String,
    pub health: Health,
    /// Rewrite-mode clusters run stock Trino: any X-Forwarded-* header gets a 406.
    pub stock: bool,
    /// Reported on load polls: (queued, running).
    pub load: (u64, u64),
    /// Whether `/v1/info` carries `coordinatorId` (Trino 483+).
    pub reports_id: bool,
    /// Pages are compressed although the filter asked for identity.
    pub gzip: bool,
    queries: u32,
}

/// What the coordinator received.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub envoy_cluster: String,
    pub path: String,
    pub headers: Headers,
}

/// What the client got back.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderList,
    pub body: String,
    /// None when the filter answered itself.
    pub upstream: Option<Upstream>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The nextUri of a statement page, as a path to send back through the router.
    pub fn next_path(&self) -> Option<String> {
        let uri = self.json()["nextUri"].as_str()?.to_string();
        Some(uri.strip_prefix(&format!("http://{AUTHORITY}")).unwrap_or(&uri).to_string())
    }

    pub fn cluster(&self) -> Option<&str> {
        self.upstream.as_ref().map(|u| u.envoy_cluster.as_str())
    }
}

/// A request as a client sends it.
pub struct Request {
    method: String,
    path: String,
    headers: HeaderList,
    body: Vec<u8>,
}

impl Request {
    pub fn new(method: &str, path: &str) -> Request {
        Request { method: method.into(), path: path.into(), headers: Vec::new(), body: Vec::new() }
    }

    pub fn query(sql: &str) -> Request {
        Request::new("POST", "/v1/statement").body(sql)
    }

    pub fn get(path: &str) -> Request {
        Request::new("GET", path)
    }

    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_ascii_lowercase(), value.as_bytes().to_vec()));
        self
    }

    pub fn body(mut self, sql: &str) -> Request {
        self.body = sql.as_bytes().to_vec();
        self
    }
}

type HeaderList = Vec<(String, Vec<u8>)>;

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
    reply: Option<Response>,
    response_headers: HeaderList,
    code_details: Option<String>,
    chunk: Vec<u8>,
    filter_state: HashMap<String, Vec<u8>>,
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
    calls: RefCell<Vec<(u32, String, String)>>,
    polls_sent: Cell<usize>,
    next_token: Cell<u32>,
    call_answer: RefCell<Option<(u16, Vec<u8>)>>,
    /// Hostcalls (by method name) that fail, to check the filter survives them.
    failing: RefCell<HashSet<&'static str>>,
    tick_period: Cell<Option<Duration>>,
}

impl FakeEnvoy {
    /// An Envoy with this filter config and one healthy coordinator per Envoy cluster.
    pub fn new(config: &serde_json::Value) -> FakeEnvoy {
        let envoy = FakeEnvoy { clock_ms: Cell::new(1_790_000_000_000), ..Default::default() };
        *envoy.config.borrow_mut() = config.to_string().into_bytes();
        let ids = ["aaaaa", "bbbbb", "ccccc", "ddddd", "eeeee", "fffff"];
        for (i, c) in config["clusters"].as_array().unwrap().iter().enumerate() {
            let stock = c["stickiness"] == "rewrite";
            let coordinator = Coordinator {
                id: ids[i].to_string(),
                health: Health::Up,
                stock,
                load: (0, 0),
                reports_id: false,
                gzip: false,
                queries: 0,
            };
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
        for (token, cluster, path) in calls {
            let answer = self.poll_answer(&cluster, &path);
            let size = answer.as_ref().map_or(0, |(_, b)| b.len());
            *self.call_answer.borrow_mut() = answer;
            worker.on_call_response(self, token, size);
            *self.call_answer.borrow_mut() = None;
        }
    }

    fn poll_answer(&self, envoy_cluster: &str, path: &str) -> Option<(u16, Vec<u8>)> {
        let coordinators = self.coordinators.borrow();
        let c = coordinators.get(envoy_cluster)?;
        let starting = match c.health {
            Health::Up => false,
            Health::Starting => true,
            // A timeout arrives as an answer without headers.
            Health::Refused | Health::Gone => return None,
        };
        let body = match path {
            "/v1/info" if c.reports_id => {
                serde_json::json!({"starting": starting, "coordinator": true, "coordinatorId": c.id}).to_string()
            }
            "/v1/info" => serde_json::json!({"starting": starting, "coordinator": true}).to_string(),
            "/metrics" => format!(
                "trino_execution_name_QueryManager_QueuedQueries {}\ntrino_execution_name_QueryManager_RunningQueries {}\n",
                c.load.0, c.load.1
            ),
            _ => return Some((404, Vec::new())),
        };
        Some((200, body.into_bytes()))
    }

    /// Sends a request through a new exchange of `worker`, as a client would.
    pub fn send(&self, worker: &Plugin, request: Request) -> Answer {
        let mut exchange = worker.new_exchange();
        let mut headers = vec![
            (":method".to_string(), request.method.clone().into_bytes()),
            (":path".to_string(), request.path.clone().into_bytes()),
            (":authority".to_string(), AUTHORITY.as_bytes().to_vec()),
        ];
        headers.extend(request.headers);
        *self.stream.borrow_mut() = Stream { request_headers: headers, ..Default::default() };
        let mut flow = exchange.on_request_headers(self, request.body.is_empty());
        // Envoy delivers the body in pieces and tells the filter how much it has buffered.
        let pieces: Vec<&[u8]> = request.body.chunks(64).collect();
        for (i, piece) in pieces.iter().enumerate() {
            if flow == Flow::Continue || self.stream.borrow().reply.is_some() {
                break;
            }
            self.stream.borrow_mut().request_body.extend_from_slice(piece);
            let size = self.stream.borrow().request_body.len();
            flow = exchange.on_request_body(self, size, i + 1 == pieces.len());
        }
        let reply = self.stream.borrow_mut().reply.take();
        if let Some(reply) = reply {
            return self.respond(&mut exchange, reply, None);
        }
        assert_eq!(flow, Flow::Continue, "the filter holds the request with no answer: Envoy would hang");
        self.forward(&mut exchange)
    }

    fn forward(&self, exchange: &mut Exchange) -> Answer {
        let mut headers = Headers::from_owned(self.stream.borrow().request_headers.clone());
        let envoy_cluster = headers.get_str(CLUSTER_HEADER).expect("no cluster header: Envoy has no route").to_string();
        if headers.get("x-trino-router-strip-forwarded").is_some() {
            // The route that matches the mark removes every X-Forwarded-* header.
            let mut kept = self.stream.borrow().request_headers.clone();
            kept.retain(|(n, _)| !n.starts_with("x-forwarded-"));
            headers = Headers::from_owned(kept);
        }
        let path = headers.get_str(":path").unwrap_or_default().to_string();
        let upstream = Upstream { envoy_cluster: envoy_cluster.clone(), path: path.clone(), headers };
        let response = self.coordinator_answer(&upstream);
        self.respond(exchange, response, Some(upstream))
    }

    /// What Envoy and the coordinator behind `envoy_cluster` make of a request.
    fn coordinator_answer(&self, up: &Upstream) -> Response {
        let mut coordinators = self.coordinators.borrow_mut();
        let c = coordinators.get_mut(&up.envoy_cluster).expect("route to an unknown Envoy cluster");
        match c.health {
            Health::Refused => return Response::by_envoy("no_healthy_upstream", "no healthy upstream"),
            Health::Gone => {
                let details = "upstream_reset_before_response_started{remote_connection_failure}";
                return Response::by_envoy(details, "upstream connect error");
            }
            _ => {}
        }
        let forwarded = up.headers.get_all("x-forwarded-proto").chain(up.headers.get_all("x-forwarded-prefix")).next();
        if c.stock && forwarded.is_some() {
            return Response::new(406, "text/plain", "Error 406 Not Acceptable");
        }
        let prefix = if c.stock { "" } else { up.headers.get_str("x-forwarded-prefix").unwrap_or("") };
        let method = up.headers.get_str(":method").unwrap_or_default();
        let segments: Vec<&str> = up.path.split('?').next().unwrap_or("").split('/').collect();
        let (id, n) = match (method, segments.as_slice()) {
            ("POST", ["", "v1", "statement"]) => {
                c.queries += 1;
                (format!("20261120_101500_{:05}_{}", c.queries, c.id), 1)
            }
            ("GET", ["", "v1", "statement", "executing", id, _, n]) => (id.to_string(), n.parse::<u32>().unwrap() + 1),
            ("GET", ["", "v1", "query", id]) if id.ends_with(&c.id) => {
                let body = serde_json::json!({"queryId": id, "coordinator": c.id}).to_string();
                return Response::new(200, "application/json", body);
            }
            ("GET", ["", "v1", "info"]) => return Response::new(200, "application/json", r#"{"starting":false}"#),
            _ => return Response::new(404, "text/plain", "Error 404 Not Found"),
        };
        if !id.ends_with(&c.id) {
            return Response::new(410, "text/plain", "Error 410 Gone: unknown query");
        }
        let body = page(&id, n, prefix);
        let mut response = Response::new(200, "application/json", body.clone());
        response.headers.push(("content-length".into(), body.len().to_string().into_bytes()));
        if c.gzip {
            response.headers.push(("content-encoding".into(), b"gzip".to_vec()));
        }
        response
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
        let chunks: Vec<&[u8]> = if body.is_empty() { vec![&[][..]] } else { body.chunks(CHUNK).collect() };
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

/// Page `n` of a query, as a coordinator behind `prefix` (its X-Forwarded-Prefix) writes it.
fn page(id: &str, n: u32, prefix: &str) -> String {
    let base = format!("http://{AUTHORITY}{prefix}");
    let mut page = serde_json::json!({
        "id": id,
        "infoUri": format!("{base}/ui/query.html?{id}"),
        "columns": [{"name": "text", "type": "varchar"}],
        // A row that looks like a URI: it must never be touched.
        "data": [[format!("\"nextUri\":\"http://{AUTHORITY}/v1/statement/executing/{id}/row/1\"")]],
        "stats": {"state": if n < 3 { "RUNNING" } else { "FINISHED" }}
    });
    if n < 3 {
        page["nextUri"] = format!("{base}/v1/statement/executing/{id}/y{n}/{n}").into();
    }
    order_like_trino(&page)
}

/// Serialises a page with Trino's field order (serde_json sorts keys).
fn order_like_trino(page: &serde_json::Value) -> String {
    let fields = ["id", "infoUri", "nextUri", "columns", "data", "stats"];
    let parts: Vec<String> = fields.iter().filter_map(|f| page.get(*f).map(|v| format!("\"{f}\":{v}"))).collect();
    format!("{{{}}}", parts.join(","))
}

fn set(list: &mut HeaderList, name: &str, value: &[u8]) {
    list.retain(|(n, _)| n != name);
    list.push((name.to_string(), value.to_vec()));
}

impl Host for FakeEnvoy {
    fn now_ms(&self) -> HostResult<u64> {
        self.check("now_ms")?;
        Ok(self.clock_ms.get())
    }
    fn log(&self, level: LogLevel, message: &str) -> HostResult<()> {
        self.logs.borrow_mut().push((level, message.to_string()));
        Ok(())
    }
    fn log_level(&self) -> HostResult<LogLevel> {
        Ok(self.log_level.get().unwrap_or(LogLevel::Debug))
    }
    fn plugin_configuration(&self) -> HostResult<Option<Vec<u8>>> {
        Ok(Some(self.config.borrow().clone()))
    }
    fn set_tick_period(&self, period: Duration) -> HostResult<()> {
        self.tick_period.set(Some(period));
        Ok(())
    }
    fn request_headers(&self) -> HostResult<Headers> {
        self.check("request_headers")?;
        Ok(Headers::from_owned(self.stream.borrow().request_headers.clone()))
    }
    fn set_request_header(&self, name: &str, value: &[u8]) -> HostResult<()> {
        self.check("set_request_header")?;
        set(&mut self.stream.borrow_mut().request_headers, name, value);
        Ok(())
    }
    fn remove_request_header(&self, name: &str) -> HostResult<()> {
        self.stream.borrow_mut().request_headers.retain(|(n, _)| n != name);
        Ok(())
    }
    fn clear_route_cache(&self) -> HostResult<()> {
        Ok(())
    }
    fn set_filter_state(&self, name: &str, value: &[u8]) -> HostResult<()> {
        self.stream.borrow_mut().filter_state.insert(name.to_string(), value.to_vec());
        Ok(())
    }
    fn send_reply(&self, status: u16, headers: &[(&str, &str)], body: &[u8]) -> HostResult<()> {
        let headers = headers.iter().map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())).collect();
        let mut s = self.stream.borrow_mut();
        assert!(s.reply.is_none(), "a second local reply on one stream");
        s.reply = Some(Response { status, headers, body: body.to_vec(), details: None });
        Ok(())
    }
    fn response_header(&self, name: &str) -> HostResult<Option<Vec<u8>>> {
        let s = self.stream.borrow();
        Ok(s.response_headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()))
    }
    fn set_response_header(&self, name: &str, value: &[u8]) -> HostResult<()> {
        set(&mut self.stream.borrow_mut().response_headers, name, value);
        Ok(())
    }
    fn add_response_header(&self, name: &str, value: &[u8]) -> HostResult<()> {
        self.stream.borrow_mut().response_headers.push((name.to_string(), value.to_vec()));
        Ok(())
    }
    fn remove_response_header(&self, name: &str) -> HostResult<()> {
        self.stream.borrow_mut().response_headers.retain(|(n, _)| n != name);
        Ok(())
    }
    fn property(&self, path: &[&str]) -> HostResult<Option<Vec<u8>>> {
        match path {
            ["response", "code_details"] => Ok(self.stream.borrow().code_details.clone().map(String::into_bytes)),
            _ => Ok(None),
        }
    }
    fn body(&self, which: Body, max: usize) -> HostResult<Option<Vec<u8>>> {
        let whole = match which {
            Body::Request => self.stream.borrow().request_body.clone(),
            Body::Response => self.stream.borrow().chunk.clone(),
            Body::CallResponse => self.call_answer.borrow().as_ref().map(|(_, b)| b.clone()).unwrap_or_default(),
        };
        Ok(Some(whole[..max.min(whole.len())].to_vec()))
    }
    fn replace_response_body(&self, size: usize, data: &[u8]) -> HostResult<()> {
        let mut s = self.stream.borrow_mut();
        let size = size.min(s.chunk.len());
        s.chunk.splice(..size, data.iter().copied());
        Ok(())
    }
    fn shared_get(&self, key: &str) -> HostResult<(Option<Vec<u8>>, Option<u32>)> {
        Ok(match self.shared.borrow().get(key) {
            Some((v, cas)) => (Some(v.clone()), Some(*cas)),
            None => (None, None),
        })
    }
    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> HostResult<()> {
        let mut shared = self.shared.borrow_mut();
        let current = shared.get(key).map(|(_, c)| *c);
        if cas.is_some_and(|c| Some(c) != current) {
            return Err(HostError::CasMismatch);
        }
        shared.insert(key.to_string(), (value.to_vec(), current.unwrap_or(0) + 1));
        Ok(())
    }
    fn dispatch_get(&self, call: &Callout<'_>) -> HostResult<u32> {
        let refused = self.coordinators.borrow().get(call.envoy_cluster).is_none_or(|c| c.health == Health::Refused);
        if refused {
            return Err(HostError::Failed("BadArgument".into()));
        }
        let token = self.next_token.get() + 1;
        self.next_token.set(token);
        if call.path == "/v1/info" {
            self.polls_sent.set(self.polls_sent.get() + 1);
        }
        self.calls.borrow_mut().push((token, call.envoy_cluster.to_string(), call.path.to_string()));
        Ok(token)
    }
    fn call_response_header(&self, name: &str) -> HostResult<Option<Vec<u8>>> {
        Ok(match (name, self.call_answer.borrow().as_ref()) {
            (":status", Some((status, _))) => Some(status.to_string().into_bytes()),
            _ => None,
        })
    }
    fn define_counter(&self, name: &str) -> HostResult<u32> {
        let mut counters = self.counters.borrow_mut();
        if let Some(i) = counters.iter().position(|(n, _)| n == name) {
            return Ok(i as u32);
        }
        counters.push((name.to_string(), 0));
        Ok((counters.len() - 1) as u32)
    }
    fn increment_counter(&self, id: u32) -> HostResult<()> {
        self.counters.borrow_mut()[id as usize].1 += 1;
        Ok(())
    }
}
