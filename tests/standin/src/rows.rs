//! What a query returns: SQL directives, the two result columns and the rows.
//!
//! Rows depend only on (SQL text, row index) and the `--row-bytes` padding, never
//! on the cluster, so a test can compare rows fetched through the router with
//! rows fetched straight from a coordinator. Some rows deliberately look like
//! URIs and protocol JSON, carry quotes, backslashes, control characters and
//! non-ASCII text: a router that rewrites or parses response bodies carelessly
//! will corrupt them, and the comparison will show it.

use std::fmt::Write as _;

/// Per-query behaviour read from SQL comments (a stand-in convention, not Trino's).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Spec {
    /// `/* rows=N */`: overrides `--rows`.
    pub rows: Option<u64>,
    /// `/* fail */`, or SQL that cannot start a Trino statement (`SELEC 1`, `{...}`):
    /// SYNTAX_ERROR on the first queued GET.
    pub fail: bool,
    /// `/* sleep_ms=N */`: each executing page waits N ms.
    pub sleep_ms: u64,
}

/// The words a Trino statement can start with (Trino's "Expecting:" list, plus
/// what its `<query>` stands for).
const STATEMENT_STARTS: [&str; 32] = [
    "ALTER",
    "ANALYZE",
    "CALL",
    "COMMENT",
    "COMMIT",
    "CREATE",
    "DEALLOCATE",
    "DELETE",
    "DENY",
    "DESC",
    "DESCRIBE",
    "DROP",
    "EXECUTE",
    "EXPLAIN",
    "GRANT",
    "INSERT",
    "MERGE",
    "PREPARE",
    "REFRESH",
    "RESET",
    "REVOKE",
    "ROLLBACK",
    "SET",
    "SHOW",
    "START",
    "TRUNCATE",
    "UPDATE",
    "USE",
    "WITH",
    "SELECT",
    "VALUES",
    "TABLE",
];

/// `sql` from its first token on: leading blanks and comments skipped.
pub fn statement_text(sql: &str) -> &str {
    let mut rest = sql.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("/*") {
            match after.find("*/") {
                Some(end) => rest = after[end + 2..].trim_start(),
                None => return "",
            }
        } else if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, next)| next).trim_start();
        } else {
            return rest;
        }
    }
}

/// True when Trino's parser would reject `sql` at its first token.
fn is_syntax_error(sql: &str) -> bool {
    let text = statement_text(sql);
    if text.starts_with('(') {
        return false;
    }
    let word: String = text.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    let ends_word = text[word.len()..].chars().next().is_none_or(|c| !c.is_alphanumeric() && c != '_');
    !(ends_word && STATEMENT_STARTS.iter().any(|s| s.eq_ignore_ascii_case(&word)))
}

pub fn parse_spec(sql: &str) -> Spec {
    let mut spec = Spec { fail: is_syntax_error(sql), ..Spec::default() };
    let mut rest = sql;
    while let Some(start) = rest.find("/*") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("*/") else { break };
        let body = after[..end].trim();
        if body == "fail" {
            spec.fail = true;
        } else if let Some((key, value)) = body.split_once('=') {
            let value = value.trim().parse::<u64>().ok();
            match key.trim() {
                "rows" => spec.rows = value.or(spec.rows),
                "sleep_ms" => spec.sleep_ms = value.unwrap_or(spec.sleep_ms),
                _ => {}
            }
        }
        rest = &after[end + 2..];
    }
    spec
}

/// The `columns` array, as Trino serialises a (bigint, varchar) result.
pub const COLUMNS_JSON: &str = concat!(
    r#"[{"name":"n","type":"bigint","typeSignature":{"rawType":"bigint","arguments":[]}},"#,
    r#"{"name":"s","type":"varchar","typeSignature":{"rawType":"varchar","arguments":"#,
    r#"[{"kind":"LONG","value":2147483647}]}}]"#
);

/// FNV-1a: stable across processes and builds (std's hashers are not).
pub fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The string column of row `i` for a query whose SQL hashes to `sql_hash`.
pub fn row_string(sql_hash: u64, i: u64, row_bytes: usize) -> String {
    let tag = format!("{:08x}", (sql_hash ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15)) >> 32);
    let mut s = match i % 8 {
        0 => format!("row {i} {tag}"),
        1 => format!("row {i} see http://127.0.0.1:8080/v1/statement/executing/x/y/1 {tag}"),
        2 => format!(r#"row {i} {{"nextUri":"http://evil/"}} {tag}"#),
        3 => format!(r#"row {i} she said "hi" \ C:\temp\n {tag}"#),
        4 => format!("row {i} café, naïve, 漢字 {tag}"),
        5 => format!(
            r#"row {i} "infoUri":"http://127.0.0.1:8080/ui/query.html?20240101_000000_00000_abcde","partialCancelUri":null {tag}"#
        ),
        6 => format!("row {i} tab\there\nnewline\r\u{1} ctl \u{2028} {tag}"),
        _ => format!("row {i} emoji 😀 and </script> {tag}"),
    };
    pad(&mut s, row_bytes);
    s
}

/// Pads `s` with a repeating ASCII pattern until it is at least `row_bytes` long.
fn pad(s: &mut String, row_bytes: usize) {
    if s.len() >= row_bytes {
        return;
    }
    s.reserve(row_bytes - s.len());
    s.push(' ');
    const PATTERN: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut k = 0;
    while s.len() < row_bytes {
        s.push(PATTERN[k % PATTERN.len()] as char);
        k += 1;
    }
}

/// Appends `[[i,"s"],...]` for rows `start..end` to `out`.
pub fn write_rows(out: &mut String, sql_hash: u64, start: u64, end: u64, row_bytes: usize) {
    out.push('[');
    for i in start..end {
        if i > start {
            out.push(',');
        }
        let _ = write!(out, "[{i},");
        crate::pages::push_json_string(out, &row_string(sql_hash, i, row_bytes));
        out.push(']');
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_directives() {
        assert_eq!(parse_spec("SELECT 1").rows, None);
        let s = parse_spec("SELECT 1 /* rows=250 */ /*sleep_ms = 7*/");
        assert_eq!((s.rows, s.sleep_ms, s.fail), (Some(250), 7, false));
        assert!(parse_spec("SELECT 1 /* fail */").fail);
        assert!(parse_spec("  {\"not\": \"sql\"}").fail);
        assert!(!parse_spec("SELECT '{'").fail);
        assert!(parse_spec("SELEC 1").fail, "not a statement");
        assert!(parse_spec("selectx 1").fail);
        assert!(!parse_spec("/* c */ select 1").fail);
        assert!(!parse_spec("-- note\n  WITH t AS (SELECT 1) SELECT * FROM t").fail);
        assert!(!parse_spec("(SELECT 1)").fail);
        assert!(!parse_spec("start transaction").fail);
        assert!(parse_spec("/* only a comment */").fail);
        assert_eq!(statement_text(" /* a */ -- b\n x"), "x");
        assert_eq!(parse_spec("/* rows=x */ /* rows=3").rows, None);
    }

    #[test]
    fn rows_are_deterministic_and_escaped() {
        let h = fnv1a("SELECT 1");
        assert_eq!(row_string(h, 5, 0), row_string(fnv1a("SELECT 1"), 5, 0));
        assert_ne!(row_string(h, 5, 0), row_string(fnv1a("SELECT 2"), 5, 0));
        let mut out = String::new();
        write_rows(&mut out, h, 0, 16, 0);
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        let rows = parsed.as_array().unwrap();
        assert_eq!(rows.len(), 16);
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row[0], i as u64);
            assert_eq!(row[1], row_string(h, i as u64, 0).as_str());
        }
        assert!(out.contains("漢字"));
        assert!(out.contains(r#"{\"nextUri\":\"http://evil/\"}"#));
    }

    #[test]
    fn padding_reaches_row_bytes() {
        let h = fnv1a("x");
        for i in 0..8 {
            assert!(row_string(h, i, 1000).len() >= 1000);
            assert!(row_string(h, i, 1000).len() < 1010);
        }
        assert!(row_string(h, 0, 0).len() < 40);
    }

    #[test]
    fn columns_are_valid_json() {
        let v: serde_json::Value = serde_json::from_str(COLUMNS_JSON).unwrap();
        assert_eq!(v[1]["typeSignature"]["arguments"][0]["value"], 2147483647);
    }
}
