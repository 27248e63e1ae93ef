//! Plans: which page a request gets, before URIs, slugs and rows are rendered.
//!
//! The executing page for a token is a pure function of the query's shape, so a
//! re-GET of the current token can be answered with the same page again, as
//! Trino answers it from its cached last result.

use crate::pages::{PageError, Stats};
use crate::slug::Context;

/// A page to render: everything but the base URI and the slugs.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub id: String,
    pub sql_hash: u64,
    pub next: Option<(Context, u64)>,
    /// Executing token of the partialCancelUri (always stage 0).
    pub partial_cancel: Option<u64>,
    pub columns: bool,
    pub data: Option<(u64, u64)>,
    pub stats: Stats,
    pub error: Option<PageError>,
    /// `/* sleep_ms=N */`: how long to wait before answering.
    pub sleep_ms: u64,
    /// The transaction header of the last page of START TRANSACTION, COMMIT or ROLLBACK.
    pub transaction: Option<TransactionHeader>,
}

/// What the last page of a transaction statement tells the client, in a response header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionHeader {
    /// `X-Trino-Started-Transaction-Id: <id>`
    Started(String),
    /// `X-Trino-Clear-Transaction-Id: true`
    Cleared,
}

/// What the executing pages of a query depend on.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub total_rows: u64,
    pub page_rows: u64,
    pub sql_hash: u64,
    pub sleep_ms: u64,
    /// Pages from this token on report USER_CANCELED.
    pub cancel_from: Option<u64>,
}

impl Plan {
    /// A QUEUED page (samples 01, 02); `next` is queued/t+1 or executing/0.
    pub fn queued(id: &str, sql_hash: u64, next: Option<(Context, u64)>, elapsed_ms: u64) -> Plan {
        Plan {
            id: id.to_string(),
            sql_hash,
            next,
            partial_cancel: None,
            columns: false,
            data: None,
            stats: Stats::Queued { elapsed_ms },
            error: None,
            sleep_ms: 0,
            transaction: None,
        }
    }

    /// The executing page for `token`: token 0 has the columns only (sample 03),
    /// tokens 1..=pages carry rows (sample 04), the one after is FINISHED without
    /// data (sample 05).
    pub fn executing(id: &str, shape: &Shape, token: u64, elapsed_ms: u64) -> Plan {
        let page_rows = shape.page_rows.max(1);
        let total = shape.total_rows;
        let pages = total.div_ceil(page_rows);
        let rows_before = |t: u64| t.saturating_sub(1).saturating_mul(page_rows).min(total);
        let mut plan = Plan {
            id: id.to_string(),
            sql_hash: shape.sql_hash,
            next: Some((Context::Executing, token + 1)),
            partial_cancel: Some(token + 1),
            columns: true,
            data: None,
            stats: Stats::Starting { elapsed_ms },
            error: None,
            sleep_ms: shape.sleep_ms,
            transaction: None,
        };
        if shape.cancel_from.is_some_and(|from| token >= from) {
            plan.next = None;
            plan.partial_cancel = None;
            plan.stats = Stats::Canceled { elapsed_ms, done_rows: rows_before(token) };
            plan.error = Some(PageError::Canceled);
        } else if token == 0 {
            // Columns only, as in sample 03.
        } else if token <= pages {
            let end = rows_before(token + 1);
            plan.data = Some((rows_before(token), end));
            plan.stats = Stats::Running { elapsed_ms, done_rows: end, total_rows: total };
        } else {
            plan.next = None;
            plan.partial_cancel = None;
            plan.stats = Stats::Finished { elapsed_ms, total_rows: total };
        }
        plan
    }
}
