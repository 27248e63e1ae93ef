//! Session and access statements: USE, SET/RESET, GRANT/REVOKE/DENY and CALL
//! (including the `system.runtime.kill_query` id a router needs to find the query).

use super::collector::{Collector, NameRef, Outcome};
use super::cursor::{ident_at, Cursor};
use super::error::SqlError;
use super::lexer::{Token, TokenKind};
use super::types::{Access, StatementType as S};

type Res = Result<Outcome, SqlError>;

pub(crate) fn use_(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Res {
    out.schema(&c.name()?)?;
    Ok(Outcome::of(S::Use))
}

pub(crate) fn set(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Res {
    let st = if c.eat("session") {
        if session_authorization(c) {
            S::SetSessionAuthorization
        } else {
            S::SetSession
        }
    } else if c.eat("role") {
        if let Some(catalog) = c.trailing_in_catalog() {
            out.catalog(&catalog);
        }
        S::SetRole
    } else if c.eat("path") {
        S::SetPath
    } else if c.eat_all(&["time", "zone"]) {
        S::SetTimeZone
    } else {
        S::Unknown
    };
    Ok(Outcome::of(st))
}

pub(crate) fn reset(_out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Res {
    let st = if !c.eat("session") {
        S::Unknown
    } else if session_authorization(c) {
        S::ResetSessionAuthorization
    } else {
        S::ResetSession
    };
    Ok(Outcome::of(st))
}

/// AUTHORIZATION is non-reserved: `SET SESSION authorization = 1` and
/// `RESET SESSION authorization.x` name properties.
fn session_authorization(c: &Cursor<'_>) -> bool {
    c.is("authorization") && !c.peek_at(1).is_some_and(|t| t.is_op("=") || t.is_op("."))
}

/// GRANT/REVOKE/DENY of privileges name an object after ON; role grants have no ON.
pub(crate) fn privileges(out: &mut Collector<'_>, c: &mut Cursor<'_>, st: S) -> Res {
    match c.find_top_level("on") {
        Some(on) => {
            c.pos = on.saturating_add(1);
            grant_object(out, c)?;
        }
        None => {
            if let Some(catalog) = c.trailing_in_catalog() {
                out.catalog(&catalog);
            }
        }
    }
    Ok(Outcome::of(st))
}

/// `[entityKind] qualifiedName` after ON: SCHEMA names a schema, TABLE, VIEW or
/// none a table; another kind names something that is neither and is not recorded.
pub(crate) fn grant_object(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Result<(), SqlError> {
    if c.is("schema") && name_follows(c, 1) {
        c.bump();
        return out.schema(&c.name()?);
    }
    let kind_words = if (c.is("table") || c.is("view")) && name_follows(c, 1) {
        1
    } else if c.is("materialized") && c.is_at(1, "view") && name_follows(c, 2) {
        2
    } else if ident_at(c.toks, c.pos).is_some() && name_follows(c, 1) {
        c.bump();
        c.name()?;
        return Ok(());
    } else {
        0
    };
    c.pos = c.pos.saturating_add(kind_words);
    out.table(&c.name()?, Access::Metadata)?;
    Ok(())
}

/// Whether a name starts `ahead` tokens on (TO and FROM end the object instead).
fn name_follows(c: &Cursor<'_>, ahead: usize) -> bool {
    let i = c.pos.saturating_add(ahead);
    ident_at(c.toks, i).is_some() && !c.toks.get(i).is_some_and(|t| t.is_word("to") || t.is_word("from"))
}

pub(crate) fn call(out: &mut Collector<'_>, c: &mut Cursor<'_>) -> Res {
    let parts = c.name()?;
    let name = out.resolve(&parts)?;
    let kill = if is_kill_query(name) { kill_query_id(c.toks, c.pos) } else { None };
    out.set_procedure(name, kill);
    Ok(Outcome::of(S::Call))
}

fn is_kill_query(name: NameRef<'_>) -> bool {
    name.catalog == Some("system") && name.schema == Some("runtime") && name.name == "kill_query"
}

/// The `query_id` argument, by name or first position, when it is a string literal.
fn kill_query_id(toks: &[Token], open: usize) -> Option<String> {
    if !toks.get(open)?.is_op("(") {
        return None;
    }
    let mut i = open.saturating_add(1);
    let mut position = 0usize;
    loop {
        let named = toks.get(i.saturating_add(1)).is_some_and(|t| t.is_op("=>"));
        let (wanted, value_at) = if named {
            let arg = ident_at(toks, i)?;
            (arg.value == "query_id", i.saturating_add(2))
        } else {
            (position == 0, i)
        };
        if wanted {
            let TokenKind::Str(id) = &toks.get(value_at)?.kind else {
                return None;
            };
            let ends = toks.get(value_at.saturating_add(1)).is_some_and(|t| t.is_op(",") || t.is_op(")"));
            return ends.then(|| id.to_string());
        }
        i = next_argument(toks, i)?;
        position = position.saturating_add(1);
    }
}

/// Index after the comma ending the argument at `i`, or `None` at the closing paren.
fn next_argument(toks: &[Token], mut i: usize) -> Option<usize> {
    let mut depth: usize = 0;
    loop {
        let tok = toks.get(i)?;
        i = i.saturating_add(1);
        match &tok.kind {
            TokenKind::Op("(" | "[") => depth = depth.saturating_add(1),
            TokenKind::Op(")" | "]") if depth == 0 => return None,
            TokenKind::Op(")" | "]") => depth = depth.saturating_sub(1),
            TokenKind::Op(",") if depth == 0 => return Some(i),
            _ => {}
        }
    }
}
