//! HTTP plumbing and routing: connections, body limits, the forwarded-header
//! check, dispatch to the endpoint modules, and the request log.
//!
//! Two rules of Trino's HTTP stack apply to every answer here: only answers to GET
//! and POST carry `Vary: Accept-Encoding` (Jetty's GzipHandler handles those methods
//! only), and a HEAD gets the GET's status and headers with the plain entity's
//! Content-Length and no body.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_ENCODING, CONTENT_LENGTH, VARY};
use hyper::http::request::Parts;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::app::App;
use crate::cluster;
use crate::framing;
use crate::introspect::{self, LoggedRequest};
use crate::rejection;
use crate::respond::{self, Payload};
use crate::spooling;
use crate::statement;
use crate::uris;

/// Largest accepted request body (SQL text); larger gets 413. Trino took 20 MiB without
/// complaint (SQL over 1,000,000 characters fails at the first poll instead, queries.rs);
/// the cap only bounds the stand-in's memory.
pub const MAX_BODY: usize = 32 << 20;

/// Serves one connection (HTTP/1.1 with keep-alive) until the client closes it.
pub async fn serve_connection(app: Arc<App>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |req: Request<Incoming>| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(framing::apply(serve_request(&app, req).await, &app.config)) }
    });
    // Errors here are client-side disconnects or malformed HTTP; hyper has
    // already answered what it could, so there is nothing left to do.
    let _ = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service).await;
}

async fn serve_request(app: &App, req: Request<Incoming>) -> Response<Payload> {
    let (parts, body) = req.into_parts();
    let declared = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let body = if declared.is_some_and(|n| n > MAX_BODY as u64) {
        None
    } else {
        Limited::new(body, MAX_BODY).collect().await.ok().map(|collected| collected.to_bytes())
    };
    match body {
        Some(body) => handle(app, &parts, body).await,
        None => {
            let resp = respond::error_page(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
            record(app, &parts, resp.status());
            resp
        }
    }
}

/// Routes one complete request. Everything outside `/_standin/` is logged.
pub async fn handle(app: &App, parts: &Parts, body: Bytes) -> Response<Payload> {
    let path = parts.uri.path();
    if path.starts_with("/_standin/") {
        return introspect::handle(app, &parts.method, path, parts.uri.query());
    }
    let mut resp = route(app, parts, &body).await;
    if parts.method != Method::GET && parts.method != Method::POST {
        resp.headers_mut().remove(VARY);
    }
    if parts.method == Method::HEAD {
        resp = without_body(resp);
    }
    record(app, parts, resp.status());
    resp
}

/// A HEAD answer: the headers of the entity that a GET would carry, no body.
fn without_body(resp: Response<Payload>) -> Response<Payload> {
    let (mut parts, payload) = resp.into_parts();
    let (data, _) = payload.into_parts();
    parts.headers.remove(CONTENT_ENCODING);
    parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(data.map_or(0, |d| d.len())));
    Response::from_parts(parts, Payload::empty())
}

/// The `Allow` header of each node resource's 405 (Jersey's lists).
fn allowed(path: &str) -> Option<&'static str> {
    Some(match path {
        "/v1/info" | "/metrics" | "/ui/api/stats" | "/v1/query" => "GET,OPTIONS",
        "/v1/info/state" => "GET,OPTIONS,PUT",
        "/v1/status" => "HEAD,GET,OPTIONS",
        p if p.strip_prefix("/v1/query/").is_some_and(|id| !id.is_empty() && !id.contains('/')) => "DELETE,GET,OPTIONS",
        _ => return None,
    })
}

fn record(app: &App, parts: &Parts, status: StatusCode) {
    let path = parts.uri.path_and_query().map(|pq| pq.as_str()).unwrap_or_else(|| parts.uri.path());
    app.requests.push(LoggedRequest::new(&parts.method, path, &parts.headers, status));
}

async fn route(app: &App, parts: &Parts, body: &Bytes) -> Response<Payload> {
    let headers = &parts.headers;
    // Pre-signed segment URIs lead to object storage, not to Trino.
    if let Some(resp) = spooling::storage(app, &parts.method, parts.uri.path(), parts.uri.query(), headers) {
        return resp;
    }
    // Jetty rejects forwarded headers before any resource sees the request.
    if let Some(name) = uris::rejected_header(app.config.forwarded, headers) {
        return rejection::response(parts, &name, &app.bound);
    }
    let base = uris::base(app.config.forwarded, headers, &app.bound);
    let method = &parts.method;
    // A HEAD's Content-Length is the plain entity's (Jetty does not gzip HEAD).
    let gzip_ok = *method != Method::HEAD && respond::accepts_gzip(headers);
    let path = parts.uri.path();

    if let Some(target) = statement::parse_target(path) {
        return statement::handle(app, method, target, headers, body, &base, gzip_ok).await;
    }
    if let Some(resp) = spooling::coordinator(app, method, path, headers) {
        return resp;
    }
    // Jersey matches node resources with or without a trailing slash.
    let path = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
    let Some(allow) = allowed(path) else {
        return respond::plain_status(StatusCode::NOT_FOUND);
    };
    let readable = *method == Method::GET || *method == Method::HEAD;
    match (path, method) {
        ("/v1/info/state", &Method::PUT) => cluster::put_info_state(headers),
        (p, &Method::DELETE) if p.starts_with("/v1/query/") => cluster::kill_query(app, &p[10..], headers),
        _ if !readable => respond::method_not_allowed(allow),
        ("/v1/info", _) => cluster::info(app, gzip_ok),
        ("/v1/info/state", _) => cluster::info_state(gzip_ok),
        ("/v1/status", _) => cluster::status(app, gzip_ok),
        ("/metrics", _) => cluster::metrics(app, headers, gzip_ok),
        ("/ui/api/stats", _) => cluster::ui_stats(app, gzip_ok),
        ("/v1/query", _) => cluster::query_list(app, headers, gzip_ok),
        (p, _) => cluster::query_info(app, &p[10..], headers, gzip_ok),
    }
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
