//! The client protocol endpoints: `/v1/statement` and the nextUri family.
//!
//! Each handler validates the slug for its context (queued / executing) and
//! token, asks the registry for a [`Plan`] under the lock, and renders it after
//! the lock is released, with URIs built from this request's base.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::HeaderMap;
use hyper::{Method, Response, StatusCode};

use crate::app::App;
use crate::auth;
use crate::pages::{self, Page};
use crate::plan::Plan;
use crate::queries::Refusal;
use crate::respond::{self, Payload};
use crate::slug::Context;
use crate::spooling::{self, Encoding};
use crate::uris::Base;

/// A parsed `/v1/statement/...` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    Post,
    /// queued or executing `{id}/{slug}/{token}`
    Poll {
        context: Context,
        id: &'a str,
        slug: &'a str,
        token: u64,
    },
    /// `executing/partialCancel/{id}/{stage}/{slug}/{token}`
    PartialCancel {
        id: &'a str,
        slug: &'a str,
        token: u64,
    },
}

/// `None` when the path is not a statement path (or a token is not a number,
/// which Jersey answers with 404 as well).
pub fn parse_target(path: &str) -> Option<Target<'_>> {
    let rest = path.strip_prefix("/v1/statement")?;
    if rest.is_empty() || rest == "/" {
        return Some(Target::Post);
    }
    let parts: Vec<&str> = rest.strip_prefix('/')?.split('/').collect();
    match parts.as_slice() {
        ["queued", id, slug, token] => {
            Some(Target::Poll { context: Context::Queued, id, slug, token: token.parse().ok()? })
        }
        ["executing", "partialCancel", id, stage, slug, token] => {
            stage.parse::<u32>().ok()?;
            Some(Target::PartialCancel { id, slug, token: token.parse().ok()? })
        }
        ["executing", id, slug, token] => {
            Some(Target::Poll { context: Context::Executing, id, slug, token: token.parse().ok()? })
        }
        _ => None,
    }
}

pub async fn handle(
    app: &App,
    method: &Method,
    target: Target<'_>,
    headers: &HeaderMap,
    body: &Bytes,
    base: &Base,
) -> Response<Payload> {
    if app.config.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(app.config.latency_ms)).await;
    }
    let gzip_ok = respond::accepts_gzip(headers);
    let now = Instant::now();
    match (target, method) {
        (Target::Post, &Method::POST) => post(app, headers, body, base, gzip_ok),
        (Target::Poll { context, id, slug, token }, m) => {
            if !app.slugs.is_valid(id, context, token, slug) {
                return refusal(context_not_found(context), *m == Method::HEAD);
            }
            let result = match *m {
                Method::GET => {
                    let plan = match context {
                        Context::Queued => app.registry().queued_get(id, token, now),
                        Context::Executing => app.registry().executing_get(id, token, now),
                    };
                    match plan {
                        Ok(plan) => {
                            if plan.sleep_ms > 0 {
                                tokio::time::sleep(Duration::from_millis(plan.sleep_ms)).await;
                            }
                            return respond::json(StatusCode::OK, render_plan(app, base, &plan), gzip_ok);
                        }
                        Err(e) => Err(e),
                    }
                }
                Method::HEAD => app.registry().touch(id, context, now).map(|_| StatusCode::OK),
                Method::DELETE => app.registry().cancel(id, context, now).map(|_| StatusCode::NO_CONTENT),
                _ => return respond::plain_status(StatusCode::METHOD_NOT_ALLOWED),
            };
            match result {
                Ok(status) => respond::empty(status),
                Err(e) => refusal(e, *m == Method::HEAD),
            }
        }
        (Target::PartialCancel { id, slug, token }, &Method::DELETE) => {
            if !app.slugs.is_valid(id, Context::Executing, token, slug) {
                return refusal(Refusal::QueryNotFound, false);
            }
            match app.registry().touch(id, Context::Executing, now) {
                Ok(()) => respond::empty(StatusCode::NO_CONTENT),
                Err(e) => refusal(e, false),
            }
        }
        _ => respond::plain_status(StatusCode::METHOD_NOT_ALLOWED),
    }
}

fn post(app: &App, headers: &HeaderMap, body: &Bytes, base: &Base, gzip_ok: bool) -> Response<Payload> {
    let user = match auth::user(headers) {
        Ok(user) => user,
        Err(message) => return respond::unauthorized(message),
    };
    let sql = String::from_utf8_lossy(body);
    if sql.is_empty() {
        return respond::error_page(StatusCode::BAD_REQUEST, "SQL statement is empty");
    }
    let plan = app.registry().register(&sql, &user, Instant::now());
    if let Some(encoding) = spooling_encoding(app, headers) {
        app.spool.set_encoding(&plan.id, encoding);
    }
    respond::json(StatusCode::OK, render_plan(app, base, &plan), gzip_ok)
}

/// With `--spooling`, the encoding Trino would pick from the client's list on the POST.
fn spooling_encoding(app: &App, headers: &HeaderMap) -> Option<Encoding> {
    if !app.config.spooling {
        return None;
    }
    Encoding::choose(headers.get(spooling::ENCODING_HEADER)?.to_str().ok()?)
}

fn context_not_found(context: Context) -> Refusal {
    match context {
        Context::Queued => Refusal::QueuedNotFound,
        Context::Executing => Refusal::QueryNotFound,
    }
}

/// The exact error answers of Trino's statement resources.
fn refusal(refusal: Refusal, head: bool) -> Response<Payload> {
    let resp = match refusal {
        // ExecutingStatementResource.queryNotFound(): entity "Query not found".
        Refusal::QueryNotFound => respond::text(StatusCode::NOT_FOUND, "Query not found"),
        // QueuedStatementResource: NotFoundException("Query not found").
        Refusal::QueuedNotFound => respond::error_page(StatusCode::NOT_FOUND, "Query not found"),
        Refusal::NotFound => respond::plain_status(StatusCode::NOT_FOUND),
        Refusal::Gone => respond::plain_status(StatusCode::GONE),
        // QueuedStatementResource: GoneException("Invalid token").
        Refusal::InvalidToken => respond::error_page(StatusCode::GONE, "Invalid token"),
    };
    if head {
        respond::empty(resp.status())
    } else {
        resp
    }
}

pub fn statement_uri(base: &Base, app: &App, id: &str, context: Context, token: u64) -> String {
    let (segment, slug) = match context {
        Context::Queued => ("queued", app.slugs.make(id, context, token)),
        Context::Executing => ("executing", app.slugs.make(id, context, token)),
    };
    base.uri(&format!("/v1/statement/{segment}/{id}/{slug}/{token}"))
}

/// The page a plan describes, with every URI built on `base`.
pub fn page_of<'p>(app: &App, base: &Base, plan: &'p Plan) -> Page<'p> {
    let id = plan.id.as_str();
    Page {
        id,
        // The 476 form; 483 switched to /ui#/queries/{id}.
        info_uri: base.uri(&format!("/ui/query.html?{id}")),
        partial_cancel_uri: plan.partial_cancel.map(|token| {
            let slug = app.slugs.make(id, Context::Executing, token);
            base.uri(&format!("/v1/statement/executing/partialCancel/{id}/0/{slug}/{token}"))
        }),
        next_uri: plan.next.map(|(context, token)| statement_uri(base, app, id, context, token)),
        columns: plan.columns,
        data: plan.data,
        stats: plan.stats,
        error: plan.error.clone(),
    }
}

pub fn render_plan(app: &App, base: &Base, plan: &Plan) -> String {
    let id = plan.id.as_str();
    let page = page_of(app, base, plan);
    match plan.data.and_then(|_| app.spool.encoding_of(id)) {
        // Inline segments are base64: a third larger than the rows they hold.
        Some(encoding) => pages::render_with(
            &page,
            4096 + app.config.page_rows as usize * (app.config.row_bytes + 64) * 4 / 3,
            |out, start, end| {
                let rows = spooling::PageRows { query_id: id, sql_hash: plan.sql_hash, range: (start, end) };
                spooling::write_data(out, app, base, encoding, rows)
            },
        ),
        None => pages::render(&page, plan.sql_hash, app.config.row_bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_statement_paths() {
        assert_eq!(parse_target("/v1/statement"), Some(Target::Post));
        assert_eq!(
            parse_target("/v1/statement/queued/q/yab/1"),
            Some(Target::Poll { context: Context::Queued, id: "q", slug: "yab", token: 1 })
        );
        assert_eq!(
            parse_target("/v1/statement/executing/q/yab/0"),
            Some(Target::Poll { context: Context::Executing, id: "q", slug: "yab", token: 0 })
        );
        assert_eq!(
            parse_target("/v1/statement/executing/partialCancel/q/0/yab/3"),
            Some(Target::PartialCancel { id: "q", slug: "yab", token: 3 })
        );
        assert_eq!(parse_target("/v1/statement/executing/q/yab/x"), None);
        assert_eq!(parse_target("/v1/statement/executing/q/yab/-1"), None);
        assert_eq!(parse_target("/v1/statement/queued/q/yab"), None);
        assert_eq!(parse_target("/v1/statementx"), None);
        assert_eq!(parse_target("/v1/info"), None);
    }
}
