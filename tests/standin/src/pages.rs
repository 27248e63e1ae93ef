//! JSON rendering of Trino's `QueryResults` pages, byte-compatible with the samples.
//!
//! Written by hand instead of through serde: Trino's field order (`id, infoUri,
//! partialCancelUri, nextUri, columns, data, stats, error, warnings, updateType,
//! updateCount`, nulls omitted) must be exact because a router may look for
//! `nextUri` near the start of a page, and 1 MB data pages are cheaper to write
//! straight into one buffer. Strings are escaped the way Jackson does it: only
//! `"`, `\` and control characters; non-ASCII stays raw UTF-8.

use std::fmt::Write as _;

use crate::rows;

/// The `stats` object variants seen in the samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stats {
    /// Queued pages (samples 01, 02).
    Queued { elapsed_ms: u64 },
    /// A query that failed before running (sample 07).
    QueuedFailed { elapsed_ms: u64 },
    /// Executing token 0 (sample 03): no progress fields yet.
    Starting { elapsed_ms: u64 },
    /// Data pages (sample 04).
    Running { elapsed_ms: u64, done_rows: u64, total_rows: u64 },
    /// The final page (sample 05).
    Finished { elapsed_ms: u64, total_rows: u64 },
    /// A running query that was canceled.
    Canceled { elapsed_ms: u64, done_rows: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageError {
    /// SYNTAX_ERROR as in sample 07; carries the SQL for the message.
    Syntax(String),
    /// USER_CANCELED, what Trino reports after a DELETE.
    Canceled,
    /// QUERY_TEXT_TOO_LARGE: the SQL's length in characters was over the limit.
    TextTooLarge(usize),
    /// UNKNOWN_TRANSACTION: X-Trino-Transaction-Id names a transaction this coordinator did
    /// not start (or that ended), as Trino 476 reports it to JDBC (code 20, USER_ERROR).
    UnknownTransaction(String),
}

#[derive(Debug, Clone)]
pub struct Page<'a> {
    pub id: &'a str,
    pub info_uri: String,
    pub partial_cancel_uri: Option<String>,
    pub next_uri: Option<String>,
    pub columns: bool,
    /// Row range `start..end` for the `data` field.
    pub data: Option<(u64, u64)>,
    pub stats: Stats,
    pub error: Option<PageError>,
}

/// Appends `text` as a JSON string literal, escaped like Jackson.
pub fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    let mut plain_from = 0;
    for (i, b) in text.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[plain_from..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04X}");
        } else {
            out.push_str(escape);
        }
        plain_from = i + 1;
    }
    out.push_str(&text[plain_from..]);
    out.push('"');
}

pub fn render(page: &Page, sql_hash: u64, row_bytes: usize) -> String {
    let rows = page.data.map_or(0, |(s, e)| e.saturating_sub(s)) as usize;
    render_with(page, 1500 + rows * (row_bytes + 64), |out, start, end| {
        rows::write_rows(out, sql_hash, start, end, row_bytes)
    })
}

/// Like [`render`], with `write_data` writing the `data` value for the page's row range
/// (the spooling protocol writes segments there instead of rows).
pub fn render_with(page: &Page, capacity: usize, write_data: impl FnOnce(&mut String, u64, u64)) -> String {
    let mut out = String::with_capacity(capacity);
    out.push_str("{\"id\":");
    push_json_string(&mut out, page.id);
    out.push_str(",\"infoUri\":");
    push_json_string(&mut out, &page.info_uri);
    if let Some(uri) = &page.partial_cancel_uri {
        out.push_str(",\"partialCancelUri\":");
        push_json_string(&mut out, uri);
    }
    if let Some(uri) = &page.next_uri {
        out.push_str(",\"nextUri\":");
        push_json_string(&mut out, uri);
    }
    if page.columns {
        out.push_str(",\"columns\":");
        out.push_str(rows::COLUMNS_JSON);
    }
    if let Some((start, end)) = page.data {
        out.push_str(",\"data\":");
        write_data(&mut out, start, end);
    }
    out.push_str(",\"stats\":");
    write_stats(&mut out, page.stats);
    if let Some(error) = &page.error {
        out.push_str(",\"error\":");
        write_error(&mut out, error);
    }
    out.push_str(",\"warnings\":[]}");
    out
}

/// Java prints doubles with at least one decimal (`0.0`, `100.0`); so does `{:?}`.
fn java_double(value: f64) -> String {
    format!("{value:?}")
}

fn write_stats(out: &mut String, stats: Stats) {
    // (state, queued, scheduled, progress %, nodes, splits, elapsed, rows, peak memory, root stage)
    let (state, queued, scheduled, progress, elapsed, rows, root) = match stats {
        Stats::Queued { elapsed_ms } => ("QUEUED", true, false, None, elapsed_ms, 0, None),
        Stats::QueuedFailed { elapsed_ms } => ("FAILED", false, false, None, elapsed_ms, 0, None),
        Stats::Starting { elapsed_ms } => ("RUNNING", false, true, None, elapsed_ms, 0, Some(("RUNNING", false))),
        Stats::Running { elapsed_ms, done_rows, total_rows } => {
            let pct = if total_rows == 0 { 0.0 } else { done_rows as f64 * 100.0 / total_rows as f64 };
            ("RUNNING", false, true, Some(pct.min(100.0)), elapsed_ms, done_rows, Some(("RUNNING", false)))
        }
        Stats::Finished { elapsed_ms, total_rows } => {
            ("FINISHED", false, true, Some(100.0), elapsed_ms, total_rows, Some(("FINISHED", true)))
        }
        Stats::Canceled { elapsed_ms, done_rows } => {
            ("FAILED", false, true, None, elapsed_ms, done_rows, Some(("FAILED", true)))
        }
    };
    let nodes = u8::from(scheduled);
    let (total_splits, queued_splits, completed_splits) = match state {
        "FINISHED" => (17, 0, 17),
        "RUNNING" if progress.is_some() => (17, 17, 0),
        _ => (0, 0, 0),
    };
    let _ = write!(out, "{{\"state\":\"{state}\",\"queued\":{queued},\"scheduled\":{scheduled},");
    if let Some(pct) = progress {
        let _ = write!(out, "\"progressPercentage\":{},\"runningPercentage\":0.0,", java_double(pct));
    }
    let (planning, analysis) = if scheduled { (9, 2) } else { (0, 0) };
    let _ = write!(
        out,
        "\"nodes\":{nodes},\"totalSplits\":{total_splits},\"queuedSplits\":{queued_splits},\
         \"runningSplits\":0,\"completedSplits\":{completed_splits},\
         \"planningTimeMillis\":{planning},\"analysisTimeMillis\":{analysis},\"cpuTimeMillis\":0,\
         \"wallTimeMillis\":0,\"queuedTimeMillis\":0,\"elapsedTimeMillis\":{elapsed},\
         \"finishingTimeMillis\":0,\"physicalInputTimeMillis\":0,\"processedRows\":{rows},\
         \"processedBytes\":0,\"physicalInputBytes\":0,\"physicalWrittenBytes\":0,\
         \"internalNetworkInputBytes\":0,\"peakMemoryBytes\":0,\"spilledBytes\":0"
    );
    if let Some((stage_state, done)) = root {
        let _ = write!(
            out,
            ",\"rootStage\":{{\"stageId\":\"0\",\"state\":\"{stage_state}\",\"done\":{done},\
             \"nodes\":1,\"totalSplits\":{total_splits},\"queuedSplits\":{queued_splits},\
             \"runningSplits\":0,\"completedSplits\":{completed_splits},\"cpuTimeMillis\":0,\
             \"wallTimeMillis\":0,\"processedRows\":{rows},\"processedBytes\":0,\
             \"physicalInputBytes\":0,\"failedTasks\":0,\"coordinatorOnly\":false,\"subStages\":[]}}"
        );
    }
    out.push('}');
}

/// Trino's `query.max-length` default, in characters.
pub const MAX_QUERY_CHARS: usize = 1_000_000;

const EXPECTING: &str = "Expecting: 'ALTER', 'ANALYZE', 'CALL', 'COMMENT', 'COMMIT', 'CREATE', \
'DEALLOCATE', 'DELETE', 'DENY', 'DESC', 'DESCRIBE', 'DROP', 'EXECUTE', 'EXPLAIN', 'GRANT', \
'INSERT', 'MERGE', 'PREPARE', 'REFRESH', 'RESET', 'REVOKE', 'ROLLBACK', 'SET', 'SHOW', 'START', \
'TRUNCATE', 'UPDATE', 'USE', 'WITH', <query>";

/// Stack frames from the recorded Trino 476 failure (sample 07), trimmed.
const PARSER_STACK: &str = r#"["io.trino.sql.parser.ErrorHandler.syntaxError(ErrorHandler.java:108)","org.antlr.v4.runtime.ProxyErrorListener.syntaxError(ProxyErrorListener.java:41)","org.antlr.v4.runtime.Parser.notifyErrorListeners(Parser.java:544)","io.trino.sql.parser.SqlParser.invokeParser(SqlParser.java:172)","io.trino.sql.parser.SqlParser.createStatement(SqlParser.java:90)","io.trino.execution.QueryPreparer.prepareQuery(QueryPreparer.java:54)","io.trino.dispatcher.DispatchManager.createQueryInternal(DispatchManager.java:225)","java.base/java.lang.Thread.run(Thread.java:1447)"]"#;
const ANTLR_STACK: &str = r#"["org.antlr.v4.runtime.DefaultErrorStrategy.sync(DefaultErrorStrategy.java:270)","io.trino.grammar.sql.SqlBaseParser.statement(SqlBaseParser.java:2962)","io.trino.sql.parser.SqlParser.invokeParser(SqlParser.java:125)","java.base/java.lang.Thread.run(Thread.java:1447)"]"#;

/// Line/column (1-based) of the first token after blanks and comments, and that token.
fn offending_token(sql: &str) -> (usize, usize, String) {
    let rest = rows::statement_text(sql);
    let skipped = &sql[..sql.len() - rest.len()];
    let line = 1 + skipped.matches('\n').count();
    let column = 1 + skipped.rsplit('\n').next().unwrap_or("").chars().count();
    let token: String = if rest.starts_with('{') {
        "{".to_string()
    } else {
        rest.chars().take_while(|c| !c.is_whitespace()).take(40).collect()
    };
    (line, column, token)
}

fn write_error(out: &mut String, error: &PageError) {
    match error {
        PageError::Syntax(sql) => {
            let (line, column, token) = offending_token(sql);
            let message = format!("line {line}:{column}: mismatched input '{token}'. {EXPECTING}");
            let location = format!("{{\"lineNumber\":{line},\"columnNumber\":{column}}}");
            out.push_str("{\"message\":");
            push_json_string(out, &message);
            let _ = write!(
                out,
                ",\"errorCode\":1,\"errorName\":\"SYNTAX_ERROR\",\"errorType\":\"USER_ERROR\",\
                 \"errorLocation\":{location},\"failureInfo\":{{\
                 \"type\":\"io.trino.sql.parser.ParsingException\",\"message\":"
            );
            push_json_string(out, &message);
            let _ = write!(
                out,
                ",\"cause\":{{\"type\":\"org.antlr.v4.runtime.InputMismatchException\",\
                 \"suppressed\":[],\"stack\":{ANTLR_STACK},\"errorInfo\":{{\"code\":65536,\
                 \"name\":\"GENERIC_INTERNAL_ERROR\",\"type\":\"INTERNAL_ERROR\"}}}},\
                 \"suppressed\":[],\"stack\":{PARSER_STACK},\"errorInfo\":{{\"code\":1,\
                 \"name\":\"SYNTAX_ERROR\",\"type\":\"USER_ERROR\"}},\"errorLocation\":{location}}}}}"
            );
        }
        PageError::TextTooLarge(chars) => {
            let message = format!("Query text length ({chars}) exceeds the maximum length ({MAX_QUERY_CHARS})");
            write_user_error(out, &message, 35, "QUERY_TEXT_TOO_LARGE", "io.trino.spi.TrinoException");
        }
        PageError::UnknownTransaction(id) => {
            let message = format!(
                "Unknown transaction ID: {id}. Possibly expired? Commands ignored until end of transaction block"
            );
            write_user_error(out, &message, 20, "UNKNOWN_TRANSACTION", "io.trino.NotInTransactionException");
        }
        PageError::Canceled => out.push_str(
            "{\"message\":\"Query was canceled\",\"errorCode\":3,\"errorName\":\"USER_CANCELED\",\
             \"errorType\":\"USER_ERROR\",\"failureInfo\":{\"type\":\"io.trino.spi.TrinoException\",\
             \"message\":\"Query was canceled\",\"suppressed\":[],\"stack\":[],\
             \"errorInfo\":{\"code\":3,\"name\":\"USER_CANCELED\",\"type\":\"USER_ERROR\"}}}",
        ),
    }
}

/// A USER_ERROR as Trino writes it when the exception has no cause and no location.
fn write_user_error(out: &mut String, message: &str, code: u32, name: &str, exception: &str) {
    out.push_str("{\"message\":");
    push_json_string(out, message);
    let _ = write!(
        out,
        ",\"errorCode\":{code},\"errorName\":\"{name}\",\"errorType\":\"USER_ERROR\",\
         \"failureInfo\":{{\"type\":\"{exception}\",\"message\":"
    );
    push_json_string(out, message);
    let _ = write!(
        out,
        ",\"suppressed\":[],\"stack\":[],\"errorInfo\":{{\"code\":{code},\"name\":\"{name}\",\
         \"type\":\"USER_ERROR\"}}}}}}"
    );
}

#[cfg(test)]
#[path = "pages_tests.rs"]
mod tests;
