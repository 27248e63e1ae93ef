//! Routing rules: conditions on a new query, evaluated first-match-wins by
//! `Rules::first_match`. `parse` turns the config's JSON into them; `matcher` compares values.

mod matcher;
mod parse;

pub use matcher::{parse_matcher, Matcher};
pub use parse::parse_condition;

use crate::ids::GroupId;
use crate::inspect::{SqlDepth, SqlFacts, SqlStatus};
use crate::request::{RequestHead, TrinoFacts};

/// A header-borne text the rules can look at. An absent value matches nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    User,
    Source,
    ClientInfo,
    Catalog,
    Schema,
    /// X-Trino-Path: the SQL path for function resolution.
    SqlPath,
    /// The request path with its query string.
    Path,
}

/// A set-valued fact of the SQL (tables, catalogs, schemas) and how its members must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlSet {
    Tables,
    Catalogs,
    Schemas,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    /// At least one member matches.
    Any,
    /// There is at least one member, and every member matches.
    All,
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
    StatementType(Matcher),
    QueryType(Matcher),
    Sql(SqlSet, Quantifier, Matcher),
    SqlText(Matcher),
    BodySize { min: Option<u64>, max: Option<u64> },
    SqlInspection(Matcher),
}

/// What a condition is evaluated against: the request and what its SQL revealed.
#[derive(Clone, Copy)]
pub struct RuleInput<'a> {
    pub head: &'a RequestHead,
    pub sql: &'a SqlFacts,
}

impl Condition {
    pub fn matches(&self, input: RuleInput<'_>) -> bool {
        let facts = TrinoFacts::new(&input.head.headers);
        let analysis = input.sql.analysis.as_ref();
        match self {
            Condition::All(cs) => cs.iter().all(|c| c.matches(input)),
            Condition::Any(cs) => cs.iter().any(|c| c.matches(input)),
            Condition::Not(c) => !c.matches(input),
            Condition::Text(f, m) => match f {
                Field::User => facts.user().is_some_and(|u| m.matches(&u)),
                Field::Source => facts.source().is_some_and(|v| m.matches(v)),
                Field::ClientInfo => facts.client_info().is_some_and(|v| m.matches(v)),
                Field::Catalog => facts.catalog().is_some_and(|v| m.matches(v)),
                Field::Schema => facts.schema().is_some_and(|v| m.matches(v)),
                Field::SqlPath => facts.sql_path().is_some_and(|v| m.matches(v)),
                Field::Path => m.matches(&input.head.path),
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
            Condition::Header { name, value } => input.head.headers.get_str(name).is_some_and(|v| value.matches(v)),
            Condition::StatementType(m) => analysis.is_some_and(|a| m.matches(a.statement_type.as_str())),
            Condition::QueryType(m) => analysis.and_then(|a| a.query_type).is_some_and(|q| m.matches(q.as_str())),
            Condition::Sql(set, q, m) => analysis.is_some_and(|a| {
                let members: &[String] = match set {
                    SqlSet::Tables => &input.sql.tables,
                    SqlSet::Catalogs => &a.catalogs,
                    SqlSet::Schemas => &a.schemas,
                };
                match q {
                    Quantifier::Any => members.iter().any(|v| m.matches(v)),
                    Quantifier::All => !members.is_empty() && members.iter().all(|v| m.matches(v)),
                }
            }),
            Condition::SqlText(m) => input.sql.text.as_deref().is_some_and(|t| m.matches(t)),
            Condition::BodySize { min, max } => input.sql.body_size.is_some_and(|size| {
                let size = u64::try_from(size).unwrap_or(u64::MAX);
                min.is_none_or(|lo| size >= lo) && max.is_none_or(|hi| size <= hi)
            }),
            Condition::SqlInspection(m) => m.matches(input.sql.status.as_str()),
        }
    }

    /// How far the SQL must be worked out to evaluate this condition; None: not at all.
    pub fn sql_depth(&self) -> Option<SqlDepth> {
        match self {
            Condition::All(cs) | Condition::Any(cs) => cs.iter().filter_map(Condition::sql_depth).max(),
            Condition::Not(c) => c.sql_depth(),
            Condition::SqlText(_) | Condition::BodySize { .. } => Some(SqlDepth::Text),
            Condition::StatementType(_) | Condition::QueryType(_) => Some(SqlDepth::Type),
            // Whether the SQL analyses at all needs the whole statement read.
            Condition::SqlInspection(_) => Some(SqlDepth::Statement),
            Condition::Sql(SqlSet::Catalogs | SqlSet::Schemas, ..) => Some(SqlDepth::Analysis),
            Condition::Sql(SqlSet::Tables, ..) => Some(SqlDepth::TableNames),
            _ => None,
        }
    }
}

/// A named rule: when its condition holds, the query goes to `group`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub when: Option<Condition>,
    pub group: GroupId,
}

/// Rules in config order; the first whose condition holds decides.
#[derive(Debug, Clone)]
pub struct Rules(pub Vec<Rule>);

impl Rules {
    pub fn first_match(&self, input: RuleInput<'_>) -> Option<&Rule> {
        self.0.iter().find(|r| r.when.as_ref().is_none_or(|c| c.matches(input)))
    }

    /// How far the rules need the SQL worked out; None: no rule looks at it.
    pub fn sql_depth(&self) -> Option<SqlDepth> {
        self.0.iter().filter_map(|r| r.when.as_ref()?.sql_depth()).max()
    }

    pub fn read_sql(&self) -> bool {
        self.sql_depth().is_some()
    }
}

impl SqlStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SqlStatus::NotRead => "not_read",
            SqlStatus::Read => "read",
            SqlStatus::Analysed => "analysed",
            SqlStatus::TooLarge => "too_large",
            SqlStatus::Unparseable => "unparseable",
        }
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests;
