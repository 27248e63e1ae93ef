//! Runs every statement of `tests/sql_corpus/*.json` through `sql::analyze` and
//! reports all mismatches at once.
//!
//! A file is `{"defaults": {"catalog", "schema"}, "cases": [...]}`. A case has `name`,
//! `sql` (a string, or lines to join with newlines), optional `catalog`/`schema`
//! (null for none) and `prepared` (name to SQL), and `expect` with:
//! `statement_type`; `query_type` (absent or null: none); `tables`, `catalogs`,
//! `schemas`, `writes` (absent: empty; tables as displayed, `.s.t` when unresolved);
//! `unresolved`, `prepared_missing` (absent: false); `inner`, `kill_query_id`,
//! `procedure`, `prepared_name` (absent: none); `metadata` (checked only when present); or `error`
//! with an error kind, in which case nothing else is checked.
// Test code: a panic here fails a test, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::path::Path;

use serde_json::{Map, Value};
use trino_router_core::sql::{
    analyze, analyze_with, query_from_first_word, Access, Analysis, Names, SessionContext, SqlError, MAX_TABLES,
};

struct Case {
    name: String,
    sql: String,
    ctx: SessionContext,
    expect: Map<String, Value>,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(lines) => {
            Some(lines.iter().map(|l| l.as_str().unwrap_or_default()).collect::<Vec<_>>().join("\n"))
        }
        _ => None,
    }
}

fn load(path: &Path) -> Vec<Case> {
    let raw = std::fs::read_to_string(path).unwrap();
    let file: Value = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", path.display()));
    let defaults = file.get("defaults").cloned().unwrap_or(Value::Null);
    let setting = |case: &Value, key: &str| -> Option<String> {
        match case.get(key) {
            Some(v) => v.as_str().map(String::from),
            None => defaults.get(key).and_then(Value::as_str).map(String::from),
        }
    };
    let cases = file["cases"].as_array().expect("a cases array");
    cases
        .iter()
        .map(|case| {
            let name = case["name"].as_str().expect("a name").to_string();
            let prepared = case
                .get("prepared")
                .and_then(Value::as_object)
                .map(|m| m.iter().map(|(k, v)| (k.clone(), text(v).unwrap())).collect::<Vec<_>>())
                .unwrap_or_default();
            let ctx = SessionContext::new(setting(case, "catalog").as_deref(), setting(case, "schema").as_deref())
                .with_prepared(prepared);
            Case {
                sql: text(&case["sql"]).unwrap_or_else(|| panic!("{name}: no sql")),
                expect: case["expect"].as_object().cloned().unwrap_or_else(|| panic!("{name}: no expect")),
                name,
                ctx,
            }
        })
        .collect()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    let mut out: Vec<String> = v
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|s| s.as_str().unwrap_or_default().to_string()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

fn opt_str(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(String::from)
}

fn with_access(a: &Analysis, access: Access) -> Vec<String> {
    a.tables.iter().filter(|t| t.access == access).map(|t| t.name.to_string()).collect()
}

/// Compares one case; returns every difference found.
fn check(case: &Case) -> Vec<String> {
    let result = analyze(&case.sql, &case.ctx);
    let e = &case.expect;
    if let Some(kind) = e.get("error").and_then(Value::as_str) {
        return match result {
            Err(err) if err.kind() == kind => vec![],
            Err(err) => vec![format!("error {} ({err}), expected {kind}", err.kind())],
            Ok(a) => vec![format!("succeeded ({}), expected error {kind}", a.statement_type)],
        };
    }
    let a = match result {
        Ok(a) => a,
        Err(err) => return vec![format!("failed: {} ({})", err, SqlError::kind(&err))],
    };
    let mut diffs = Vec::new();
    let mut cmp = |what: &str, got: String, want: String| {
        if got != want {
            diffs.push(format!("{what}: got {got}, expected {want}"));
        }
    };
    cmp("statement_type", a.statement_type.to_string(), opt_str(e.get("statement_type")).unwrap_or_default());
    cmp(
        "query_type",
        format!("{:?}", a.query_type.map(|q| q.to_string())),
        format!("{:?}", opt_str(e.get("query_type"))),
    );
    let tables: Vec<String> = a.tables.iter().map(|t| t.name.to_string()).collect();
    cmp("tables", format!("{tables:?}"), format!("{:?}", strings(e.get("tables"))));
    cmp("catalogs", format!("{:?}", a.catalogs), format!("{:?}", strings(e.get("catalogs"))));
    cmp("schemas", format!("{:?}", a.schemas), format!("{:?}", strings(e.get("schemas"))));
    cmp("writes", format!("{:?}", with_access(&a, Access::Write)), format!("{:?}", strings(e.get("writes"))));
    if e.contains_key("metadata") {
        cmp(
            "metadata",
            format!("{:?}", with_access(&a, Access::Metadata)),
            format!("{:?}", strings(e.get("metadata"))),
        );
    }
    let flag = |k: &str| e.get(k).and_then(Value::as_bool).unwrap_or(false);
    cmp("unresolved", a.unresolved.to_string(), flag("unresolved").to_string());
    cmp("prepared_missing", a.prepared_missing.to_string(), flag("prepared_missing").to_string());
    cmp(
        "inner",
        format!("{:?}", a.inner_statement_type.map(|s| s.to_string())),
        format!("{:?}", opt_str(e.get("inner"))),
    );
    cmp("kill_query_id", format!("{:?}", a.kill_query_id), format!("{:?}", opt_str(e.get("kill_query_id"))));
    cmp("prepared_name", format!("{:?}", a.prepared_name), format!("{:?}", opt_str(e.get("prepared_name"))));
    cmp(
        "procedure",
        format!("{:?}", a.procedure.as_ref().map(|p| p.to_string())),
        format!("{:?}", opt_str(e.get("procedure"))),
    );
    diffs
}

fn corpus() -> Vec<(String, Case)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sql_corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            let stem = f.file_stem().unwrap().to_string_lossy().to_string();
            load(f).into_iter().map(move |c| (stem.clone(), c))
        })
        .collect()
}

#[test]
fn sql_corpus_matches_expectations() {
    let cases = corpus();
    let mut names = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for (file, case) in &cases {
        assert!(names.insert(format!("{file}/{}", case.name)), "duplicate case {file}/{}", case.name);
        let diffs = check(case);
        if !diffs.is_empty() {
            failures.push(format!("{file}/{}:\n    {}", case.name, diffs.join("\n    ")));
        }
    }
    assert!(failures.is_empty(), "{} of {} corpus cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert!(cases.len() >= 150, "corpus has only {} statements", cases.len());
}

/// The checker itself must be able to fail, or the corpus proves nothing.
#[test]
fn sql_corpus_checker_reports_wrong_expectations() {
    let wrong = |expect: Value| Case {
        name: "wrong".into(),
        sql: "INSERT INTO t SELECT * FROM u".into(),
        ctx: SessionContext::new(Some("hive"), Some("s")),
        expect: expect.as_object().unwrap().clone(),
    };
    let right = serde_json::json!({
        "statement_type": "INSERT", "query_type": "INSERT",
        "tables": ["hive.s.t", "hive.s.u"], "writes": ["hive.s.t"],
        "catalogs": ["hive"], "schemas": ["hive.s"]
    });
    assert_eq!(check(&wrong(right.clone())), Vec::<String>::new());
    for (key, bad) in [
        ("statement_type", serde_json::json!("SELECT")),
        ("query_type", Value::Null),
        ("tables", serde_json::json!(["hive.s.t"])),
        ("writes", serde_json::json!([])),
        ("catalogs", serde_json::json!(["tpch"])),
        ("unresolved", serde_json::json!(true)),
        ("error", serde_json::json!("syntax")),
    ] {
        let mut e = right.clone();
        e[key] = bad;
        assert!(!check(&wrong(e)).is_empty(), "a wrong {key} went unnoticed");
    }
}

/// What a statement is must not depend on whether its names are kept (`Names::Skip` is the
/// analysis of configs whose rules read no catalog, schema or table): same statement, query
/// and inner type, `kill_query` id and `prepared_missing`, same errors, except that only
/// kept names can be too many. Runs the whole corpus, plus statements over the table cap.
#[test]
fn statement_facts_are_the_same_whether_names_are_kept_or_not() {
    let mut cases = corpus();
    let wide = |n: usize| (1..=n).map(|i| format!("s.t{i}")).collect::<Vec<_>>().join(", ");
    for (name, sql) in [
        ("max-tables", format!("SELECT * FROM {}", wide(MAX_TABLES))),
        ("over-max-tables", format!("INSERT INTO c.s.x SELECT * FROM {}", wide(MAX_TABLES))),
        ("over-max-tables-then-broken", format!("SELECT * FROM {} WHERE a = 'open", wide(MAX_TABLES + 1))),
        ("over-max-tables-long-name", format!("SELECT * FROM {}, a.b.c.d", wide(MAX_TABLES + 1))),
        // Names too long to resolve are errors at both depths, wherever they stand.
        ("long-name-in-from", "SELECT * FROM x JOIN a.b.c.d ON true".into()),
        ("long-table-function", "SELECT * FROM TABLE(a.b.c.f(1))".into()),
        ("long-procedure", "CALL a.b.c.kill_query('x')".into()),
        ("long-rename-target", "ALTER TABLE t RENAME TO a.b.c.d".into()),
        ("long-schema", "SHOW TABLES FROM a.b.c".into()),
    ] {
        let ctx = SessionContext::new(Some("c"), None);
        cases.push(("generated".into(), Case { name: name.into(), sql, ctx, expect: Map::new() }));
    }
    let mut failures = Vec::new();
    let mut over_cap = 0;
    for (file, case) in &cases {
        let kept = analyze(&case.sql, &case.ctx);
        let skipped = analyze_with(&case.sql, &case.ctx, Names::Skip);
        let facts = |a: &Analysis| {
            format!(
                "{} {:?} {:?} kill={:?} missing={}",
                a.statement_type, a.query_type, a.inner_statement_type, a.kill_query_id, a.prepared_missing
            )
        };
        let (kept, skipped) = match (kept, skipped) {
            // Kept names stop at the cap; without them the statement is read to its end,
            // where it may still fail for another reason.
            (Err(SqlError::TooManyTables { .. }), s) => {
                over_cap += 1;
                assert!(!matches!(s, Err(SqlError::TooManyTables { .. })), "{}: capped without names", case.name);
                continue;
            }
            (Ok(k), Ok(s)) => {
                let no_names = s.tables.is_empty() && s.catalogs.is_empty() && s.schemas.is_empty();
                let no_names = no_names && !s.unresolved && s.procedure.is_none() && s.prepared_name.is_none();
                if !no_names {
                    failures.push(format!("{file}/{}: names kept with Names::Skip: {s:?}", case.name));
                }
                (facts(&k), facts(&s))
            }
            (k, s) => (format!("{:?}", k.map(|a| facts(&a))), format!("{:?}", s.map(|a| facts(&a)))),
        };
        if kept != skipped {
            failures.push(format!("{file}/{}:\n    names kept: {kept}\n    names skipped: {skipped}", case.name));
        }
    }
    assert!(failures.is_empty(), "{} of {} statements differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert_eq!(over_cap, 2, "two generated statements are over the cap when names are kept");
    let ctx = SessionContext::new(Some("c"), None);
    let wide = format!("INSERT INTO c.s.x SELECT * FROM {}", wide(MAX_TABLES));
    let a = analyze_with(&wide, &ctx, Names::Skip).unwrap();
    assert_eq!((a.statement_type.as_str(), a.query_type.map(|q| q.as_str())), ("INSERT", Some("INSERT")));
    assert!(a.tables.is_empty());
    assert!(cases.len() >= 150, "corpus has only {} statements", cases.len());
}

/// Routing by statement or query type reads a query's first word only
/// (`query_from_first_word`). Over the whole corpus, plus statements that start in ways a
/// first-word reader could get wrong, it must give exactly what the whole analysis without
/// names gives for every statement that analysis accepts, and stand aside (None) for every
/// statement that is not a query. Where the whole analysis refuses a malformed query, the
/// first word still says query: that is the one difference, and it is allowed.
#[test]
fn a_query_typed_from_its_first_word_is_what_the_whole_analysis_says() {
    let mut cases = corpus();
    for (name, sql) in [
        ("comment-then-select", "-- a comment\n/* another */ SELECT 1"),
        ("parenthesised", "  (SELECT 1) UNION (SELECT 2)"),
        ("with-then-select", "WITH x AS (SELECT 1) SELECT * FROM x"),
        ("values", "VALUES 1, 2"),
        ("table", "TABLE hive.web.t"),
        ("upper-and-lower", "sElEcT 1"),
        ("select-prefix-of-a-word", "selection 1"),
        ("word-going-on-in-another-script", "selectñ 1"),
        ("quoted-first-word", "\"select\" 1"),
        ("comment-hiding-a-write", "/* SELECT */ INSERT INTO t VALUES 1"),
        ("line-comment-hiding-a-write", "-- SELECT\nDELETE FROM t"),
        ("unterminated-comment", "/* SELECT 1"),
        ("explain-of-a-write", "EXPLAIN ANALYZE INSERT INTO t SELECT 1"),
        ("ctas", "CREATE TABLE t AS SELECT 1"),
        ("execute", "EXECUTE q"),
    ] {
        let ctx = SessionContext::new(Some("hive"), Some("web"));
        cases.push(("generated".into(), Case { name: name.into(), sql: sql.into(), ctx, expect: Map::new() }));
    }
    let (mut typed, mut failures) = (0, Vec::new());
    for (file, case) in &cases {
        let whole = analyze_with(&case.sql, &case.ctx, Names::Skip);
        match (query_from_first_word(&case.sql, &case.ctx), whole) {
            (Some(first), Ok(whole)) if first != whole => {
                failures.push(format!("{file}/{}:\n    first word: {first:?}\n    whole: {whole:?}", case.name))
            }
            (Some(_), Ok(_)) => typed += 1,
            // A malformed query: the allowed difference.
            (Some(first), Err(_)) if first.statement_type.as_str() == "SELECT" => {}
            (Some(first), Err(e)) => failures.push(format!("{file}/{}: {first:?}, whole analysis: {e}", case.name)),
            (None, Ok(whole)) if whole.statement_type.as_str() == "SELECT" && whole.inner_statement_type.is_none() => {
                // Queries the reader does not recognise are analysed whole: fine, but the
                // plain ones of the corpus should all be recognised.
                let start = case.sql.trim_start().to_ascii_lowercase();
                if ["select", "with", "values", "table", "("].iter().any(|k| start.starts_with(k)) {
                    failures.push(format!("{file}/{}: a plain query not typed from its first word", case.name));
                }
            }
            (None, _) => {}
        }
    }
    assert!(failures.is_empty(), "{} of {} statements differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert!(typed >= 40, "only {typed} corpus queries typed from their first word");
    let ctx = SessionContext::new(None, None);
    for not_a_query in ["selection 1", "selectñ 1", "\"select\" 1", "/* SELECT 1", "-- SELECT\nDELETE FROM t"] {
        assert_eq!(query_from_first_word(not_a_query, &ctx), None, "{not_a_query}");
    }
    let malformed = query_from_first_word("SELECT (1; DROP TABLE t", &ctx).unwrap();
    assert_eq!(malformed.statement_type.as_str(), "SELECT", "the allowed difference: Trino refuses it itself");
}
