//! Routing rules: conditions on a request, parsed from the config's JSON with errors that
//! name their field, and evaluated first-match-wins by `Rules::first_match`.

use crate::error::{field, index, ConfigError};
use crate::request::{RequestHead, TrinoFacts};
use regex::Regex;
use serde_json::Value;

/// Compiled regexes are capped so a config cannot make Envoy allocate without bound.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// How a text value is compared.
#[derive(Debug, Clone)]
pub enum Matcher {
    Exact(String),
    Prefix(String),
    /// Anchored at both ends, like Envoy's `safe_regex`: `etl.*` does not match `my-etl`.
    Regex(Regex),
    In(Vec<String>),
}

impl Matcher {
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(s) => value == s,
            Matcher::Prefix(p) => value.starts_with(p.as_str()),
            Matcher::Regex(r) => r.is_match(value),
            Matcher::In(list) => list.iter().any(|s| s == value),
        }
    }
}

/// A text the rules can look at. An absent value matches nothing (use `not` for "unset").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    User,
    Source,
    ClientInfo,
    Catalog,
    Schema,
    Path,
}

#[derive(Debug, Clone)]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    Text(Field, Matcher),
    ClientTagsAnyOf(Vec<String>),
    ClientTagsAllOf(Vec<String>),
    SessionProperty { name: String, value: Matcher },
    Header { name: String, value: Matcher },
}

impl Condition {
    pub fn matches(&self, head: &RequestHead) -> bool {
        let facts = TrinoFacts::new(&head.headers);
        match self {
            Condition::All(cs) => cs.iter().all(|c| c.matches(head)),
            Condition::Any(cs) => cs.iter().any(|c| c.matches(head)),
            Condition::Not(c) => !c.matches(head),
            Condition::Text(f, m) => match f {
                Field::User => facts.user().is_some_and(|u| m.matches(&u)),
                Field::Source => facts.source().is_some_and(|v| m.matches(v)),
                Field::ClientInfo => facts.client_info().is_some_and(|v| m.matches(v)),
                Field::Catalog => facts.catalog().is_some_and(|v| m.matches(v)),
                Field::Schema => facts.schema().is_some_and(|v| m.matches(v)),
                Field::Path => m.matches(&head.path),
            },
            Condition::ClientTagsAnyOf(want) => {
                let tags = facts.client_tags();
                want.iter().any(|w| tags.contains(&w.as_str()))
            }
            Condition::ClientTagsAllOf(want) => {
                let tags = facts.client_tags();
                want.iter().all(|w| tags.contains(&w.as_str()))
            }
            Condition::SessionProperty { name, value } => {
                facts.session_property(name).is_some_and(|v| value.matches(&v))
            }
            Condition::Header { name, value } => head.headers.get_str(name).is_some_and(|v| value.matches(v)),
        }
    }
}

/// A named rule: when its condition holds, the query goes to `group`.
#[derive(Debug, Clone)]
pub struct Rule<G> {
    pub name: String,
    pub when: Option<Condition>,
    pub group: G,
}

/// Rules in config order; the first whose condition holds decides.
#[derive(Debug, Clone)]
pub struct Rules<G>(pub Vec<Rule<G>>);

impl<G> Rules<G> {
    pub fn first_match(&self, head: &RequestHead) -> Option<&Rule<G>> {
        self.0.iter().find(|r| r.when.as_ref().is_none_or(|c| c.matches(head)))
    }
}

/// Parses a condition object such as `{"user": {"exact": "etl"}}`; `path` is its JSON path.
pub fn parse_condition(v: &Value, path: &str) -> Result<Condition, ConfigError> {
    let (key, body) = single_key(v, path, "a condition")?;
    let here = field(path, key);
    let text = |f: Field| parse_matcher(body, &here).map(|m| Condition::Text(f, m));
    match key {
        "all" | "any" => {
            let list = body
                .as_array()
                .filter(|l| !l.is_empty())
                .ok_or_else(|| ConfigError::new(&here, "expected a non-empty list of conditions"))?;
            let cs = list
                .iter()
                .enumerate()
                .map(|(i, c)| parse_condition(c, &index(&here, i)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if key == "all" { Condition::All(cs) } else { Condition::Any(cs) })
        }
        "not" => Ok(Condition::Not(Box::new(parse_condition(body, &here)?))),
        "user" => text(Field::User),
        "source" => text(Field::Source),
        "client_info" => text(Field::ClientInfo),
        "catalog" => text(Field::Catalog),
        "schema" => text(Field::Schema),
        "path" => text(Field::Path),
        "client_tags" => parse_client_tags(body, &here),
        "session_property" | "header" => {
            let (name, value) = parse_named(body, &here)?;
            Ok(if key == "header" {
                Condition::Header { name: name.to_ascii_lowercase(), value }
            } else {
                Condition::SessionProperty { name, value }
            })
        }
        other => Err(ConfigError::new(
            path,
            format!(
                "unknown condition `{other}`; expected one of all, any, not, user, source, client_info, catalog, schema, path, client_tags, session_property, header"
            ),
        )),
    }
}

/// Parses `{"exact": ".."}`, `{"prefix": ".."}`, `{"regex": ".."}` or `{"in": [..]}`.
pub fn parse_matcher(v: &Value, path: &str) -> Result<Matcher, ConfigError> {
    let (key, body) = single_key(v, path, "a matcher")?;
    let here = field(path, key);
    match key {
        "exact" => Ok(Matcher::Exact(string(body, &here)?)),
        "prefix" => Ok(Matcher::Prefix(string(body, &here)?)),
        "regex" => {
            let pattern = string(body, &here)?;
            regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map(Matcher::Regex)
                .map_err(|e| ConfigError::new(&here, regex_error(&e)))
        }
        "in" => Ok(Matcher::In(string_list(body, &here)?)),
        other => {
            Err(ConfigError::new(path, format!("unknown matcher `{other}`; expected one of exact, prefix, regex, in")))
        }
    }
}

fn parse_client_tags(v: &Value, path: &str) -> Result<Condition, ConfigError> {
    let (key, body) = single_key(v, path, "a client_tags condition")?;
    let here = field(path, key);
    match key {
        "any_of" => Ok(Condition::ClientTagsAnyOf(string_list(body, &here)?)),
        "all_of" => Ok(Condition::ClientTagsAllOf(string_list(body, &here)?)),
        other => Err(ConfigError::new(path, format!("unknown key `{other}`; expected any_of or all_of"))),
    }
}

fn parse_named(v: &Value, path: &str) -> Result<(String, Matcher), ConfigError> {
    let obj = v.as_object().ok_or_else(|| ConfigError::new(path, "expected an object with `name` and `value`"))?;
    if let Some(extra) = obj.keys().find(|k| *k != "name" && *k != "value") {
        return Err(ConfigError::new(field(path, extra), "unknown field; expected `name` and `value`"));
    }
    let name_path = field(path, "name");
    let name = string(obj.get("name").unwrap_or(&Value::Null), &name_path)?;
    if name.is_empty() {
        return Err(ConfigError::new(name_path, "must not be empty"));
    }
    let value_path = field(path, "value");
    let value = obj.get("value").ok_or_else(|| ConfigError::new(&value_path, "missing"))?;
    Ok((name, parse_matcher(value, &value_path)?))
}

fn single_key<'v>(v: &'v Value, path: &str, what: &str) -> Result<(&'v str, &'v Value), ConfigError> {
    let obj =
        v.as_object().ok_or_else(|| ConfigError::new(path, format!("expected {what}: an object with one key")))?;
    let mut entries = obj.iter();
    match (entries.next(), entries.next()) {
        (Some((k, body)), None) => Ok((k.as_str(), body)),
        (None, _) => Err(ConfigError::new(path, format!("{what} must have exactly one key, found none"))),
        (Some(_), Some(_)) => {
            let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
            Err(ConfigError::new(
                path,
                format!(
                    "{what} must have exactly one key, found {} ({}); combine conditions with `all` or `any`",
                    keys.len(),
                    keys.join(", ")
                ),
            ))
        }
    }
}

fn string(v: &Value, path: &str) -> Result<String, ConfigError> {
    v.as_str().map(str::to_string).ok_or_else(|| ConfigError::new(path, "expected a string"))
}

fn string_list(v: &Value, path: &str) -> Result<Vec<String>, ConfigError> {
    let list = v
        .as_array()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| ConfigError::new(path, "expected a non-empty list of strings"))?;
    list.iter().enumerate().map(|(i, s)| string(s, &index(path, i))).collect()
}

/// The regex crate's errors span lines with a caret diagram; keep the last line, the reason.
fn regex_error(e: &regex::Error) -> String {
    let text = e.to_string();
    let reason = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid regex");
    format!("invalid regex: {}", reason.trim().trim_start_matches("error: "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Headers;
    use serde_json::json;

    fn head(pairs: &[(&str, &str)]) -> RequestHead {
        let mut h = Headers::from_pairs(pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes().to_vec())));
        h.push(":method", "POST");
        h.push(":path", "/v1/statement");
        RequestHead::from_headers(h)
    }

    fn cond(v: Value) -> Condition {
        parse_condition(&v, "when").unwrap()
    }

    #[test]
    fn each_text_field_matches_its_header() {
        let h = head(&[
            ("x-trino-user", "etl"),
            ("x-trino-source", "airflow-2"),
            ("x-trino-client-info", "{\"team\":\"bi\"}"),
            ("x-trino-catalog", "hive"),
            ("x-trino-schema", "finance"),
        ]);
        assert!(cond(json!({"user": {"exact": "etl"}})).matches(&h));
        assert!(cond(json!({"source": {"prefix": "airflow"}})).matches(&h));
        assert!(cond(json!({"client_info": {"regex": ".*\"team\":\"bi\".*"}})).matches(&h));
        assert!(cond(json!({"catalog": {"in": ["iceberg", "hive"]}})).matches(&h));
        assert!(cond(json!({"schema": {"exact": "finance"}})).matches(&h));
        assert!(cond(json!({"path": {"exact": "/v1/statement"}})).matches(&h));
        assert!(!cond(json!({"user": {"exact": "et"}})).matches(&h));
        assert!(!cond(json!({"source": {"regex": "airflow"}})).matches(&h), "regex is anchored");
    }

    #[test]
    fn combinators_compose() {
        let h = head(&[("x-trino-user", "alice"), ("x-trino-client-tags", "etl,big")]);
        assert!(cond(json!({"all": [{"user": {"exact": "alice"}}, {"client_tags": {"all_of": ["big", "etl"]}}]}))
            .matches(&h));
        assert!(
            cond(json!({"any": [{"user": {"exact": "bob"}}, {"client_tags": {"any_of": ["x", "etl"]}}]})).matches(&h)
        );
        assert!(!cond(json!({"client_tags": {"all_of": ["etl", "small"]}})).matches(&h));
        assert!(cond(json!({"not": {"source": {"exact": "x"}}})).matches(&h), "absent source does not match");
    }

    #[test]
    fn session_properties_and_any_header() {
        let h = head(&[("x-trino-session", "resource_estimate=big"), ("X-Team", "data")]);
        assert!(cond(json!({"session_property": {"name": "resource_estimate", "value": {"exact": "big"}}})).matches(&h));
        assert!(cond(json!({"header": {"name": "x-team", "value": {"exact": "data"}}})).matches(&h));
        assert!(cond(json!({"header": {"name": "X-Team", "value": {"prefix": "d"}}})).matches(&h));
    }

    #[test]
    fn first_matching_rule_wins() {
        let rules = Rules(vec![
            Rule { name: "a".into(), when: Some(cond(json!({"user": {"exact": "x"}}))), group: 1 },
            Rule { name: "b".into(), when: Some(cond(json!({"user": {"prefix": ""}}))), group: 2 },
            Rule { name: "c".into(), when: None, group: 3 },
        ]);
        assert_eq!(rules.first_match(&head(&[("x-trino-user", "x")])).unwrap().name, "a");
        assert_eq!(rules.first_match(&head(&[("x-trino-user", "y")])).unwrap().name, "b");
        assert_eq!(rules.first_match(&head(&[])).unwrap().name, "c");
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
    }
}
