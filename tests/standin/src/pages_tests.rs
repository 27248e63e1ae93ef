//! Page rendering checked against the recorded Trino 476 samples in `testdata/`.

use super::*;
use serde_json::Value;

const QID: &str = "20261006_232425_00141_x3v5n";
const BASE: &str = "http://127.0.0.1:55037";
const SAMPLE_COLUMNS: &str = r#"[{"name":"n","type":"bigint","typeSignature":{"rawType":"bigint","arguments":[]}}]"#;

fn sample(name: &str) -> String {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

fn info() -> String {
    format!("{BASE}/ui/query.html?{QID}")
}

/// Key paths in document order, so field order is compared, not just content.
pub fn key_order(v: &Value) -> Vec<String> {
    fn walk(v: &Value, path: &str, out: &mut Vec<String>) {
        if let Value::Object(map) = v {
            for (k, child) in map {
                let p = format!("{path}.{k}");
                out.push(p.clone());
                walk(child, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out
}

#[test]
fn queued_page_is_byte_identical_to_sample_01() {
    let page = Page {
        id: QID,
        info_uri: info(),
        partial_cancel_uri: None,
        next_uri: Some(format!("{BASE}/v1/statement/queued/{QID}/y620553a27984c040b3b35223339faffa77cef441/1")),
        columns: false,
        data: None,
        stats: Stats::Queued { elapsed_ms: 0 },
        error: None,
    };
    assert_eq!(render(&page, 0, 0), sample("trino-476_01_post_v1_statement.body.json"));
}

#[test]
fn executing_token0_matches_sample_03() {
    let slug = "y329aab0bb70bae915d459d4c728076d3984d3532";
    let page = Page {
        id: QID,
        info_uri: info(),
        partial_cancel_uri: Some(format!("{BASE}/v1/statement/executing/partialCancel/{QID}/0/{slug}/1")),
        next_uri: Some(format!("{BASE}/v1/statement/executing/{QID}/{slug}/1")),
        columns: true,
        data: None,
        stats: Stats::Starting { elapsed_ms: 13 },
        error: None,
    };
    let ours = render(&page, 0, 0).replace(crate::rows::COLUMNS_JSON, SAMPLE_COLUMNS);
    assert_eq!(ours, sample("trino-476_03_get_executing_token0_columns_no_data.body.json"));
}

#[test]
fn data_and_final_pages_have_the_sample_field_order() {
    let data_page = Page {
        id: QID,
        info_uri: info(),
        partial_cancel_uri: Some("p".into()),
        next_uri: Some("n".into()),
        columns: true,
        data: Some((0, 3)),
        stats: Stats::Running { elapsed_ms: 21, done_rows: 0, total_rows: 9 },
        error: None,
    };
    let ours: Value = serde_json::from_str(&render(&data_page, 1, 0)).unwrap();
    let theirs: Value = serde_json::from_str(&sample("trino-476_04_get_executing_token1_data_page.body.json")).unwrap();
    assert_eq!(key_order(&ours), key_order(&theirs));
    assert_eq!(ours["stats"], theirs["stats"]);

    let final_page = Page {
        partial_cancel_uri: None,
        next_uri: None,
        data: None,
        stats: Stats::Finished { elapsed_ms: 26, total_rows: 9 },
        ..data_page
    };
    let ours: Value = serde_json::from_str(&render(&final_page, 1, 0)).unwrap();
    let theirs: Value =
        serde_json::from_str(&sample("trino-476_05_get_executing_token4_final_page.body.json")).unwrap();
    assert_eq!(key_order(&ours), key_order(&theirs));
    assert_eq!(ours["stats"]["state"], "FINISHED");
    assert_eq!(ours["stats"]["progressPercentage"], 100.0);
}

#[test]
fn failed_page_matches_sample_07() {
    let qid = "20261006_232423_00060_x3v5n";
    let page = Page {
        id: qid,
        info_uri: format!("{BASE}/ui/query.html?{qid}"),
        partial_cancel_uri: None,
        next_uri: None,
        columns: false,
        data: None,
        stats: Stats::QueuedFailed { elapsed_ms: 0 },
        error: Some(PageError::Syntax("{\"a\": 1}".into())),
    };
    let ours_text = render(&page, 0, 0);
    let theirs_text = sample("trino-476_07_get_queued_failed_syntax_error.body.json");
    // Identical up to the stack traces, which are trimmed in ours.
    let cut = theirs_text.find("\"cause\"").unwrap();
    assert_eq!(&ours_text[..cut], &theirs_text[..cut]);
    let ours: Value = serde_json::from_str(&ours_text).unwrap();
    let theirs: Value = serde_json::from_str(&theirs_text).unwrap();
    assert_eq!(key_order(&ours), key_order(&theirs));
}

#[test]
fn canceled_error_is_user_canceled() {
    let page = Page {
        id: QID,
        info_uri: info(),
        partial_cancel_uri: None,
        next_uri: None,
        columns: true,
        data: None,
        stats: Stats::Canceled { elapsed_ms: 5, done_rows: 40 },
        error: Some(PageError::Canceled),
    };
    let v: Value = serde_json::from_str(&render(&page, 0, 0)).unwrap();
    assert_eq!(v["error"]["errorName"], "USER_CANCELED");
    assert_eq!(v["stats"]["state"], "FAILED");
}

#[test]
fn user_errors_carry_their_code_in_both_places() {
    for (error, code, name) in [
        (PageError::TextTooLarge(2_000_000), 35, "QUERY_TEXT_TOO_LARGE"),
        (PageError::UnknownTransaction("d1b7-\"x\"".into()), 20, "UNKNOWN_TRANSACTION"),
    ] {
        let mut out = String::new();
        write_error(&mut out, &error);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!((v["errorCode"].as_u64(), v["errorName"].as_str()), (Some(code), Some(name)));
        assert_eq!(v["failureInfo"]["errorInfo"]["code"].as_u64(), Some(code));
        assert_eq!(v["failureInfo"]["message"], v["message"]);
    }
}

#[test]
fn json_strings_escape_like_jackson() {
    let mut out = String::new();
    push_json_string(&mut out, "a\"b\\c\nd\u{1}é漢/");
    assert_eq!(out, "\"a\\\"b\\\\c\\nd\\u0001é漢/\"");
    let back: String = serde_json::from_str(&out).unwrap();
    assert_eq!(back, "a\"b\\c\nd\u{1}é漢/");
}
