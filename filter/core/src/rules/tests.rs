use super::*;
use crate::inspect::SqlFacts;
use crate::request::Headers;
use serde_json::{json, Value};

fn head(pairs: &[(&str, &str)]) -> RequestHead {
    let mut h = Headers::from_pairs(pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes().to_vec())));
    h.push(":method", "POST");
    h.push(":path", "/v1/statement");
    RequestHead::from_headers(h)
}

fn cond(v: Value) -> Condition {
    parse_condition(&v, "when").unwrap()
}

fn holds(c: &Condition, h: &RequestHead) -> bool {
    c.matches(RuleInput { head: h, sql: &SqlFacts::not_read() })
}

fn holds_sql(c: &Condition, sql: &str, headers: &[(&str, &str)]) -> bool {
    let h = head(headers);
    let facts = SqlFacts::from_body(sql.as_bytes(), &h, crate::inspect::SqlDepth::TableNames);
    c.matches(RuleInput { head: &h, sql: &facts })
}

#[test]
fn each_text_field_matches_its_header() {
    let h = head(&[
        ("x-trino-user", "etl"),
        ("x-trino-source", "airflow-2"),
        ("x-trino-client-info", "{\"team\":\"bi\"}"),
        ("x-trino-catalog", "hive"),
        ("x-trino-schema", "finance"),
        ("x-trino-path", "lake.raw,system.builtin"),
    ]);
    assert!(holds(&cond(json!({"sql_path": {"prefix": "lake."}})), &h));
    assert!(holds(&cond(json!({"user": {"exact": "etl"}})), &h));
    assert!(holds(&cond(json!({"source": {"prefix": "airflow"}})), &h));
    assert!(holds(&cond(json!({"client_info": {"regex": ".*\"team\":\"bi\".*"}})), &h));
    assert!(holds(&cond(json!({"catalog": {"in": ["iceberg", "hive"]}})), &h));
    assert!(holds(&cond(json!({"schema": {"exact": "finance"}})), &h));
    assert!(holds(&cond(json!({"path": {"exact": "/v1/statement"}})), &h));
    assert!(!holds(&cond(json!({"user": {"exact": "et"}})), &h));
    assert!(!holds(&cond(json!({"source": {"regex": "airflow"}})), &h), "regex is anchored");
}

#[test]
fn combinators_compose() {
    let h = head(&[("x-trino-user", "alice"), ("x-trino-client-tags", "etl,big")]);
    assert!(holds(
        &cond(json!({"all": [{"user": {"exact": "alice"}}, {"client_tags": {"all_of": ["big", "etl"]}}]})),
        &h
    ));
    assert!(holds(&cond(json!({"any": [{"user": {"exact": "bob"}}, {"client_tags": {"any_of": ["x", "etl"]}}]})), &h));
    assert!(!holds(&cond(json!({"client_tags": {"all_of": ["etl", "small"]}})), &h));
    assert!(holds(&cond(json!({"not": {"source": {"exact": "x"}}})), &h), "absent source does not match");
}

#[test]
fn session_properties_and_any_header() {
    let h = head(&[("x-trino-session", "resource_estimate=big"), ("X-Team", "data")]);
    assert!(holds(&cond(json!({"session_property": {"name": "resource_estimate", "value": {"exact": "big"}}})), &h));
    assert!(holds(&cond(json!({"header": {"name": "x-team", "value": {"exact": "data"}}})), &h));
    assert!(holds(&cond(json!({"header": {"name": "X-Team", "value": {"prefix": "d"}}})), &h));
}

#[test]
fn first_matching_rule_wins() {
    let rules = Rules(vec![
        Rule { name: "a".into(), when: Some(cond(json!({"user": {"exact": "x"}}))), group: GroupId(1) },
        Rule { name: "b".into(), when: Some(cond(json!({"user": {"prefix": ""}}))), group: GroupId(2) },
        Rule { name: "c".into(), when: None, group: GroupId(3) },
    ]);
    let first =
        |h: &RequestHead| rules.first_match(RuleInput { head: h, sql: &SqlFacts::not_read() }).unwrap().name.clone();
    assert_eq!(first(&head(&[("x-trino-user", "x")])), "a");
    assert_eq!(first(&head(&[("x-trino-user", "y")])), "b");
    assert_eq!(first(&head(&[])), "c");
    assert!(!rules.read_sql());
}

#[test]
fn statement_and_query_types() {
    let insert = cond(json!({"query_type": {"exact": "INSERT"}}));
    assert!(holds_sql(
        &insert,
        "INSERT INTO t SELECT * FROM u",
        &[("x-trino-catalog", "hive"), ("x-trino-schema", "s")]
    ));
    assert!(holds_sql(&insert, "CREATE TABLE t AS SELECT 1", &[]));
    assert!(!holds_sql(&insert, "SELECT 1", &[]));
    assert!(holds_sql(&cond(json!({"statement_type": {"prefix": "SHOW_"}})), "SHOW TABLES FROM hive.s", &[]));
    assert!(holds_sql(&cond(json!({"query_type": {"exact": "DATA_DEFINITION"}})), "DROP TABLE hive.s.t", &[]));
}

#[test]
fn tables_catalogs_and_schemas_with_any_and_all() {
    let sql = "SELECT * FROM hive.finance.ledger l JOIN iceberg.web.clicks c ON l.id = c.id";
    let finance_any = cond(json!({"tables": {"any": {"glob": "hive.finance.*"}}}));
    let finance_all = cond(json!({"tables": {"all": {"glob": "hive.finance.*"}}}));
    assert!(holds_sql(&finance_any, sql, &[]));
    assert!(!holds_sql(&finance_all, sql, &[]));
    assert!(holds_sql(
        &finance_all,
        "SELECT * FROM ledger",
        &[("x-trino-catalog", "hive"), ("x-trino-schema", "finance")]
    ));
    assert!(!holds_sql(&finance_all, "SELECT 1", &[]), "all needs at least one table");
    assert!(holds_sql(&cond(json!({"catalogs": {"any": {"exact": "iceberg"}}})), sql, &[]));
    assert!(holds_sql(&cond(json!({"schemas": {"all": {"in": ["hive.finance", "iceberg.web"]}}})), sql, &[]));
    assert!(!holds_sql(&finance_any, "SELECT 'hive.finance.ledger' -- FROM hive.finance.ledger", &[]));
}

#[test]
fn sql_text_body_size_and_inspection_status() {
    assert!(holds_sql(
        &cond(json!({"sql": {"search": "(?i)approx_distinct"}})),
        "select APPROX_DISTINCT(x) from t",
        &[]
    ));
    assert!(holds_sql(&cond(json!({"body_size": {"min": 10}})), "SELECT 12345678", &[]));
    assert!(!holds_sql(&cond(json!({"body_size": {"max": 5}})), "SELECT 12345678", &[]));
    let unparseable = cond(json!({"sql_inspection": {"exact": "unparseable"}}));
    assert!(holds_sql(&unparseable, "SELECT 'unterminated", &[]));
    assert!(!holds_sql(&unparseable, "SELECT 1", &[]));
    let h = head(&[]);
    let big = SqlFacts::too_large(10_000_000, 1024);
    assert!(cond(json!({"sql_inspection": {"exact": "too_large"}})).matches(RuleInput { head: &h, sql: &big }));
    assert!(!cond(json!({"query_type": {"exact": "SELECT"}})).matches(RuleInput { head: &h, sql: &big }));
}

#[test]
fn sql_conditions_make_the_rules_read_the_body() {
    let rules = Rules(vec![Rule {
        name: "a".into(),
        when: Some(cond(json!({"not": {"tables": {"any": {"exact": "x"}}}}))),
        group: GroupId(1),
    }]);
    assert!(rules.read_sql());
}

#[test]
fn the_sql_is_worked_out_only_as_far_as_the_rules_need() {
    use crate::inspect::{SqlDepth, SqlStatus};
    let depth = |whens: Vec<Value>| {
        Rules(whens.into_iter().map(|w| Rule { name: "r".into(), when: Some(cond(w)), group: GroupId(0) }).collect())
            .sql_depth()
    };
    assert_eq!(depth(vec![json!({"user": {"exact": "etl"}})]), None);
    assert_eq!(
        depth(vec![json!({"sql": {"search": "(?i)join"}}), json!({"body_size": {"min": 1}})]),
        Some(SqlDepth::Text)
    );
    assert_eq!(
        depth(vec![json!({"sql": {"search": "x"}}), json!({"any": [{"query_type": {"exact": "SELECT"}}]})]),
        Some(SqlDepth::Type)
    );
    assert_eq!(
        depth(vec![json!({"statement_type": {"exact": "INSERT"}}), json!({"sql_inspection": {"exact": "analysed"}})]),
        Some(SqlDepth::Statement)
    );
    assert_eq!(depth(vec![json!({"catalogs": {"any": {"exact": "hive"}}})]), Some(SqlDepth::Analysis));
    assert_eq!(depth(vec![json!({"not": {"tables": {"any": {"exact": "x"}}}})]), Some(SqlDepth::TableNames));

    // Text only: no analysis, yet `sql` searches see the text.
    let h = head(&[]);
    let text = SqlFacts::from_body(b"SELECT * FROM a CROSS JOIN b", &h, SqlDepth::Text);
    assert_eq!((text.status, text.analysis.is_none()), (SqlStatus::Read, true));
    assert!(cond(json!({"sql": {"search": "(?i)cross join"}})).matches(RuleInput { head: &h, sql: &text }));
    // Statement facts only: types match, no name is resolved or kept.
    let typed = SqlFacts::from_body(b"SELECT * FROM hive.s.t", &h, SqlDepth::Statement);
    assert!(cond(json!({"query_type": {"exact": "SELECT"}})).matches(RuleInput { head: &h, sql: &typed }));
    let a = typed.analysis.as_ref().unwrap();
    assert!(typed.tables.is_empty() && a.tables.is_empty() && a.catalogs.is_empty() && a.schemas.is_empty());
    // Analysis: catalogs and schemas for their rules, still no `catalog.schema.table` strings.
    let analysed = SqlFacts::from_body(b"SELECT * FROM hive.s.t", &h, SqlDepth::Analysis);
    assert!(cond(json!({"schemas": {"any": {"exact": "hive.s"}}})).matches(RuleInput { head: &h, sql: &analysed }));
    assert!(analysed.tables.is_empty());
    let named = SqlFacts::from_body(b"SELECT * FROM hive.s.t", &h, SqlDepth::TableNames);
    assert_eq!(named.tables, ["hive.s.t"]);
}

#[test]
fn errors_name_the_field() {
    let err = |v: Value| parse_condition(&v, "rules[3].when").unwrap_err().to_string();
    assert_eq!(err(json!({"user": {"regex": "(a"}})), "rules[3].when.user.regex: invalid regex: unclosed group");
    assert!(err(json!({"user": {"exact": "a"}, "source": {"exact": "b"}}))
        .starts_with("rules[3].when: a condition must have exactly one key, found 2 (source, user)"));
    assert!(err(json!({"usr": {"exact": "a"}})).starts_with("rules[3].when: unknown condition `usr`"));
    assert!(err(json!({"all": [{"user": {"exakt": "a"}}]}))
        .starts_with("rules[3].when.all[0].user: unknown matcher `exakt`"));
    assert_eq!(
        err(json!({"client_tags": {"any_of": []}})),
        "rules[3].when.client_tags.any_of: expected a non-empty list of strings"
    );
    assert_eq!(
        err(json!({"header": {"name": "x", "value": {"in": ["a", 1]}}})),
        "rules[3].when.header.value.in[1]: expected a string"
    );
    assert_eq!(
        err(json!({"header": {"name": "x", "valu": {}}})),
        "rules[3].when.header.valu: unknown field; expected `name` and `value`"
    );
    assert!(err(json!({"query_type": {"in": ["SELECT", "INSRET"]}}))
        .starts_with("rules[3].when.query_type: unknown value `INSRET`"));
    assert!(err(json!({"tables": {"some": {"exact": "a"}}})).starts_with("rules[3].when.tables: unknown key `some`"));
    assert_eq!(err(json!({"body_size": {}})), "rules[3].when.body_size: give `min`, `max` or both");
    assert_eq!(err(json!({"body_size": {"min": -1}})), "rules[3].when.body_size.min: expected a byte count");
}

#[test]
fn regexes_know_unicode_words_spaces_and_case_but_not_unicode_classes() {
    let m = |pattern: &str| parse_matcher(&json!({"search": pattern}), "m").unwrap();
    assert!(m(r"(?i)\bfrom\s+secret\b").matches("select x FROM\u{a0}SECRET"));
    assert!(m(r"(?i)café").matches("CAFÉ"));
    assert!(m(r"^\w+$").matches("café"));
    assert!(m(r"^\d+$").matches("١٢٣"), "Unicode digits, as in Trino");
    let err = parse_matcher(&json!({"regex": r"\p{Greek}+"}), "rules[0].when.user").unwrap_err().to_string();
    assert_eq!(err, "rules[0].when.user.regex: invalid regex: Unicode property not found");
}
