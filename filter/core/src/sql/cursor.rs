//! Reading helpers over a token slice: keywords, identifiers and qualified names.

use super::error::SqlError;
use super::lexer::{Token, TokenKind};

/// One part of a name: lower-cased if it was unquoted, exact if quoted. Borrowed from
/// its token: only names the analysis keeps are copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ident<'t> {
    pub value: &'t str,
    pub pos: usize,
}

/// Trino's reserved words, sorted: an unquoted one can never be a name, which is what
/// tells `FROM t WHERE` apart from `FROM t w`.
#[rustfmt::skip]
const RESERVED: &[&str] = &[
    "alter", "and", "as", "between", "by", "case", "cast", "constraint", "create", "cross", "cube",
    "current_catalog", "current_date", "current_path", "current_role", "current_schema", "current_time",
    "current_timestamp", "current_user", "deallocate", "delete", "describe", "distinct", "drop", "else", "end",
    "escape", "except", "execute", "exists", "extract", "false", "for", "from", "full", "group", "grouping",
    "having", "in", "inner", "insert", "intersect", "into", "is", "join", "json_array", "json_exists",
    "json_object", "json_query", "json_table", "json_value", "left", "like", "listagg", "localtime",
    "localtimestamp", "natural", "normalize", "not", "null", "on", "or", "order", "outer", "prepare", "recursive",
    "right", "rollup", "select", "skip", "table", "then", "trim", "true", "uescape", "union", "unnest", "using",
    "values", "when", "where", "with",
];

pub(crate) fn is_reserved(word: &str) -> bool {
    RESERVED.binary_search(&word).is_ok()
}

/// The identifier a token stands for, if it can start a name.
pub(crate) fn ident_at<'t>(toks: &'t [Token<'_>], i: usize) -> Option<Ident<'t>> {
    let tok = toks.get(i)?;
    let value = match &tok.kind {
        TokenKind::Word(w) if !is_reserved(w) => w,
        TokenKind::QuotedIdent(q) => q,
        _ => return None,
    };
    Some(Ident { value, pos: tok.start })
}

/// After a dot any word is a name part (`c.s.select` is not valid Trino, but it is
/// unambiguous and rejecting it buys nothing).
fn part_at<'t>(toks: &'t [Token<'_>], i: usize) -> Option<Ident<'t>> {
    let tok = toks.get(i)?;
    match &tok.kind {
        TokenKind::Word(w) => Some(Ident { value: w, pos: tok.start }),
        _ => ident_at(toks, i),
    }
}

/// Parses `ident ('.' ident)*` at `i`; returns the parts and the index after them.
pub(crate) fn qualified_name_at<'t>(toks: &'t [Token<'_>], i: usize) -> Option<(Vec<Ident<'t>>, usize)> {
    let first = ident_at(toks, i)?;
    let mut parts = vec![first];
    let mut j = i.saturating_add(1);
    while toks.get(j).is_some_and(|t| t.is_op(".")) {
        let Some(part) = part_at(toks, j.saturating_add(1)) else {
            break;
        };
        parts.push(part);
        j = j.saturating_add(2);
    }
    Some((parts, j))
}

/// A position in a statement's tokens.
pub(crate) struct Cursor<'t> {
    pub toks: &'t [Token<'t>],
    pub pos: usize,
}

impl<'t> Cursor<'t> {
    pub fn new(toks: &'t [Token<'t>]) -> Self {
        Cursor { toks, pos: 0 }
    }

    pub fn peek(&self) -> Option<&'t Token<'t>> {
        self.toks.get(self.pos)
    }

    pub fn peek_at(&self, ahead: usize) -> Option<&'t Token<'t>> {
        self.toks.get(self.pos.saturating_add(ahead))
    }

    /// Byte offset of the current token, for error messages.
    pub fn offset(&self) -> usize {
        match (self.peek(), self.toks.last()) {
            (Some(t), _) => t.start,
            (None, Some(last)) => last.end,
            (None, None) => 0,
        }
    }

    pub fn rest(&self) -> &'t [Token<'t>] {
        self.toks.get(self.pos..).unwrap_or_default()
    }

    pub fn bump(&mut self) {
        self.pos = self.pos.saturating_add(1);
    }

    pub fn is(&self, kw: &str) -> bool {
        self.peek().is_some_and(|t| t.is_word(kw))
    }

    pub fn is_at(&self, ahead: usize, kw: &str) -> bool {
        self.peek_at(ahead).is_some_and(|t| t.is_word(kw))
    }

    pub fn eat(&mut self, kw: &str) -> bool {
        let hit = self.is(kw);
        if hit {
            self.bump();
        }
        hit
    }

    /// Eats all of `kws` in order, or nothing.
    pub fn eat_all(&mut self, kws: &[&str]) -> bool {
        let hit = kws.iter().enumerate().all(|(k, kw)| self.is_at(k, kw));
        if hit {
            self.pos = self.pos.saturating_add(kws.len());
        }
        hit
    }

    pub fn require(&mut self, kw: &'static str) -> Result<(), SqlError> {
        if self.eat(kw) {
            Ok(())
        } else {
            Err(self.syntax(kw))
        }
    }

    pub fn syntax(&self, expected: &'static str) -> SqlError {
        SqlError::Syntax { pos: self.offset(), expected }
    }

    pub fn ident(&mut self) -> Result<Ident<'t>, SqlError> {
        let id = ident_at(self.toks, self.pos).ok_or_else(|| self.syntax("an identifier"))?;
        self.bump();
        Ok(id)
    }

    pub fn name(&mut self) -> Result<Vec<Ident<'t>>, SqlError> {
        let (parts, next) = qualified_name_at(self.toks, self.pos).ok_or_else(|| self.syntax("a name"))?;
        self.pos = next;
        Ok(parts)
    }

    /// Index of the first `kw` at parenthesis depth zero from the cursor on.
    pub fn find_top_level(&self, kw: &str) -> Option<usize> {
        let mut depth: usize = 0;
        for (i, tok) in self.toks.iter().enumerate().skip(self.pos) {
            match &tok.kind {
                TokenKind::Op("(" | "[") => depth = depth.saturating_add(1),
                TokenKind::Op(")" | "]") => depth = depth.saturating_sub(1),
                TokenKind::Word(w) if depth == 0 && w.as_ref() == kw => return Some(i),
                _ => {}
            }
        }
        None
    }

    /// For role statements: a trailing `IN catalog`.
    pub fn trailing_in_catalog(&self) -> Option<String> {
        let n = self.toks.len();
        let kw = self.toks.get(n.checked_sub(2)?)?;
        if !kw.is_word("in") {
            return None;
        }
        ident_at(self.toks, n.checked_sub(1)?).map(|id| id.value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_words_are_sorted_for_binary_search() {
        assert!(RESERVED.windows(2).all(|w| w[0] < w[1]));
        assert!(is_reserved("select") && is_reserved("with") && is_reserved("alter"));
        assert!(!is_reserved("data") && !is_reserved("lateral") && !is_reserved("limit"));
    }
}
