//! Matchers: how one text value is compared (`exact`, `prefix`, `regex`, `search`, `glob`, `in`).

use crate::error::{field, index, ConfigError};
use regex::Regex;
use serde_json::Value;

/// Compiled regexes are capped so a config cannot make Envoy allocate without bound.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone)]
pub enum Matcher {
    Exact(String),
    Prefix(String),
    /// `regex` is anchored at both ends, like Envoy's `safe_regex`: `etl.*` does not match
    /// `my-etl`; `search` is not anchored (for SQL text); `glob` (`*`, `?`) compiles to one.
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

    /// The literal values an `exact` or `in` matcher accepts, for checking them against a
    /// closed vocabulary such as statement types.
    pub fn literals(&self) -> Option<Vec<&str>> {
        match self {
            Matcher::Exact(s) => Some(vec![s.as_str()]),
            Matcher::In(list) => Some(list.iter().map(String::as_str).collect()),
            Matcher::Prefix(_) | Matcher::Regex(_) => None,
        }
    }
}

/// Parses `{"exact": ".."}`, `{"prefix": ".."}`, `{"regex": ".."}`, `{"search": ".."}`,
/// `{"glob": ".."}` or `{"in": [..]}`; `path` is its JSON path for errors.
pub fn parse_matcher(v: &Value, path: &str) -> Result<Matcher, ConfigError> {
    let (key, body) = single_key(v, path, "a matcher")?;
    let here = field(path, key);
    match key {
        "exact" => Ok(Matcher::Exact(string(body, &here)?)),
        "prefix" => Ok(Matcher::Prefix(string(body, &here)?)),
        "regex" => compile(&format!("^(?:{})$", string(body, &here)?), &here),
        "search" => compile(&string(body, &here)?, &here),
        "glob" => compile(&glob_to_regex(&string(body, &here)?), &here),
        "in" => Ok(Matcher::In(string_list(body, &here)?)),
        other => Err(ConfigError::new(
            path,
            format!("unknown matcher `{other}`; expected one of exact, prefix, regex, search, glob, in"),
        )),
    }
}

fn compile(pattern: &str, path: &str) -> Result<Matcher, ConfigError> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map(Matcher::Regex)
        .map_err(|e| ConfigError::new(path, regex_error(&e)))
}

/// `*` is any run of characters (dots included: `hive.*` matches every table of catalog
/// hive), `?` one character; everything else is literal.
fn glob_to_regex(glob: &str) -> String {
    let mut re = String::from("^");
    for ch in glob.chars() {
        match ch {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    re.push('$');
    re
}

/// Splits a one-key object into its key and value; conditions and matchers have this shape.
pub fn single_key<'v>(v: &'v Value, path: &str, what: &str) -> Result<(&'v str, &'v Value), ConfigError> {
    let obj =
        v.as_object().ok_or_else(|| ConfigError::new(path, format!("expected {what}: an object with one key")))?;
    let mut entries = obj.iter();
    match (entries.next(), entries.next()) {
        (Some((k, body)), None) => Ok((k.as_str(), body)),
        (None, _) => Err(ConfigError::new(path, format!("{what} must have exactly one key, found none"))),
        (Some(_), Some(_)) => {
            // Sorted, so the message does not depend on serde_json's map ordering feature.
            let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
            keys.sort_unstable();
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

pub fn string(v: &Value, path: &str) -> Result<String, ConfigError> {
    v.as_str().map(str::to_string).ok_or_else(|| ConfigError::new(path, "expected a string"))
}

pub fn string_list(v: &Value, path: &str) -> Result<Vec<String>, ConfigError> {
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
    use serde_json::json;

    fn m(v: Value) -> Matcher {
        parse_matcher(&v, "m").unwrap()
    }

    #[test]
    fn globs_match_qualified_names() {
        let g = m(json!({"glob": "hive.finance.*"}));
        assert!(g.matches("hive.finance.ledger"));
        assert!(!g.matches("hive.financial.ledger"));
        assert!(!g.matches("iceberg.finance.ledger"));
        assert!(m(json!({"glob": "*.tmp_?"})).matches("hive.s.tmp_1"));
        assert!(m(json!({"glob": "a+b(c)"})).matches("a+b(c)"), "regex characters are literal");
    }

    #[test]
    fn regex_is_anchored_and_search_is_not() {
        assert!(!m(json!({"regex": "etl"})).matches("my-etl"));
        assert!(m(json!({"search": "(?i)approx_distinct"})).matches("SELECT APPROX_DISTINCT(x) FROM t"));
    }

    #[test]
    fn literals_are_exposed_for_vocabulary_checks() {
        assert_eq!(m(json!({"in": ["A", "B"]})).literals(), Some(vec!["A", "B"]));
        assert_eq!(m(json!({"prefix": "A"})).literals(), None);
    }
}
