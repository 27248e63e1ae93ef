//! Finds the relations a query reads without building a syntax tree.
//!
//! One pass over the tokens keeps a stack of bracket frames. A frame opened where a
//! query starts (`(SELECT`, a CTE body, a subquery in FROM) is a query frame: there
//! `FROM`, `JOIN` and the commas of a FROM list announce a relation. Any other frame
//! holds expressions, where `FROM` belongs to EXTRACT, SUBSTRING or TRIM. CTE names are
//! kept on the frame that declares them, so they stop hiding tables when it closes.

use std::borrow::Cow;
use std::collections::BTreeSet;

use super::collector::{Collector, NameRef};
use super::cursor::{ident_at, qualified_name_at, Ident};
use super::error::SqlError;
use super::lexer::{Token, TokenKind};
use super::types::{Access, TableKind};

/// Bracket nesting Trino itself would struggle with; beyond it we stop, not recurse.
pub const MAX_NESTING: usize = 256;

/// Table functions Trino resolves to `system.builtin` whatever the session says.
const BUILTIN_TABLE_FUNCTIONS: [&str; 2] = ["sequence", "exclude_columns"];

/// Records every relation read by the query in `toks[start..]`. With `relation_first`
/// the first token starts a relation (MERGE ... USING).
pub(crate) fn scan_query(
    toks: &[Token],
    start: usize,
    out: &mut Collector<'_>,
    access: Access,
    relation_first: bool,
) -> Result<(), SqlError> {
    let mut scan = Scan { toks, out, access, stack: vec![Frame::new(true, false, ")", 0)] };
    scan.run(start, relation_first)
}

struct Frame {
    /// Opened where a query starts; false for expression and argument brackets.
    query: bool,
    /// Between FROM and the end of the FROM clause: commas separate relations.
    in_from: bool,
    /// CTE names declared by a WITH at this level, lower-cased; a set because
    /// generated SQL can declare thousands and reference each many times.
    ctes: BTreeSet<String>,
    /// Set on the body of a CTE.
    cte: Option<CteBody>,
    close: &'static str,
    open_pos: usize,
}

struct CteBody {
    /// The name to declare in the enclosing frame when the body closes; `None` when it
    /// was declared up front (WITH RECURSIVE sees its own names).
    name: Option<String>,
    recursive: bool,
}

impl Frame {
    fn new(query: bool, in_from: bool, close: &'static str, open_pos: usize) -> Self {
        Frame { query, in_from, ctes: BTreeSet::new(), cte: None, close, open_pos }
    }
}

struct Scan<'a, 'o, 'c> {
    toks: &'a [Token<'a>],
    out: &'o mut Collector<'c>,
    access: Access,
    stack: Vec<Frame>,
}

/// Next index and whether the token there starts a relation.
type Step = (usize, bool);

impl Scan<'_, '_, '_> {
    fn run(&mut self, start: usize, relation_first: bool) -> Result<(), SqlError> {
        let mut i = start;
        let mut expect = relation_first;
        while let Some(tok) = self.toks.get(i) {
            if expect {
                if let Some(step) = self.relation(i)? {
                    (i, expect) = step;
                    continue;
                }
            }
            (i, expect) = self.step(i, tok)?;
        }
        match self.stack.get(1) {
            Some(open) => Err(SqlError::Unbalanced { pos: open.open_pos }),
            None => Ok(()),
        }
    }

    fn step(&mut self, i: usize, tok: &Token) -> Result<Step, SqlError> {
        let next = i.saturating_add(1);
        match &tok.kind {
            TokenKind::Op("(") => {
                let query = starts_query(self.toks, next);
                self.push(Frame::new(query, false, ")", tok.start))?;
            }
            TokenKind::Op("[") => self.push(Frame::new(false, false, "]", tok.start))?,
            TokenKind::Op(c @ (")" | "]")) => return self.close(i, c, tok.start),
            TokenKind::Op(",") => {
                let top = self.top()?;
                return Ok((next, top.query && top.in_from));
            }
            TokenKind::Word(w) => return self.word(i, w),
            _ => {}
        }
        Ok((next, false))
    }

    fn word(&mut self, i: usize, w: &str) -> Result<Step, SqlError> {
        let next = i.saturating_add(1);
        match w {
            "from" => {
                // `IS [NOT] DISTINCT FROM x` compares values, it names no relation.
                let distinct = i.checked_sub(1).and_then(|p| self.toks.get(p)).is_some_and(|t| t.is_word("distinct"));
                let top = self.top()?;
                if top.query && !distinct {
                    top.in_from = true;
                    return Ok((next, true));
                }
            }
            "join" => return Ok((next, self.top()?.query)),
            "select" | "values" | "where" | "group" | "having" | "window" | "order" | "limit" | "offset" | "fetch"
            | "union" | "intersect" | "except" => self.top()?.in_from = false,
            "with" => {
                if let Some((name, open, recursive)) = cte_header(self.toks, i) {
                    self.open_cte(name, open, recursive)?;
                    return Ok((open.saturating_add(1), false));
                }
            }
            "table" => return Ok((self.table_keyword(i)?, false)),
            _ => {}
        }
        Ok((next, false))
    }

    /// Reads a relation starting at `i`, or returns `None` to let the token be read
    /// as usual (TABLE, or something that is not a relation at all).
    fn relation(&mut self, i: usize) -> Result<Option<Step>, SqlError> {
        let Some(tok) = self.toks.get(i) else {
            return Ok(None);
        };
        let next = i.saturating_add(1);
        let paren_next = self.toks.get(next).is_some_and(|t| t.is_op("("));
        if tok.is_op("(") {
            // `(SELECT ...)` is a subquery; `(a JOIN b ON ...)` holds relations.
            let query = starts_query(self.toks, next);
            self.push(Frame::new(true, !query, ")", tok.start))?;
            return Ok(Some((next, !query)));
        }
        if tok.is_word("lateral") && paren_next {
            self.push(Frame::new(true, false, ")", tok.start))?;
            return Ok(Some((next.saturating_add(1), false)));
        }
        if (tok.is_word("unnest") || tok.is_word("json_table")) && paren_next {
            self.push(Frame::new(false, false, ")", tok.start))?;
            return Ok(Some((next.saturating_add(1), false)));
        }
        match qualified_name_at(self.toks, i) {
            Some((parts, j)) => {
                self.table(&parts)?;
                Ok(Some((j, false)))
            }
            None => Ok(None),
        }
    }

    /// `TABLE t` (a query), `TABLE(t)` (a table argument), `TABLE(c.s.fn(...))` (a
    /// table function) or `TABLE(query)`.
    fn table_keyword(&mut self, i: usize) -> Result<usize, SqlError> {
        let next = i.saturating_add(1);
        let Some(open) = self.toks.get(next).filter(|t| t.is_op("(")) else {
            return match qualified_name_at(self.toks, next) {
                Some((parts, j)) => {
                    self.table(&parts)?;
                    Ok(j)
                }
                None => Ok(next),
            };
        };
        let inner = next.saturating_add(1);
        if let Some((parts, j)) = qualified_name_at(self.toks, inner) {
            match self.toks.get(j) {
                Some(args) if args.is_op("(") => {
                    self.function(&parts)?;
                    self.push(Frame::new(false, false, ")", open.start))?;
                    self.push(Frame::new(false, false, ")", args.start))?;
                    return Ok(j.saturating_add(1));
                }
                Some(close) if close.is_op(")") => {
                    self.table(&parts)?;
                    self.push(Frame::new(false, false, ")", open.start))?;
                    return Ok(j);
                }
                _ => {}
            }
        }
        self.push(Frame::new(true, false, ")", open.start))?;
        Ok(inner)
    }

    fn close(&mut self, i: usize, c: &str, pos: usize) -> Result<Step, SqlError> {
        if self.stack.len() <= 1 {
            return Err(SqlError::Unbalanced { pos });
        }
        let frame = self.stack.pop().ok_or(SqlError::Unbalanced { pos })?;
        if frame.close != c {
            return Err(SqlError::Unbalanced { pos });
        }
        let next = i.saturating_add(1);
        let Some(body) = frame.cte else {
            return Ok((next, false));
        };
        if let Some(name) = body.name {
            self.top()?.ctes.insert(name);
        }
        // `, name AS (` continues the WITH list.
        if self.toks.get(next).is_some_and(|t| t.is_op(",")) {
            if let Some((name, open)) = cte_item(self.toks, next.saturating_add(1)) {
                self.open_cte(name, open, body.recursive)?;
                return Ok((open.saturating_add(1), false));
            }
        }
        Ok((next, false))
    }

    /// CTE names are kept only to hide tables, so only when table names are kept.
    fn open_cte(&mut self, name: &str, open: usize, recursive: bool) -> Result<(), SqlError> {
        let name = self.out.keeps_names().then(|| name.to_lowercase());
        let pending = if recursive {
            if let Some(name) = name {
                self.top()?.ctes.insert(name);
            }
            None
        } else {
            // A plain CTE is not visible in its own body: `WITH t AS (SELECT * FROM t)`
            // reads the real table t.
            name
        };
        let pos = self.toks.get(open).map_or(0, |t| t.start);
        let mut frame = Frame::new(true, false, ")", pos);
        frame.cte = Some(CteBody { name: pending, recursive });
        self.push(frame)
    }

    fn push(&mut self, frame: Frame) -> Result<(), SqlError> {
        if self.stack.len() >= MAX_NESTING {
            return Err(SqlError::TooDeep { pos: frame.open_pos, limit: MAX_NESTING });
        }
        self.stack.push(frame);
        Ok(())
    }

    fn top(&mut self) -> Result<&mut Frame, SqlError> {
        self.stack.last_mut().ok_or(SqlError::Unbalanced { pos: 0 })
    }

    fn table(&mut self, parts: &[Ident]) -> Result<(), SqlError> {
        if !self.out.keeps_names() {
            // Nothing is recorded, so whether a CTE hides the name does not matter; its
            // shape is still checked, as when names are kept.
            return self.out.resolve(parts).map(|_| ());
        }
        if let [only] = parts {
            let key = lower_case(only.value);
            if self.stack.iter().any(|f| f.ctes.contains(key.as_ref())) {
                return Ok(());
            }
        }
        self.out.table(parts, self.access)
    }

    fn function(&mut self, parts: &[Ident]) -> Result<(), SqlError> {
        let name = match parts {
            [only] if BUILTIN_TABLE_FUNCTIONS.contains(&only.value) => {
                NameRef { catalog: Some("system"), schema: Some("builtin"), name: only.value }
            }
            _ => self.out.resolve(parts)?,
        };
        self.out.record(name, self.access, TableKind::TableFunction)
    }
}

/// `s` lower-cased, copied only when that changes it (a quoted name with capitals).
fn lower_case(s: &str) -> Cow<'_, str> {
    if s.is_ascii() && !s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

fn starts_query(toks: &[Token], i: usize) -> bool {
    toks.get(i).and_then(Token::word).is_some_and(|w| matches!(w, "select" | "with" | "values" | "table"))
}

/// `WITH [RECURSIVE] name [(cols)] AS (`: the name, the index of `(` and RECURSIVE.
/// Other uses of WITH (properties, ORDINALITY, TIES, NO DATA, FUNCTION, SESSION)
/// do not match.
fn cte_header<'t>(toks: &'t [Token<'_>], with: usize) -> Option<(&'t str, usize, bool)> {
    let mut j = with.saturating_add(1);
    let recursive = toks.get(j).is_some_and(|t| t.is_word("recursive"));
    if recursive {
        j = j.saturating_add(1);
    }
    let (name, open) = cte_item(toks, j)?;
    Some((name, open, recursive))
}

fn cte_item<'t>(toks: &'t [Token<'_>], at: usize) -> Option<(&'t str, usize)> {
    let name = ident_at(toks, at)?.value;
    let mut j = at.saturating_add(1);
    if toks.get(j).is_some_and(|t| t.is_op("(")) {
        // Column aliases are plain identifiers; anything else means this is not a CTE.
        j = j.saturating_add(1);
        loop {
            let tok = toks.get(j)?;
            if tok.is_op(")") {
                break;
            }
            let ok = tok.is_op(",") || ident_at(toks, j).is_some();
            if !ok {
                return None;
            }
            j = j.saturating_add(1);
        }
        j = j.saturating_add(1);
    }
    if !toks.get(j)?.is_word("as") {
        return None;
    }
    let open = j.saturating_add(1);
    toks.get(open)?.is_op("(").then_some((name, open))
}
