//! A stand-in Trino coordinator behind an Envoy cluster: statement pages in Trino's field
//! order (URIs under the X-Forwarded-Prefix it is sent), `/v1/info`, `/metrics`, and the
//! answers Envoy gives instead when the coordinator is gone or its health checks fail.

use super::{Response, Upstream, AUTHORITY};

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
    /// A passing trouble (frozen coordinator, full circuit breaker, reset connection):
    /// polls time out, live traffic gets Envoy's 503 with these `response.code_details`.
    EnvoyAnswers(&'static str),
    /// The coordinator answers every statement request with this status; polls are fine.
    Status(u16),
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
    /// Every query lookup gets this status (401: the lookup user is refused).
    pub lookup_status: Option<u16>,
    /// Trino with OAuth2 external authentication (as 476 answers behind a forwarded prefix).
    pub oauth2: bool,
    /// OAuth2 flows this coordinator started: (auth id, finished by the callback).
    pub auth_flows: Vec<(String, bool)>,
    /// Which page of `START TRANSACTION` carries X-Trino-Started-Transaction-Id: 1 is the
    /// POST's, 3 the last nextUri GET's (as JDBC sees it).
    pub transaction_page: u32,
    /// Transactions this coordinator started and has not ended.
    pub transactions: Vec<String>,
    /// Spaces before a page's JSON, to put its URIs at any offset of a chunk.
    pub leading_spaces: usize,
    /// Bytes of one more row on every page: a large page.
    pub row_bytes: usize,
    /// Queries that start (Some(true)) or end (Some(false)) a transaction, by query id.
    transaction_effects: Vec<(String, String, bool)>,
    queries: u32,
}

impl Coordinator {
    pub(super) fn new(id: &str, stock: bool) -> Coordinator {
        Coordinator {
            id: id.to_string(),
            health: Health::Up,
            stock,
            load: (0, 0),
            reports_id: false,
            gzip: false,
            lookup_status: None,
            oauth2: false,
            auth_flows: Vec::new(),
            transaction_page: 3,
            transactions: Vec::new(),
            leading_spaces: 0,
            row_bytes: 0,
            transaction_effects: Vec::new(),
            queries: 0,
        }
    }

    /// The answer to a poll; None for a timeout.
    pub(super) fn poll(&self, path: &str) -> Option<(u16, Vec<u8>)> {
        let c = self;
        let starting = match c.health {
            Health::Up | Health::Status(_) => false,
            Health::Starting => true,
            // A timeout arrives as an answer without headers.
            Health::Refused | Health::Gone | Health::EnvoyAnswers(_) => return None,
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

    /// The status of a query lookup's HEAD, as Trino answers it; None for a timeout.
    pub(super) fn probe(&self, call: &super::Call) -> Option<u16> {
        if matches!(self.health, Health::Refused | Health::Gone | Health::EnvoyAnswers(_)) {
            return None;
        }
        if let Some(status) = self.lookup_status {
            return Some(status);
        }
        let path = call.path.split('?').next().unwrap_or_default();
        let segments: Vec<&str> = path.split('/').collect();
        let has_user = call.headers.iter().any(|(n, _)| n == "x-trino-user");
        Some(match (call.method.as_str(), segments.as_slice()) {
            ("HEAD", ["", "v1", "query", _]) if !has_user => 401,
            ("HEAD", ["", "v1", "query", id]) if id.ends_with(&self.id) => 200,
            ("HEAD", ["", "v1", "query", _]) => 410,
            ("HEAD", ["", "v1", "statement", "queued" | "executing", id, _, _]) if id.ends_with(&self.id) => 200,
            _ => 404,
        })
    }

    /// What Envoy and this coordinator make of a request sent to its Envoy cluster.
    pub(super) fn answer(&mut self, up: &Upstream) -> Response {
        let c = self;
        match c.health {
            Health::Refused => return Response::by_envoy("no_healthy_upstream", "no healthy upstream"),
            Health::Gone => {
                let details = "upstream_reset_before_response_started{remote_connection_failure}";
                return Response::by_envoy(details, "upstream connect error");
            }
            Health::EnvoyAnswers(details) => return Response::by_envoy(details, "upstream trouble"),
            Health::Status(status) => return Response::new(status, "text/plain", format!("Error {status}")),
            _ => {}
        }
        let forwarded = up.headers.get_all("x-forwarded-proto").chain(up.headers.get_all("x-forwarded-prefix")).next();
        if c.stock && forwarded.is_some() {
            return Response::new(406, "text/plain", "Error 406 Not Acceptable");
        }
        let prefix = if c.stock { "" } else { up.headers.get_str("x-forwarded-prefix").unwrap_or("") };
        let method = up.headers.get_str(":method").unwrap_or_default();
        if c.oauth2 {
            if let Some(response) = c.oauth2_step(method, up, prefix) {
                return response;
            }
        }
        let segments: Vec<&str> = up.path.split('?').next().unwrap_or("").split('/').collect();
        let (id, n) = match (method, segments.as_slice()) {
            ("POST", ["", "v1", "statement"]) => {
                c.queries += 1;
                let id = format!("20261120_101500_{:05}_{}", c.queries, c.id);
                if let Some(refusal) = c.transaction_statement(&id, up) {
                    return refusal;
                }
                (id, 1)
            }
            ("GET", ["", "v1", "statement", "executing", id, _, n]) => (id.to_string(), n.parse::<u32>().unwrap() + 1),
            ("GET", ["", "v1", "query", id]) if id.ends_with(&c.id) => {
                let body = serde_json::json!({"queryId": id, "coordinator": c.id}).to_string();
                return Response::new(200, "application/json", body);
            }
            ("GET", ["", "v1", "info"]) => return Response::new(200, "application/json", r#"{"starting":false}"#),
            // Its Web UI: any page, named by the coordinator that served it.
            (_, ["", "ui", ..]) => return Response::new(200, "text/html", format!("<html>Web UI of {}</html>", c.id)),
            _ => return Response::new(404, "text/plain", "Error 404 Not Found"),
        };
        if !id.ends_with(&c.id) {
            return Response::new(410, "text/plain", "Error 410 Gone: unknown query");
        }
        let body = format!("{}{}", " ".repeat(c.leading_spaces), page(&id, n, prefix, c.row_bytes));
        let mut response = Response::new(200, "application/json", body.clone());
        response.headers.push(("content-length".into(), body.len().to_string().into_bytes()));
        if n == c.transaction_page {
            for (query, tx, starts) in &c.transaction_effects {
                if *query == id && *starts {
                    response.headers.push(("x-trino-started-transaction-id".into(), tx.clone().into_bytes()));
                } else if *query == id {
                    response.headers.push(("x-trino-clear-transaction-id".into(), b"true".to_vec()));
                }
            }
        }
        if c.gzip {
            response.headers.push(("content-encoding".into(), b"gzip".to_vec()));
        }
        response
    }
}

impl Coordinator {
    /// Trino 476's OAuth2 external authentication behind a forwarded prefix: the challenge
    /// and the token poll's nextUri without the prefix, the callback URI with it, the nonce
    /// cookie for the unprefixed callback path. None: not an OAuth2 step, go on.
    fn oauth2_step(&mut self, method: &str, up: &Upstream, prefix: &str) -> Option<Response> {
        let base = format!("http://{AUTHORITY}");
        let (path, query) = up.path.split_once('?').unwrap_or((&up.path, ""));
        let bearer = up.headers.get_str("authorization").and_then(|a| a.strip_prefix("Bearer "));
        match (method, path) {
            // The identity provider's tokens are good on every coordinator that trusts it.
            ("POST", "/v1/statement") if !bearer.is_some_and(|b| b.starts_with("token-")) => {
                let auth_id = format!("{}-{}", self.id, self.auth_flows.len());
                self.auth_flows.push((auth_id.clone(), false));
                let challenge = format!(
                    r#"Bearer x_redirect_server="{base}/oauth2/token/initiate/hash-{auth_id}", x_token_server="{base}/oauth2/token/{auth_id}""#
                );
                let mut r = Response::new(401, "text/plain", "Unauthorized");
                r.headers.push(("www-authenticate".into(), challenge.into_bytes()));
                r.headers.push(("www-authenticate".into(), br#"Basic realm="Trino""#.to_vec()));
                Some(r)
            }
            ("GET", p) if p.starts_with("/oauth2/token/initiate/hash-") => {
                let auth_id = &p["/oauth2/token/initiate/hash-".len()..];
                self.auth_flows.iter().find(|(id, _)| id == auth_id)?;
                let callback = format!("{base}{prefix}/oauth2/callback");
                let mut r = Response::new(303, "text/plain", "");
                let idp = format!("http://idp.test/authorize?redirect_uri={callback}&state=state-{auth_id}");
                r.headers.push(("location".into(), idp.into_bytes()));
                r.headers.push(("set-cookie".into(), b"other=1;Path=/ui".to_vec()));
                let nonce = format!("Trino-Nonce=nonce-{auth_id};Version=1;Path=/oauth2/callback;HttpOnly");
                r.headers.push(("set-cookie".into(), nonce.into_bytes()));
                Some(r)
            }
            ("GET", "/oauth2/callback") => {
                let auth_id = query.split('&').find_map(|kv| kv.strip_prefix("state=state-"))?.to_string();
                let cookie = format!("Trino-Nonce=nonce-{auth_id}");
                if up.headers.get_str("cookie") != Some(cookie.as_str()) {
                    return Some(Response::new(400, "text/html", "Authentication response could not be verified"));
                }
                let flow = self.auth_flows.iter_mut().find(|(id, _)| *id == auth_id)?;
                flow.1 = true;
                Some(Response::new(200, "text/html", "authenticated"))
            }
            ("GET", p) if p.starts_with("/oauth2/token/") => {
                let auth_id = &p["/oauth2/token/".len()..];
                let body = match self.auth_flows.iter().find(|(id, _)| id == auth_id) {
                    None => return Some(Response::new(404, "text/plain", "")),
                    Some((_, true)) => format!(r#"{{"token":"token-{}"}}"#, self.id),
                    Some((_, false)) => format!(r#"{{"nextUri":"{base}/oauth2/token/{auth_id}"}}"#),
                };
                Some(Response::new(200, "application/json", body))
            }
            _ => None,
        }
    }

    /// What Trino does with a statement's transaction: START TRANSACTION issues an id (named on
    /// page `transaction_page`), COMMIT and ROLLBACK end the one they name, and a statement
    /// naming an id this coordinator did not issue fails as Trino fails it (an id that is not
    /// a UUID-like token at all: 400).
    fn transaction_statement(&mut self, query: &str, up: &Upstream) -> Option<Response> {
        let sql = String::from_utf8_lossy(&up.body).to_ascii_uppercase();
        let named =
            up.headers.get_str("x-trino-transaction-id").map(str::trim).filter(|t| !t.eq_ignore_ascii_case("none"));
        if let Some(tx) = named {
            if !tx.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-') {
                return Some(Response::new(
                    400,
                    "text/plain",
                    format!("Error 400 Bad Request: Invalid transaction ID: {tx}"),
                ));
            }
            if !self.transactions.iter().any(|t| t == tx) {
                let page = serde_json::json!({"id": query, "stats": {"state": "FAILED"},
                    "error": {"errorName": "UNKNOWN_TRANSACTION", "message": format!("Unknown transaction ID: {tx}")}});
                return Some(Response::new(200, "application/json", page.to_string()));
            }
            if sql.starts_with("COMMIT") || sql.starts_with("ROLLBACK") {
                self.transactions.retain(|t| t != tx);
                self.transaction_effects.push((query.to_string(), tx.to_string(), false));
            }
        } else if sql.starts_with("START TRANSACTION") {
            let tx = format!("{}-0000-4000-8000-{:012}", self.id, self.queries);
            self.transactions.push(tx.clone());
            self.transaction_effects.push((query.to_string(), tx, true));
        }
        None
    }
}

/// Page `n` of a query, as a coordinator behind `prefix` (its X-Forwarded-Prefix) writes it.
fn page(id: &str, n: u32, prefix: &str, row_bytes: usize) -> String {
    let base = format!("http://{AUTHORITY}{prefix}");
    let mut page = serde_json::json!({
        "id": id,
        "infoUri": format!("{base}/ui/query.html?{id}"),
        "columns": [{"name": "text", "type": "varchar"}],
        // A row that looks like a URI: it must never be touched.
        "data": [[format!("\"nextUri\":\"http://{AUTHORITY}/v1/statement/executing/{id}/row/1\"")]],
        "stats": {"state": if n < 3 { "RUNNING" } else { "FINISHED" }}
    });
    if row_bytes > 0 {
        page["data"].as_array_mut().unwrap().push(serde_json::json!(["x".repeat(row_bytes)]));
    }
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
