//! A request as routing reads it, classified once when its headers arrive: the pin token
//! its path may carry, the path the coordinator knows, and which Trino endpoint it is.

use crate::config::Config;
use crate::pin;
use crate::protocol::{classify, is_normal, is_statement_page, Endpoint, FollowUp, QueryId};
use crate::request::RequestHead;

#[derive(Debug, Clone)]
pub struct Incoming {
    pub head: RequestHead,
    /// The token of a `/<marker>/<token>/...` path.
    pub(super) token: Option<String>,
    /// The path without the pin prefix (the whole path when there is none).
    pub(super) path: String,
    pub(super) endpoint: Endpoint,
    /// Its answer is a statement page: the POST of a new query, or a nextUri GET.
    pub(super) statement_page: bool,
}

impl Incoming {
    pub fn read(config: &Config, head: RequestHead) -> Incoming {
        let (token, path) = match pin::split_prefix(&config.path_marker, &head.path) {
            Some((token, rest)) => (Some(token.to_string()), rest.to_string()),
            None => (None, head.path.clone()),
        };
        // The whole path must be normal, the pin prefix included: `/<marker>/../v1/...`
        // would otherwise hide a path from the split.
        let whole = head.path.split('?').next().unwrap_or_default();
        let endpoint = if is_normal(whole) { classify(&head.method, &path) } else { Endpoint::NotNormal };
        let statement_page = is_statement_page(&head.method, &endpoint);
        Incoming { head, token, path, endpoint, statement_page }
    }

    /// The token, when this request may use it: a pin routes only the follow-up endpoints
    /// of the client protocol. Elsewhere the token is ignored and the request is routed
    /// as if it had none.
    pub(super) fn usable_token(&self) -> Option<&str> {
        match self.endpoint {
            Endpoint::QueryFollowUp(..) | Endpoint::SpooledSegment | Endpoint::UiEntry | Endpoint::AuthFlow => {
                self.token.as_deref()
            }
            _ => None,
        }
    }

    /// Whether the body must be read before deciding: a new query, and some rule (or
    /// kill_query routing) looks at the SQL.
    pub fn needs_body(&self, config: &Config) -> bool {
        config.reads_sql && self.endpoint == Endpoint::SubmitStatement
    }

    /// A new query (`POST /v1/statement`).
    pub fn is_new_query(&self) -> bool {
        self.endpoint == Endpoint::SubmitStatement
    }

    /// The body length the client declared (Content-Length), when it is a plain number.
    pub fn declared_body_length(&self) -> Option<usize> {
        std::str::from_utf8(self.head.headers.get("content-length")?).ok()?.trim().parse().ok()
    }

    /// An OAuth2 token poll (`GET /oauth2/token/{authId}`): its answer may name the next poll.
    pub(super) fn is_token_poll(&self) -> bool {
        self.endpoint == Endpoint::AuthFlow
            && self.head.method == "GET"
            && self.path.starts_with("/oauth2/token/")
            && !self.path.starts_with("/oauth2/token/initiate/")
    }

    /// The path to send upstream when a pin prefix was stripped from it.
    pub(super) fn stripped_path(&self) -> Option<String> {
        self.token.as_ref().map(|_| self.path.clone())
    }

    /// A nextUri GET: the query it polls.
    pub(super) fn polled_query(&self) -> Option<QueryId> {
        match &self.endpoint {
            Endpoint::QueryFollowUp(id, FollowUp::NextUri) if self.statement_page => Some(id.clone()),
            _ => None,
        }
    }
}
