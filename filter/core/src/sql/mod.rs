//! SQL inspection: says what a Trino statement is (statement and query type) and
//! which catalogs, schemas and tables it touches, so rules can route on it.
//!
//! This is a tokenizer plus statement-aware extraction, not a parser: it never panics,
//! works in time and memory linear in the input, and bounds nesting, recursion through
//! prepared statements and the number of tables kept. Choices worth knowing:
//!
//! - Names: unquoted identifiers are lower-cased, quoted ones kept exactly (CTE names
//!   match either way, case-insensitively). Missing catalog or schema parts come from
//!   the session; with no default the part stays `None`, `Analysis::unresolved` is set,
//!   `Analysis::table_names` leaves the table out and `Display` renders the gap as an
//!   empty component (`.tiny.orders`), which no real identifier can produce.
//! - One statement per request, as Trino's HTTP API takes: trailing semicolons are
//!   accepted, a second statement is `SqlError::MultipleStatements`.
//! - Query types follow Trino's `StatementUtils`: SHOW and DESCRIBE are DESCRIBE, CTAS
//!   and REFRESH MATERIALIZED VIEW are INSERT, EXPLAIN ANALYZE, EXECUTE and EXECUTE
//!   IMMEDIATE take the type of the statement they run, SHOW BRANCHES (newer than the
//!   mapping we checked) is taken to be DESCRIBE.
//! - What runs is what counts: EXECUTE and EXECUTE IMMEDIATE report the tables of the
//!   statement run; plain EXPLAIN and DESCRIBE INPUT/OUTPUT report theirs as metadata
//!   use; PREPARE reports none, since nothing is touched until EXECUTE.
//! - Names are kept only when asked (`Names`): with `Names::Skip` the analysis gives the
//!   statement-level facts alone (statement, query and inner type, `kill_query`'s id,
//!   `prepared_missing`) and resolves, copies and keeps no name, so the `MAX_TABLES` cap
//!   (1000 distinct tables, which bounds what is kept) does not apply there. Everything
//!   else, errors included, is the same at both: names are still checked for shape.
//! - Prepared statements come url-encoded or in Trino's compressed `$zstd:` form (base64
//!   of a zstd frame, base64url); `prepared.rs` decodes both, bounded in size and count.

mod collector;
mod cursor;
mod ddl;
mod error;
pub mod lexer;
mod prepared;
mod session;
mod show;
mod statement;
mod tables;
mod types;

#[cfg(test)]
mod lexer_tests;

pub use collector::MAX_TABLES;
pub use error::SqlError;
pub use lexer::{tokenize, SqlText, Token, TokenKind};
pub use prepared::{
    decode_prepared_statements, MAX_PREPARED_SQL_BYTES, MAX_PREPARED_STATEMENTS, MAX_PREPARED_TOTAL_BYTES,
};
pub use statement::MAX_STATEMENT_DEPTH;
pub use tables::MAX_NESTING;
pub use types::{Access, Analysis, QualifiedName, QueryType, SessionContext, StatementType, TableKind, TableRef};

use collector::{Collector, Outcome};
use statement::Src;

/// Largest SQL text analysed: four bytes for each of the one million characters of
/// Trino's default `query.max-length`.
pub const MAX_SQL_BYTES: usize = 4_000_000;

/// How much of what a statement names an analysis keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// Tables, catalogs, schemas, the procedure and the prepared statement's name are
    /// resolved and kept (at most `MAX_TABLES` distinct tables).
    Keep,
    /// Only the statement-level facts: statement, query and inner type, `kill_query`'s
    /// id, whether a prepared statement is missing. Names are checked for shape and
    /// never copied or kept, so there is no table cap.
    Skip,
}

/// Analyses one statement in the context of the session it will run in, keeping names.
pub fn analyze(sql: &str, ctx: &SessionContext) -> Result<Analysis, SqlError> {
    analyze_with(sql, ctx, Names::Keep)
}

/// Analyses one statement, keeping names or not. The statement's facts and every error
/// other than `SqlError::TooManyTables` are the same either way.
pub fn analyze_with(sql: &str, ctx: &SessionContext, names: Names) -> Result<Analysis, SqlError> {
    let mut out = Collector::new(ctx, names);
    let outcome = analyze_text(sql, &mut out, 0)?;
    Ok(out.finish(outcome))
}

/// A query's facts from its first word alone, for routing by statement or query type
/// (`SqlDepth::Type`): a text that starts, after whitespace and comments, with `SELECT`,
/// `VALUES`, `WITH`, `TABLE` or `(` is a query whatever follows, so the rest is not read.
/// Any other statement gives None and is analysed whole: its type may depend on words
/// further on (`CREATE TABLE ... AS SELECT`, `EXPLAIN ANALYZE`, `EXECUTE`). The facts are
/// those `analyze_with(.., Names::Skip)` gives a valid query; a malformed one (unbalanced
/// brackets, a second statement) is a query here where the whole analysis calls it
/// unparseable, and Trino refuses it with its own syntax error.
pub fn query_from_first_word(sql: &str, ctx: &SessionContext) -> Option<Analysis> {
    if sql.len() > MAX_SQL_BYTES {
        return None;
    }
    let word = lexer::leading_word(sql)?;
    let query = word == "(" || ["select", "values", "with", "table"].iter().any(|kw| word.eq_ignore_ascii_case(kw));
    query.then(|| Collector::new(ctx, Names::Skip).finish(Outcome::of(StatementType::Select)))
}

/// Reads a whole SQL text (the request, a prepared statement, EXECUTE IMMEDIATE's
/// string) as one statement, at `depth` levels of statement nesting.
pub(crate) fn analyze_text(sql: &str, out: &mut Collector<'_>, depth: usize) -> Result<Outcome, SqlError> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(SqlError::TooLarge { len: sql.len(), limit: MAX_SQL_BYTES });
    }
    let text = SqlText::new(sql);
    let toks = tokenize(&text)?;
    let end = statement_end(&toks)?;
    let toks = toks.get(..end).unwrap_or_default();
    statement::statement(out, Src { sql, toks, depth })
}

/// Where the statement ends: at the first top-level `;`, after which only more
/// semicolons may follow. SQL routine bodies (`CREATE FUNCTION`, `WITH FUNCTION`) use
/// `;` inside BEGIN ... END, so those blocks are skipped over.
fn statement_end(toks: &[Token]) -> Result<usize, SqlError> {
    let routine = toks.iter().take(8).any(|t| t.is_word("function"));
    let mut parens: usize = 0;
    let mut blocks: usize = 0;
    let mut i = 0;
    while let Some(tok) = toks.get(i) {
        i = i.saturating_add(1);
        match &tok.kind {
            TokenKind::Op("(" | "[") => parens = parens.saturating_add(1),
            TokenKind::Op(")" | "]") => parens = parens.saturating_sub(1),
            TokenKind::Op(";") if parens == 0 && blocks == 0 => {
                let end = i.saturating_sub(1);
                let rest = toks.get(end..).unwrap_or_default();
                return match rest.iter().find(|t| !t.is_op(";")) {
                    Some(extra) => Err(SqlError::MultipleStatements { pos: extra.start }),
                    None => Ok(end),
                };
            }
            TokenKind::Word(w) if routine => match w.as_ref() {
                "begin" | "case" => blocks = blocks.saturating_add(1),
                "end" => {
                    // END IF / LOOP / WHILE / REPEAT close blocks that were not counted;
                    // END CASE and a bare END close one that was.
                    let closer = toks.get(i).and_then(Token::word);
                    match closer {
                        Some("if" | "loop" | "while" | "repeat") => i = i.saturating_add(1),
                        Some("case") => {
                            i = i.saturating_add(1);
                            blocks = blocks.saturating_sub(1);
                        }
                        _ => blocks = blocks.saturating_sub(1),
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
    Ok(toks.len())
}
