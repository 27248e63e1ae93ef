//! The client protocol endpoints: `/v1/statement` and the nextUri family.
//!
//! Each handler validates the slug for its context (queued / executing) and
//! token, asks the registry for a [`Plan`] under the lock, and renders it after
//! the lock is released, with URIs built from this request's base.
//!
//! HEAD differs by resource, as in Trino 476: the queued resource has none of its
//! own, so Jersey runs the GET (which submits and advances the query) and drops the
//! body; the executing resource has a heartbeat that only checks the query exists.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::HeaderMap;
use hyper::{Method, Response, StatusCode};

use crate::app::App;
use crate::auth;
use crate::pages::{self, Page};
use crate::plan::{Plan, TransactionHeader};
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
    /// A statement path whose token or stage is not a number: Jersey answers 404
    /// without a body.
    Malformed,
}

/// The `Allow` header of each statement resource's 405 (Jersey's lists).
const ALLOW_POST: &str = "HEAD,POST,OPTIONS";
const ALLOW_QUEUED: &str = "DELETE,GET,OPTIONS";
const ALLOW_EXECUTING: &str = "HEAD,DELETE,GET,OPTIONS";
const ALLOW_PARTIAL_CANCEL: &str = "DELETE,OPTIONS";

/// `None` when the path is not a statement path.
pub fn parse_target(path: &str) -> Option<Target<'_>> {
    let rest = path.strip_prefix("/v1/statement")?;
    if rest.is_empty() || rest == "/" {
        return Some(Target::Post);
    }
    let parts: Vec<&str> = rest.strip_prefix('/')?.split('/').collect();
    let target = match parts.as_slice() {
        ["queued", id, slug, token] => {
            token.parse().ok().map(|token| Target::Poll { context: Context::Queued, id, slug, token })
        }
        ["executing", "partialCancel", id, stage, slug, token] => match (stage.parse::<u32>(), token.parse()) {
            (Ok(_), Ok(token)) => Some(Target::PartialCancel { id, slug, token }),
            _ => None,
        },
        ["executing", id, slug, token] => {
            token.parse().ok().map(|token| Target::Poll { context: Context::Executing, id, slug, token })
        }
        _ => return None,
    };
    Some(target.unwrap_or(Target::Malformed))
}

/// Answers a statement request; a HEAD's body is dropped by the caller (http.rs).
/// `gzip_ok` is false for HEAD, whose Content-Length is the plain entity's.
pub async fn handle(
    app: &App,
    method: &Method,
    target: Target<'_>,
    headers: &HeaderMap,
    body: &Bytes,
    base: &Base,
    gzip_ok: bool,
) -> Response<Payload> {
    if app.config.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(app.config.latency_ms)).await;
    }
    let now = Instant::now();
    match (target, method) {
        (Target::Malformed, _) => respond::empty_not_found(),
        (Target::Post, &Method::POST) => post(app, headers, body, base, gzip_ok),
        // Jersey's HEAD on a POST-only resource: 200, an empty JSON entity.
        (Target::Post, &Method::HEAD) => respond::heartbeat(),
        (Target::Post, _) => respond::method_not_allowed(ALLOW_POST),
        (Target::Poll { context, id, slug, token }, m) => {
            let allow = match context {
                Context::Queued => ALLOW_QUEUED,
                Context::Executing => ALLOW_EXECUTING,
            };
            let reads = *m == Method::GET || (*m == Method::HEAD && context == Context::Queued);
            if !reads && *m != Method::HEAD && *m != Method::DELETE {
                return respond::method_not_allowed(allow);
            }
            if !app.slugs.is_valid(id, context, token, slug) {
                return refusal(Refusal::QueryNotFound);
            }
            if reads {
                let plan = match context {
                    Context::Queued => app.registry().queued_get(id, token, now),
                    Context::Executing => app.registry().executing_get(id, token, now),
                };
                return match plan {
                    Ok(plan) => {
                        if plan.sleep_ms > 0 {
                            tokio::time::sleep(Duration::from_millis(plan.sleep_ms)).await;
                        }
                        let page = respond::json(StatusCode::OK, render_plan(app, base, &plan), gzip_ok);
                        with_transaction_header(page, &plan)
                    }
                    Err(e) => refusal(e),
                };
            }
            let result = match *m {
                Method::HEAD => app.registry().heartbeat(id, now).map(|_| respond::heartbeat()),
                _ => app.registry().cancel(id, context, now).map(|_| respond::empty(StatusCode::NO_CONTENT)),
            };
            result.unwrap_or_else(refusal)
        }
        (Target::PartialCancel { id, slug, token }, &Method::DELETE) => {
            if !app.slugs.is_valid(id, Context::Executing, token, slug) {
                return refusal(Refusal::QueryNotFound);
            }
            match app.registry().touch(id, Context::Executing, now) {
                Ok(()) => respond::empty(StatusCode::NO_CONTENT),
                Err(e) => refusal(e),
            }
        }
        (Target::PartialCancel { .. }, _) => respond::method_not_allowed(ALLOW_PARTIAL_CANCEL),
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
    let transaction = match transaction_id(headers) {
        Ok(t) => t,
        Err(value) => {
            return respond::error_page(StatusCode::BAD_REQUEST, &format!("Invalid transaction ID: {value}"));
        }
    };
    let plan = app.registry().register_in(&sql, &user, transaction.as_deref(), Instant::now());
    if let Some(encoding) = spooling_encoding(app, headers) {
        app.spool.set_encoding(&plan.id, encoding);
    }
    respond::json(StatusCode::OK, render_plan(app, base, &plan), gzip_ok)
}

/// `X-Trino-Transaction-Id` as Trino reads it: absent, empty or `NONE` is no transaction;
/// anything but a UUID is refused with 400 before the query exists.
fn transaction_id(headers: &HeaderMap) -> Result<Option<String>, String> {
    let Some(value) = headers.get("x-trino-transaction-id") else { return Ok(None) };
    let value = String::from_utf8_lossy(value.as_bytes()).trim().to_string();
    if value.is_empty() || value.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let uuid = value.len() == 36
        && value
            .char_indices()
            .all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() });
    if uuid {
        Ok(Some(value.to_ascii_lowercase()))
    } else {
        Err(value)
    }
}

/// The transaction header of a page, when it ends a transaction statement.
fn with_transaction_header(mut resp: Response<Payload>, plan: &Plan) -> Response<Payload> {
    let (name, value) = match &plan.transaction {
        Some(TransactionHeader::Started(id)) => ("x-trino-started-transaction-id", id.as_str()),
        Some(TransactionHeader::Cleared) => ("x-trino-clear-transaction-id", "true"),
        None => return resp,
    };
    if let Ok(value) = hyper::header::HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, value);
    }
    resp
}

/// With `--spooling`, the encoding Trino would pick from the client's list on the POST.
fn spooling_encoding(app: &App, headers: &HeaderMap) -> Option<Encoding> {
    if !app.config.spooling {
        return None;
    }
    Encoding::choose(headers.get(spooling::ENCODING_HEADER)?.to_str().ok()?)
}

/// The exact error answers of Trino 476's statement resources (a HEAD gets the
/// same status and headers; http.rs drops the body).
fn refusal(refusal: Refusal) -> Response<Payload> {
    match refusal {
        // Both resources: the error page of a "Query not found" exception.
        Refusal::QueryNotFound => respond::error_page(StatusCode::NOT_FOUND, "Query not found"),
        Refusal::NotFound => respond::plain_status(StatusCode::NOT_FOUND),
        Refusal::Gone => respond::plain_status(StatusCode::GONE),
        // QueuedStatementResource: GoneException("Invalid token").
        Refusal::InvalidToken => respond::error_page(StatusCode::GONE, "Invalid token"),
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
        // The 476 form in both modes: 483's /ui#/queries/{id} keeps the id in the
        // fragment, which never reaches a server, so a router could not be tested on it.
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
        assert_eq!(parse_target("/v1/statement/executing/q/yab/x"), Some(Target::Malformed));
        assert_eq!(parse_target("/v1/statement/executing/q/yab/-1"), Some(Target::Malformed));
        assert_eq!(parse_target("/v1/statement/executing/partialCancel/q/s/yab/1"), Some(Target::Malformed));
        assert_eq!(parse_target("/v1/statement/queued/q/yab"), None);
        assert_eq!(parse_target("/v1/statementx"), None);
        assert_eq!(parse_target("/v1/info"), None);
    }
}
