//! Parses a condition object such as `{"user": {"exact": "etl"}}` from the config's JSON,
//! with errors that name the field: `rules[3].when.all[0].user: unknown matcher ...`.

use super::matcher::{parse_matcher, single_key, string, string_list};
use super::{Condition, Field, Quantifier, SqlSet};
use crate::error::{field, index, ConfigError};
use crate::sql::{QueryType, StatementType};
use serde_json::Value;

const CONDITIONS: &str = "all, any, not, user, source, client_info, catalog, schema, sql_path, path, client_tags, \
session_property, header, statement_type, query_type, tables, catalogs, schemas, sql, body_size, sql_inspection";

/// Parses one condition; `path` is its JSON path.
pub fn parse_condition(v: &Value, path: &str) -> Result<Condition, ConfigError> {
    let (key, body) = single_key(v, path, "a condition")?;
    let here = field(path, key);
    let text = |f: Field| parse_matcher(body, &here).map(|m| Condition::Text(f, m));
    let set = |s: SqlSet| parse_quantified(body, &here).map(|(q, m)| Condition::Sql(s, q, m));
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
        "sql_path" => text(Field::SqlPath),
        "client_tags" => parse_client_tags(body, &here),
        "session_property" | "header" => {
            let (name, value) = parse_named(body, &here)?;
            Ok(if key == "header" {
                Condition::Header { name: name.to_ascii_lowercase(), value }
            } else {
                Condition::SessionProperty { name, value }
            })
        }
        "statement_type" => {
            vocabulary(body, &here, StatementType::ALL.iter().map(|s| s.as_str())).map(Condition::StatementType)
        }
        "query_type" => vocabulary(body, &here, QueryType::ALL.iter().map(|s| s.as_str())).map(Condition::QueryType),
        "tables" => set(SqlSet::Tables),
        "catalogs" => set(SqlSet::Catalogs),
        "schemas" => set(SqlSet::Schemas),
        "sql" => parse_matcher(body, &here).map(Condition::SqlText),
        "body_size" => parse_body_size(body, &here),
        "sql_inspection" => vocabulary(body, &here, ["analysed", "too_large", "unparseable", "not_read"].into_iter())
            .map(Condition::SqlInspection),
        other => Err(ConfigError::new(path, format!("unknown condition `{other}`; expected one of {CONDITIONS}"))),
    }
}

/// A matcher whose `exact`/`in` values must come from a closed list, so a typo such as
/// `INSRET` is an error instead of a rule that never matches.
fn vocabulary<'a>(
    body: &Value,
    path: &str,
    known: impl Iterator<Item = &'a str> + Clone,
) -> Result<super::Matcher, ConfigError> {
    let m = parse_matcher(body, path)?;
    for lit in m.literals().unwrap_or_default() {
        if !known.clone().any(|k| k == lit) {
            let all: Vec<&str> = known.clone().collect();
            return Err(ConfigError::new(path, format!("unknown value `{lit}`; expected one of {}", all.join(", "))));
        }
    }
    Ok(m)
}

fn parse_quantified(v: &Value, path: &str) -> Result<(Quantifier, super::Matcher), ConfigError> {
    let (key, body) = single_key(v, path, "`any` or `all` with a matcher")?;
    let q = match key {
        "any" => Quantifier::Any,
        "all" => Quantifier::All,
        other => return Err(ConfigError::new(path, format!("unknown key `{other}`; expected any or all"))),
    };
    Ok((q, parse_matcher(body, &field(path, key))?))
}

fn parse_body_size(v: &Value, path: &str) -> Result<Condition, ConfigError> {
    let obj = v.as_object().ok_or_else(|| ConfigError::new(path, "expected an object with `min` and/or `max`"))?;
    let bound = |name: &str| -> Result<Option<u64>, ConfigError> {
        match obj.get(name) {
            None => Ok(None),
            Some(n) => n.as_u64().map(Some).ok_or_else(|| ConfigError::new(field(path, name), "expected a byte count")),
        }
    };
    let (min, max) = (bound("min")?, bound("max")?);
    if let Some(extra) = obj.keys().find(|k| *k != "min" && *k != "max") {
        return Err(ConfigError::new(field(path, extra), "unknown field; expected `min` or `max`"));
    }
    if min.is_none() && max.is_none() {
        return Err(ConfigError::new(path, "give `min`, `max` or both"));
    }
    Ok(Condition::BodySize { min, max })
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

fn parse_named(v: &Value, path: &str) -> Result<(String, super::Matcher), ConfigError> {
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
