//! The one error type of SQL inspection. Positions are byte offsets into the text
//! being read at the time: the request SQL, or the inner SQL of `EXECUTE IMMEDIATE`
//! or of a prepared statement, or the prepared-statement header value.

use thiserror::Error;

/// Why a statement or header could not be analysed. Callers route on `Err` with their
/// configured fallback; nothing here is a reason to drop the request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SqlError {
    #[error("unterminated string literal starting at byte {pos}")]
    UnterminatedString { pos: usize },
    #[error("unterminated quoted identifier starting at byte {pos}")]
    UnterminatedIdentifier { pos: usize },
    #[error("unterminated block comment starting at byte {pos}")]
    UnterminatedComment { pos: usize },
    #[error("zero-length quoted identifier at byte {pos}")]
    EmptyIdentifier { pos: usize },
    #[error("invalid Unicode escape in string literal at byte {pos}")]
    InvalidUnicodeEscape { pos: usize },
    #[error("statement is empty")]
    Empty,
    #[error("more than one statement: another one starts at byte {pos}")]
    MultipleStatements { pos: usize },
    #[error("unbalanced parenthesis or bracket at byte {pos}")]
    Unbalanced { pos: usize },
    #[error("nesting deeper than {limit} at byte {pos}")]
    TooDeep { pos: usize, limit: usize },
    #[error("more than {limit} distinct tables")]
    TooManyTables { limit: usize },
    #[error("SQL text of {len} bytes is over the limit of {limit}")]
    TooLarge { len: usize, limit: usize },
    #[error("expected {expected} at byte {pos}")]
    Syntax { pos: usize, expected: &'static str },
    #[error("name with more than three parts at byte {pos}")]
    NameTooLong { pos: usize },
    #[error("invalid prepared statement header at byte {pos}: {reason}")]
    InvalidPreparedHeader { pos: usize, reason: &'static str },
}

impl SqlError {
    /// A stable name for the kind of error, for logs, metrics and test expectations.
    pub fn kind(&self) -> &'static str {
        match self {
            SqlError::UnterminatedString { .. } => "unterminated_string",
            SqlError::UnterminatedIdentifier { .. } => "unterminated_identifier",
            SqlError::UnterminatedComment { .. } => "unterminated_comment",
            SqlError::EmptyIdentifier { .. } => "empty_identifier",
            SqlError::InvalidUnicodeEscape { .. } => "invalid_unicode_escape",
            SqlError::Empty => "empty",
            SqlError::MultipleStatements { .. } => "multiple_statements",
            SqlError::Unbalanced { .. } => "unbalanced",
            SqlError::TooDeep { .. } => "too_deep",
            SqlError::TooManyTables { .. } => "too_many_tables",
            SqlError::TooLarge { .. } => "too_large",
            SqlError::Syntax { .. } => "syntax",
            SqlError::NameTooLong { .. } => "name_too_long",
            SqlError::InvalidPreparedHeader { .. } => "invalid_prepared_header",
        }
    }
}
