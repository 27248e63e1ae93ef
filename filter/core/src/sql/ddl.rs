//! CREATE, DROP, ALTER, COMMENT, TRUNCATE, ANALYZE and REFRESH: the statements that
//! change definitions, with the objects they name.

use super::collector::{Collector, Outcome};
use super::cursor::{qualified_name_at, Cursor, Ident};
use super::error::SqlError;
use super::lexer::TokenKind;
use super::tables::scan_query;
use super::types::{Access, StatementType as S};

type Res = Result<Outcome, SqlError>;

pub(crate) fn create(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Res {
    c.eat_all(&["or", "replace"]);
    let kw = c.peek().and_then(|t| t.word()).unwrap_or_default();
    c.bump();
    match kw {
        "table" => create_table(out, c),
        "view" => create_view(out, c, S::CreateView),
        "materialized" if c.eat("view") => create_view(out, c, S::CreateMaterializedView),
        "schema" => {
            c.eat_all(&["if", "not", "exists"]);
            out.schema(&c.name()?)?;
            Ok(Outcome::of(S::CreateSchema))
        }
        "catalog" => {
            c.eat_all(&["if", "not", "exists"]);
            out.catalog(c.ident()?.value);
            Ok(Outcome::of(S::CreateCatalog))
        }
        "function" => {
            function_schema(out, c)?;
            Ok(Outcome::of(S::CreateFunction))
        }
        "role" => Ok(role(out, c, S::CreateRole)),
        "branch" => branch(out, c, S::CreateBranch),
        _ => Ok(Outcome::of(S::Unknown)),
    }
}

pub(crate) fn drop(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Res {
    let kw = c.peek().and_then(|t| t.word()).unwrap_or_default();
    c.bump();
    let st = match kw {
        "table" => S::DropTable,
        "view" => S::DropView,
        "materialized" if c.eat("view") => S::DropMaterializedView,
        "schema" => S::DropSchema,
        "catalog" => S::DropCatalog,
        "function" => S::DropFunction,
        "role" => return Ok(role(out, c, S::DropRole)),
        "branch" => return branch(out, c, S::DropBranch),
        _ => return Ok(Outcome::of(S::Unknown)),
    };
    c.eat_all(&["if", "exists"]);
    match st {
        S::DropSchema => out.schema(&c.name()?)?,
        S::DropCatalog => out.catalog(c.ident()?.value),
        S::DropFunction => function_schema(out, c)?,
        _ => {
            out.table(&c.name()?, Access::Write)?;
        }
    }
    Ok(Outcome::of(st))
}

pub(crate) fn alter(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Res {
    let kw = c.peek().and_then(|t| t.word()).unwrap_or_default();
    c.bump();
    let st = match kw {
        "table" => S::AlterTable,
        "view" => S::AlterView,
        "materialized" if c.eat("view") => S::AlterMaterializedView,
        "schema" => return alter_schema(out, c),
        "catalog" => return alter_catalog(out, c),
        "branch" => return branch(out, c, S::AlterBranch),
        _ => return Ok(Outcome::of(S::Unknown)),
    };
    c.eat_all(&["if", "exists"]);
    let source = c.name()?;
    out.table(&source, Access::Write)?;
    if c.eat_all(&["rename", "to"]) {
        out.rename_target(&c.name()?, &source)?;
    } else if st == S::AlterTable && c.is("execute") {
        return Ok(Outcome::of(S::AlterTableExecute));
    }
    Ok(Outcome::of(st))
}

/// `ALTER SCHEMA [c.]s RENAME TO t` keeps the catalog.
fn alter_schema(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Res {
    let mut parts = c.name()?;
    out.schema(&parts)?;
    if c.eat_all(&["rename", "to"]) {
        let target = c.ident()?;
        parts.pop();
        parts.push(target);
        out.schema(&parts)?;
    }
    Ok(Outcome::of(S::AlterSchema))
}

fn alter_catalog(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Res {
    out.catalog(c.ident()?.value);
    if c.eat_all(&["rename", "to"]) {
        out.catalog(c.ident()?.value);
    }
    Ok(Outcome::of(S::AlterCatalog))
}

/// CTAS when a top-level AS follows the name; otherwise column definitions, where
/// `LIKE other` copies another table's definition.
fn create_table(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Res {
    c.eat_all(&["if", "not", "exists"]);
    let target = c.name()?;
    out.table(&target, Access::Write)?;
    if let Some(as_at) = c.find_top_level("as") {
        scan_query(c.toks, as_at.saturating_add(1), out, Access::Read, false)?;
        return Ok(Outcome::of(S::CreateTableAsSelect));
    }
    like_clauses(out, c)?;
    Ok(Outcome::of(S::CreateTable))
}

fn like_clauses(out: &mut Collector<'_>, c: &Cursor<'_>) -> Result<(), SqlError> {
    let mut depth: usize = 0;
    let mut element_start = false;
    let mut i = c.pos;
    while let Some(tok) = c.toks.get(i) {
        match &tok.kind {
            TokenKind::Op("(") => {
                depth = depth.saturating_add(1);
                element_start = depth == 1;
            }
            TokenKind::Op(")") => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    break;
                }
                element_start = false;
            }
            TokenKind::Op(",") => element_start = depth == 1,
            TokenKind::Word(w) if w == "like" && element_start => {
                if let Some((parts, j)) = qualified_name_at(c.toks, i.saturating_add(1)) {
                    out.table(&parts, Access::Metadata)?;
                    i = j;
                    element_start = false;
                    continue;
                }
            }
            _ => element_start = false,
        }
        i = i.saturating_add(1);
    }
    Ok(())
}

fn create_view(out: &mut Collector<'_>, c: &mut Cursor<'_>, st: S) -> Res {
    c.eat_all(&["if", "not", "exists"]);
    let target = c.name()?;
    out.table(&target, Access::Write)?;
    let as_at = c.find_top_level("as").ok_or_else(|| c.syntax("AS"))?;
    scan_query(c.toks, as_at.saturating_add(1), out, Access::Read, false)?;
    Ok(Outcome::of(st))
}

/// A function named `catalog.schema.fn` lives in that schema. Shorter names go to
/// the server's configured function schema, which the router cannot know.
fn function_schema(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Result<(), SqlError> {
    let parts = c.name()?;
    if let [catalog, schema, _] = parts.as_slice() {
        out.schema(&[*catalog, *schema])?;
    }
    Ok(())
}

/// Roles are system-wide unless `IN catalog` says otherwise.
fn role(out: &mut Collector<'_>, c: &Cursor<'_>, st: S) -> Outcome {
    if let Some(catalog) = c.trailing_in_catalog() {
        out.catalog(&catalog);
    }
    Outcome::of(st)
}

/// Branch statements name their table after `IN TABLE`.
fn branch(out: &mut Collector<'_>, c: &mut Cursor<'_>, st: S) -> Res {
    let in_at = c.find_top_level("in").ok_or_else(|| c.syntax("IN TABLE"))?;
    c.pos = in_at.saturating_add(1);
    c.require("table")?;
    out.table(&c.name()?, Access::Write)?;
    Ok(Outcome::of(st))
}

pub(crate) fn comment(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Res {
    c.require("on")?;
    if c.eat("column") {
        let mut parts: Vec<Ident> = c.name()?;
        if parts.len() < 2 {
            return Err(c.syntax("table.column"));
        }
        parts.pop();
        out.table(&parts, Access::Write)?;
    } else if c.eat("table") || c.eat("view") {
        out.table(&c.name()?, Access::Write)?;
    } else {
        return Ok(Outcome::of(S::Unknown));
    }
    Ok(Outcome::of(S::Comment))
}

pub(crate) fn truncate(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Res {
    c.require("table")?;
    out.table(&c.name()?, Access::Write)?;
    Ok(Outcome::of(S::Truncate))
}

/// ANALYZE reads every row and rewrites the table's statistics: counted as a write.
pub(crate) fn analyze(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Res {
    out.table(&c.name()?, Access::Write)?;
    Ok(Outcome::of(S::Analyze))
}

pub(crate) fn refresh(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Res {
    if !c.eat_all(&["materialized", "view"]) {
        return Ok(Outcome::of(S::Unknown));
    }
    out.table(&c.name()?, Access::Write)?;
    Ok(Outcome::of(S::RefreshMaterializedView))
}
