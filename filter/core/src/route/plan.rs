//! What happens to one forwarded request, decided once: the header edits that send it to
//! its cluster, and the duties its answer brings. The glue carries a plan out as it is.

use super::{Decision, Incoming, Kind, Target, Why};
use crate::config::{ClusterId, Config, LoadSource, StickinessMode};
use crate::protocol::QueryId;
use crate::transaction::TRANSACTION_HEADER;

/// Set on requests to rewrite-mode (stock Trino) clusters; a route matching it removes
/// every `X-Forwarded-*` header upstream (see `envoy/envoy.yaml`).
pub const STRIP_FORWARDED_HEADER: &str = "x-trino-router-strip-forwarded";

/// Send the request to a cluster, with these changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub cluster: ClusterId,
    pub cluster_name: String,
    pub envoy_cluster: String,
    /// Replaces `:path` when a pin prefix was stripped.
    pub path: Option<String>,
    /// `X-Forwarded-Prefix` for the coordinator; None removes any the client sent.
    pub forwarded_prefix: Option<String>,
    /// Rewrite mode: remove every `X-Forwarded-*` header (stock Trino answers 406).
    pub strip_forwarded: bool,
    /// This starts a query.
    pub new_query: bool,
    /// Count it as queued on its cluster until the next load poll, so a burst does not all
    /// pick the cluster that looked idlest a poll ago.
    pub count_as_queued: bool,
    /// A statement of a transaction: the id Trino issued, sent in place of the bound one.
    pub transaction_id: Option<String>,
    pub why: Why,
    /// The request header changes that carry the above out, in order. Headers the request
    /// does not carry are not removed: every hostcall costs about half a microsecond.
    pub edits: Vec<HeaderEdit>,
    pub answer: AnswerDuties,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderEdit {
    Set(String, Vec<u8>),
    Remove(&'static str),
    /// Set the header to the client's address as Envoy determined it (the `source.address`
    /// property, which follows `use_remote_address` and `xff_num_trusted_hops`); remove the
    /// header when Envoy cannot say.
    SetClientAddress(&'static str),
}

/// Headers through which a client could tell a coordinator that processes forwarded
/// headers (forwarded-prefix mode) which scheme, host or port to write into the URIs it
/// hands back, or that the connection was TLS. Envoy sets none of them, so any that
/// arrive come from the client and are removed. (Envoy itself sanitises
/// `x-forwarded-proto` and `x-forwarded-client-cert`; the filter sets `x-forwarded-prefix`
/// and `x-forwarded-for`.)
pub const CLIENT_FORWARDED_HEADERS: [&str; 7] = [
    "forwarded",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-server",
    "x-proxied-https",
    "proxy-auth-cert",
    "proxy-ssl-id",
];

/// What to do with the answer of a forwarded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerDuties {
    /// A new query: learn its coordinator id from the first bytes of the page.
    pub learn_coordinator: bool,
    /// Rewrite mode, statement pages: put the pin into the URIs of the page.
    pub rewrite: Option<PageRewrite>,
    /// A statement page (the POST of a new query, a nextUri GET): bind a transaction id it
    /// starts (`X-Trino-Started-Transaction-Id`) to this cluster before the client sees it.
    pub bind_transaction: bool,
    /// A `Set-Cookie` for an answer the cluster gave (not Envoy's own error): the session's
    /// affinity, or the browser's Web UI pin.
    pub set_cookie: Option<String>,
    /// When Envoy finds the cluster unreachable.
    pub on_unreachable: OnUnreachable,
    /// Forwarded-prefix mode: put the pin into what an OAuth2 answer names (a 401's
    /// `WWW-Authenticate` URIs, a 303's nonce cookie path; see `auth_flow.rs`).
    pub pin_auth_flow: bool,
}

/// The inputs of `rewrite::UriRewriter` for one page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRewrite {
    /// The client-facing authority Trino writes into its URIs (the request's Host).
    pub authority: Vec<u8>,
    /// `/<marker>/<token>`.
    pub insert: String,
}

/// What an answer that did not come from the coordinator (Envoy's own 5xx), or a refusal
/// by a restarted coordinator, means for this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnUnreachable {
    /// A refused connection keeps new queries off the cluster for
    /// `health.unhealthy_hold_seconds`; the client gets Envoy's answer.
    AvoidCluster,
    /// A nextUri GET of a running query: while its coordinator may still have the query,
    /// Envoy's answer becomes `503` with `Retry-After` (every Trino client retries it);
    /// once the query is known lost (coordinator restarted, or failing for
    /// `health.lost_after_seconds`), a FAILED page for it, which clients raise as a clear
    /// query error.
    AvoidClusterAndFailQueryIfLost(QueryId),
}

/// Turns a routing target into the whole plan; an internal error only if the config has
/// no token for the cluster.
pub(super) fn forward(config: &Config, req: &Incoming, target: Target) -> Decision {
    let Some(c) = config.cluster(target.cluster) else { return Decision::Reply(super::internal_reply()) };
    let prefix = config.pins.prefix(target.cluster.0);
    let rewrite_mode = c.stickiness == StickinessMode::Rewrite;
    // Server info is about any server, not a query: it carries no pin.
    let forwarded_prefix = match (c.stickiness, target.kind) {
        // The Web UI's links and Trino's redirects must stay under `/ui/`, where the pin cookie
        // routes them and Trino's own UI cookie (path `/ui`) is sent.
        (StickinessMode::ForwardedPrefix, Kind::ServerInfo | Kind::WebUi) | (StickinessMode::Rewrite, _) => None,
        (StickinessMode::ForwardedPrefix, _) => match prefix {
            Some(p) => Some(p.to_string()),
            None => return Decision::Reply(super::internal_reply()),
        },
    };
    let new_query = target.kind == Kind::NewQuery;
    let pin_auth_flow = forwarded_prefix.is_some();
    // An OAuth2 token poll's answer names the next poll without the pin, in either mode.
    let rewrite = match prefix {
        Some(p) if (rewrite_mode && req.statement_page) || req.is_token_poll() => Some(PageRewrite {
            authority: req.head.headers.get(":authority").unwrap_or_default().to_vec(),
            insert: p.to_string(),
        }),
        _ => None,
    };
    let mut f = Forward {
        cluster: target.cluster,
        cluster_name: c.name.clone(),
        envoy_cluster: c.envoy_cluster.clone(),
        path: target.path,
        forwarded_prefix,
        strip_forwarded: rewrite_mode,
        new_query,
        count_as_queued: new_query && config.load.source != LoadSource::None,
        transaction_id: target.transaction,
        why: target.why,
        edits: Vec::new(),
        answer: AnswerDuties {
            learn_coordinator: new_query,
            rewrite,
            bind_transaction: req.statement_page,
            set_cookie: target.set_cookie,
            on_unreachable: match req.polled_query() {
                Some(id) => OnUnreachable::AvoidClusterAndFailQueryIfLost(id),
                None => OnUnreachable::AvoidCluster,
            },
            pin_auth_flow,
        },
    };
    f.edits = edits(config, req, &f);
    Decision::Forward(f)
}

fn edits(config: &Config, req: &Incoming, f: &Forward) -> Vec<HeaderEdit> {
    let has = |name: &str| req.head.headers.get(name).is_some();
    let mut edits = vec![HeaderEdit::Set(config.cluster_header.clone(), f.envoy_cluster.as_bytes().to_vec())];
    if let Some(path) = &f.path {
        edits.push(HeaderEdit::Set(":path".to_string(), path.as_bytes().to_vec()));
    }
    if let Some(id) = &f.transaction_id {
        edits.push(HeaderEdit::Set(TRANSACTION_HEADER.to_string(), id.as_bytes().to_vec()));
    }
    // Always set or clear it: a client must not choose the prefix Trino writes into URIs.
    match &f.forwarded_prefix {
        Some(prefix) => edits.push(HeaderEdit::Set("x-forwarded-prefix".to_string(), prefix.as_bytes().to_vec())),
        None if has("x-forwarded-prefix") => edits.push(HeaderEdit::Remove("x-forwarded-prefix")),
        None => {}
    }
    // What the identify stage told Envoy's rate-limit filters is not for Trino.
    edits.extend(crate::rate_limit::strip_for_upstream(&req.head));
    for name in CLIENT_FORWARDED_HEADERS {
        if has(name) {
            edits.push(HeaderEdit::Remove(name));
        }
    }
    // Envoy needs x-forwarded-proto to match the route, so the filter only marks the
    // request; the route that matches the mark strips the headers.
    if f.strip_forwarded {
        edits.push(HeaderEdit::Set(STRIP_FORWARDED_HEADER.to_string(), b"true".to_vec()));
    } else {
        if has(STRIP_FORWARDED_HEADER) {
            edits.push(HeaderEdit::Remove(STRIP_FORWARDED_HEADER));
        }
        // The client's own X-Forwarded-For would become the address Trino records for the
        // query (Jetty takes the leftmost entry): Trino gets the one Envoy determined.
        edits.push(HeaderEdit::SetClientAddress("x-forwarded-for"));
    }
    if f.new_query || f.answer.rewrite.is_some() {
        // Pages the filter reads or rewrites must come uncompressed; Envoy's compressor
        // compresses them again toward clients that asked for it. Asked for explicitly: with no
        // Accept-Encoding at all, HTTP lets a server pick any coding (RFC 9110, 12.5.3), and a
        // page compressed on the way could not be rewritten (its URIs would carry no token).
        edits.push(HeaderEdit::Set("accept-encoding".to_string(), b"identity".to_vec()));
    }
    edits
}
