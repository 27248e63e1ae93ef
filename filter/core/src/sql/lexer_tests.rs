//! Lexer edge cases: literals, escapes, comments, identifiers and errors.

use super::error::SqlError;
use super::lexer::{tokenize as tokenize_text, SqlText, Token, TokenKind as K};

fn tokenize(sql: &str) -> Result<Vec<Token<'static>>, SqlError> {
    let text = SqlText::new(sql);
    let toks = tokenize_text(&text)?;
    Ok(toks.into_iter().map(|t| Token { kind: t.kind.into_owned(), start: t.start, end: t.end }).collect())
}

fn kinds(sql: &str) -> Vec<K<'static>> {
    tokenize(sql).unwrap().into_iter().map(|t| t.kind).collect()
}

fn word(w: &str) -> K<'static> {
    K::Word(w.to_string().into())
}

#[test]
fn unquoted_identifiers_fold_quoted_keep_case() {
    assert_eq!(
        kinds(r#"SELECT Foo, "Bar", "a""b", "x.y""#),
        vec![
            word("select"),
            word("foo"),
            K::Op(","),
            K::QuotedIdent("Bar".into()),
            K::Op(","),
            K::QuotedIdent("a\"b".into()),
            K::Op(","),
            K::QuotedIdent("x.y".into()),
        ]
    );
}

#[test]
fn unicode_identifiers() {
    assert_eq!(kinds("Ünïcödé_1 日本"), vec![word("ünïcödé_1"), word("日本")]);
    assert_eq!(kinds("\"Ärger\""), vec![K::QuotedIdent("Ärger".into())]);
}

#[test]
fn string_literals_and_escapes() {
    assert_eq!(kinds("'it''s'"), vec![K::Str("it's".into())]);
    assert_eq!(kinds("''"), vec![K::Str("".into())]);
    assert_eq!(kinds("'a' 'b'"), vec![K::Str("a".into()), K::Str("b".into())]);
    assert_eq!(kinds("'-- not /* a comment'"), vec![K::Str("-- not /* a comment".into())]);
    assert_eq!(kinds("'multi\nline'"), vec![K::Str("multi\nline".into())]);
}

#[test]
fn unicode_strings() {
    assert_eq!(kinds(r"U&'\0041\+01F600x'"), vec![K::Str("A😀x".into())]);
    assert_eq!(kinds(r"u&'a\\b'"), vec![K::Str(r"a\b".into())]);
    assert_eq!(kinds("U&'!0041!!' UESCAPE '!'"), vec![K::Str("A!".into())]);
    assert_eq!(kinds("U&'#0041' /* c */ uescape -- x\n '#' , 1"), vec![K::Str("A".into()), K::Op(","), K::Number]);
    assert_eq!(kinds("U&'it''s'"), vec![K::Str("it's".into())]);
}

#[test]
fn bad_unicode_escapes_are_errors() {
    for sql in [
        r"U&'\00'",
        r"U&'\D800'",
        r"U&'\+FFFFFF'",
        r"U&'\'",
        "U&'x' UESCAPE 'ab'",
        "U&'x' UESCAPE '+'",
        "U&'x' UESCAPE 1",
    ] {
        let err = tokenize(sql).unwrap_err();
        assert_eq!(err.kind(), "invalid_unicode_escape", "{sql}: {err}");
    }
}

#[test]
fn binary_and_numbers() {
    assert_eq!(kinds("X'0aFF' x''"), vec![K::Binary, K::Binary]);
    assert_eq!(kinds("1 1.5 .5 1e10 1.2E-3 0x1F 0b1010 0o17 1_000 123abc"), vec![K::Number; 10]);
    // `x` alone is an identifier, not the start of a binary literal.
    assert_eq!(kinds("x + 1"), vec![word("x"), K::Op("+"), K::Number]);
}

#[test]
fn comments_are_dropped() {
    assert_eq!(
        kinds("SELECT -- FROM hidden\n1 /* FROM t2 */ + /**/ 2 --end"),
        vec![word("select"), K::Number, K::Op("+"), K::Number]
    );
    // Not nested: the first `*/` ends the comment.
    assert_eq!(kinds("/* a /* b */ c */"), vec![word("c"), K::Op("*"), K::Op("/")]);
}

#[test]
fn operators() {
    assert_eq!(
        kinds("a<>b!=c<=d>=e||f->g=>h ?"),
        vec![
            word("a"),
            K::Op("<>"),
            word("b"),
            K::Op("!="),
            word("c"),
            K::Op("<="),
            word("d"),
            K::Op(">="),
            word("e"),
            K::Op("||"),
            word("f"),
            K::Op("->"),
            word("g"),
            K::Op("=>"),
            word("h"),
            K::Param,
        ]
    );
    assert_eq!(kinds("a - -1"), vec![word("a"), K::Op("-"), K::Op("-"), K::Number]);
    // Every operator Trino's grammar has, each lexed as itself (row-pattern `{-` `-}` too).
    let all = [
        "(", ")", "[", "]", "{", "}", ",", ".", ";", ":", "=", "<", ">", "+", "-", "*", "/", "%", "|", "^", "$", "{-",
        "-}",
    ];
    assert_eq!(kinds(&all.join(" ")), all.iter().map(|op| K::Op(op)).collect::<Vec<_>>());
    assert_eq!(kinds("{--}"), vec![K::Op("{-"), K::Op("-}")]);
    assert_eq!(kinds("@ ¿"), vec![K::Other('@'), K::Other('¿')]);
}

#[test]
fn unterminated_things_are_errors_with_positions() {
    assert_eq!(tokenize("SELECT 'abc").unwrap_err(), SqlError::UnterminatedString { pos: 7 });
    assert_eq!(tokenize("SELECT 'a''").unwrap_err(), SqlError::UnterminatedString { pos: 7 });
    assert_eq!(tokenize("SELECT \"abc").unwrap_err(), SqlError::UnterminatedIdentifier { pos: 7 });
    assert_eq!(tokenize("SELECT 1 /* x").unwrap_err(), SqlError::UnterminatedComment { pos: 9 });
    assert_eq!(tokenize("SELECT X'00").unwrap_err(), SqlError::UnterminatedString { pos: 7 });
    assert_eq!(tokenize("U&'abc").unwrap_err(), SqlError::UnterminatedString { pos: 2 });
    assert_eq!(tokenize("SELECT \"\"").unwrap_err(), SqlError::EmptyIdentifier { pos: 7 });
    let msg = tokenize("SELECT 'abc").unwrap_err().to_string();
    assert!(msg.contains("byte 7"), "{msg}");
}

#[test]
fn spans_cover_the_source() {
    let sql = "SELECT \"Ab\" FROM ü";
    let toks = tokenize(sql).unwrap();
    let texts: Vec<&str> = toks.iter().map(|t| &sql[t.start..t.end]).collect();
    assert_eq!(texts, vec!["SELECT", "\"Ab\"", "FROM", "ü"]);
}

#[test]
fn line_comment_at_end_and_crlf() {
    assert_eq!(kinds("a --x\r\nb"), vec![word("a"), word("b")]);
    assert_eq!(kinds("a --"), vec![word("a")]);
    assert_eq!(kinds(""), vec![]);
}

#[test]
fn words_fold_like_unicode_lower_case() {
    // Non-ASCII words are folded on their own: the Kelvin sign folds to ASCII `k`.
    assert_eq!(kinds("\u{212A}EY Straße"), vec![word("key"), word("straße")]);
    assert_eq!(kinds("MiXeD_1"), vec![word("mixed_1")]);
}
