//! The query registry and each query's state machine (token rules, cancel, purge).
//!
//! It decides *which* page a request gets (a [`Plan`], built in `plan.rs`);
//! rendering happens outside the lock. Token rules follow Trino's sources:
//! queued GETs accept the last or the next token (else 410 "Invalid token");
//! executing GETs return the cached page for the current token, 410 for older
//! tokens and 404 for anything ahead or past the end. A canceled query answers
//! its next page with FAILED / USER_CANCELED, as Trino does.
//!
//! As in Trino 476, a POST only registers the query: it is submitted (and exists for
//! /v1/query and /metrics) at the first GET of its queued URI, so a client that never
//! polls leaves no trace in the load figures.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::ids::{QueryIdGenerator, UtcTime};
use crate::pages::{PageError, Stats, MAX_QUERY_CHARS};
use crate::plan::{Plan, Shape, TransactionHeader};
use crate::rows::{self, Spec};
use crate::slug::Context;

/// Finished or idle queries are forgotten after this long.
pub const RETENTION: Duration = Duration::from_secs(600);
/// At most this many queries are remembered; the oldest go first.
pub const MAX_QUERIES: usize = 100_000;

/// Why a statement request gets no page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown query or bad slug: 404 `Error 404 Not Found: Query not found`.
    QueryNotFound,
    /// Token ahead of the next one, or past the end: plain 404.
    NotFound,
    /// Executing token older than the current one: 410 `HTTP 410 Gone`.
    Gone,
    /// Queued token neither the last nor the next: 410 `Invalid token`.
    InvalidToken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Active,
    Finished,
    Failed,
    Canceled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bucket {
    /// POSTed, never polled: not yet a query as far as Trino's counts go.
    Unsubmitted,
    Queued,
    Running,
    Done,
}

#[derive(Debug)]
struct Query {
    sql: String,
    user: String,
    sql_hash: u64,
    spec: Spec,
    /// Characters in the SQL, when over Trino's limit: the first poll fails.
    too_long: Option<usize>,
    total_rows: u64,
    created: Instant,
    last_seen: Instant,
    done_at: Option<Instant>,
    /// Last queued token answered (0 = the POST).
    queued_token: u64,
    /// A queued GET submitted the query (Trino creates it only then).
    submitted: bool,
    /// The executing resource has seen it (first executing GET or partialCancel):
    /// only then does a HEAD heartbeat find it.
    fetched: bool,
    /// The executing/0 URI has been handed out: the query is running.
    dispatched: bool,
    /// Last executing token answered.
    exec_token: Option<u64>,
    /// Elapsed time shown on that page: a re-GET must return identical bytes,
    /// as Trino answers it from its cached last result.
    exec_elapsed_ms: u64,
    /// Executing pages from this token on report the cancel.
    cancel_from: Option<u64>,
    outcome: Outcome,
    transaction: Transaction,
}

/// What a query does to the transactions of its coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Transaction {
    None,
    /// START TRANSACTION: this id, named on its last page.
    Starts(String),
    /// COMMIT or ROLLBACK of this (known) id: cleared on its last page.
    Ends(String),
    /// A statement naming an id this coordinator does not know: fails at submission.
    Unknown(String),
}

impl Query {
    fn bucket(&self) -> Bucket {
        match (self.outcome, self.submitted, self.dispatched) {
            (Outcome::Active, false, _) => Bucket::Unsubmitted,
            (Outcome::Active, true, false) => Bucket::Queued,
            (Outcome::Active, true, true) => Bucket::Running,
            _ => Bucket::Done,
        }
    }

    fn elapsed_ms(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.created).as_millis() as u64
    }
}

/// Current counts plus cumulative terminal counts, for /metrics and /_standin/state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub queued: u64,
    pub running: u64,
    pub finished: u64,
    pub canceled: u64,
    pub failed: u64,
    /// The most queries that were running at once since start (a router's limits are checked on it).
    pub max_running: u64,
}

/// What `/v1/query/{id}` reports.
#[derive(Debug, Clone)]
pub struct QueryInfo {
    pub state: &'static str,
    pub sql: String,
    pub user: String,
}

#[derive(Debug)]
pub struct Registry {
    coordinator_id: String,
    rows: u64,
    page_rows: u64,
    queued_polls: u64,
    ids: QueryIdGenerator,
    queries: HashMap<String, Query>,
    /// Registration order, for evicting the oldest when full.
    order: VecDeque<String>,
    counts: Counts,
    /// Transactions started and not yet committed or rolled back.
    transactions: HashSet<String>,
}

impl Registry {
    pub fn new(coordinator_id: &str, rows: u64, page_rows: u64, queued_polls: u64) -> Registry {
        Registry {
            coordinator_id: coordinator_id.to_string(),
            rows,
            page_rows: page_rows.max(1),
            queued_polls: queued_polls.max(1),
            ids: QueryIdGenerator::default(),
            queries: HashMap::new(),
            order: VecDeque::new(),
            counts: Counts::default(),
            transactions: HashSet::new(),
        }
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.queries.len()
    }

    /// POST /v1/statement: registers a query (not yet submitted) and plans the token-0 page.
    #[cfg(test)]
    pub fn register(&mut self, sql: &str, user: &str, now: Instant) -> Plan {
        self.register_in(sql, user, None, now)
    }

    /// POST /v1/statement in a transaction (`X-Trino-Transaction-Id`, already checked to be
    /// an id): START TRANSACTION starts one, COMMIT/ROLLBACK end the one named, a statement
    /// naming an unknown one fails at submission as Trino fails it.
    pub fn register_in(&mut self, sql: &str, user: &str, transaction: Option<&str>, now: Instant) -> Plan {
        let words = sql.trim_start().to_ascii_uppercase();
        let transaction = match transaction {
            Some(id) if !self.transactions.contains(id) => Transaction::Unknown(id.to_string()),
            Some(id) if words.starts_with("COMMIT") || words.starts_with("ROLLBACK") => {
                Transaction::Ends(id.to_string())
            }
            Some(_) => Transaction::None,
            None if words.starts_with("START TRANSACTION") => {
                let id = random_uuid();
                self.transactions.insert(id.clone());
                Transaction::Starts(id)
            }
            None => Transaction::None,
        };
        while self.queries.len() >= MAX_QUERIES {
            match self.order.pop_front() {
                Some(old) => self.remove(&old),
                None => break,
            }
        }
        let mut id = self.ids.next(UtcTime::now(), &self.coordinator_id);
        while self.queries.contains_key(&id) {
            id = self.ids.next(UtcTime::now(), &self.coordinator_id);
        }
        let spec = rows::parse_spec(sql);
        let query = Query {
            sql: sql.to_string(),
            user: user.to_string(),
            sql_hash: rows::fnv1a(sql),
            too_long: Some(sql.chars().count()).filter(|&n| n > MAX_QUERY_CHARS),
            total_rows: spec.rows.unwrap_or(self.rows),
            spec,
            created: now,
            last_seen: now,
            done_at: None,
            queued_token: 0,
            submitted: false,
            fetched: false,
            dispatched: false,
            exec_token: None,
            exec_elapsed_ms: 0,
            cancel_from: None,
            outcome: Outcome::Active,
            transaction,
        };
        let plan = queued_plan(&id, &query, Some((Context::Queued, 1)), now);
        self.order.push_back(id.clone());
        self.queries.insert(id, query);
        plan
    }

    /// GET /v1/statement/queued/{id}/{slug}/{token} (slug already checked).
    pub fn queued_get(&mut self, id: &str, token: u64, now: Instant) -> Result<Plan, Refusal> {
        let polls = self.queued_polls;
        let q = self.queries.get_mut(id).ok_or(Refusal::QueryNotFound)?;
        if token != q.queued_token && Some(token) != q.queued_token.checked_add(1) {
            return Err(Refusal::InvalidToken);
        }
        let before = q.bucket();
        q.submitted = true;
        q.queued_token = token;
        q.last_seen = now;
        let unknown_transaction = matches!(q.transaction, Transaction::Unknown(_));
        if (q.spec.fail || q.too_long.is_some() || unknown_transaction) && q.outcome == Outcome::Active {
            // The first GET submits the query, and parsing fails at submission.
            q.outcome = Outcome::Failed;
            q.done_at = Some(now);
        }
        let plan = match q.outcome {
            Outcome::Failed => Plan {
                stats: Stats::QueuedFailed { elapsed_ms: q.elapsed_ms(now) },
                // Trino checks the length before it parses.
                error: Some(match (&q.too_long, &q.transaction) {
                    (Some(chars), _) => PageError::TextTooLarge(*chars),
                    (None, Transaction::Unknown(id)) => PageError::UnknownTransaction(id.clone()),
                    (None, _) => PageError::Syntax(q.sql.clone()),
                }),
                ..queued_plan(id, q, None, now)
            },
            Outcome::Canceled => Plan {
                stats: Stats::QueuedFailed { elapsed_ms: q.elapsed_ms(now) },
                error: Some(PageError::Canceled),
                ..queued_plan(id, q, None, now)
            },
            Outcome::Active | Outcome::Finished => {
                let next = if token >= polls {
                    q.dispatched = true;
                    (Context::Executing, 0)
                } else {
                    (Context::Queued, token + 1)
                };
                queued_plan(id, q, Some(next), now)
            }
        };
        let after = q.bucket();
        self.moved(before, after, id);
        Ok(plan)
    }

    /// GET /v1/statement/executing/{id}/{slug}/{token} (slug already checked).
    pub fn executing_get(&mut self, id: &str, token: u64, now: Instant) -> Result<Plan, Refusal> {
        let page_rows = self.page_rows;
        let q = self.queries.get_mut(id).ok_or(Refusal::QueryNotFound)?;
        if !q.dispatched {
            return Err(Refusal::QueryNotFound);
        }
        q.last_seen = now;
        match q.exec_token {
            None if token != 0 => return Err(Refusal::NotFound),
            Some(current) if token < current => return Err(Refusal::Gone),
            Some(current) if token == current => {}
            Some(current) => {
                let current_plan = exec_plan(id, q, current, page_rows, 0);
                if current_plan.next.is_none() || token != current + 1 {
                    return Err(Refusal::NotFound);
                }
            }
            None => {}
        }
        let before = q.bucket();
        q.fetched = true;
        if q.exec_token != Some(token) {
            q.exec_token = Some(token);
            q.exec_elapsed_ms = q.elapsed_ms(now);
        }
        let mut plan = exec_plan(id, q, token, page_rows, q.exec_elapsed_ms);
        if plan.next.is_none() && q.outcome == Outcome::Active {
            q.outcome = Outcome::Finished;
            q.done_at = Some(now);
        }
        // The last page of a finished transaction statement names what it did (a re-GET too).
        let ended = match (&q.transaction, plan.next.is_none() && q.outcome == Outcome::Finished) {
            (Transaction::Starts(tx), true) => {
                plan.transaction = Some(TransactionHeader::Started(tx.clone()));
                None
            }
            (Transaction::Ends(tx), true) => {
                plan.transaction = Some(TransactionHeader::Cleared);
                Some(tx.clone())
            }
            _ => None,
        };

        let after = q.bucket();
        self.moved(before, after, id);
        if let Some(tx) = ended {
            self.transactions.remove(&tx);
        }
        Ok(plan)
    }

    /// DELETE on a queued or executing nextUri (slug already checked).
    pub fn cancel(&mut self, id: &str, context: Context, now: Instant) -> Result<(), Refusal> {
        let q = self.existing(id, context)?;
        let before = q.bucket();
        if q.outcome == Outcome::Active {
            q.outcome = Outcome::Canceled;
            q.done_at = Some(now);
            q.cancel_from = Some(q.exec_token.map_or(0, |t| t + 1));
        }
        q.last_seen = now;
        let after = q.bucket();
        self.moved(before, after, id);
        Ok(())
    }

    /// partialCancel: the query must be executing; the executing resource now knows it.
    pub fn touch(&mut self, id: &str, context: Context, now: Instant) -> Result<(), Refusal> {
        let q = self.existing(id, context)?;
        q.last_seen = now;
        q.fetched |= context == Context::Executing;
        Ok(())
    }

    /// HEAD on an executing URI: answered only once the executing resource has
    /// served the query (Trino looks it up there and nowhere else).
    pub fn heartbeat(&mut self, id: &str, now: Instant) -> Result<(), Refusal> {
        match self.queries.get_mut(id) {
            Some(q) if q.fetched => {
                q.last_seen = now;
                Ok(())
            }
            _ => Err(Refusal::QueryNotFound),
        }
    }

    /// `/v1/query/{id}`; `None` (410) also for a query never submitted.
    pub fn info(&self, id: &str) -> Option<QueryInfo> {
        let q = self.queries.get(id).filter(|q| q.submitted)?;
        let state = match (q.outcome, q.dispatched) {
            (Outcome::Active, false) => "QUEUED",
            (Outcome::Active, true) => "RUNNING",
            (Outcome::Finished, _) => "FINISHED",
            (Outcome::Failed | Outcome::Canceled, _) => "FAILED",
        };
        Some(QueryInfo { state, sql: q.sql.clone(), user: q.user.clone() })
    }

    /// `/v1/query`: every submitted query, oldest first.
    pub fn list(&self) -> Vec<(String, QueryInfo)> {
        self.order.iter().filter_map(|id| Some((id.clone(), self.info(id)?))).collect()
    }

    /// Forgets queries finished, or idle, for longer than [`RETENTION`].
    pub fn purge(&mut self, now: Instant) {
        let stale: Vec<String> = self
            .queries
            .iter()
            .filter(|(_, q)| {
                let since = q.done_at.unwrap_or(q.last_seen);
                now.saturating_duration_since(since) >= RETENTION
            })
            .map(|(id, _)| id.clone())
            .collect();
        if stale.is_empty() {
            return;
        }
        for id in &stale {
            self.remove(id);
        }
        let queries = &self.queries;
        self.order.retain(|id| queries.contains_key(id));
    }

    fn existing(&mut self, id: &str, context: Context) -> Result<&mut Query, Refusal> {
        match (self.queries.get_mut(id), context) {
            (Some(q), Context::Queued) => Ok(q),
            (Some(q), Context::Executing) if q.dispatched => Ok(q),
            _ => Err(Refusal::QueryNotFound),
        }
    }

    fn remove(&mut self, id: &str) {
        if let Some(q) = self.queries.remove(id) {
            // The query leaves the live counts; cumulative counts stay.
            match q.bucket() {
                Bucket::Queued => self.counts.queued = self.counts.queued.saturating_sub(1),
                Bucket::Running => self.counts.running = self.counts.running.saturating_sub(1),
                Bucket::Unsubmitted | Bucket::Done => {}
            }
        }
    }

    /// Keeps the live counts in step with a query's transition.
    fn moved(&mut self, before: Bucket, after: Bucket, id: &str) {
        if before == after {
            return;
        }
        match before {
            Bucket::Queued => self.counts.queued = self.counts.queued.saturating_sub(1),
            Bucket::Running => self.counts.running = self.counts.running.saturating_sub(1),
            Bucket::Unsubmitted | Bucket::Done => {}
        }
        match after {
            Bucket::Unsubmitted => {}
            Bucket::Queued => self.counts.queued += 1,
            Bucket::Running => {
                self.counts.running += 1;
                self.counts.max_running = self.counts.max_running.max(self.counts.running);
            }
            Bucket::Done => match self.queries.get(id).map(|q| q.outcome) {
                Some(Outcome::Finished) => self.counts.finished += 1,
                Some(Outcome::Canceled) => self.counts.canceled += 1,
                _ => self.counts.failed += 1,
            },
        }
    }
}

/// A random version-4 UUID, the form of Trino's transaction ids.
fn random_uuid() -> String {
    let (a, b) = (crate::ids::random_u64(), crate::ids::random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

fn queued_plan(id: &str, q: &Query, next: Option<(Context, u64)>, now: Instant) -> Plan {
    Plan::queued(id, q.sql_hash, next, q.elapsed_ms(now))
}

fn exec_plan(id: &str, q: &Query, token: u64, page_rows: u64, elapsed_ms: u64) -> Plan {
    let shape = Shape {
        total_rows: q.total_rows,
        page_rows,
        sql_hash: q.sql_hash,
        sleep_ms: q.spec.sleep_ms,
        cancel_from: q.cancel_from,
    };
    Plan::executing(id, &shape, token, elapsed_ms)
}

#[cfg(test)]
#[path = "queries_tests.rs"]
mod tests;
