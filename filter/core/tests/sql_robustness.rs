//! The analyser must return, Ok or Err, on anything: random bytes, token soup,
//! every prefix of every corpus statement, mutated statements and pathological shapes.
//! A panic here would be a dead Envoy worker in production.
// Test code: a panic here fails a test, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use trino_router_core::sql::{
    analyze, decode_prepared_statements, tokenize, SessionContext, SqlError, SqlText, MAX_TABLES,
};

/// Iterations of the random tests; `SQL_FUZZ_SCALE=50` runs fifty times as many.
fn rounds(base: usize) -> usize {
    base * std::env::var("SQL_FUZZ_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1)
}

/// Seeds differ per scale so a longer run explores new inputs.
fn seed(base: u64) -> u64 {
    base ^ rounds(1) as u64
}

fn sessions() -> Vec<SessionContext> {
    let prepared = vec![
        ("q".to_string(), "SELECT * FROM t WHERE x = ?".to_string()),
        ("self".to_string(), "EXECUTE self".to_string()),
        ("bad".to_string(), "SELECT 'unterminated".to_string()),
    ];
    vec![
        SessionContext::default(),
        SessionContext::new(Some("hive"), Some("web")).with_prepared(prepared.clone()),
        SessionContext::new(Some("system"), None).with_prepared(prepared),
    ]
}

/// Runs the analyser and the lexer, turning a panic into a described failure.
fn survives(sql: &str, ctx: &SessionContext, failures: &mut Vec<String>) {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let _ = tokenize(&SqlText::new(sql));
        let _ = analyze(sql, ctx);
    }));
    if outcome.is_err() && failures.len() < 20 {
        failures.push(format!("{sql:?}"));
    }
}

fn corpus_sql() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sql_corpus");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for case in file["cases"].as_array().unwrap() {
            let sql = match &case["sql"] {
                Value::String(s) => s.clone(),
                Value::Array(lines) => lines.iter().map(|l| l.as_str().unwrap()).collect::<Vec<_>>().join("\n"),
                _ => continue,
            };
            out.push(sql);
        }
    }
    assert!(out.len() >= 150);
    out
}

#[test]
fn sql_random_bytes_never_panic() {
    let ctxs = sessions();
    let mut rng = Rng(seed(0x9E37_79B9_7F4A_7C15));
    let mut failures = Vec::new();
    for _ in 0..rounds(20_000) {
        let len = rng.below(120);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let _ =
            catch_unwind(|| decode_prepared_statements(&bytes)).map_err(|_| failures.push(format!("header {bytes:?}")));
        let text = String::from_utf8_lossy(&bytes);
        survives(&text, rng.pick(&ctxs), &mut failures);
    }
    assert!(failures.is_empty(), "panicked on: {failures:#?}");
}

#[test]
fn sql_token_soup_never_panics() {
    const PIECES: &[&str] = &[
        "SELECT",
        "FROM",
        "JOIN",
        "WITH",
        "RECURSIVE",
        "AS",
        "(",
        ")",
        "[",
        "]",
        ",",
        ".",
        ";",
        "TABLE",
        "UNNEST",
        "LATERAL",
        "INSERT",
        "INTO",
        "MERGE",
        "USING",
        "UPDATE",
        "DELETE",
        "CREATE",
        "DROP",
        "ALTER",
        "RENAME",
        "TO",
        "SHOW",
        "STATS",
        "FOR",
        "EXPLAIN",
        "ANALYZE",
        "EXECUTE",
        "IMMEDIATE",
        "PREPARE",
        "CALL",
        "system.runtime.kill_query",
        "query_id",
        "=>",
        "'",
        "''",
        "'x'",
        "\"",
        "\"q\"",
        "U&'\\0041'",
        "UESCAPE",
        "'!'",
        "X'",
        "--",
        "\n",
        "/*",
        "*/",
        "t",
        "c.s.t",
        "DISTINCT",
        "IS",
        "ON",
        "IN",
        "COLUMN",
        "COMMENT",
        "BEGIN",
        "END",
        "CASE",
        "FUNCTION",
        "DESCRIBE",
        "INPUT",
        "q",
        "self",
        "bad",
        "GRANT",
        "SCHEMA",
        "USE",
        "SET",
        "SESSION",
        "AUTHORIZATION",
        "1",
        "1e",
        "0x",
        "?",
        "->",
        "ü",
        "💥",
    ];
    const SEPARATORS: &[&str] = &[" ", "", "\t", "\n"];
    let ctxs = sessions();
    let mut rng = Rng(seed(42));
    let mut failures = Vec::new();
    for _ in 0..rounds(30_000) {
        let n = rng.below(40);
        let mut sql = String::new();
        for _ in 0..n {
            let piece = PIECES[rng.below(PIECES.len())];
            let separator = SEPARATORS[rng.below(SEPARATORS.len())];
            sql.push_str(piece);
            sql.push_str(separator);
        }
        survives(&sql, rng.pick(&ctxs), &mut failures);
    }
    assert!(failures.is_empty(), "panicked on: {failures:#?}");
}

#[test]
fn sql_every_prefix_and_mutation_of_the_corpus_is_handled() {
    let ctxs = sessions();
    let mut rng = Rng(seed(7));
    let mut failures = Vec::new();
    for sql in corpus_sql() {
        for (cut, _) in sql.char_indices() {
            survives(&sql[..cut], &ctxs[cut % ctxs.len()], &mut failures);
        }
        for _ in 0..rounds(20) {
            let mut bytes = sql.clone().into_bytes();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bytes.len() + 1);
                match rng.below(3) {
                    0 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    1 => bytes.insert(at, *rng.pick(b"()'\";,.-/*\\\"U&")),
                    _ => bytes.insert(at, rng.next() as u8),
                }
            }
            survives(&String::from_utf8_lossy(&bytes), rng.pick(&ctxs), &mut failures);
        }
    }
    assert!(failures.is_empty(), "panicked on: {failures:#?}");
}

/// Shapes that would blow a recursive parser's stack or a quadratic algorithm's time.
#[test]
fn sql_pathological_inputs_are_bounded() {
    let ctx = SessionContext::new(Some("hive"), Some("web"));
    // A bound that only a blow-up misses: a quadratic pass over these 100,000-element inputs
    // takes minutes, while the linear analysis takes well under a second even in a debug
    // build. It is not a performance test (the benches are): a busy CI machine must not fail it.
    let timed = |sql: &str| {
        let start = Instant::now();
        let result = analyze(sql, &ctx);
        assert!(start.elapsed() < Duration::from_secs(30), "too slow on {} bytes", sql.len());
        result
    };
    let deep = format!("SELECT {}1{}", "(".repeat(100_000), ")".repeat(100_000));
    assert_eq!(timed(&deep).unwrap_err().kind(), "too_deep");
    let deep_from = format!("SELECT * FROM {}t{}", "(".repeat(50_000), ")".repeat(50_000));
    assert_eq!(timed(&deep_from).unwrap_err().kind(), "too_deep");
    let unclosed = "SELECT ".to_string() + &"(".repeat(200);
    assert_eq!(timed(&unclosed).unwrap_err().kind(), "unbalanced");

    let many_tables: Vec<String> = (0..=MAX_TABLES).map(|i| format!("t{i}")).collect();
    let sql = format!("SELECT * FROM {}", many_tables.join(", "));
    assert_eq!(timed(&sql).unwrap_err(), SqlError::TooManyTables { limit: MAX_TABLES });

    let same_table = format!("SELECT * FROM {}", vec!["t"; 100_000].join(", "));
    assert_eq!(timed(&same_table).unwrap().tables.len(), 1);

    let ctes: Vec<String> = (0..20_000).map(|i| format!("c{i} AS (SELECT 1)")).collect();
    let refs: Vec<String> = (0..20_000).map(|i| format!("c{i}")).collect();
    let sql = format!("WITH {} SELECT * FROM {}", ctes.join(", "), refs.join(", "));
    assert!(timed(&sql).unwrap().tables.is_empty());

    let long_ident = format!("SELECT * FROM {}", "a".repeat(1_000_000));
    assert_eq!(timed(&long_ident).unwrap().tables.len(), 1);
    let quotes = format!("SELECT '{}'", "''".repeat(500_000));
    assert!(timed(&quotes).is_ok());
    let unicode_strings = format!("SELECT {}", vec!["U&'\\0041' UESCAPE '\\'"; 20_000].join(" || "));
    assert!(timed(&unicode_strings).is_ok());
    let comments = "/* x */".repeat(200_000) + "SELECT 1";
    assert!(timed(&comments).is_ok());

    let too_big = "x".repeat(trino_router_core::sql::MAX_SQL_BYTES + 1);
    assert_eq!(timed(&too_big).unwrap_err().kind(), "too_large");

    let loop_ctx = SessionContext::new(None, None)
        .with_prepared([("a".to_string(), "EXECUTE b".to_string()), ("b".to_string(), "EXECUTE a".to_string())]);
    assert_eq!(analyze("EXECUTE a", &loop_ctx).unwrap_err().kind(), "too_deep");
    let immediate =
        (0..20).fold("SELECT 1".to_string(), |inner, _| format!("EXECUTE IMMEDIATE '{}'", inner.replace('\'', "''")));
    assert_eq!(timed(&immediate).unwrap_err().kind(), "too_deep");
}
