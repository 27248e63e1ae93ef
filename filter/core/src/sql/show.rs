//! SHOW statements: what they list and which catalog, schema or table they look at.

use super::collector::{Collector, Outcome};
use super::cursor::Cursor;
use super::error::SqlError;
use super::session::grant_object;
use super::tables::scan_query;
use super::types::{Access, StatementType as S};

pub(crate) fn show(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Result<Outcome, SqlError> {
    let kw = c.peek().and_then(|t| t.word()).unwrap_or_default();
    c.bump();
    let st = match kw {
        "tables" => {
            if from_or_in(c) {
                out.schema(&c.name()?)?;
            } else {
                out.default_schema();
            }
            S::ShowTables
        }
        "schemas" => {
            if from_or_in(c) {
                out.catalog(c.ident()?.value);
            } else {
                out.default_catalog();
            }
            S::ShowSchemas
        }
        "catalogs" => S::ShowCatalogs,
        "columns" => {
            table_after_from(out, c, false)?;
            S::ShowColumns
        }
        "create" => return show_create(out, c),
        "stats" => {
            stats_target(out, c)?;
            S::ShowStats
        }
        "functions" => {
            if from_or_in(c) {
                out.schema(&c.name()?)?;
            }
            S::ShowFunctions
        }
        "session" => S::ShowSession,
        "grants" => {
            if c.eat("on") {
                grant_object(out, c)?;
            }
            S::ShowGrants
        }
        "roles" => roles_catalog(out, c, S::ShowRoles)?,
        "current" if c.eat("roles") => roles_catalog(out, c, S::ShowRoles)?,
        "role" if c.eat("grants") => roles_catalog(out, c, S::ShowRoleGrants)?,
        "branches" => {
            table_after_from(out, c, true)?;
            S::ShowBranches
        }
        _ => S::Unknown,
    };
    Ok(Outcome::of(st))
}

fn show_create(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Result<Outcome, SqlError> {
    let kw = c.peek().and_then(|t| t.word()).unwrap_or_default();
    c.bump();
    let st = match kw {
        "table" => S::ShowCreateTable,
        "view" => S::ShowCreateView,
        "materialized" if c.eat("view") => S::ShowCreateMaterializedView,
        "schema" => {
            out.schema(&c.name()?)?;
            return Ok(Outcome::of(S::ShowCreateSchema));
        }
        "function" => {
            let parts = c.name()?;
            if let [catalog, schema, _] = parts.as_slice() {
                out.schema(&[*catalog, *schema])?;
            }
            return Ok(Outcome::of(S::ShowCreateFunction));
        }
        _ => return Ok(Outcome::of(S::Unknown)),
    };
    out.table(&c.name()?, Access::Metadata)?;
    Ok(Outcome::of(st))
}

/// `(FROM | IN) [TABLE] name`, the table looked at by SHOW COLUMNS and SHOW BRANCHES.
fn table_after_from(out: &mut Collector<'_>, c: &mut Cursor<'_>, table_keyword: bool) -> Result<(), SqlError> {
    if !from_or_in(c) {
        return Err(c.syntax("FROM or IN"));
    }
    if table_keyword {
        c.require("table")?;
    }
    out.table(&c.name()?, Access::Metadata)?;
    Ok(())
}

/// `SHOW STATS FOR t` or `SHOW STATS FOR (query)`: planned, not run.
fn stats_target(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Result<(), SqlError> {
    c.require("for")?;
    if c.peek().is_some_and(|t| t.is_op("(")) {
        scan_query(c.toks, c.pos, out, Access::Metadata, false)
    } else {
        out.table(&c.name()?, Access::Metadata).map(|_| ())
    }
}

fn from_or_in(c: &mut Cursor<'_>) -> bool {
    c.eat("from") || c.eat("in")
}

/// Role listings are system-wide unless `FROM|IN catalog` names a catalog.
fn roles_catalog(out: &mut Collector<'_>, c: &mut Cursor<'_>, st: S) -> Result<S, SqlError> {
    if from_or_in(c) {
        out.catalog(c.ident()?.value);
    }
    Ok(st)
}
