//! The Trino client protocol as the router sees it: which endpoint a path is, the query id
//! it carries, and the few response fields the router learns from (query id, /v1/info).

use serde::Deserialize;

/// A Trino query id, `YYYYMMdd_HHmmss_NNNNN_ccccc`; the last part names the coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryId(String);

/// The 5-character id a coordinator picks at start; it ends every query id it issues.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CoordinatorId(String);

const COORDINATOR_ID_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";

impl QueryId {
    /// Accepts exactly Trino's shape, so arbitrary path segments never become ids.
    pub fn parse(s: &str) -> Option<QueryId> {
        let parts: Vec<&str> = s.split('_').collect();
        let [date, time, counter, coordinator] = parts.as_slice() else {
            return None;
        };
        let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
        (digits(date, 8) && digits(time, 6) && digits(counter, 5) && CoordinatorId::parse(coordinator).is_some())
            .then(|| QueryId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn coordinator(&self) -> Option<CoordinatorId> {
        CoordinatorId::parse(self.0.rsplit('_').next()?)
    }
}

impl CoordinatorId {
    pub fn parse(s: &str) -> Option<CoordinatorId> {
        (s.len() == 5 && s.bytes().all(|b| COORDINATOR_ID_ALPHABET.contains(&b))).then(|| CoordinatorId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a request is, in Trino's terms. Only the exact method and path shape of each client
/// endpoint counts: anything else is `Unknown`, so no path or method can borrow the routing
/// of an endpoint it is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/statement`: a new query.
    SubmitStatement,
    /// A request about one existing query: see `FollowUp`.
    QueryFollowUp(QueryId, FollowUp),
    /// `GET|HEAD /v1/spooled/{download|ack}/{segment}`: the URI carries no query id, only a
    /// pin can route it.
    SpooledSegment,
    /// `GET|HEAD /ui/`: the Web UI's entry page, where Trino 483's infoUri
    /// (`/ui/#/queries/{id}`: the id stays in the browser) lands. Only a token routes it.
    UiEntry,
    /// `GET|HEAD /v1/info`, `/v1/info/state`, `/v1/status`: about a server, not a query.
    ServerInfo,
    /// A step of Trino's OAuth2 external authentication, whose state lives on the coordinator
    /// that started it: `GET /oauth2/token/initiate/{hash}` (the login URL a client opens),
    /// `GET|DELETE /oauth2/token/{authId}` (token polling), `GET /oauth2/callback` (the
    /// identity provider sends the browser back). Only a token routes them.
    AuthFlow,
    /// A path not in normal form: an empty, `.` or `..` segment, a backslash, or an escaped
    /// `.`, `/` or `\`. Coordinators could resolve it to a different endpoint than it looks
    /// like, so it is refused, whatever normalisation Envoy was configured with.
    NotNormal,
    /// Anything else, including a follow-up path whose query id is malformed.
    Unknown,
}

/// The follow-up endpoints of the client protocol, each with the methods Trino serves on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUp {
    /// `GET|HEAD|DELETE /v1/statement/{queued|executing}/{id}/{slug}/{token}`.
    NextUri,
    /// `DELETE /v1/statement/executing/partialCancel/{id}/{stage}/{slug}/{token}`.
    PartialCancel,
    /// `GET|HEAD|DELETE /v1/query/{id}`.
    QueryInfo,
    /// `GET|HEAD /ui/query.html?{id}`: the infoUri page.
    InfoPage,
}

/// Classifies a request by method and path (query string included). One trailing slash is
/// ignored, as Trino's JAX-RS resources ignore it; methods and path segments match exactly.
pub fn classify(method: &str, path_and_query: &str) -> Endpoint {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    if !is_normal(path) {
        return Endpoint::NotNormal;
    }
    let Some(path) = path.strip_prefix('/') else { return Endpoint::Unknown };
    let path = path.strip_suffix('/').unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    let read = matches!(method, "GET" | "HEAD");
    let read_or_delete = read || method == "DELETE";
    match segments.as_slice() {
        ["v1", "statement"] if method == "POST" => Endpoint::SubmitStatement,
        ["v1", "statement", "queued" | "executing", id, _slug, _token] if read_or_delete => {
            follow_up(id, FollowUp::NextUri)
        }
        ["v1", "statement", "executing", "partialCancel", id, _stage, _slug, _token] if method == "DELETE" => {
            follow_up(id, FollowUp::PartialCancel)
        }
        ["v1", "query", id] if read_or_delete => follow_up(id, FollowUp::QueryInfo),
        ["ui", "query.html"] if read => match query {
            Some(q) => follow_up(q.split('&').next().unwrap_or(q), FollowUp::InfoPage),
            None => Endpoint::Unknown,
        },
        ["v1", "spooled", "download" | "ack", _segment] if read => Endpoint::SpooledSegment,
        ["oauth2", "token", "initiate", _hash] if method == "GET" => Endpoint::AuthFlow,
        ["oauth2", "token", _auth_id] if method == "GET" || method == "DELETE" => Endpoint::AuthFlow,
        ["oauth2", "callback"] if method == "GET" => Endpoint::AuthFlow,
        ["ui"] if read => Endpoint::UiEntry,
        ["v1", "info"] | ["v1", "info", "state"] | ["v1", "status"] if read => Endpoint::ServerInfo,
        _ => Endpoint::Unknown,
    }
}

fn follow_up(id: &str, kind: FollowUp) -> Endpoint {
    QueryId::parse(id).map_or(Endpoint::Unknown, |id| Endpoint::QueryFollowUp(id, kind))
}

/// Whether a path (without its query string) is in normal form: it starts with `/`, has no
/// empty segment but for one trailing slash, no `.` or `..` segment, no backslash, and no
/// escaped `.`, `/` or `\` (which a server may decode into one of the former).
pub fn is_normal(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else { return false };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if path == "/" {
        return true;
    }
    let bytes = path.as_bytes();
    let escaped = bytes.windows(3).any(
        |w| matches!(w, [b'%', a, b] if matches!((a, b.to_ascii_lowercase()), (b'2', b'e' | b'f') | (b'5', b'c'))),
    );
    !escaped && !path.contains('\\') && rest.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
}

/// Whether the answer is a statement page (JSON with nextUri and friends): the POST of a
/// new query, or a GET of a queued or executing nextUri.
pub fn is_statement_page(method: &str, endpoint: &Endpoint) -> bool {
    match endpoint {
        Endpoint::SubmitStatement => true,
        Endpoint::QueryFollowUp(_, FollowUp::NextUri) => method == "GET",
        _ => false,
    }
}

/// Reads the query id from the start of a statement response page. Trino writes `id` as
/// the first field, so the first few hundred bytes suffice and the page is never parsed.
pub fn query_id_in_page(prefix: &[u8]) -> Option<QueryId> {
    const KEY: &[u8] = b"\"id\":\"";
    let start = prefix.windows(KEY.len()).take(64).position(|w| w == KEY)?.checked_add(KEY.len())?;
    let rest = prefix.get(start..)?;
    let end = rest.iter().take(64).position(|b| *b == b'"')?;
    QueryId::parse(std::str::from_utf8(rest.get(..end)?).ok()?)
}

/// What a coordinator says about itself on `/v1/info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub starting: bool,
    /// Only Trino 483+ reports it.
    pub coordinator_id: Option<CoordinatorId>,
    /// The node state (`ACTIVE`, `SHUTTING_DOWN`, `DRAINING`, `DRAINED`, `INACTIVE`), when
    /// reported (Trino 483+); None counts as active.
    pub state: Option<String>,
}

impl ServerInfo {
    /// Whether the coordinator says it takes new queries (absent state: yes).
    pub fn active(&self) -> bool {
        self.state.as_deref().is_none_or(|s| s.eq_ignore_ascii_case("ACTIVE"))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawInfo {
    starting: bool,
    coordinator_id: Option<String>,
    #[serde(default)]
    state: Option<String>,
}

pub fn parse_server_info(body: &[u8]) -> Option<ServerInfo> {
    let raw: RawInfo = serde_json::from_slice(body).ok()?;
    Some(ServerInfo {
        starting: raw.starting,
        coordinator_id: raw.coordinator_id.as_deref().and_then(CoordinatorId::parse),
        state: raw.state,
    })
}

/// A statement page that ends a query with an error, shaped like Trino's own FAILED pages
/// (no nextUri), so clients raise a query error with `message` instead of an HTTP error. The
/// Java clients (JDBC, CLI) refuse a page without `infoUri` as an invalid response, and read
/// every stats field Trino writes.
pub fn failed_page(query_id: &str, info_uri: &str, error_name: &str, message: &str) -> String {
    let page = serde_json::json!({
        "id": query_id,
        "infoUri": info_uri,
        "stats": {
            "state": "FAILED", "queued": false, "scheduled": false, "nodes": 0, "totalSplits": 0,
            "queuedSplits": 0, "runningSplits": 0, "completedSplits": 0, "planningTimeMillis": 0,
            "analysisTimeMillis": 0, "cpuTimeMillis": 0, "wallTimeMillis": 0, "queuedTimeMillis": 0,
            "elapsedTimeMillis": 0, "finishingTimeMillis": 0, "physicalInputTimeMillis": 0, "processedRows": 0,
            "processedBytes": 0, "physicalInputBytes": 0, "physicalWrittenBytes": 0,
            "internalNetworkInputBytes": 0, "peakMemoryBytes": 0, "spilledBytes": 0
        },
        "error": {
            "message": message,
            // Trino's EXTERNAL error codes start at 0x0100_0000; this one is the router's.
            "errorCode": 0x0100_0000 + 0x0100,
            "errorName": error_name,
            "errorType": "EXTERNAL"
        },
        "warnings": []
    });
    page.to_string()
}

/// A QUEUED statement page as Trino writes them, for a query waiting at the router: its
/// nextUri is the router's own, carrying the sealed ticket.
pub fn queued_page(query_id: &str, info_uri: &str, next_uri: &str, waited_ms: u64) -> String {
    let page = serde_json::json!({
        "id": query_id,
        "infoUri": info_uri,
        "nextUri": next_uri,
        "stats": {
            "state": "QUEUED", "queued": true, "scheduled": false, "nodes": 0, "totalSplits": 0,
            "queuedSplits": 0, "runningSplits": 0, "completedSplits": 0, "planningTimeMillis": 0,
            "analysisTimeMillis": 0, "cpuTimeMillis": 0, "wallTimeMillis": 0,
            "queuedTimeMillis": waited_ms, "elapsedTimeMillis": waited_ms, "finishingTimeMillis": 0,
            "physicalInputTimeMillis": 0, "processedRows": 0, "processedBytes": 0, "physicalInputBytes": 0,
            "physicalWrittenBytes": 0, "internalNetworkInputBytes": 0, "peakMemoryBytes": 0, "spilledBytes": 0
        },
        "warnings": []
    });
    page.to_string()
}

/// Queued and running query counts from Trino's `/metrics` (OpenMetrics text).
pub fn parse_metrics_load(text: &[u8]) -> Option<(u64, u64)> {
    let text = std::str::from_utf8(text).ok()?;
    let gauge = |name: &str| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?;
            // Either labels or a space follows the name; a longer name that shares the prefix does not count.
            let rest = if rest.starts_with('{') { rest.get(rest.find('}')?.checked_add(1)?..)? } else { rest };
            let value: f64 = rest.split_whitespace().next()?.parse().ok()?;
            (value.is_finite() && value >= 0.0).then_some(value as u64)
        })
    };
    Some((
        gauge("trino_execution_name_QueryManager_QueuedQueries")?,
        gauge("trino_execution_name_QueryManager_RunningQueries")?,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStats {
    queued_queries: u64,
    running_queries: u64,
}

/// Queued and running query counts from Trino's `/ui/api/stats`.
pub fn parse_ui_stats_load(body: &[u8]) -> Option<(u64, u64)> {
    let raw: RawStats = serde_json::from_slice(body).ok()?;
    Some((raw.queued_queries, raw.running_queries))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "20261006_232425_00141_x3v5n";

    #[test]
    fn query_ids_follow_trino_shape() {
        let id = QueryId::parse(ID).unwrap();
        assert_eq!(id.coordinator().unwrap().as_str(), "x3v5n");
        for bad in [
            "",
            "20261006_232425_00141",
            "20261006_232425_00141_x3v5",
            "20261006_232425_0014a_x3v5n",
            "20261006_232425_00141_x3v5l",
            "20261006_232425_00141_x3v5n_x",
        ] {
            assert!(QueryId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn every_follow_up_uri_names_its_query() {
        let id = QueryId::parse(ID).unwrap();
        let slug = "y620553a27984c040b3b35223339faffa77cef441";
        for (method, path, kind) in [
            ("GET", format!("/v1/statement/queued/{ID}/{slug}/1"), FollowUp::NextUri),
            ("HEAD", format!("/v1/statement/executing/{ID}/{slug}/3"), FollowUp::NextUri),
            ("DELETE", format!("/v1/statement/executing/{ID}/{slug}/3"), FollowUp::NextUri),
            ("GET", format!("/v1/statement/executing/{ID}/{slug}/3/"), FollowUp::NextUri),
            ("DELETE", format!("/v1/statement/executing/partialCancel/{ID}/0/{slug}/2"), FollowUp::PartialCancel),
            ("GET", format!("/v1/query/{ID}"), FollowUp::QueryInfo),
            ("DELETE", format!("/v1/query/{ID}"), FollowUp::QueryInfo),
            ("GET", format!("/ui/query.html?{ID}"), FollowUp::InfoPage),
        ] {
            assert_eq!(classify(method, &path), Endpoint::QueryFollowUp(id.clone(), kind), "{method} {path}");
        }
    }

    #[test]
    fn a_follow_up_shape_with_another_method_or_more_segments_is_unknown() {
        let slug = "y620553a27984c040b3b35223339faffa77cef441";
        for (method, path) in [
            ("POST", format!("/v1/statement/executing/{ID}/{slug}/3")),
            ("PUT", format!("/v1/statement/queued/{ID}/{slug}/1")),
            ("GET", format!("/v1/statement/executing/partialCancel/{ID}/0/{slug}/2")),
            ("GET", format!("/v1/statement/executing/{ID}/{slug}/3/extra")),
            ("GET", format!("/v1/statement/executing/{ID}/{slug}")),
            ("PUT", format!("/v1/query/{ID}/killed")),
            ("GET", format!("/v1/query/{ID}/x")),
            ("POST", format!("/v1/query/{ID}")),
            ("DELETE", format!("/ui/query.html?{ID}")),
            ("GET", format!("/V1/query/{ID}")),
            ("GET", format!("/ui/api/query/{ID}")),
        ] {
            assert_eq!(classify(method, &path), Endpoint::Unknown, "{method} {path}");
        }
    }

    #[test]
    fn other_paths_are_classified_without_guessing() {
        assert_eq!(classify("POST", "/v1/statement"), Endpoint::SubmitStatement);
        assert_eq!(classify("POST", "/v1/statement/"), Endpoint::SubmitStatement, "JAX-RS ignores one trailing slash");
        assert_eq!(classify("POST", "/v1/statement?x=1"), Endpoint::SubmitStatement);
        assert_eq!(classify("GET", "/v1/statement"), Endpoint::Unknown);
        assert_eq!(classify("PUT", "/v1/statement"), Endpoint::Unknown);
        assert_eq!(classify("GET", "/v1/info"), Endpoint::ServerInfo);
        assert_eq!(classify("HEAD", "/v1/status"), Endpoint::ServerInfo);
        assert_eq!(classify("PUT", "/v1/info/state"), Endpoint::Unknown, "shutting a node down is not routed");
        assert_eq!(classify("GET", "/v1/spooled/download/abc"), Endpoint::SpooledSegment);
        assert_eq!(classify("GET", "/v1/spooled/ack/abc"), Endpoint::SpooledSegment);
        for (method, path) in [
            ("GET", "/oauth2/token/initiate/1d84f5e4"),
            ("GET", "/oauth2/token/035e3e96-6853-4809-9857-70d8292f752a"),
            ("DELETE", "/oauth2/token/035e3e96-6853-4809-9857-70d8292f752a"),
            ("GET", "/oauth2/callback?code=c&state=s"),
        ] {
            assert_eq!(classify(method, path), Endpoint::AuthFlow, "{method} {path}");
        }
        assert_eq!(classify("POST", "/oauth2/callback"), Endpoint::Unknown);
        assert_eq!(classify("DELETE", "/oauth2/token/initiate/x"), Endpoint::Unknown);
        assert_eq!(classify("GET", "/ui/"), Endpoint::UiEntry);
        assert_eq!(classify("HEAD", "/ui"), Endpoint::UiEntry);
        assert_eq!(classify("GET", "/ui/api/stats"), Endpoint::Unknown);
        assert_eq!(classify("POST", "/ui/"), Endpoint::Unknown);
        assert_eq!(classify("DELETE", "/v1/spooled/ack/abc"), Endpoint::Unknown);
        assert_eq!(classify("GET", "/v1/spooled/download/abc/def"), Endpoint::Unknown);
        assert_eq!(classify("GET", "/v1/statement/queued/notanid/y/1"), Endpoint::Unknown);
        assert_eq!(classify("GET", "/ui/query.html"), Endpoint::Unknown);
        assert_eq!(classify("GET", "/etc/passwd"), Endpoint::Unknown);
        assert_eq!(classify("GET", "/metrics"), Endpoint::Unknown);
        assert_eq!(classify("GET", ""), Endpoint::NotNormal);
        assert_eq!(classify("OPTIONS", "*"), Endpoint::NotNormal);
    }

    #[test]
    fn paths_not_in_normal_form_are_told_apart() {
        for path in [
            format!("/v1/query/{ID}/../../statement"),
            "/v1/./statement".to_string(),
            "/v1//statement".to_string(),
            "//v1/statement".to_string(),
            "/v1/statement//".to_string(),
            "/v1/%2e%2e/statement".to_string(),
            "/v1/%2E/statement".to_string(),
            "/v1%2fstatement".to_string(),
            "/v1%2Fstatement".to_string(),
            "/v1%5cstatement".to_string(),
            "/v1\\statement".to_string(),
            "/..".to_string(),
        ] {
            assert_eq!(classify("POST", &path), Endpoint::NotNormal, "{path}");
        }
        assert!(is_normal("/"));
        assert!(is_normal("/v1/statement/"));
        assert!(is_normal("/v1/spooled/download/a%20b..c"), "dots inside a segment are fine");
        assert_eq!(
            classify("POST", "/v1/statement?next=/../x"),
            Endpoint::SubmitStatement,
            "the query string is not a path"
        );
    }

    #[test]
    fn statement_pages_are_posts_and_nexturi_gets() {
        let page = |m: &str, p: &str| is_statement_page(m, &classify(m, p));
        assert!(page("POST", "/v1/statement"));
        assert!(page("GET", &format!("/v1/statement/queued/{ID}/y/1")));
        assert!(page("GET", &format!("/v1/statement/executing/{ID}/y/1")));
        assert!(!page("DELETE", &format!("/v1/statement/executing/{ID}/y/1")));
        assert!(!page("HEAD", &format!("/v1/statement/executing/{ID}/y/1")));
        assert!(!page("DELETE", &format!("/v1/statement/executing/partialCancel/{ID}/0/y/1")));
        assert!(!page("GET", &format!("/v1/query/{ID}")));
    }

    #[test]
    fn query_id_is_read_from_the_page_start() {
        let page =
            br#"{"id":"20261006_232425_00141_x3v5n","infoUri":"http://x/ui/query.html?20261006_232425_00141_x3v5n"}"#;
        assert_eq!(query_id_in_page(page).unwrap().as_str(), ID);
        assert!(query_id_in_page(br#"{"id":"20261006_232425_001"#).is_none());
        assert!(query_id_in_page(b"Error 406 Not Acceptable").is_none());
    }

    #[test]
    fn server_info_of_both_versions() {
        let v476 = br#"{"nodeVersion":{"version":"476"},"environment":"docker","coordinator":true,"starting":false,"uptime":"15.61s"}"#;
        let info = parse_server_info(v476).unwrap();
        assert!(!info.starting);
        assert_eq!(info.coordinator_id, None);
        let v483 = br#"{"nodeId":"43866eed0fad","state":"ACTIVE","nodeVersion":{"version":"483"},"environment":"docker","coordinator":true,"coordinatorId":"dup55","starting":true,"uptime":"15.57s"}"#;
        let info = parse_server_info(v483).unwrap();
        assert!(info.starting);
        assert_eq!(info.coordinator_id.unwrap().as_str(), "dup55");
        assert!(parse_server_info(b"not json").is_none());
    }

    #[test]
    fn a_failed_page_reads_like_trinos() {
        let page: serde_json::Value =
            serde_json::from_str(&failed_page(ID, "/ui/query.html?x", "X_GONE", "gone \"now\"")).unwrap();
        assert_eq!(page["id"], ID);
        assert_eq!(page["infoUri"], "/ui/query.html?x");
        assert_eq!(page["stats"]["state"], "FAILED");
        assert_eq!(page["error"]["message"], "gone \"now\"");
        assert!(page.get("nextUri").is_none());
    }

    #[test]
    fn load_figures_from_metrics_and_ui_stats() {
        let metrics = b"# TYPE trino_execution_name_QueryManager_QueuedQueries gauge\n\
trino_execution_name_QueryManager_QueuedQueriesTotal 99.0\n\
trino_execution_name_QueryManager_QueuedQueries 3.0\n\
trino_execution_name_QueryManager_RunningQueries{node=\"x\"} 7.0\n# EOF\n";
        assert_eq!(parse_metrics_load(metrics), Some((3, 7)));
        assert_eq!(parse_metrics_load(b"trino_execution_name_QueryManager_QueuedQueries NaN\n"), None);
        assert_eq!(parse_metrics_load(b"nothing"), None);
        let stats = br#"{"runningQueries":2,"blockedQueries":0,"queuedQueries":5,"activeCoordinators":1}"#;
        assert_eq!(parse_ui_stats_load(stats), Some((5, 2)));
        assert_eq!(parse_ui_stats_load(b"<html>login</html>"), None);
    }
}
