//! The SQL facts of the request the identify stage just read, kept for the router.
//!
//! In a rate-limit chain the identify stage and the router run in one VM per worker (the
//! stage reads the router's configuration there) and see the same new query one after the
//! other. Without this, both would analyse its SQL, the costliest step of a new query.
//! Facts depend only on the body, the session the analysis resolves names in and the depth
//! the config asks for, so the router reuses them only when all three are the same: a
//! request of another stream in between, or a config reloaded in between, just means the
//! router works the facts out itself.

use crate::inspect::{session_of, SqlDepth, SqlFacts};
use crate::request::RequestHead;
use crate::sql::SessionContext;
use std::cell::RefCell;

struct Memo {
    depth: SqlDepth,
    body: Vec<u8>,
    session: Result<SessionContext, String>,
    facts: SqlFacts,
}

std::thread_local! {
    /// One entry per worker: the stage's latest new query.
    static LAST: RefCell<Option<Memo>> = const { RefCell::new(None) };
}

/// The identify stage's facts for a body, kept for the router's turn on the same request.
pub(super) fn facts_for_stage(body: &[u8], head: &RequestHead, depth: SqlDepth) -> SqlFacts {
    let facts = SqlFacts::from_body(body, head, depth);
    if depth > SqlDepth::Text {
        let memo = Memo { depth, body: body.to_vec(), session: session_of(head), facts: facts.clone() };
        // A worker's VM is single-threaded: the cell is never borrowed here; if it were, the
        // router would just analyse the SQL itself.
        let _ = LAST.try_with(|last| last.try_borrow_mut().map(|mut last| *last = Some(memo)));
    }
    facts
}

/// The router's facts for a body: the stage's, when it read this very query, else its own.
pub(super) fn facts_for_router(body: &[u8], head: &RequestHead, depth: SqlDepth) -> SqlFacts {
    let kept = LAST
        .try_with(|last| {
            let mut last = last.try_borrow_mut().ok()?;
            let same = last.as_ref().is_some_and(|m| m.depth == depth && m.body == body);
            // The session is compared only once the body matched: it costs a header decode.
            if same && last.as_ref().is_some_and(|m| m.session == session_of(head)) {
                return last.take().map(|m| m.facts);
            }
            None
        })
        .ok()
        .flatten();
    kept.unwrap_or_else(|| SqlFacts::from_body(body, head, depth))
}
