//! The spooling protocol through the stand-in's request handling: encoding choice,
//! inline and spooled segments, download, acknowledgement, pre-signed storage URIs.

use std::io::Read as _;

use base64::Engine as _;
use bytes::Bytes;
use hyper::Request;
use serde_json::Value;

use super::*;
use crate::app::test_app;
use crate::args::Config;
use crate::uris::ForwardedMode;

const ALL_ENCODINGS: &str = "json+zstd,json+lz4,json";

struct Answer {
    status: u16,
    headers: hyper::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

async fn call(app: &App, uri: &str, method: &str, headers: &[(&str, &str)]) -> Answer {
    let mut builder = Request::builder().method(method).uri(uri).header("host", "127.0.0.1:8080");
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let (parts, ()) = builder.body(()).unwrap().into_parts();
    let body = if method == "POST" { "SELECT s FROM t /* rows=60 */" } else { "" };
    let resp = crate::http::handle(app, &parts, Bytes::from(body)).await;
    Answer { status: resp.status().as_u16(), headers: resp.headers().clone(), body: resp.body().bytes().to_vec() }
}

fn path_of(uri: &str) -> String {
    let after_scheme = uri.split_once("://").unwrap().1;
    after_scheme[after_scheme.find('/').unwrap()..].to_string()
}

/// Every page of one query, POST first; the POST carries `headers`.
async fn run(app: &App, headers: &[(&str, &str)]) -> Vec<Value> {
    let mut pages = vec![call(app, "/v1/statement", "POST", headers).await.json()];
    while let Some(next) = pages.last().unwrap()["nextUri"].as_str().map(path_of) {
        let page = call(app, &next, "GET", &[("X-Trino-User", "t")]).await;
        assert_eq!(page.status, 200, "{next}");
        pages.push(page.json());
    }
    pages
}

fn segments(pages: &[Value]) -> Vec<Value> {
    pages.iter().filter_map(|p| p.get("data")).flat_map(|d| d["segments"].as_array().unwrap().clone()).collect()
}

fn spooling(inline_bytes: usize) -> Config {
    Config { spooling: true, spool_inline_bytes: inline_bytes, page_rows: 20, ..Config::default() }
}

fn expected_rows(first: u64, count: u64) -> Vec<u8> {
    let mut out = String::new();
    crate::rows::write_rows(&mut out, crate::rows::fnv1a("SELECT s FROM t /* rows=60 */"), first, first + count, 0);
    out.into_bytes()
}

fn key_of(segment: &Value) -> String {
    segment["headers"][KEY_HEADER][0].as_str().unwrap().to_string()
}

#[test]
fn the_first_encoding_the_stand_in_speaks_wins() {
    assert_eq!(Encoding::choose(ALL_ENCODINGS), Some(Encoding::JsonZstd));
    assert_eq!(Encoding::choose("json+lz4, json"), Some(Encoding::Json));
    assert_eq!(Encoding::choose("json,json+zstd"), Some(Encoding::Json));
    assert_eq!(Encoding::choose("arrow-ipc,json+lz4"), None);
    assert_eq!(Encoding::choose(""), None);
}

#[tokio::test]
async fn small_segments_are_inline_and_hold_the_rows() {
    let app = test_app(spooling(1 << 20));
    let pages = run(&app, &[("X-Trino-User", "t"), ("X-Trino-Query-Data-Encoding", "json")]).await;
    let data_pages: Vec<&Value> = pages.iter().filter(|p| p.get("data").is_some()).collect();
    assert_eq!(data_pages.len(), 3);
    for (i, page) in data_pages.iter().enumerate() {
        let data = page["data"].as_object().unwrap();
        assert_eq!(data.keys().collect::<Vec<_>>(), ["encoding", "segments"], "Jackson's field order");
        assert_eq!(data["encoding"], "json");
        let segment = &data["segments"][0];
        assert_eq!(segment.as_object().unwrap().keys().collect::<Vec<_>>(), ["type", "data", "metadata"]);
        assert_eq!(segment["type"], "inline");
        let bytes = base64::engine::general_purpose::STANDARD.decode(segment["data"].as_str().unwrap()).unwrap();
        let first = 20 * i as u64;
        assert_eq!(bytes, expected_rows(first, 20));
        assert_eq!(segment["metadata"]["rowOffset"], first);
        assert_eq!(segment["metadata"]["rowsCount"], 20);
        assert_eq!(segment["metadata"]["segmentSize"], bytes.len());
    }
}

#[tokio::test]
async fn large_segments_are_spooled_downloaded_once_and_acknowledged() {
    let app = test_app(Config { spool_segment_rows: 5, ..spooling(300) });
    let pages = run(&app, &[("X-Trino-User", "t"), ("X-Trino-Query-Data-Encoding", "json")]).await;
    let all = segments(&pages);
    assert_eq!(all.len(), 12, "60 rows in segments of 5");
    let spooled: Vec<&Value> = all.iter().filter(|s| s["type"] == "spooled").collect();
    assert!(!spooled.is_empty() && spooled.len() < all.len(), "a mix of inline and spooled: {all:?}");
    let query_id = pages[0]["id"].as_str().unwrap();
    for segment in &spooled {
        let keys: Vec<&String> = segment.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["type", "uri", "ackUri", "metadata", "headers"]);
        let uri = segment["uri"].as_str().unwrap();
        let ack = segment["ackUri"].as_str().unwrap();
        assert!(uri.starts_with("http://127.0.0.1:8080/v1/spooled/download/"), "{uri}");
        assert!(ack.starts_with("http://127.0.0.1:8080/v1/spooled/ack/"), "{ack}");
        assert!(!uri.contains(query_id) && !uri.contains(&query_id[21..]), "segment URIs carry no query id: {uri}");
        let key = key_of(segment);
        let without_key = call(&app, &path_of(uri), "GET", &[]).await;
        assert_eq!(without_key.status, 400);
        let got = call(&app, &path_of(uri), "GET", &[(KEY_HEADER, &key)]).await;
        assert_eq!(got.status, 200);
        assert_eq!(got.headers["content-type"], "application/octet-stream");
        let first = segment["metadata"]["rowOffset"].as_u64().unwrap();
        assert_eq!(got.body, expected_rows(first, segment["metadata"]["rowsCount"].as_u64().unwrap()));
        assert_eq!(segment["metadata"]["segmentSize"], got.body.len());
        assert_eq!(call(&app, &path_of(ack), "GET", &[(KEY_HEADER, &key)]).await.status, 200);
        assert_eq!(call(&app, &path_of(uri), "GET", &[(KEY_HEADER, &key)]).await.status, 404, "gone after ack");
        assert_eq!(call(&app, &path_of(uri), "POST", &[(KEY_HEADER, &key)]).await.status, 405);
    }
}

#[tokio::test]
async fn a_re_get_names_the_same_segments_and_does_not_revive_acknowledged_ones() {
    let app = test_app(spooling(100));
    let post = call(&app, "/v1/statement", "POST", &[("X-Trino-User", "t"), ("X-Trino-Query-Data-Encoding", "json")]);
    let mut next = path_of(post.await.json()["nextUri"].as_str().unwrap());
    let page = loop {
        let page = call(&app, &next, "GET", &[]).await.json();
        if page.get("data").is_some() {
            break page;
        }
        next = path_of(page["nextUri"].as_str().unwrap());
    };
    let segment = &page["data"]["segments"][0];
    let key = key_of(segment);
    let ack = path_of(segment["ackUri"].as_str().unwrap());
    assert_eq!(call(&app, &ack, "GET", &[(KEY_HEADER, &key)]).await.status, 200);
    let again = call(&app, &next, "GET", &[]).await.json();
    assert_eq!(again, page, "re-GET of the current token returns the same page");
    let uri = path_of(segment["uri"].as_str().unwrap());
    assert_eq!(call(&app, &uri, "GET", &[(KEY_HEADER, &key)]).await.status, 404);
    assert_eq!(call(&app, "/v1/spooled/ack/0123456789abcdef", "GET", &[(KEY_HEADER, &key)]).await.status, 400);
}

#[tokio::test]
async fn json_zstd_segments_are_zstd_frames_with_their_uncompressed_size() {
    let app = test_app(spooling(400));
    let pages = run(&app, &[("X-Trino-User", "t"), ("X-Trino-Query-Data-Encoding", ALL_ENCODINGS)]).await;
    let data = pages.iter().find_map(|p| p.get("data")).unwrap();
    assert_eq!(data["encoding"], "json+zstd");
    for segment in segments(&pages) {
        let frame = match segment["type"].as_str().unwrap() {
            "inline" => base64::engine::general_purpose::STANDARD.decode(segment["data"].as_str().unwrap()).unwrap(),
            _ => {
                call(&app, &path_of(segment["uri"].as_str().unwrap()), "GET", &[(KEY_HEADER, &key_of(&segment))])
                    .await
                    .body
            }
        };
        assert_eq!(segment["metadata"]["segmentSize"], frame.len());
        let mut json = Vec::new();
        ruzstd::decoding::StreamingDecoder::new(&frame[..]).unwrap().read_to_end(&mut json).unwrap();
        assert_eq!(segment["metadata"]["uncompressedSize"], json.len());
        let first = segment["metadata"]["rowOffset"].as_u64().unwrap();
        assert_eq!(json, expected_rows(first, segment["metadata"]["rowsCount"].as_u64().unwrap()));
    }
}

#[tokio::test]
async fn without_the_header_or_the_flag_pages_carry_plain_rows() {
    let app = test_app(spooling(100));
    let pages = run(&app, &[("X-Trino-User", "t")]).await;
    assert!(pages.iter().filter_map(|p| p.get("data")).all(Value::is_array));
    let app = test_app(Config { page_rows: 20, ..Config::default() });
    let pages = run(&app, &[("X-Trino-User", "t"), ("X-Trino-Query-Data-Encoding", "json")]).await;
    assert!(pages.iter().filter_map(|p| p.get("data")).all(Value::is_array));
    assert_eq!(call(&app, "/v1/spooled/download/abc", "GET", &[]).await.status, 404, "no segment resource");
    let pages = run(&test_app(spooling(100)), &[("X-Trino-User", "t"), ("X-Trino-Query-Data-Encoding", "arrow")]).await;
    assert!(pages.iter().filter_map(|p| p.get("data")).all(Value::is_array), "no common encoding: direct protocol");
}

#[tokio::test]
async fn segment_uris_follow_the_forwarded_headers_like_every_other_uri() {
    let app = test_app(Config { forwarded: ForwardedMode::Accept, ..spooling(100) });
    let forwarded = [
        ("X-Trino-User", "t"),
        ("X-Trino-Query-Data-Encoding", "json"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "gw:8443"),
        ("X-Forwarded-Prefix", "/trino-router/tok"),
    ];
    let post = call(&app, "/v1/statement", "POST", &forwarded).await.json();
    let mut next = path_of(post["nextUri"].as_str().unwrap()).replacen("/trino-router/tok", "", 1);
    loop {
        let page = call(&app, &next, "GET", &forwarded).await.json();
        if let Some(data) = page.get("data") {
            let segment = &data["segments"][0];
            assert!(segment["uri"]
                .as_str()
                .unwrap()
                .starts_with("https://gw:8443/trino-router/tok/v1/spooled/download/"));
            assert!(segment["ackUri"]
                .as_str()
                .unwrap()
                .starts_with("https://gw:8443/trino-router/tok/v1/spooled/ack/"));
            return;
        }
        next = path_of(page["nextUri"].as_str().unwrap()).replacen("/trino-router/tok", "", 1);
    }
}

#[tokio::test]
async fn pre_signed_segments_are_served_by_storage_only_with_their_exact_signature() {
    let app = test_app(Config { spool_external_every: 2, spool_segment_rows: 5, ..spooling(100) });
    let pages = run(&app, &[("X-Trino-User", "t"), ("X-Trino-Query-Data-Encoding", "json")]).await;
    let all = segments(&pages);
    let external: Vec<&Value> =
        all.iter().filter(|s| s["uri"].as_str().is_some_and(|u| u.contains(STORAGE_PREFIX))).collect();
    assert_eq!(external.len(), 6, "every second of 12 segments");
    for segment in external {
        let uri = segment["uri"].as_str().unwrap();
        assert!(uri.starts_with("http://127.0.0.1:1/spooling-bucket/segments/"), "storage is elsewhere: {uri}");
        assert!(uri.contains("&X-Amz-Signature="), "{uri}");
        assert!(segment["ackUri"].as_str().unwrap().starts_with("http://127.0.0.1:8080/v1/spooled/ack/"));
        let key = key_of(segment);
        let tampered = uri.replace("X-Amz-Expires=3600", "X-Amz-Expires=3601");
        assert_eq!(call(&app, &path_of(&tampered), "GET", &[(KEY_HEADER, &key)]).await.status, 403);
        let got = call(&app, &path_of(uri), "GET", &[(KEY_HEADER, &key)]).await;
        assert_eq!(got.status, 200);
        let first = segment["metadata"]["rowOffset"].as_u64().unwrap();
        assert_eq!(got.body, expected_rows(first, 5));
        let ack = path_of(segment["ackUri"].as_str().unwrap());
        assert_eq!(call(&app, &ack, "GET", &[(KEY_HEADER, &key)]).await.status, 200);
        assert_eq!(call(&app, &path_of(uri), "GET", &[(KEY_HEADER, &key)]).await.status, 404);
    }
}

#[tokio::test]
async fn spooled_endpoints_refuse_forwarded_headers_in_reject_mode() {
    let app = test_app(spooling(100));
    let got = call(&app, "/v1/spooled/download/abc", "GET", &[("X-Forwarded-Proto", "http")]).await;
    assert_eq!(got.status, 406);
}

#[test]
fn segments_are_forgotten_when_the_store_is_full_or_old() {
    let store = SpoolStore::new();
    let seg = Segment { sql_hash: 1, rows: (0, 1), encoding: Encoding::Json, acked: false };
    for i in 0..MAX_ENTRIES + 10 {
        store.keep(&format!("s{i}"), seg);
    }
    assert_eq!(store.state().segments.len(), MAX_ENTRIES);
    assert!(store.live("s0").is_none() && store.live(&format!("s{}", MAX_ENTRIES + 9)).is_some());
}
