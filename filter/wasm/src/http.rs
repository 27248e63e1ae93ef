//! One request through the filter: hand its headers (and, when SQL rules need it, the
//! bounded body of a new query) to the core's decision, apply the decision to the request,
//! and learn from the response (Envoy's verdict on the cluster, the query id).

use crate::host;
use crate::metrics::{self, Metrics};
use crate::page::PageWork;
use crate::shared_state::{self, SharedClusterView};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, LogLevel, Status};
use std::rc::Rc;
use trino_router_core::config::{Config, LoadSource};
use trino_router_core::inspect::{SqlFacts, SqlStatus};
use trino_router_core::observed::{verdict_of, UpstreamVerdict};
use trino_router_core::protocol::{failed_page, QueryId};
use trino_router_core::request::RequestHead;
use trino_router_core::rewrite::UriRewriter;
use trino_router_core::route::{decide, needs_body, summary, trino_error, Decision, Forward, Reply, Why};

/// Set on requests to rewrite-mode (stock Trino) clusters; see `envoy/envoy.yaml`.
const STRIP_FORWARDED_HEADER: &str = "x-trino-router-strip-forwarded";
/// Filter state key (`%FILTER_STATE(wasm.trino_router_decision:PLAIN)%` in access logs).
const DECISION_STATE: &str = "trino_router_decision";
const DECISION_HEADER: &str = "x-trino-router-decision";

pub struct RequestFilter {
    config: Option<Rc<Config>>,
    metrics: Rc<Metrics>,
    random: u64,
    /// Headers of a new query held while its body arrives, for SQL rules.
    waiting_for_body: Option<RequestHead>,
    /// The cluster this request was sent to, for learning from its response.
    cluster: Option<String>,
    page: PageWork,
    /// The decision line, kept for the debug response header when the config asks for it.
    debug_line: Option<String>,
    /// A nextUri GET: the query it polls, so a coordinator lost meanwhile can be reported
    /// as a failed query rather than a bare 503.
    polled_query: Option<QueryId>,
    /// Set when Envoy answered instead of the lost coordinator: the page that replaces it.
    failed_page: Option<String>,
}

impl RequestFilter {
    pub fn new(config: Option<Rc<Config>>, metrics: Rc<Metrics>, random: u64) -> Self {
        RequestFilter {
            config,
            metrics,
            random,
            waiting_for_body: None,
            cluster: None,
            page: PageWork::default(),
            debug_line: None,
            polled_query: None,
            failed_page: None,
        }
    }

    /// Decides and applies the decision; the Action tells Envoy whether to go on.
    fn route(&mut self, config: &Config, head: &RequestHead, sql: &SqlFacts) -> Action {
        let view = SharedClusterView::new(config);
        let decision = decide(config, head, sql, &view, self.random);
        log_decision(head, sql, &decision, config);
        self.record(config, sql, &decision);
        if let Decision::Forward(f) = &decision {
            self.polled_query = f.polled_query.clone();
        }
        match &decision {
            Decision::Forward(f) => match self.apply_forward(config, head, f) {
                Ok(()) => Action::Continue,
                Err(e) => {
                    host::log(LogLevel::Warn, &format!("trino-router: cannot rewrite the request: {e:?}"));
                    send(&internal(500, "cannot rewrite the request"));
                    Action::Pause
                }
            },
            Decision::Reply(r) => {
                send(r);
                Action::Pause
            }
        }
    }

    /// Makes the decision visible: Envoy's access log (filter state), the counters, and the
    /// debug header when configured.
    fn record(&mut self, config: &Config, sql: &SqlFacts, decision: &Decision) {
        let line = summary(decision, config, sql);
        if let Err(e) = host::set_filter_state(DECISION_STATE, line.as_bytes()) {
            host::log(LogLevel::Debug, &format!("trino-router: cannot store the decision for the access log: {e:?}"));
        }
        let cluster = match decision {
            Decision::Forward(f) => config.cluster(f.cluster).map(|c| c.name.as_str()),
            Decision::Reply(_) => None,
        };
        self.metrics.count_decision(decision, cluster);
        if config.debug_response_header {
            self.debug_line = Some(line);
        }
    }

    /// Every hostcall costs about half a microsecond, so headers the request does not carry
    /// are not removed.
    fn apply_forward(&mut self, config: &Config, head: &RequestHead, f: &Forward) -> Result<(), Status> {
        let has = |name: &str| head.headers.get(name).is_some();
        host::set_request_header(&config.cluster_header, f.envoy_cluster.as_bytes())?;
        if let Some(path) = &f.path {
            host::set_request_header(":path", path.as_bytes())?;
        }
        // Always set or clear it: a client must not choose the prefix Trino writes into URIs.
        match &f.forwarded_prefix {
            Some(prefix) => host::set_request_header("x-forwarded-prefix", prefix.as_bytes())?,
            None if has("x-forwarded-prefix") => host::remove_request_header("x-forwarded-prefix")?,
            None => {}
        }
        // Envoy needs x-forwarded-proto to match the route, so the filter only marks the
        // request; a route matching the mark removes every X-Forwarded-* header upstream.
        if f.strip_forwarded {
            host::set_request_header(STRIP_FORWARDED_HEADER, b"true")?;
        } else if has(STRIP_FORWARDED_HEADER) {
            host::remove_request_header(STRIP_FORWARDED_HEADER)?;
        }
        if (f.new_query || f.rewrite_prefix.is_some()) && has("accept-encoding") {
            // Pages the filter reads or rewrites must come uncompressed; Envoy's compressor
            // compresses them again toward clients that asked for it.
            host::remove_request_header("accept-encoding")?;
        }
        host::clear_route_cache()?;
        self.cluster = config.cluster(f.cluster).map(|c| c.name.clone());
        if let (true, Some(cluster)) = (f.new_query, &self.cluster) {
            self.page.learn_query_id(cluster);
        }
        if let Some(prefix) = &f.rewrite_prefix {
            let authority = head.headers.get(":authority").unwrap_or_default();
            self.page.rewrite(UriRewriter::new(authority, prefix.as_bytes()));
        }
        if f.new_query && config.load.source != LoadSource::None {
            // Counted as queued until the next load poll, so a burst does not all pick
            // the cluster that looked idlest a poll ago.
            if let Some(cluster) = &self.cluster {
                shared_state::update(cluster, |s| {
                    s.note_sent();
                    true
                });
            }
        }
        Ok(())
    }

    fn inspect_body(&self, config: &Config, head: &RequestHead, body_size: usize) -> SqlFacts {
        let facts = if body_size > config.max_body_bytes {
            SqlFacts::too_large(body_size, config.max_body_bytes)
        } else {
            match host::request_body(body_size) {
                Some(body) => SqlFacts::from_body(&body, head),
                None => SqlFacts::from_body(b"", head),
            }
        };
        self.metrics.count(match facts.status {
            SqlStatus::Analysed => metrics::SQL_ANALYSED,
            SqlStatus::TooLarge => metrics::SQL_TOO_LARGE,
            SqlStatus::Unparseable | SqlStatus::NotRead => metrics::SQL_UNPARSEABLE,
        });
        facts
    }
}

fn internal(status: u16, message: &str) -> Reply {
    Reply { status, body: trino_error(status, message), retry_after_seconds: None, why: Why::Internal }
}

fn send(reply: &Reply) {
    let retry_after = reply.retry_after_seconds.map(|s| s.to_string());
    let mut headers = vec![("content-type", "text/plain")];
    if let Some(r) = &retry_after {
        headers.push(("retry-after", r.as_str()));
    }
    if let Err(e) = host::send_reply(reply.status, &headers, reply.body.as_bytes()) {
        host::log(LogLevel::Warn, &format!("trino-router: cannot send reply: {e:?}"));
    }
}

/// Logs the decision without the token: only the path after the pin prefix is shown.
fn log_decision(head: &RequestHead, sql: &SqlFacts, decision: &Decision, config: &Config) {
    if !host::debug_enabled() {
        return;
    }
    let sql_note = match &sql.problem {
        Some(p) => format!("; SQL not used: {p}"),
        None => String::new(),
    };
    let line = match decision {
        Decision::Forward(f) => {
            let path = f.path.as_deref().unwrap_or(&head.path);
            let cluster = config.cluster(f.cluster).map_or("?", |c| c.name.as_str());
            format!("trino-router: {} {} -> {cluster} ({}{sql_note})", head.method, path, f.why)
        }
        Decision::Reply(r) => format!("trino-router: {} answered {} ({}{sql_note})", head.method, r.status, r.why),
    };
    host::log(LogLevel::Debug, &line);
}

impl Context for RequestFilter {}

impl HttpContext for RequestFilter {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        let Some(config) = self.config.clone() else {
            send(&Reply { retry_after_seconds: Some(1), ..internal(503, "router has no configuration") });
            return Action::Pause;
        };
        let head = match host::request_headers() {
            Ok(h) => RequestHead::from_headers(h),
            Err(e) => {
                host::log(LogLevel::Warn, &format!("trino-router: cannot read request headers: {e:?}"));
                send(&internal(500, "cannot read request headers"));
                return Action::Pause;
            }
        };
        if needs_body(&config, &head) {
            if end_of_stream {
                let facts = self.inspect_body(&config, &head, 0);
                return self.route(&config, &head, &facts);
            }
            // Held until the body is in (Envoy config: allow_on_headers_stop_iteration).
            self.waiting_for_body = Some(head);
            return Action::Pause;
        }
        self.route(&config, &head, &SqlFacts::not_read())
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let (Some(config), Some(_)) = (self.config.clone(), &self.waiting_for_body) else {
            return Action::Continue;
        };
        // Past the limit the decision is made at once: never buffer without a bound.
        if !end_of_stream && body_size <= config.max_body_bytes {
            return Action::Pause;
        }
        let Some(head) = self.waiting_for_body.take() else { return Action::Continue };
        let facts = self.inspect_body(&config, &head, body_size);
        self.route(&config, &head, &facts)
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        // Also reached for the filter's own local replies.
        if let Some(line) = &self.debug_line {
            if let Err(e) = host::add_response_header(DECISION_HEADER, line.as_bytes()) {
                host::log(LogLevel::Debug, &format!("trino-router: cannot add the decision header: {e:?}"));
            }
        }
        let (Some(cluster), Some(config)) = (&self.cluster, &self.config) else {
            return Action::Continue;
        };
        // Envoy's verdicts on an unreachable cluster all answer 503; other answers need no
        // further hostcall.
        let server_error = host::response_status().is_some_and(|s| s >= 500);
        let details = if server_error { host::property(&["response", "code_details"]) } else { None };
        if verdict_of(&String::from_utf8_lossy(&details.unwrap_or_default())) == UpstreamVerdict::Unreachable {
            host::log(
                LogLevel::Info,
                &format!("trino-router: Envoy found cluster {cluster} unreachable; avoiding it for new queries"),
            );
            shared_state::update(cluster, |s| s.mark_unreachable(host::now_s(), config.health.unhealthy_hold_seconds));
            self.metrics.count(&format!("trino_router.cluster.{cluster}.unreachable"));
            if let Some(query) = self.polled_query.take() {
                // The coordinator that ran this query is gone, and with it the query: say so
                // the way Trino reports a failed query, which clients turn into a clear error.
                let message = format!(
                    "trino-router: the coordinator of cluster {cluster} that ran query {} cannot be reached; the query is lost",
                    query.as_str()
                );
                self.failed_page = Some(failed_page(query.as_str(), "TRINO_ROUTER_COORDINATOR_LOST", &message));
                self.page = PageWork::default();
                let headers = [(":status", &b"200"[..]), ("content-type", b"application/json")];
                for (name, value) in headers {
                    if let Err(e) = host::set_response_header(name, value) {
                        host::log(LogLevel::Warn, &format!("trino-router: cannot report the lost query: {e:?}"));
                    }
                }
                let _ = host::remove_response_header("content-length");
            }
        }
        if !self.page.is_idle() {
            self.page.on_headers();
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if let Some(page) = &self.failed_page {
            // Envoy's own short error body is dropped; the failed page goes out at its end.
            let replacement = if end_of_stream { page.as_bytes() } else { &b""[..] };
            if let Err(e) = host::replace_response_body(body_size, replacement) {
                host::log(LogLevel::Warn, &format!("trino-router: cannot report the lost query: {e:?}"));
            }
            return Action::Continue;
        }
        if !self.page.is_idle() {
            self.page.on_chunk(body_size, end_of_stream);
        }
        Action::Continue
    }
}
