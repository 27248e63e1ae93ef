//! One request through the filter, its response side: learn from the answer (Envoy's
//! verdict on the cluster), report a query whose coordinator is lost as a failed query,
//! and hand statement pages to the page duties the plan named.

use super::{now_s, state, Exchange, Flow};
use crate::auth_flow;
use crate::config::Config;
use crate::host::{log, parse_status, Host, LogLevel};
use crate::observed::{verdict_of, UpstreamVerdict};
use crate::protocol::{failed_page, QueryId};
use crate::route::OnUnreachable;
use crate::transaction::{self, STARTED_HEADER};

use super::page::PageWork;

const DECISION_HEADER: &str = "x-trino-router-decision";

impl Exchange {
    pub fn on_response_headers(&mut self, host: &impl Host) -> Flow {
        // Also reached for the filter's own local replies.
        if let Some(line) = &self.debug_line {
            if let Err(e) = host.add_response_header(DECISION_HEADER, line.as_bytes()) {
                log(host, LogLevel::Debug, &format!("trino-router: cannot add the decision header: {e}"));
            }
        }
        let (Some(sent), Some(config)) = (&self.sent, &self.config) else {
            return Flow::Continue;
        };
        let status = parse_status(host.response_header(":status").ok().flatten());
        // Envoy's own answers are all 5xx; other answers need no further hostcall.
        let verdict = match status {
            Some(s) if s >= 500 => {
                let details = host.property(&["response", "code_details"]).ok().flatten().unwrap_or_default();
                verdict_of(&String::from_utf8_lossy(&details))
            }
            _ => UpstreamVerdict::Fine,
        };
        let cluster = sent.cluster.clone();
        if sent.pin_auth_flow && matches!(status, Some(401 | 303)) {
            pin_auth_flow(host, config, sent.cluster_id, status == Some(401));
        }
        if sent.bind_transaction {
            bind_started_transaction(host, config, &cluster);
        }
        // Only an answer of the cluster pins a session to it: Envoy's own answers are 5xx,
        // and a coordinator that refused the request (4xx) has not taken the session.
        if let (Some(set_cookie), Some(200..=399)) = (&sent.set_cookie, status) {
            if let Err(e) = host.add_response_header("set-cookie", set_cookie.as_bytes()) {
                log(host, LogLevel::Warn, &format!("trino-router: cannot set the session cookie: {e}"));
            }
        }
        if verdict == UpstreamVerdict::Unreachable {
            let line = format!("trino-router: Envoy cannot connect to cluster {cluster}; avoiding it for new queries");
            log(host, LogLevel::Info, &line);
            let hold = config.health.unhealthy_hold_seconds;
            state::update(host, &cluster, |s| s.mark_unreachable(now_s(host), hold));
            self.metrics.count(host, &format!("trino_router.cluster.{cluster}.unreachable"));
        }
        if let OnUnreachable::AvoidClusterAndFailQueryIfLost(query) = &sent.on_unreachable {
            // A restarted coordinator answers the nextUri of a query it never had with 404.
            let unknown_to_trino = verdict == UpstreamVerdict::Fine && matches!(status, Some(404 | 410));
            if verdict != UpstreamVerdict::Fine || unknown_to_trino {
                let query = query.clone();
                let lost_after = config.health.lost_after_seconds;
                self.on_failed_page_fetch(host, &cluster, &query, verdict, lost_after);
            }
        }
        if !self.page.is_idle() {
            self.page.on_headers(host, status, &self.metrics);
        }
        Flow::Continue
    }

    pub fn on_response_body(&mut self, host: &impl Host, body_size: usize, end_of_stream: bool) -> Flow {
        if let Some(page) = &self.failed_page {
            // Envoy's own short error body is dropped; the failed page goes out at its end.
            let replacement = if end_of_stream { page.as_bytes() } else { &b""[..] };
            if let Err(e) = host.replace_response_body(body_size, replacement) {
                log(host, LogLevel::Warn, &format!("trino-router: cannot report the lost query: {e}"));
            }
            return Flow::Continue;
        }
        if !self.page.is_idle() {
            self.page.on_chunk(host, body_size, end_of_stream);
        }
        Flow::Continue
    }
}

impl Exchange {
    /// A page fetch of a running query did not get its page. Known lost: the client gets a
    /// FAILED page. Otherwise, for Envoy's own answers, a `503` with `Retry-After`, which
    /// every Trino client retries (the coordinator may still run the query).
    fn on_failed_page_fetch(
        &mut self,
        host: &impl Host,
        cluster: &str,
        query: &QueryId,
        verdict: UpstreamVerdict,
        lost_after: u64,
    ) {
        let known = state::load(host, cluster);
        let coordinator = query.coordinator();
        let lost = match verdict {
            UpstreamVerdict::Unreachable => known.query_lost(coordinator.as_ref(), now_s(host), lost_after),
            _ => known.restarted_since(coordinator.as_ref()),
        };
        if lost {
            self.failed_page = Some(report_lost_query(host, cluster, query));
            self.page = PageWork::default();
            self.metrics.count(host, &format!("trino_router.cluster.{cluster}.queries_lost"));
        } else if verdict != UpstreamVerdict::Fine {
            for (name, value) in [(":status", &b"503"[..]), ("retry-after", b"1")] {
                if let Err(e) = host.set_response_header(name, value) {
                    log(host, LogLevel::Warn, &format!("trino-router: cannot ask the client to retry: {e}"));
                }
            }
            self.metrics.count(host, &format!("trino_router.cluster.{cluster}.retries_asked"));
        }
    }
}

/// A statement page that starts a transaction names it in `X-Trino-Started-Transaction-Id`:
/// the client gets the id bound to the cluster that issued it (`transaction.rs`), and sends
/// it back with every statement of the transaction, which any replica then routes there.
/// One header read per statement page; a signature only on the rare page that starts one.
fn bind_started_transaction(host: &impl Host, config: &Config, cluster: &str) {
    let Some(started) = host.response_header(STARTED_HEADER).ok().flatten() else { return };
    if !transaction::is_issued_id(&started) {
        return;
    }
    let result = match transaction::bind(&config.pin_keys, &started, cluster) {
        Some(bound) => host.set_response_header(STARTED_HEADER, &bound).map_err(|e| e.to_string()),
        None => Err("cannot sign it".to_string()),
    };
    if let Err(e) = result {
        // The client gets Trino's id: its transaction works while the rules keep it on this cluster.
        log(host, LogLevel::Warn, &format!("trino-router: cannot bind a started transaction to {cluster}: {e}"));
    }
}

/// Puts the pin into one header value, or says it has nothing to pin.
type PinValue = fn(&[u8], &[u8]) -> Option<Vec<u8>>;

/// An OAuth2 answer of a forwarded-prefix cluster: the pin goes into a 401's challenge URIs,
/// or a 303's nonce cookie path (`auth_flow.rs`), so the rest of the flow comes back to this
/// coordinator. Only 401 and 303 answers pay for reading every header.
fn pin_auth_flow(host: &impl Host, config: &Config, cluster: crate::config::ClusterId, challenge: bool) {
    let Some(insert) = config.pins.prefix(cluster.0) else { return };
    let (name, pin): (&str, PinValue) = if challenge {
        ("www-authenticate", auth_flow::pin_challenge)
    } else {
        ("set-cookie", auth_flow::pin_cookie_path)
    };
    let Ok(headers) = host.response_headers() else { return };
    let values: Vec<&[u8]> = headers.get_all(name).collect();
    let pinned: Vec<Option<Vec<u8>>> = values.iter().map(|v| pin(v, insert.as_bytes())).collect();
    if pinned.iter().all(Option::is_none) {
        return;
    }
    // Header maps replace or add by name: the values go back in their order, pinned or not.
    let result = host.remove_response_header(name).and_then(|()| {
        values.iter().zip(&pinned).try_for_each(|(v, p)| host.add_response_header(name, p.as_deref().unwrap_or(v)))
    });
    if let Err(e) = result {
        log(host, LogLevel::Warn, &format!("trino-router: cannot pin the OAuth2 answer's {name}: {e}"));
    }
}

/// The coordinator that ran `query` is gone, and with it the query: turn Envoy's 503 into
/// the page Trino sends for a failed query, which clients raise as a clear query error.
/// Returns the page, to be sent as the body.
fn report_lost_query(host: &impl Host, cluster: &str, query: &QueryId) -> String {
    let id = query.as_str();
    let message = format!(
        "trino-router: the coordinator of cluster {cluster} that ran query {id} cannot be reached; the query is lost"
    );
    for (name, value) in [(":status", &b"200"[..]), ("content-type", b"application/json")] {
        if let Err(e) = host.set_response_header(name, value) {
            log(host, LogLevel::Warn, &format!("trino-router: cannot report the lost query: {e}"));
        }
    }
    let _ = host.remove_response_header("content-length");
    // The client-facing host is not at hand here; a relative URI is still a URI to the clients.
    failed_page(id, &format!("/ui/query.html?{id}"), "TRINO_ROUTER_COORDINATOR_LOST", &message)
}
