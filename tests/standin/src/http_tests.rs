//! Request-level tests through the router: whole query flows, error answers,
//! forwarded modes, auth, gzip and the introspection endpoints.

use std::io::Read as _;

use super::*;
use crate::app::test_app;
use crate::args::Config;
use crate::uris::ForwardedMode;
use serde_json::Value;

struct Answer {
    status: u16,
    headers: hyper::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

async fn call(app: &App, method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut builder = Request::builder().method(method).uri(uri);
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        builder = builder.header("host", "127.0.0.1:8080");
    }
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let (parts, ()) = builder.body(()).unwrap().into_parts();
    let resp = handle(app, &parts, Bytes::from(body.to_string())).await;
    let raw = resp.body().bytes();
    let body = if resp.headers().get("content-encoding").is_some_and(|v| v == "gzip") {
        let mut s = String::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_string(&mut s).unwrap();
        s
    } else {
        String::from_utf8(raw.to_vec()).unwrap()
    };
    Answer { status: resp.status().as_u16(), headers: resp.headers().clone(), body }
}

fn path_of(uri: &str) -> String {
    let after_scheme = uri.split_once("://").unwrap().1;
    after_scheme[after_scheme.find('/').unwrap()..].to_string()
}

const USER: (&str, &str) = ("X-Trino-User", "t");
const ORDER: [&str; 11] = [
    "id",
    "infoUri",
    "partialCancelUri",
    "nextUri",
    "columns",
    "data",
    "stats",
    "error",
    "warnings",
    "updateType",
    "updateCount",
];

fn assert_field_order(page: &Value) {
    let keys: Vec<&str> = page.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    let positions: Vec<usize> = keys.iter().map(|k| ORDER.iter().position(|o| o == k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "order {keys:?}");
}

#[tokio::test]
async fn full_query_through_the_router() {
    let app = test_app(Config::default());
    let gz = ("Accept-Encoding", "gzip, deflate");
    let post = call(&app, "POST", "/v1/statement", &[USER, gz], "SELECT 1 /* rows=250 */").await;
    assert_eq!(post.status, 200);
    assert_eq!(post.headers["content-encoding"], "gzip");
    assert_eq!(post.headers["content-type"], "application/json");
    assert!(post.headers.get("content-length").is_none());
    let mut page = post.json();
    let id = page["id"].as_str().unwrap().to_string();
    assert_eq!(page["infoUri"], format!("http://127.0.0.1:8080/ui/query.html?{id}"));
    let mut rows = Vec::new();
    let mut uris = vec![];
    while let Some(next) = page["nextUri"].as_str().map(str::to_string) {
        assert_field_order(&page);
        uris.push(next.clone());
        let answer = call(&app, "GET", &path_of(&next), &[gz], "").await;
        assert_eq!(answer.status, 200, "{next}: {}", answer.body);
        page = answer.json();
        if let Some(data) = page["data"].as_array() {
            rows.extend(data.iter().cloned());
        }
    }
    assert_field_order(&page);
    assert_eq!(page["stats"]["state"], "FINISHED");
    assert_eq!(rows.len(), 250);
    assert_eq!(rows[249][0], 249);
    assert!(uris[0].contains("/queued/") && uris[0].ends_with("/1"));
    assert!(uris[1].contains("/queued/") && uris[1].ends_with("/2"));
    assert!(uris[2].contains("/executing/") && uris[2].ends_with("/0"));
    // 0, 7 data pages of 40, then the final page.
    assert_eq!(uris.len(), 2 + 1 + 7 + 1);
    let slugs: std::collections::HashSet<&str> = uris.iter().map(|u| u.split('/').nth_back(1).unwrap()).collect();
    assert_eq!(slugs.len(), uris.len(), "every token has its own slug");

    // Re-GET of the current (final) token repeats it; older tokens are gone.
    let last = path_of(uris.last().unwrap());
    assert_eq!(call(&app, "GET", &last, &[], "").await.json(), page);
    let gone = call(&app, "GET", &path_of(&uris[5]), &[], "").await;
    assert_eq!((gone.status, gone.body.as_str()), (410, "Error 410 Gone: HTTP 410 Gone"));
    assert_eq!(gone.headers["content-length"], "29");
    let info = call(&app, "GET", &format!("/v1/query/{id}"), &[USER], "").await;
    assert_eq!(info.json()["state"], "FINISHED");
    assert_eq!(info.json()["query"], "SELECT 1 /* rows=250 */");
}

#[tokio::test]
async fn not_found_answers() {
    let app = test_app(Config::default());
    let page = call(&app, "POST", "/v1/statement", &[USER], "SELECT 1").await.json();
    let next = path_of(page["nextUri"].as_str().unwrap());
    let bad_slug = next.replace("/y", "/yy");
    let r = call(&app, "GET", &bad_slug, &[], "").await;
    assert_eq!((r.status, r.body.as_str()), (404, "Error 404 Not Found: Query not found"));
    let r = call(&app, "GET", "/v1/statement/executing/20200101_000000_00000_abcde/y00/0", &[], "").await;
    assert_eq!((r.status, r.body.as_str()), (404, "Error 404 Not Found: Query not found"));
    assert_eq!(r.headers["content-length"], "36");
    let r = call(&app, "GET", "/v1/statement/executing/20200101_000000_00000_abcde/y00/x", &[], "").await;
    assert_eq!((r.status, r.body.as_str(), r.header("content-length")), (404, "", "0"), "token not a number");
    let r = call(&app, "GET", "/nope", &[], "").await;
    assert_eq!((r.status, r.body.as_str()), (404, "Error 404 Not Found: HTTP 404 Not Found"));
    assert_eq!(r.headers["content-type"], "text/plain");
    let r = call(&app, "PUT", "/v1/info", &[], "").await;
    assert_eq!((r.status, r.body.as_str(), r.header("allow")), (405, "", "GET,OPTIONS"));
    assert!(r.headers.get("vary").is_none(), "only GET and POST answers vary");
    let r = call(&app, "GET", &next, &[], "").await;
    assert_eq!(r.headers["vary"], "Accept-Encoding");
    let r = call(&app, "POST", &next, &[], "").await;
    assert_eq!((r.status, r.header("allow")), (405, "DELETE,GET,OPTIONS"));
    let r = call(&app, "PUT", "/v1/info/state", &[USER], "\"SHUTTING_DOWN\"").await;
    assert_eq!((r.status, r.body.as_str()), (403, "Error 403 Forbidden: Management only resource"));
    let r = call(&app, "GET", "/v1/info/", &[], "").await;
    assert_eq!(r.status, 200, "a trailing slash is the same resource");
    let r = call(&app, "GET", "/v1/query/20200101_000000_00000_abcde", &[USER], "").await;
    assert_eq!(r.status, 410);
}

#[tokio::test]
async fn heartbeat_cancel_and_partial_cancel() {
    let app = test_app(Config::default());
    let page = call(&app, "POST", "/v1/statement", &[USER], "SELECT 1").await.json();
    let q1 = path_of(page["nextUri"].as_str().unwrap());
    let head = call(&app, "HEAD", &q1, &[], "").await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    let q2 = path_of(call(&app, "GET", &q1, &[], "").await.json()["nextUri"].as_str().unwrap());
    let e0 = path_of(call(&app, "GET", &q2, &[], "").await.json()["nextUri"].as_str().unwrap());
    let running = call(&app, "GET", &e0, &[], "").await.json();
    let partial = path_of(running["partialCancelUri"].as_str().unwrap());
    assert_eq!(call(&app, "DELETE", &partial, &[], "").await.status, 204);
    let e1 = path_of(running["nextUri"].as_str().unwrap());
    assert_eq!(call(&app, "HEAD", &e1, &[], "").await.status, 200);
    let metrics = call(&app, "GET", "/metrics", &[USER], "").await;
    assert!(metrics.body.contains("trino_execution_name_QueryManager_RunningQueries 1.0\n"));
    assert!(metrics.body.contains("trino_execution_name_QueryManager_QueuedQueries 0.0\n"));
    assert!(metrics.body.ends_with("# EOF\n"));
    assert_eq!(call(&app, "DELETE", &e1, &[], "").await.status, 204);
    let after = call(&app, "GET", &e1, &[], "").await.json();
    assert_eq!(after["error"]["errorName"], "USER_CANCELED");
    assert!(after.get("nextUri").is_none());
    let state = call(&app, "GET", "/_standin/state", &[], "").await.json();
    assert_eq!(state["queries"]["canceled"], 1);
    assert_eq!(state["queries"]["running"], 0);
    let stats = call(&app, "GET", "/ui/api/stats", &[], "").await.json();
    assert_eq!((stats["runningQueries"].as_u64(), stats["queuedQueries"].as_u64()), (Some(0), Some(0)));
}

#[tokio::test]
async fn auth_and_bad_requests() {
    let app = test_app(Config::default());
    for (method, path) in [("POST", "/v1/statement"), ("GET", "/metrics"), ("GET", "/v1/query/x")] {
        let r = call(&app, method, path, &[], "SELECT 1").await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.body, "Basic authentication or X-Trino-Original-User or X-Trino-User must be sent");
        assert_eq!(r.headers["www-authenticate"], "Basic realm=\"Trino\"");
    }
    let r = call(&app, "POST", "/v1/statement", &[("Authorization", "Basic Og==")], "SELECT 1").await;
    assert_eq!((r.status, r.body.as_str()), (401, "Malformed credentials: user is empty"));
    assert!(r.headers.get("www-authenticate").is_none());
    let failed = call(&app, "POST", "/v1/statement", &[USER], "SELEC 1").await.json();
    let page = call(&app, "GET", &path_of(failed["nextUri"].as_str().unwrap()), &[], "").await.json();
    assert_eq!(
        page["error"]["message"].as_str().unwrap().split('.').next(),
        Some("line 1:1: mismatched input 'SELEC'")
    );
    let r = call(&app, "POST", "/v1/statement", &[USER], "").await;
    assert_eq!((r.status, r.body.as_str()), (400, "Error 400 Bad Request: SQL statement is empty"));
    let r = call(&app, "POST", "/v1/statement", &[("Authorization", "Basic dDo=")], "SELECT 1").await;
    assert_eq!(r.status, 200);
    let failed = call(&app, "POST", "/v1/statement", &[USER], "{\"x\":1}").await.json();
    let page = call(&app, "GET", &path_of(failed["nextUri"].as_str().unwrap()), &[], "").await.json();
    assert_eq!(page["stats"]["state"], "FAILED");
    assert_eq!(page["error"]["errorName"], "SYNTAX_ERROR");
}

#[tokio::test]
async fn forwarded_modes() {
    let fwd = [("X-Forwarded-Host", "gw:8080"), ("X-Forwarded-Prefix", "/p/tok"), USER];
    let reject = test_app(Config::default());
    let r = call(&reject, "POST", "/v1/statement", &fwd, "SELECT 1").await;
    assert_eq!(r.status, 406);
    let m = "Server configuration does not allow processing of the X-Forwarded-Host header";
    assert_eq!(
        r.body,
        format!("HTTP ERROR 406 {m}\nURI: http://127.0.0.1:8080/v1/statement\nSTATUS: 406\nMESSAGE: {m}\n")
    );
    assert_eq!(call(&reject, "GET", "/v1/info", &fwd, "").await.status, 406);

    let accept = test_app(Config { forwarded: ForwardedMode::Accept, ..Config::default() });
    let page = call(&accept, "POST", "/v1/statement", &fwd, "SELECT 1").await.json();
    let id = page["id"].as_str().unwrap();
    assert!(page["nextUri"].as_str().unwrap().starts_with(&format!("http://gw:8080/p/tok/v1/statement/queued/{id}/y")));
    assert_eq!(page["infoUri"], format!("http://gw:8080/p/tok/ui/query.html?{id}"));

    let ignore = test_app(Config { forwarded: ForwardedMode::Ignore, ..Config::default() });
    let page = call(&ignore, "POST", "/v1/statement", &fwd, "SELECT 1").await.json();
    assert!(page["nextUri"].as_str().unwrap().starts_with("http://127.0.0.1:8080/v1/statement/queued/"));
}

#[tokio::test]
async fn info_and_introspection() {
    let app = test_app(Config {
        name: "blue".into(),
        coordinator_id: Some("abc23".into()),
        starting_secs: 60,
        ..Config::default()
    });
    let info = call(&app, "GET", "/v1/info", &[], "").await;
    let v = info.json();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        ["nodeId", "state", "nodeVersion", "environment", "coordinator", "coordinatorId", "starting", "uptime"]
    );
    assert_eq!((v["environment"].as_str(), v["coordinatorId"].as_str()), (Some("blue"), Some("abc23")));
    assert_eq!(v["starting"], true);
    assert_eq!(call(&app, "POST", "/_standin/starting?secs=0", &[], "").await.status, 204);
    assert_eq!(call(&app, "GET", "/v1/info", &[], "").await.json()["starting"], false);
    assert_eq!(call(&app, "GET", "/v1/info/state", &[], "").await.body, "\"ACTIVE\"");
    assert_eq!(call(&app, "GET", "/v1/status", &[], "").await.json()["environment"], "blue");

    let reqs = call(&app, "GET", "/_standin/requests", &[], "").await.json();
    let paths: Vec<&str> = reqs.as_array().unwrap().iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/v1/info", "/v1/info", "/v1/info/state", "/v1/status"]);
    assert_eq!(reqs[0]["headers"]["host"], "127.0.0.1:8080");
    assert_eq!(reqs[0]["status"], 200);
    assert_eq!(call(&app, "DELETE", "/_standin/requests", &[], "").await.status, 204);
    assert_eq!(call(&app, "GET", "/_standin/requests", &[], "").await.body, "[]");
}

#[tokio::test]
async fn a_query_exists_from_its_first_poll_and_head_follows_the_resource() {
    let app = test_app(Config::default());
    let page = call(&app, "POST", "/v1/statement", &[USER], "SELECT 1").await.json();
    let id = page["id"].as_str().unwrap();
    let counts = || async { call(&app, "GET", "/_standin/state", &[], "").await.json()["queries"]["queued"].clone() };
    assert_eq!(counts().await, 0, "POSTed only: not submitted");
    assert_eq!(call(&app, "GET", &format!("/v1/query/{id}"), &[USER], "").await.status, 410);
    assert_eq!(call(&app, "GET", "/v1/query", &[USER], "").await.json(), serde_json::json!([]));

    // HEAD on the queued URI is the GET without a body: it submits the query.
    let q1 = path_of(page["nextUri"].as_str().unwrap());
    let head = call(&app, "HEAD", &q1, &[("Accept-Encoding", "gzip")], "").await;
    let get = call(&app, "GET", &q1, &[], "").await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    assert!(head.headers.get("content-encoding").is_none() && head.headers.get("vary").is_none());
    assert_eq!(head.headers["content-length"], get.body.len().to_string().as_str());
    assert_eq!(counts().await, 1);
    assert_eq!(call(&app, "GET", "/v1/query", &[USER], "").await.json()[0]["queryId"], id);

    // The executing heartbeat finds a query only once an executing page was served.
    let q2 = path_of(get.json()["nextUri"].as_str().unwrap());
    let e0 = path_of(call(&app, "GET", &q2, &[], "").await.json()["nextUri"].as_str().unwrap());
    let early = call(&app, "HEAD", &e0, &[], "").await;
    assert_eq!((early.status, early.header("content-length")), (404, "36"));
    call(&app, "GET", &e0, &[], "").await;
    let beat = call(&app, "HEAD", &e0, &[], "").await;
    assert_eq!(
        (beat.status, beat.header("content-type"), beat.header("content-length")),
        (200, "application/json", "0")
    );

    // DELETE /v1/query/{id} kills it.
    assert_eq!(call(&app, "DELETE", &format!("/v1/query/{id}"), &[USER], "").await.status, 204);
    assert_eq!(call(&app, "GET", &format!("/v1/query/{id}"), &[USER], "").await.json()["state"], "FAILED");
}

#[tokio::test]
async fn info_and_status_take_the_chosen_release_shape() {
    use crate::args::TrinoVersion;
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let app = test_app(Config { trino_version: TrinoVersion::V476, ..Config::default() });
    let info = call(&app, "GET", "/v1/info", &[], "").await.json();
    assert_eq!(keys(&info), ["nodeVersion", "environment", "coordinator", "starting", "uptime"]);
    assert_eq!(info["nodeVersion"]["version"], "476");
    let status = call(&app, "GET", "/v1/status", &[], "").await.json();
    assert!(status["memoryInfo"].get("systemCpuLoad").is_none());
    assert!(status["memoryInfo"]["pool"].get("queryMemoryRevocableReservations").is_some());
    let app = test_app(Config::default());
    let info = call(&app, "GET", "/v1/info", &[], "").await.json();
    assert_eq!(info["nodeVersion"]["version"], "483");
    assert!(info.get("coordinatorId").is_some() && info.get("nodeId").is_some());
}
