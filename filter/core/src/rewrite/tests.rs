use super::*;

const INSERT: &[u8] = b"/trino-router/TOKEN";

fn rewrite_whole(page: &str) -> String {
    let mut r = UriRewriter::new(b"127.0.0.1:8080", INSERT);
    String::from_utf8(r.feed(page.as_bytes(), true)).unwrap()
}

/// Feeds the page in chunks of `size` bytes (the last flushes) and joins the output.
fn rewrite_chunked(page: &str, size: usize) -> String {
    let mut r = UriRewriter::new(b"127.0.0.1:8080", INSERT);
    let chunks: Vec<&[u8]> = page.as_bytes().chunks(size).collect();
    let mut out = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        out.extend(r.feed(c, i + 1 == chunks.len()));
    }
    String::from_utf8(out).unwrap()
}

const EXECUTING: &str = r#"{"id":"20261006_232425_00141_x3v5n","infoUri":"http://127.0.0.1:8080/ui/query.html?20261006_232425_00141_x3v5n","partialCancelUri":"http://127.0.0.1:8080/v1/statement/executing/partialCancel/20261006_232425_00141_x3v5n/0/y16c4/2","nextUri":"http://127.0.0.1:8080/v1/statement/executing/20261006_232425_00141_x3v5n/y16c4/2","columns":[{"name":"n","type":"varchar","typeSignature":{"rawType":"varchar","arguments":[]}}],"data":[["{\"nextUri\":\"http://127.0.0.1:8080/v1/x\"}"],["http://127.0.0.1:8080/v1/statement/executing/a/b/1"],["\"nextUri\":\"http://127.0.0.1:8080/v1/y\""]],"stats":{"state":"RUNNING"},"warnings":[]}"#;

#[test]
fn the_three_uris_get_the_prefix_and_rows_stay_as_they_were() {
    let out = rewrite_whole(EXECUTING);
    assert!(out.contains(r#""infoUri":"http://127.0.0.1:8080/trino-router/TOKEN/ui/query.html?20261006"#));
    assert!(out.contains(
        r#""partialCancelUri":"http://127.0.0.1:8080/trino-router/TOKEN/v1/statement/executing/partialCancel/"#
    ));
    assert!(out.contains(r#""nextUri":"http://127.0.0.1:8080/trino-router/TOKEN/v1/statement/executing/20261006"#));
    let data = |s: &str| s[s.find(r#""data""#).unwrap()..].to_string();
    assert_eq!(data(&out), data(EXECUTING), "row data is byte for byte the same");
    assert_eq!(out.matches("TOKEN").count(), 3);
}

#[test]
fn any_chunking_gives_the_same_bytes() {
    let whole = rewrite_whole(EXECUTING);
    for size in 1..=64 {
        assert_eq!(rewrite_chunked(EXECUTING, size), whole, "chunks of {size}");
    }
}

#[test]
fn a_map_column_with_a_nexturi_key_is_row_data_too() {
    let page = r#"{"id":"x","nextUri":"http://127.0.0.1:8080/v1/statement/executing/x/y/1","columns":[],"data":[[{"nextUri":"http://127.0.0.1:8080/v1/a"}]],"stats":{}}"#;
    let out = rewrite_whole(page);
    assert_eq!(out.matches("TOKEN").count(), 1);
    assert!(out.contains(r#"[[{"nextUri":"http://127.0.0.1:8080/v1/a"}]]"#));
}

#[test]
fn spooled_segments_on_the_coordinator_are_rewritten_others_left_alone() {
    let page = r#"{"id":"q","nextUri":"http://127.0.0.1:8080/v1/statement/executing/q/y/2","columns":[],"data":{"encoding":"json+zstd","segments":[{"type":"inline","data":"AAEC","metadata":{"rowOffset":0}},{"type":"spooled","uri":"http://127.0.0.1:8080/v1/spooled/download/abc","ackUri":"http://127.0.0.1:8080/v1/spooled/ack/abc","metadata":{"segmentSize":10}},{"type":"spooled","uri":"https://bucket.s3.amazonaws.com/seg?X-Amz-Signature=1","metadata":{}},{"type":"spooled","uri":"http://10.0.0.7:8080/v1/spooled/download/w","ackUri":"http://10.0.0.7:8080/v1/spooled/ack/w"}]},"stats":{}}"#;
    let out = rewrite_whole(page);
    assert!(out.contains(r#""uri":"http://127.0.0.1:8080/trino-router/TOKEN/v1/spooled/download/abc""#));
    assert!(out.contains(r#""ackUri":"http://127.0.0.1:8080/trino-router/TOKEN/v1/spooled/ack/abc""#));
    assert!(out.contains(r#""uri":"https://bucket.s3.amazonaws.com/seg?X-Amz-Signature=1""#), "pre-signed");
    assert!(out.contains(r#""uri":"http://10.0.0.7:8080/v1/spooled/download/w""#), "a worker's");
    assert!(out.contains(r#""data":"AAEC""#));
    for size in [1, 3, 7, 50] {
        assert_eq!(rewrite_chunked(page, size), out, "chunks of {size}");
    }
}

#[test]
fn a_final_or_error_page_passes_through_and_uris_are_not_rewritten_twice() {
    let final_page = r#"{"id":"q","infoUri":"http://127.0.0.1:8080/ui/query.html?q","columns":[],"stats":{"state":"FINISHED"},"warnings":[]}"#;
    assert_eq!(rewrite_whole(final_page).matches("TOKEN").count(), 1);
    let already = r#"{"id":"q","nextUri":"http://127.0.0.1:8080/trino-router/TOKEN/v1/statement/queued/q/y/1"}"#;
    assert_eq!(rewrite_whole(already), already);
    let error = r#"{"id":"q","stats":{},"error":{"message":"line 1:1: \"nextUri\":\"http://127.0.0.1:8080/\""}}"#;
    assert_eq!(rewrite_whole(error), error);
}

#[test]
fn it_is_done_once_rows_start() {
    let mut r = UriRewriter::new(b"127.0.0.1:8080", INSERT);
    let head = r#"{"id":"q","nextUri":"http://127.0.0.1:8080/v1/statement/executing/q/y/2","columns":[],"data":[[1],"#;
    let out = r.feed(head.as_bytes(), false);
    assert!(r.is_done());
    assert_eq!(r.feed(b"[2]]}", true), b"[2]]}");
    assert!(String::from_utf8(out).unwrap().contains("TOKEN"));
}

#[test]
fn garbage_and_huge_strings_never_panic_and_lose_nothing() {
    let long = format!(r#"{{"nextUri":"http://127.0.0.1:8080/{}"}}"#, "a".repeat(20_000));
    assert_eq!(rewrite_whole(&long), long, "too long to be ours: passed through");
    let mut seed = 0x1234_5678_u64;
    for _ in 0..300 {
        let mut bytes = Vec::new();
        for _ in 0..200 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes.push(b"{}[]\":,\\ab/nextUri"[(seed % 18) as usize]);
        }
        let mut r = UriRewriter::new(b"h", INSERT);
        let mut out = r.feed(&bytes[..100], false);
        out.extend(r.feed(&bytes[100..], true));
        assert!(out.len() >= bytes.len(), "no byte lost");
    }
}

#[test]
fn a_uri_near_the_capture_limit_is_treated_alike_in_any_chunking() {
    // Runs of string bytes are held in one go: the limit must fall where byte by byte puts it.
    for len in [MAX_CAPTURE - 30, MAX_CAPTURE - 29, MAX_CAPTURE - 28, MAX_CAPTURE, MAX_CAPTURE + 1] {
        let uri = format!("http://127.0.0.1:8080/{}", "a".repeat(len - 22));
        let page = format!(r#"{{"nextUri":"{uri}","data":[["x"]]}}"#);
        let whole = rewrite_whole(&page);
        for size in [1, 7, 4096] {
            assert_eq!(rewrite_chunked(&page, size), whole, "URI of {len} bytes, chunks of {size}");
        }
    }
    let fits = format!("http://127.0.0.1:8080/{}", "a".repeat(MAX_CAPTURE - 22));
    assert!(rewrite_whole(&format!(r#"{{"nextUri":"{fits}"}}"#)).contains("TOKEN"), "a URI of the limit is ours");
    let over = format!("http://127.0.0.1:8080/{}", "a".repeat(MAX_CAPTURE - 21));
    assert!(!rewrite_whole(&format!(r#"{{"nextUri":"{over}"}}"#)).contains("TOKEN"), "one byte over is not");
}

#[test]
fn a_feed_says_it_changed_its_bytes_exactly_when_it_did() {
    // The glue replaces a chunk only when told it changed: a wrong "unchanged" would send
    // the coordinator's bytes unpinned, or lose bytes held back.
    let spooled = r#"{"id":"q","nextUri":"http://127.0.0.1:8080/v1/statement/executing/q/y/1","data":{"encoding":"json","segments":[{"type":"spooled","uri":"http://127.0.0.1:8080/v1/spooled/download/a","ackUri":"http://127.0.0.1:8080/v1/spooled/ack/a"},{"type":"spooled","uri":"https://s3.example/b"}]},"stats":{}}"#;
    let unpinned = r#"{"id":"q","infoUri":"/relative","data":[["http://127.0.0.1:8080/v1/x"]]}"#;
    for page in [EXECUTING, spooled, unpinned] {
        for size in 1..=64 {
            let mut r = UriRewriter::new(b"127.0.0.1:8080", INSERT);
            let chunks: Vec<&[u8]> = page.as_bytes().chunks(size).collect();
            for (i, c) in chunks.iter().enumerate() {
                let out = r.feed(c, i + 1 == chunks.len());
                assert_eq!(r.changed_last_feed(), out != *c, "chunks of {size}, chunk {i}");
            }
        }
    }
}
