//! Fast mode through its request handler: a whole query followed by its nextUris, the
//! large page, forwarded modes, and the paths left to the normal mode.

use super::*;
use crate::app::test_app;
use crate::args::Config;
use crate::uris::ForwardedMode;
use serde_json::Value;

struct Answer {
    status: u16,
    headers: hyper::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

fn server(forwarded: ForwardedMode) -> FastServer {
    FastServer::new(test_app(Config { forwarded, fast: true, ..Config::default() }))
}

async fn call(server: &FastServer, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut builder = Request::builder().method(method).uri(path).header("host", "envoy:8080");
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let (parts, ()) = builder.body(()).unwrap().into_parts();
    let resp = handle(server, &parts, Bytes::from(body.to_string())).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Answer { status, headers, body }
}

/// `http://host/prefix/v1/...` -> `/prefix/v1/...`
fn path_of(uri: &str) -> &str {
    let after_scheme = uri.split_once("://").unwrap().1;
    &after_scheme[after_scheme.find('/').unwrap()..]
}

fn top_level_keys(page: &Value) -> Vec<String> {
    page.as_object().unwrap().keys().cloned().collect()
}

fn sample(name: &str) -> Value {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const PREFIX: (&str, &str) = ("X-Forwarded-Prefix", "/trino-router/tok");

#[tokio::test]
async fn a_query_has_a_queued_poll_and_five_executing_pages_all_under_the_prefix() {
    let server = server(ForwardedMode::Accept);
    let post = call(&server, "POST", "/v1/statement", &[PREFIX, ("X-Trino-User", "u")], "SELECT 1").await;
    assert_eq!(post.status, 200);
    assert_eq!(post.headers["content-type"], "application/json");
    assert!(post.headers.get("content-length").is_none(), "chunked like Trino");
    let page = post.json();
    assert_eq!(top_level_keys(&page), top_level_keys(&sample("trino-476_01_post_v1_statement.body.json")));
    let mut next = page["nextUri"].as_str().unwrap().to_string();
    assert!(next.starts_with("http://envoy:8080/trino-router/tok/v1/statement/queued/"), "{next}");
    assert!(next.ends_with("/1"));

    let mut pages = Vec::new();
    loop {
        // The client sends the path without the prefix: the router strips it.
        let path = path_of(&next).strip_prefix("/trino-router/tok").unwrap().to_string();
        let answer = call(&server, "GET", &path, &[PREFIX], "").await;
        assert_eq!(answer.status, 200, "{path}");
        let page = answer.json();
        for key in ["infoUri", "partialCancelUri", "nextUri"] {
            if let Some(uri) = page[key].as_str() {
                assert!(uri.starts_with("http://envoy:8080/trino-router/tok/"), "{key}: {uri}");
            }
        }
        pages.push(page.clone());
        match page["nextUri"].as_str() {
            Some(uri) => next = uri.to_string(),
            None => break,
        }
        assert!(pages.len() < 10, "the query never ends");
    }
    let states: Vec<&str> = pages.iter().map(|p| p["stats"]["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["QUEUED", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "FINISHED"]);
    let rows: usize = pages.iter().filter_map(|p| p["data"].as_array()).map(Vec::len).sum();
    assert_eq!(rows, SMALL_TOTAL_ROWS as usize);
    assert_eq!(
        top_level_keys(&pages[2]),
        top_level_keys(&sample("trino-476_04_get_executing_token1_data_page.body.json"))
    );
    assert_eq!(
        top_level_keys(&pages[5]),
        top_level_keys(&sample("trino-476_05_get_executing_token4_final_page.body.json"))
    );
}

#[tokio::test]
async fn any_query_id_and_slug_work_and_the_token_picks_the_page() {
    let server = server(ForwardedMode::Accept);
    let small = call(&server, "GET", "/v1/statement/executing/20250101_000000_00007_abcde/yany/2", &[], "").await;
    assert_eq!(small.status, 200);
    assert_eq!(small.json()["data"].as_array().unwrap().len(), SMALL_PAGE_ROWS as usize);

    let large = call(&server, "GET", "/v1/statement/executing/q/y0/1234", &[PREFIX], "").await;
    assert_eq!(large.status, 200);
    assert!((1_000_000..1_200_000).contains(&large.body.len()), "large page is {} bytes", large.body.len());
    let page = large.json();
    assert_eq!(page["data"].as_array().unwrap().len(), LARGE_PAGE_ROWS as usize);
    assert!(page["nextUri"]
        .as_str()
        .unwrap()
        .starts_with("http://envoy:8080/trino-router/tok/v1/statement/executing/"));
    // The page is shared between requests: only its head carries this request's base.
    assert!(server.large.len_without_base() < large.body.len());

    let past_end = call(&server, "GET", "/v1/statement/executing/q/y0/5", &[], "").await;
    assert_eq!((past_end.status, &past_end.body[..]), (404, &b"Error 404 Not Found: HTTP 404 Not Found"[..]));
}

#[tokio::test]
async fn heartbeat_and_cancel_are_answered() {
    let server = server(ForwardedMode::Accept);
    let head = call(&server, "HEAD", "/v1/statement/executing/q/y0/1", &[], "").await;
    assert_eq!((head.status, head.body.len()), (200, 0));
    let delete = call(&server, "DELETE", "/v1/statement/queued/q/y0/1", &[], "").await;
    assert_eq!(delete.status, 204);
    let partial = call(&server, "DELETE", "/v1/statement/executing/partialCancel/q/0/y0/2", &[], "").await;
    assert_eq!(partial.status, 204);
}

#[tokio::test]
async fn reject_mode_answers_forwarded_headers_with_406_like_stock_trino() {
    let server = server(ForwardedMode::Reject);
    let refused = call(&server, "POST", "/v1/statement", &[("X-Forwarded-Proto", "http")], "SELECT 1").await;
    assert_eq!(refused.status, 406);
    assert!(refused.body.starts_with(
        b"HTTP ERROR 406 Server configuration does not allow processing of the X-Forwarded-Proto header\n"
    ));
    let post = call(&server, "POST", "/v1/statement", &[], "SELECT 1").await;
    assert_eq!(post.status, 200);
    assert!(post.json()["nextUri"].as_str().unwrap().starts_with("http://envoy:8080/v1/statement/queued/"));
}

#[tokio::test]
async fn other_paths_are_answered_by_the_normal_mode() {
    let server = server(ForwardedMode::Accept);
    let info = call(&server, "GET", "/v1/info", &[], "").await;
    assert_eq!(info.status, 200);
    assert_eq!(info.json()["coordinatorId"], server.app.coordinator_id.as_str());
    assert_eq!(call(&server, "GET", "/nope", &[], "").await.status, 404);
    assert_eq!(call(&server, "PUT", "/v1/statement", &[], "").await.status, 405);
}
