//! HTTP plumbing and routing: connections, body limits, the forwarded-header
//! check, dispatch to the endpoint modules, and the request log.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
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
use crate::respond::{self, Payload};
use crate::spooling;
use crate::statement;
use crate::uris;

/// Largest accepted request body (SQL text); larger gets 413.
pub const MAX_BODY: usize = 1 << 20;

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
    let resp = route(app, parts, &body).await;
    record(app, parts, resp.status());
    resp
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
        return respond::text(StatusCode::NOT_ACCEPTABLE, uris::reject_message(&name));
    }
    let base = uris::base(app.config.forwarded, headers, &app.bound);
    let gzip_ok = respond::accepts_gzip(headers);
    let method = &parts.method;
    let path = parts.uri.path();

    if let Some(target) = statement::parse_target(path) {
        return statement::handle(app, method, target, headers, body, &base).await;
    }
    if let Some(resp) = spooling::coordinator(app, method, path, headers) {
        return resp;
    }
    let readable = *method == Method::GET || *method == Method::HEAD;
    let known = match path {
        "/v1/info" | "/v1/info/state" | "/v1/status" | "/metrics" | "/ui/api/stats" => true,
        p => p.strip_prefix("/v1/query/").is_some_and(|id| !id.is_empty() && !id.contains('/')),
    };
    if !known {
        return respond::plain_status(StatusCode::NOT_FOUND);
    }
    if !readable {
        return respond::plain_status(StatusCode::METHOD_NOT_ALLOWED);
    }
    match path {
        "/v1/info" => cluster::info(app, gzip_ok),
        "/v1/info/state" => cluster::info_state(gzip_ok),
        "/v1/status" => cluster::status(app, gzip_ok),
        "/metrics" => cluster::metrics(app, headers, gzip_ok),
        "/ui/api/stats" => cluster::ui_stats(app, gzip_ok),
        p => {
            let id = p.strip_prefix("/v1/query/").unwrap_or_default();
            cluster::query_info(app, id, headers, &base, gzip_ok)
        }
    }
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
