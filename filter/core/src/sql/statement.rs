//! Recognises the statement by its leading keywords and hands it to the reader for
//! its kind. Queries, DML and the statements that wrap another statement live here.

use super::collector::{Collector, Mode, Outcome};
use super::cursor::{ident_at, Cursor};
use super::error::SqlError;
use super::lexer::{Token, TokenKind};
use super::tables::scan_query;
use super::types::{Access, QueryType, StatementType as S};
use super::{analyze_text, ddl, session, show};

/// EXPLAIN, EXECUTE, EXECUTE IMMEDIATE and PREPARE nest statements; prepared
/// statements can even loop (`a` executes `b` executes `a`). This bounds it.
pub const MAX_STATEMENT_DEPTH: usize = 8;

/// A statement's tokens with the text they came from (for names as written).
#[derive(Clone, Copy)]
pub(crate) struct Src<'a> {
    pub sql: &'a str,
    pub toks: &'a [Token<'a>],
    pub depth: usize,
}

impl<'a> Src<'a> {
    fn nested(self, toks: &'a [Token<'a>]) -> Src<'a> {
        Src { sql: self.sql, toks, depth: self.depth.saturating_add(1) }
    }
}

pub(crate) fn statement(out: &mut Collector<'_>, src: Src<'_>) -> Result<Outcome, SqlError> {
    let Some(first) = src.toks.first() else {
        return Err(SqlError::Empty);
    };
    if src.depth > MAX_STATEMENT_DEPTH {
        return Err(SqlError::TooDeep { pos: first.start, limit: MAX_STATEMENT_DEPTH });
    }
    if first.is_op("(") {
        return query(out, src.toks);
    }
    let Some(kw) = first.word() else {
        return Ok(Outcome::of(S::Unknown));
    };
    let mut c = Cursor::new(src.toks);
    c.bump();
    let c = &mut c;
    match kw {
        "select" | "values" | "with" | "table" => query(out, src.toks),
        "insert" => insert(out, c),
        "update" => update(out, c),
        "delete" => delete(out, c),
        "merge" => merge(out, c),
        "explain" => explain(out, c, src),
        "execute" => execute(out, c, src),
        "prepare" => prepare(out, c, src),
        "deallocate" => deallocate(out, c, src),
        "describe" | "desc" => describe(out, c, src),
        "create" => ddl::create(out, c),
        "drop" => ddl::drop(out, c),
        "alter" => ddl::alter(out, c),
        "comment" => ddl::comment(out, c),
        "truncate" => ddl::truncate(out, c),
        "analyze" => ddl::analyze(out, c),
        "refresh" => ddl::refresh(out, c),
        "show" => show::show(out, c),
        "call" => session::call(out, c),
        "use" => session::use_(out, c),
        "set" => session::set(out, c),
        "reset" => session::reset(out, c),
        "grant" => session::privileges(out, c, S::Grant),
        "revoke" => session::privileges(out, c, S::Revoke),
        "deny" => session::privileges(out, c, S::Deny),
        "start" if c.is("transaction") => Ok(Outcome::of(S::StartTransaction)),
        "commit" => Ok(Outcome::of(S::Commit)),
        "rollback" => Ok(Outcome::of(S::Rollback)),
        _ => Ok(Outcome::of(S::Unknown)),
    }
}

fn query(out: &mut Collector<'_>, toks: &[Token]) -> Result<Outcome, SqlError> {
    scan_query(toks, 0, out, Access::Read, false)?;
    Ok(Outcome::of(S::Select))
}

fn insert(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Result<Outcome, SqlError> {
    c.require("into")?;
    let target = c.name()?;
    out.table(&target, Access::Write)?;
    scan_query(c.toks, c.pos, out, Access::Read, false)?;
    Ok(Outcome::of(S::Insert))
}

fn update(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Result<Outcome, SqlError> {
    let target = c.name()?;
    out.table(&target, Access::Write)?;
    scan_query(c.toks, c.pos, out, Access::Read, false)?;
    Ok(Outcome::of(S::Update))
}

fn delete(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Result<Outcome, SqlError> {
    c.require("from")?;
    let target = c.name()?;
    out.table(&target, Access::Write)?;
    scan_query(c.toks, c.pos, out, Access::Read, false)?;
    Ok(Outcome::of(S::Delete))
}

fn merge(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Result<Outcome, SqlError> {
    c.require("into")?;
    let target = c.name()?;
    out.table(&target, Access::Write)?;
    let using = c.find_top_level("using").ok_or_else(|| c.syntax("USING"))?;
    scan_query(c.toks, using.saturating_add(1), out, Access::Read, true)?;
    Ok(Outcome::of(S::Merge))
}

/// Plain EXPLAIN only plans, so what the inner statement touches is recorded as
/// metadata use; EXPLAIN ANALYZE runs it and takes its query type, as Trino does.
fn explain(out: &mut Collector<'_>, c: &mut Cursor<'_>, src: Src<'_>) -> Result<Outcome, SqlError> {
    let analyze = c.eat("analyze");
    if analyze {
        c.eat("verbose");
    } else if c.peek().is_some_and(|t| t.is_op("(")) && (c.is_at(1, "format") || c.is_at(1, "type")) {
        skip_parens(c);
    }
    let saved = out.mode;
    if !analyze && out.mode == Mode::Normal {
        out.mode = Mode::Explain;
    }
    let inner = statement(out, src.nested(c.rest()));
    out.mode = saved;
    let inner = inner?;
    Ok(Outcome {
        statement_type: if analyze { S::ExplainAnalyze } else { S::Explain },
        query_type: if analyze { inner.query_type } else { Some(QueryType::Explain) },
        inner: Some(inner.statement_type),
    })
}

/// EXECUTE runs a prepared statement from the session headers; Trino dispatches it as
/// that statement, so its query type and tables are the prepared statement's.
fn execute(out: &mut Collector<'_>, c: &mut Cursor<'_>, src: Src<'_>) -> Result<Outcome, SqlError> {
    let next_depth = src.depth.saturating_add(1);
    if c.eat("immediate") {
        let Some(TokenKind::Str(sql)) = c.peek().map(|t| &t.kind) else {
            return Err(c.syntax("a string literal"));
        };
        let inner = analyze_text(sql, out, next_depth)?;
        return Ok(wrapping(S::ExecuteImmediate, inner));
    }
    let name = prepared_name(c, src)?;
    let ctx = out.ctx;
    match ctx.prepared_sql(&name) {
        Some(sql) => {
            out.set_prepared(&name, false);
            let inner = analyze_text(sql, out, next_depth)?;
            Ok(wrapping(S::Execute, inner))
        }
        None => {
            out.set_prepared(&name, true);
            Ok(Outcome::of(S::Execute))
        }
    }
}

/// PREPARE only stores the statement: nothing it names is touched until EXECUTE.
fn prepare(out: &mut Collector<'_>, c: &mut Cursor<'_>, src: Src<'_>) -> Result<Outcome, SqlError> {
    let name = prepared_name(c, src)?;
    c.require("from")?;
    out.set_prepared(&name, false);
    let saved = out.mode;
    out.mode = Mode::Silent;
    let inner = statement(out, src.nested(c.rest()));
    out.mode = saved;
    let inner = inner?;
    Ok(Outcome { inner: Some(inner.statement_type), ..Outcome::of(S::Prepare) })
}

fn deallocate(out: &mut Collector<'_>, c: &mut Cursor<'_>, src: Src<'_>) -> Result<Outcome, SqlError> {
    c.require("prepare")?;
    let name = prepared_name(c, src)?;
    out.set_prepared(&name, false);
    Ok(Outcome::of(S::Deallocate))
}

/// `DESCRIBE t` shows columns; `DESCRIBE INPUT|OUTPUT name` analyses a prepared
/// statement, reading only metadata of its tables.
fn describe(out: &mut Collector<'_>, c: &mut Cursor<'_>, src: Src<'_>) -> Result<Outcome, SqlError> {
    let kind = match c.peek().and_then(Token::word) {
        Some("input") => S::DescribeInput,
        Some("output") => S::DescribeOutput,
        _ => S::Describe,
    };
    let prepared_form = kind != S::Describe
        && ident_at(c.toks, c.pos.saturating_add(1)).is_some()
        && c.toks.len() == c.pos.saturating_add(2);
    if !prepared_form {
        out.table(&c.name()?, Access::Metadata)?;
        return Ok(Outcome::of(S::Describe));
    }
    c.bump();
    let name = prepared_name(c, src)?;
    let ctx = out.ctx;
    let Some(sql) = ctx.prepared_sql(&name) else {
        out.set_prepared(&name, true);
        return Ok(Outcome::of(kind));
    };
    out.set_prepared(&name, false);
    let saved = out.mode;
    if out.mode == Mode::Normal {
        out.mode = Mode::Explain;
    }
    let inner = analyze_text(sql, out, src.depth.saturating_add(1));
    out.mode = saved;
    Ok(Outcome { inner: Some(inner?.statement_type), ..Outcome::of(kind) })
}

fn wrapping(statement_type: S, inner: Outcome) -> Outcome {
    Outcome { statement_type, query_type: inner.query_type, inner: Some(inner.statement_type) }
}

/// A prepared statement's name exactly as written (Trino does not fold it).
fn prepared_name(c: &mut Cursor<'_>, src: Src<'_>) -> Result<String, SqlError> {
    let tok = c.peek().ok_or_else(|| c.syntax("a prepared statement name"))?;
    let id = c.ident()?;
    Ok(match tok.kind {
        TokenKind::Word(_) => src.sql.get(tok.start..tok.end).unwrap_or(id.value).to_string(),
        _ => id.value.to_string(),
    })
}

/// Moves past a parenthesised group starting at the cursor.
pub(crate) fn skip_parens(c: &mut Cursor<'_>) {
    let mut depth: usize = 0;
    while let Some(tok) = c.peek() {
        c.bump();
        if tok.is_op("(") {
            depth = depth.saturating_add(1);
        } else if tok.is_op(")") {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return;
            }
        }
    }
}
