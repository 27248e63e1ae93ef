//! Trino's lexical rules (SqlBase.g4), enough to find statement structure and names.
//!
//! Unquoted identifiers are folded to lower case because Trino resolves them that way;
//! quoted identifiers keep their exact text (most connectors lower-case them again at
//! resolution, but a case-sensitive connector would not, so we do not guess).
//! Unicode letters are accepted in unquoted identifiers, which is more lenient than
//! Trino (ASCII only): a query Trino rejects cannot be mis-routed by that.
//!
//! Tokens borrow their text: words from a lower-cased copy of the source made once per
//! statement, literals and quoted identifiers from the source itself unless an escape
//! has to be decoded. Allocating a string per token was most of the lexer's cost.

use std::borrow::Cow;

use super::error::SqlError;

/// A statement's text with its ASCII-lower-cased copy, which unquoted words borrow.
/// ASCII folding keeps every byte offset, so a word's range is the same in both.
pub struct SqlText<'s> {
    sql: &'s str,
    lower: String,
}

impl<'s> SqlText<'s> {
    pub fn new(sql: &'s str) -> Self {
        SqlText { sql, lower: sql.to_ascii_lowercase() }
    }

    pub fn sql(&self) -> &'s str {
        self.sql
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind<'a> {
    /// Unquoted identifier or keyword, lower-cased.
    Word(Cow<'a, str>),
    /// `"..."` (or backquoted) identifier, escapes removed, case kept.
    QuotedIdent(Cow<'a, str>),
    /// `'...'` or `U&'...'` literal, escapes decoded.
    Str(Cow<'a, str>),
    /// `X'...'`; its bytes never matter for routing.
    Binary,
    Number,
    /// `?` parameter (also a row-pattern quantifier).
    Param,
    Op(&'static str),
    /// A character Trino would reject; kept so the analysis can carry on.
    Other(char),
}

impl TokenKind<'_> {
    /// The same token owning its text, for keeping it past the source.
    pub fn into_owned(self) -> TokenKind<'static> {
        match self {
            TokenKind::Word(w) => TokenKind::Word(Cow::Owned(w.into_owned())),
            TokenKind::QuotedIdent(q) => TokenKind::QuotedIdent(Cow::Owned(q.into_owned())),
            TokenKind::Str(s) => TokenKind::Str(Cow::Owned(s.into_owned())),
            TokenKind::Binary => TokenKind::Binary,
            TokenKind::Number => TokenKind::Number,
            TokenKind::Param => TokenKind::Param,
            TokenKind::Op(op) => TokenKind::Op(op),
            TokenKind::Other(c) => TokenKind::Other(c),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'a> {
    pub kind: TokenKind<'a>,
    /// Byte range in the source text.
    pub start: usize,
    pub end: usize,
}

impl Token<'_> {
    pub fn word(&self) -> Option<&str> {
        match &self.kind {
            TokenKind::Word(w) => Some(w),
            _ => None,
        }
    }

    pub fn is_word(&self, kw: &str) -> bool {
        self.word() == Some(kw)
    }

    pub fn is_op(&self, op: &str) -> bool {
        matches!(self.kind, TokenKind::Op(o) if o == op)
    }
}

/// Splits the text into tokens, dropping whitespace and comments.
pub fn tokenize<'a>(text: &'a SqlText<'_>) -> Result<Vec<Token<'a>>, SqlError> {
    let sql = text.sql;
    let mut lx =
        Lexer { src: sql, lower: &text.lower, bytes: sql.as_bytes(), pos: 0, out: Vec::with_capacity(sql.len() / 4) };
    lx.run()?;
    Ok(lx.out)
}

struct Lexer<'a> {
    src: &'a str,
    lower: &'a str,
    bytes: &'a [u8],
    pos: usize,
    out: Vec<Token<'a>>,
}

/// The operator `rest` starts with. Two-byte operators come first so `<=` is not lexed as
/// `<` `=`. One `match` on the bytes: trying each operator with `starts_with` was a
/// `memcmp` call per candidate, a third of the lexer's cost on a 2 KB statement.
fn operator_at(rest: &[u8]) -> Option<&'static str> {
    let op = match (rest.first()?, rest.get(1)) {
        (b'<', Some(b'>')) => "<>",
        (b'!', Some(b'=')) => "!=",
        (b'<', Some(b'=')) => "<=",
        (b'>', Some(b'=')) => ">=",
        (b'|', Some(b'|')) => "||",
        (b'-', Some(b'>')) => "->",
        (b'=', Some(b'>')) => "=>",
        (b'{', Some(b'-')) => "{-",
        (b'-', Some(b'}')) => "-}",
        (b'(', _) => "(",
        (b')', _) => ")",
        (b'[', _) => "[",
        (b']', _) => "]",
        (b'{', _) => "{",
        (b'}', _) => "}",
        (b',', _) => ",",
        (b'.', _) => ".",
        (b';', _) => ";",
        (b':', _) => ":",
        (b'=', _) => "=",
        (b'<', _) => "<",
        (b'>', _) => ">",
        (b'+', _) => "+",
        (b'-', _) => "-",
        (b'*', _) => "*",
        (b'/', _) => "/",
        (b'%', _) => "%",
        (b'|', _) => "|",
        (b'^', _) => "^",
        (b'$', _) => "$",
        _ => return None,
    };
    Some(op)
}

impl<'a> Lexer<'a> {
    fn at(&self, off: usize) -> Option<u8> {
        self.bytes.get(self.pos.saturating_add(off)).copied()
    }

    fn push(&mut self, kind: TokenKind<'a>, start: usize) {
        self.out.push(Token { kind, start, end: self.pos });
    }

    fn run(&mut self) -> Result<(), SqlError> {
        while let Some(b) = self.at(0) {
            let start = self.pos;
            match b {
                b' ' | b'\t' | b'\n' | b'\r' | 0x0c => self.eat_while(is_space),
                b'-' if self.at(1) == Some(b'-') => self.pos = self.line_comment_end(start),
                b'/' if self.at(1) == Some(b'*') => self.pos = self.block_comment_end(start)?,
                b'\'' => {
                    let (text, end) = self.delimited(start, b'\'')?;
                    self.pos = end;
                    self.push(TokenKind::Str(text), start);
                }
                b'"' | b'`' => self.quoted_ident(start, b)?,
                b'u' | b'U' if self.at(1) == Some(b'&') && self.at(2) == Some(b'\'') => self.unicode_string(start)?,
                b'x' | b'X' if self.at(1) == Some(b'\'') => self.binary(start)?,
                b'0'..=b'9' => self.number(start),
                b'.' if self.at(1).is_some_and(|c| c.is_ascii_digit()) => self.number(start),
                b'a'..=b'z' | b'A'..=b'Z' | b'_' => self.word(start),
                b'?' => {
                    self.pos = start.saturating_add(1);
                    self.push(TokenKind::Param, start);
                }
                0x80..=0xff => self.non_ascii(start),
                _ => self.operator(start),
            }
        }
        Ok(())
    }

    fn line_comment_end(&self, start: usize) -> usize {
        let rest = self.bytes.get(start..).unwrap_or_default();
        match rest.iter().position(|&c| c == b'\n' || c == b'\r') {
            Some(i) => start.saturating_add(i),
            None => self.bytes.len(),
        }
    }

    fn block_comment_end(&self, start: usize) -> Result<usize, SqlError> {
        let body = start.saturating_add(2);
        // Trino's block comments do not nest: the first `*/` ends the comment.
        match self.src.get(body..).and_then(|r| r.find("*/")) {
            Some(i) => Ok(body.saturating_add(i).saturating_add(2)),
            None => Err(SqlError::UnterminatedComment { pos: start }),
        }
    }

    /// Reads a literal or identifier closed by `quote`, where a doubled quote stands for
    /// one. `open` is the position of the opening quote; returns the text and the end.
    /// The text is borrowed from the source unless it holds a doubled quote.
    fn delimited(&self, open: usize, quote: u8) -> Result<(Cow<'a, str>, usize), SqlError> {
        let src: &'a str = self.src;
        let q = char::from(quote);
        let body = open.saturating_add(1);
        let mut text = Cow::Borrowed("");
        let mut i = body;
        loop {
            let Some(idx) = src.get(i..).and_then(|r| r.find(q)) else {
                return Err(match quote {
                    b'\'' => SqlError::UnterminatedString { pos: open },
                    _ => SqlError::UnterminatedIdentifier { pos: open },
                });
            };
            let close = i.saturating_add(idx);
            let piece = src.get(i..close).unwrap_or_default();
            let after = close.saturating_add(1);
            let doubled = self.bytes.get(after) == Some(&quote);
            if !doubled && i == body {
                return Ok((Cow::Borrowed(piece), after));
            }
            let owned = text.to_mut();
            owned.push_str(piece);
            if doubled {
                owned.push(q);
                i = after.saturating_add(1);
            } else {
                return Ok((text, after));
            }
        }
    }

    fn quoted_ident(&mut self, start: usize, quote: u8) -> Result<(), SqlError> {
        let (text, end) = self.delimited(start, quote)?;
        if text.is_empty() {
            return Err(SqlError::EmptyIdentifier { pos: start });
        }
        self.pos = end;
        self.push(TokenKind::QuotedIdent(text), start);
        Ok(())
    }

    fn binary(&mut self, start: usize) -> Result<(), SqlError> {
        let open = start.saturating_add(1);
        // No escapes inside X'..': Trino validates the hex digits later, we never need them.
        let body = open.saturating_add(1);
        match self.src.get(body..).and_then(|r| r.find('\'')) {
            Some(i) => self.pos = body.saturating_add(i).saturating_add(1),
            None => return Err(SqlError::UnterminatedString { pos: start }),
        }
        self.push(TokenKind::Binary, start);
        Ok(())
    }

    fn unicode_string(&mut self, start: usize) -> Result<(), SqlError> {
        let (raw, end) = self.delimited(start.saturating_add(2), b'\'')?;
        self.pos = end;
        let escape = match self.uescape(end)? {
            Some((c, after)) => {
                self.pos = after;
                c
            }
            None => '\\',
        };
        let text = decode_unicode(&raw, escape, start)?;
        self.push(TokenKind::Str(Cow::Owned(text)), start);
        Ok(())
    }

    /// Looks past trivia for `UESCAPE '<c>'` after a Unicode string.
    fn uescape(&self, from: usize) -> Result<Option<(char, usize)>, SqlError> {
        let kw = self.skip_trivia(from);
        let word_end = kw.saturating_add(7);
        let is_kw = self.src.get(kw..word_end).is_some_and(|w| w.eq_ignore_ascii_case("uescape"))
            && !self.bytes.get(word_end).is_some_and(|&c| is_ident_byte(c));
        if !is_kw {
            return Ok(None);
        }
        let open = self.skip_trivia(word_end);
        if self.bytes.get(open) != Some(&b'\'') {
            return Err(SqlError::InvalidUnicodeEscape { pos: open });
        }
        let (text, end) = self.delimited(open, b'\'')?;
        let mut chars = text.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if valid_escape_char(c) => Ok(Some((c, end))),
            _ => Err(SqlError::InvalidUnicodeEscape { pos: open }),
        }
    }

    /// Skips whitespace and complete comments; an unterminated comment is left for
    /// the main loop to report.
    fn skip_trivia(&self, mut i: usize) -> usize {
        loop {
            match (self.bytes.get(i), self.bytes.get(i.saturating_add(1))) {
                (Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0c), _) => i = i.saturating_add(1),
                (Some(b'-'), Some(b'-')) => {
                    let rest = self.bytes.get(i..).unwrap_or_default();
                    match rest.iter().position(|&c| c == b'\n' || c == b'\r') {
                        Some(n) => i = i.saturating_add(n),
                        None => return self.bytes.len(),
                    }
                }
                (Some(b'/'), Some(b'*')) => match self.block_comment_end(i) {
                    Ok(end) => i = end,
                    Err(_) => return i,
                },
                _ => return i,
            }
        }
    }

    fn number(&mut self, start: usize) {
        let radix_prefix =
            self.at(0) == Some(b'0') && matches!(self.at(1), Some(b'x' | b'X' | b'o' | b'O' | b'b' | b'B'));
        if radix_prefix {
            self.pos = start.saturating_add(2);
            self.eat_while(|c| c.is_ascii_alphanumeric() || c == b'_');
        } else {
            self.eat_while(|c| c.is_ascii_digit() || c == b'_');
            if self.at(0) == Some(b'.') {
                self.pos = self.pos.saturating_add(1);
                self.eat_while(|c| c.is_ascii_digit() || c == b'_');
            }
            let exp_digit = match self.at(1) {
                Some(b'+' | b'-') => self.at(2).is_some_and(|c| c.is_ascii_digit()),
                Some(c) => c.is_ascii_digit(),
                None => false,
            };
            if matches!(self.at(0), Some(b'e' | b'E')) && exp_digit {
                self.pos = self.pos.saturating_add(2);
                self.eat_while(|c| c.is_ascii_digit());
            }
        }
        // `123abc` is one (invalid) DIGIT_IDENTIFIER token in Trino, never a name here.
        let _ = self.eat_ident_chars();
        self.push(TokenKind::Number, start);
    }

    fn word(&mut self, start: usize) {
        let ascii = self.eat_ident_chars();
        let src: &'a str = self.src;
        let raw = src.get(start..self.pos).unwrap_or_default();
        let folded = if ascii {
            // ASCII folding keeps byte offsets, so the lower-cased copy has the word at
            // the same range.
            let lower: &'a str = self.lower;
            Cow::Borrowed(lower.get(start..self.pos).unwrap_or_default())
        } else {
            // Unicode folding can change lengths (and `K`, the Kelvin sign, folds to
            // ASCII `k`), so non-ASCII words get their own lower-cased string.
            Cow::Owned(raw.to_lowercase())
        };
        self.push(TokenKind::Word(folded), start);
    }

    fn non_ascii(&mut self, start: usize) {
        let c = self.src.get(start..).and_then(|r| r.chars().next()).unwrap_or(char::REPLACEMENT_CHARACTER);
        if c.is_alphabetic() {
            self.word(start);
        } else {
            self.pos = start.saturating_add(c.len_utf8().max(1));
            self.push(TokenKind::Other(c), start);
        }
    }

    fn operator(&mut self, start: usize) {
        let rest = self.src.get(start..).unwrap_or_default();
        match operator_at(rest.as_bytes()) {
            Some(op) => {
                self.pos = start.saturating_add(op.len());
                self.push(TokenKind::Op(op), start);
            }
            None => {
                let c = rest.chars().next().unwrap_or(char::REPLACEMENT_CHARACTER);
                self.pos = start.saturating_add(c.len_utf8().max(1));
                self.push(TokenKind::Other(c), start);
            }
        }
    }

    fn eat_while(&mut self, pred: impl Fn(u8) -> bool) {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let n = rest.iter().position(|&b| !pred(b)).unwrap_or(rest.len());
        self.pos = self.pos.saturating_add(n);
    }

    /// Moves past identifier characters; says whether they were all ASCII.
    fn eat_ident_chars(&mut self) -> bool {
        let mut ascii_only = true;
        loop {
            // ASCII identifier bytes in one tight scan; only a non-ASCII byte needs a char.
            let rest = self.bytes.get(self.pos..).unwrap_or_default();
            let ascii = rest.iter().position(|&b| !is_ident_byte(b)).unwrap_or(rest.len());
            self.pos = self.pos.saturating_add(ascii);
            match self.at(0) {
                Some(b) if b >= 0x80 => {}
                _ => break,
            }
            match self.src.get(self.pos..).and_then(|r| r.chars().next()) {
                Some(c) if c.is_alphanumeric() => {
                    self.pos = self.pos.saturating_add(c.len_utf8());
                    ascii_only = false;
                }
                _ => break,
            }
        }
        ascii_only
    }
}

/// The statement's first word, or `(`, after whitespace and complete comments, found
/// without lexing the rest (`sql::query_from_first_word`). None when the text starts with
/// anything else: a quoted or non-ASCII word, a literal, an unterminated comment.
pub(crate) fn leading_word(sql: &str) -> Option<&str> {
    let bytes = sql.as_bytes();
    let mut pos = 0usize;
    loop {
        let rest = bytes.get(pos..)?;
        match (rest.first()?, rest.get(1)) {
            (&b, _) if is_space(b) => pos = pos.saturating_add(1),
            (b'-', Some(b'-')) => {
                let end = rest.iter().position(|&c| c == b'\n' || c == b'\r')?;
                pos = pos.saturating_add(end);
            }
            (b'/', Some(b'*')) => {
                // As the lexer reads them: the first `*/` ends the comment.
                let end = sql.get(pos.saturating_add(2)..)?.find("*/")?;
                pos = pos.saturating_add(end).saturating_add(4);
            }
            (b'(', _) => return sql.get(pos..pos.saturating_add(1)),
            (b'a'..=b'z' | b'A'..=b'Z' | b'_', _) => {
                let len = rest.iter().position(|&c| !is_ident_byte(c)).unwrap_or(rest.len());
                // A non-ASCII byte after it may continue the word (the lexer reads letters
                // of any script): not a plain ASCII word then.
                if rest.get(len).is_some_and(|&c| c >= 0x80) {
                    return None;
                }
                return sql.get(pos..pos.saturating_add(len));
            }
            _ => return None,
        }
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

fn is_ident_byte(b: u8) -> bool {
    IDENT_BYTES.get(usize::from(b)).copied().unwrap_or(false)
}

/// `is_ident_byte` as a table: one load per byte in the identifier scan, which runs over
/// most of a statement's bytes. Built at compile time, where an out-of-range index or an
/// overflow is a build error, never a panic at run time.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const IDENT_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b: u8 = 0;
    loop {
        table[b as usize] = b.is_ascii_alphanumeric() || b == b'_';
        if b == u8::MAX {
            break table;
        }
        b += 1;
    }
};

fn valid_escape_char(c: char) -> bool {
    !(c.is_ascii_hexdigit() || c == '+' || c == '\'' || c == '"' || c.is_whitespace())
}

/// Decodes the body of `U&'...'`: `<esc>XXXX`, `<esc>+XXXXXX` and `<esc><esc>`.
fn decode_unicode(raw: &str, escape: char, pos: usize) -> Result<String, SqlError> {
    let bad = SqlError::InvalidUnicodeEscape { pos };
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != escape {
            out.push(c);
            continue;
        }
        let digits = match chars.next() {
            Some(c2) if c2 == escape => {
                out.push(escape);
                continue;
            }
            Some('+') => 6,
            Some(h) => {
                let mut chars_with_first = std::iter::once(h).chain(chars.by_ref());
                let code = hex_value(&mut chars_with_first, 4).ok_or(bad.clone())?;
                out.push(char::from_u32(code).ok_or(bad.clone())?);
                continue;
            }
            None => return Err(bad),
        };
        let code = hex_value(&mut chars, digits).ok_or(bad.clone())?;
        out.push(char::from_u32(code).ok_or(bad.clone())?);
    }
    Ok(out)
}

fn hex_value(chars: &mut impl Iterator<Item = char>, digits: usize) -> Option<u32> {
    let mut value: u32 = 0;
    for _ in 0..digits {
        let d = chars.next()?.to_digit(16)?;
        value = value.checked_mul(16)?.checked_add(d)?;
    }
    Some(value)
}
