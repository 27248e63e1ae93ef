//! Fast mode (`--fast`): statement pages served from bytes rendered once at start, so a
//! benchmark measures the Envoy in front of the stand-in, not the stand-in.
//!
//! No per-query state: any query id and slug are accepted and the page token alone
//! decides the page. `POST /v1/statement` → QUEUED page (sample 01) with nextUri
//! queued/1; any queued GET → QUEUED page pointing at executing/0 (sample 02);
//! executing 0 → columns only (sample 03), 1..=3 → small data pages (sample 04),
//! 4 → FINISHED without nextUri (sample 05); any token from [`LARGE_FROM`] → the same
//! ~1 MB data page. HEAD answers 200 and DELETE 204; `--content-length` is honoured. Every URI in a page is built from
//! the request's Host / `X-Forwarded-*` exactly like the normal mode (`--forwarded`
//! applies, 406 included); pages are never gzipped. Every other path (`/v1/info`,
//! health checks, `/_standin/`) is answered by the normal stand-in.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, CONTENT_TYPE, VARY};
use hyper::http::request::Parts;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::app::App;
use crate::http;
use crate::ids;
use crate::pages;
use crate::plan::{Plan, Shape};
use crate::rejection;
use crate::respond::{self, Payload};
use crate::slug::Context;
use crate::statement::{self, Target};
use crate::uris::{self, Base};

/// Executing tokens from here on get the large page.
pub const LARGE_FROM: u64 = 1000;
/// 40 rows of this size make a page of about 1 MiB, the size Trino aims for.
const LARGE_ROW_BYTES: usize = 26_000;
const LARGE_PAGE_ROWS: u64 = 40;
/// Small data pages: 3 pages of 20 rows, so a query has 5 executing pages.
const SMALL_PAGE_ROWS: u64 = 20;
const SMALL_TOTAL_ROWS: u64 = 60;
/// Stands for the base URI while pages are rendered; cut out again to make templates.
const BASE_MARK: &str = "fastbase://base-mark";

/// A response body: the fast page (spliced head, shared tail), or a normal-mode answer.
pub type Reply = Either<FastBody, Payload>;

/// The precomputed pages and the app that answers everything else.
pub struct FastServer {
    app: Arc<App>,
    post: Template,
    queued: Template,
    /// Executing tokens 0..=4.
    executing: Vec<Template>,
    large: Template,
}

impl FastServer {
    pub fn new(app: Arc<App>) -> FastServer {
        let id = ids::format_query_id(ids::UtcTime::now(), 1, &app.coordinator_id);
        let sql_hash = 0x5eed;
        let small = Shape {
            total_rows: SMALL_TOTAL_ROWS,
            page_rows: SMALL_PAGE_ROWS,
            sql_hash,
            sleep_ms: 0,
            cancel_from: None,
        };
        // Enough rows that the large token is always a data page, never the last one.
        let large = Shape { total_rows: LARGE_FROM * LARGE_PAGE_ROWS * 1000, page_rows: LARGE_PAGE_ROWS, ..small };
        let executing_pages = SMALL_TOTAL_ROWS.div_ceil(SMALL_PAGE_ROWS) + 2;
        let render = |plan: &Plan, row_bytes: usize| Template::new(&render(&app, plan, row_bytes));
        FastServer {
            post: render(&Plan::queued(&id, sql_hash, Some((Context::Queued, 1)), 0), 0),
            queued: render(&Plan::queued(&id, sql_hash, Some((Context::Executing, 0)), 5), 0),
            executing: (0..executing_pages).map(|t| render(&Plan::executing(&id, &small, t, 20), 0)).collect(),
            large: render(&Plan::executing(&id, &large, LARGE_FROM, 30), LARGE_ROW_BYTES),
            app,
        }
    }

    /// The answer to a statement request, or None when the normal mode should answer.
    fn answer(&self, method: &Method, target: &Target<'_>) -> Option<Answer<'_>> {
        match (target, method) {
            (Target::Post, &Method::POST) => Some(Answer::Page(&self.post)),
            (Target::Poll { context: Context::Queued, .. }, &Method::GET) => Some(Answer::Page(&self.queued)),
            (Target::Poll { context: Context::Executing, token, .. }, &Method::GET) => {
                Some(match usize::try_from(*token).ok().and_then(|t| self.executing.get(t)) {
                    Some(page) => Answer::Page(page),
                    None if *token >= LARGE_FROM => Answer::Page(&self.large),
                    // Past the end of the query, as the normal mode answers it.
                    None => Answer::NotFound,
                })
            }
            (Target::Poll { .. }, &Method::HEAD) => Some(Answer::Empty(StatusCode::OK)),
            (Target::Poll { .. } | Target::PartialCancel { .. }, &Method::DELETE) => {
                Some(Answer::Empty(StatusCode::NO_CONTENT))
            }
            _ => None,
        }
    }
}

enum Answer<'a> {
    Page(&'a Template),
    Empty(StatusCode),
    NotFound,
}

/// Renders a plan like the normal mode does, with [`BASE_MARK`] where the base URI goes.
fn render(app: &App, plan: &Plan, row_bytes: usize) -> String {
    let base = Base { scheme: "fastbase".to_string(), authority: "base-mark".to_string(), prefix: String::new() };
    pages::render(&statement::page_of(app, &base, plan), plan.sql_hash, row_bytes)
}

/// A page cut at every base URI: `pieces[0] base pieces[1] base ... tail`.
pub struct Template {
    pieces: Vec<Bytes>,
    tail: Bytes,
}

impl Template {
    fn new(rendered: &str) -> Template {
        let mut pieces: Vec<Bytes> = rendered.split(BASE_MARK).map(|p| Bytes::copy_from_slice(p.as_bytes())).collect();
        let tail = pieces.pop().unwrap_or_default();
        Template { pieces, tail }
    }

    /// The page for this base: the URIs are spliced into a small head, the rest (rows,
    /// stats) is shared, so a 1 MB page costs no copy.
    fn body(&self, base: &str, sized: bool) -> FastBody {
        let mut head =
            Vec::with_capacity(self.pieces.iter().map(Bytes::len).sum::<usize>() + self.pieces.len() * base.len());
        for piece in &self.pieces {
            head.extend_from_slice(piece);
            head.extend_from_slice(base.as_bytes());
        }
        FastBody { head: Some(Bytes::from(head)), tail: Some(self.tail.clone()), sized }
    }

    #[cfg(test)]
    pub fn len_without_base(&self) -> usize {
        self.pieces.iter().map(Bytes::len).sum::<usize>() + self.tail.len()
    }
}

/// Head and tail as two chunks of a chunked body, like Trino's streamed pages
/// (with a Content-Length instead under `--content-length`).
pub struct FastBody {
    head: Option<Bytes>,
    tail: Option<Bytes>,
    sized: bool,
}

impl Body for FastBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = self.head.take().or_else(|| self.tail.take());
        Poll::Ready(next.map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none() && self.tail.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        if !self.sized {
            // Unknown length makes hyper use Transfer-Encoding: chunked.
            return SizeHint::default();
        }
        let len = |part: &Option<Bytes>| part.as_ref().map_or(0, Bytes::len) as u64;
        SizeHint::with_exact(len(&self.head) + len(&self.tail))
    }
}

/// Serves one connection (HTTP/1.1 keep-alive) until the client closes it.
pub async fn serve_connection(server: Arc<FastServer>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |req: Request<Incoming>| {
        let server = server.clone();
        async move { Ok::<_, Infallible>(serve_request(&server, req).await) }
    });
    let _ = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service).await;
}

async fn serve_request(server: &FastServer, req: Request<Incoming>) -> Response<Reply> {
    let (parts, body) = req.into_parts();
    // The SQL of a POST is read (a real coordinator reads it) and dropped.
    match Limited::new(body, http::MAX_BODY).collect().await {
        Ok(collected) => handle(server, &parts, collected.to_bytes()).await,
        Err(_) => respond::error_page(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large").map(Either::Right),
    }
}

/// Answers one complete request: statement pages here, everything else in normal mode.
pub async fn handle(server: &FastServer, parts: &Parts, body: Bytes) -> Response<Reply> {
    let answer = statement::parse_target(parts.uri.path()).and_then(|t| server.answer(&parts.method, &t));
    let Some(answer) = answer else {
        return http::handle(&server.app, parts, body).await.map(Either::Right);
    };
    let mode = server.app.config.forwarded;
    if let Some(name) = uris::rejected_header(mode, &parts.headers) {
        return rejection::response(parts, &name, &server.app.bound).map(Either::Right);
    }
    match answer {
        Answer::Page(template) => {
            let base = uris::base(mode, &parts.headers, &server.app.bound);
            let base = format!("{}://{}{}", base.scheme, base.authority, base.prefix);
            let mut resp = Response::new(Either::Left(template.body(&base, server.app.config.content_length)));
            let h = resp.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
            h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
            resp
        }
        Answer::NotFound => respond::plain_status(StatusCode::NOT_FOUND).map(Either::Right),
        Answer::Empty(status) => respond::empty(status).map(Either::Right),
    }
}

#[cfg(test)]
#[path = "fast_tests.rs"]
mod tests;
