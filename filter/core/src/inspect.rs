//! What the router learns from the body of a new query: its SQL, analysed in the session
//! the headers describe. Inspection never fails a query: whatever goes wrong is recorded
//! as a status, and then only header rules can match.

use crate::request::{RequestHead, TrinoFacts};
use crate::sql::{analyze_with, decode_prepared_statements, query_from_first_word, Analysis, Names, SessionContext};

/// How far a new query's SQL is worked out: no further than the config needs, since
/// analysing a statement costs far more than reading its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SqlDepth {
    /// The text only: `sql` searches, `body_size`, the queue's tickets.
    Text,
    /// Statement and query type only: a query is typed from its first word
    /// (`sql::query_from_first_word`), any other statement analysed as for `Statement`.
    Type,
    /// The analyser runs without names (`Names::Skip`): statement and query type,
    /// `kill_query`'s id, `sql_inspection`. No name is resolved or kept, so no statement is
    /// unparseable for naming too many tables.
    Statement,
    /// As `Statement`, plus the catalogs and schemas touched (every table is resolved and
    /// kept, up to `sql::MAX_TABLES`).
    Analysis,
    /// As `Analysis`, plus the `catalog.schema.table` names `tables` rules match.
    TableNames,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlStatus {
    /// No rule needs the SQL, or the request is not a new query.
    NotRead,
    /// The text was read and not analysed: nothing configured needs the analysis.
    Read,
    Analysed,
    /// The body was longer than `sql_inspection.max_body_bytes`, or of undeclared length
    /// and not whole in its first piece.
    TooLarge,
    /// Not UTF-8, or the analyser could not make sense of it.
    Unparseable,
}

#[derive(Debug, Clone)]
pub struct SqlFacts {
    pub status: SqlStatus,
    pub analysis: Option<Analysis>,
    /// The analysis' tables as `catalog.schema.table`, made once for all rules to match.
    pub tables: Vec<String>,
    /// The whole SQL text, when the body was read completely and is UTF-8.
    pub text: Option<String>,
    pub body_size: Option<usize>,
    /// Why the SQL could not be analysed, for logs and `explain`.
    pub problem: Option<String>,
}

impl SqlFacts {
    pub fn not_read() -> SqlFacts {
        SqlFacts {
            status: SqlStatus::NotRead,
            analysis: None,
            tables: Vec::new(),
            text: None,
            body_size: None,
            problem: None,
        }
    }

    pub fn too_large(body_size: usize, limit: usize) -> SqlFacts {
        SqlFacts {
            status: SqlStatus::TooLarge,
            analysis: None,
            tables: Vec::new(),
            text: None,
            body_size: Some(body_size),
            problem: Some(format!("body of {body_size} bytes is over the inspection limit of {limit}")),
        }
    }

    /// A body of undeclared length (chunked) that did not come whole in its first piece:
    /// not read, because holding it could make Envoy answer 413 itself. Rules treat it as
    /// too large.
    pub fn length_not_declared(limit: usize) -> SqlFacts {
        SqlFacts {
            status: SqlStatus::TooLarge,
            analysis: None,
            tables: Vec::new(),
            text: None,
            body_size: None,
            problem: Some(format!(
                "body without Content-Length did not arrive whole at once; not buffered (inspection limit {limit})"
            )),
        }
    }

    /// Reads a complete body and analyses it, as far as `depth`, in the session of `head`
    /// (catalog, schema, prepared statements).
    pub fn from_body(body: &[u8], head: &RequestHead, depth: SqlDepth) -> SqlFacts {
        let unparseable = |text: Option<String>, problem: String| SqlFacts {
            status: SqlStatus::Unparseable,
            analysis: None,
            tables: Vec::new(),
            text,
            body_size: Some(body.len()),
            problem: Some(problem),
        };
        let Ok(text) = std::str::from_utf8(body) else {
            return unparseable(None, "body is not UTF-8".to_string());
        };
        if depth == SqlDepth::Text {
            return SqlFacts {
                status: SqlStatus::Read,
                analysis: None,
                tables: Vec::new(),
                text: Some(text.to_string()),
                body_size: Some(body.len()),
                problem: None,
            };
        }
        let ctx = match session_of(head) {
            Ok(ctx) => ctx,
            Err(problem) => return unparseable(Some(text.to_string()), problem),
        };
        let names = if depth >= SqlDepth::Analysis { Names::Keep } else { Names::Skip };
        let first_word = if depth == SqlDepth::Type { query_from_first_word(text, &ctx) } else { None };
        match first_word.map_or_else(|| analyze_with(text, &ctx, names), Ok) {
            Ok(analysis) => SqlFacts {
                status: SqlStatus::Analysed,
                tables: if depth == SqlDepth::TableNames {
                    analysis.tables.iter().map(|t| t.name.to_string()).collect()
                } else {
                    Vec::new()
                },
                analysis: Some(analysis),
                text: Some(text.to_string()),
                body_size: Some(body.len()),
                problem: None,
            },
            Err(e) => unparseable(Some(text.to_string()), e.to_string()),
        }
    }
}

/// The session a statement runs in, from X-Trino-Catalog, X-Trino-Schema and every
/// X-Trino-Prepared-Statement line.
pub(crate) fn session_of(head: &RequestHead) -> Result<SessionContext, String> {
    let facts = TrinoFacts::new(&head.headers);
    let mut prepared = Vec::new();
    for value in head.headers.get_all("x-trino-prepared-statement") {
        prepared.extend(decode_prepared_statements(value).map_err(|e| format!("X-Trino-Prepared-Statement: {e}"))?);
    }
    Ok(SessionContext::new(facts.catalog(), facts.schema()).with_prepared(prepared))
}
