//! A new query whose rules need its SQL: its headers are held until the body decides. The
//! router and the identify stage both go through here, so they read a body the same way,
//! and the router reuses the facts the stage worked out for the same query (`sql_memo`).

use super::sql_memo;
use crate::config::Config;
use crate::host::{Body, Host};
use crate::inspect::SqlFacts;
use crate::route::Incoming;

/// What a request's headers or the latest piece of its body lead to.
// Returned once per callback and consumed at once, never stored: boxing the facts would cost
// an allocation per new query for nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum BodyOutcome {
    /// Decide now, with what the body revealed (`SqlFacts::not_read` when no rule needs it).
    Decide(Incoming, SqlFacts),
    /// Hold the request: more of its body is on its way (Envoy config:
    /// `allow_on_headers_stop_iteration`).
    Hold,
    /// Nothing is held on this stream: let the body through.
    NotHeld,
}

/// The new query held on one stream, if any.
#[derive(Default)]
pub(super) struct HeldBody {
    waiting: Option<Waiting>,
    /// In the identify stage, whose facts are kept for the router (`sql_memo`).
    in_stage: bool,
}

/// A new query whose headers are held until its body is in.
struct Waiting {
    incoming: Incoming,
    /// It declared its length (Content-Length, at most the limit), so buffering it whole
    /// stays within Envoy's buffer limit. A body of undeclared length (chunked) is read
    /// only when it comes whole in its first piece: buffering it could let Envoy answer
    /// 413 on its own once it outgrows the buffer limit.
    length_declared: bool,
}

/// What to do when more of a held body has arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyStep {
    /// Keep holding: more of a body within the limit is on its way.
    Wait,
    /// Decide now with what has arrived (the whole body, or a declared body past the limit,
    /// which `sql_facts` records as too large).
    Read,
    /// Decide now without the SQL: a body of undeclared length that did not come whole.
    LeaveUnread,
}

impl HeldBody {
    pub(super) fn for_identify_stage() -> HeldBody {
        HeldBody { waiting: None, in_stage: true }
    }

    /// At the request headers: decide at once when no rule needs the body, the body is empty
    /// or declared over the limit; else hold the headers.
    pub(super) fn at_headers(
        &mut self,
        host: &impl Host,
        config: &Config,
        incoming: Incoming,
        end_of_stream: bool,
    ) -> BodyOutcome {
        if !incoming.needs_body(config) {
            return BodyOutcome::Decide(incoming, SqlFacts::not_read());
        }
        if end_of_stream {
            let facts = sql_facts(host, config, &incoming, 0, self.in_stage);
            return BodyOutcome::Decide(incoming, facts);
        }
        // A body declared longer than the limit is never held: once a filter has buffered
        // part of a request, Envoy answers 413 itself when the rest outgrows its buffer
        // limit before the upstream connection takes it.
        let declared = incoming.declared_body_length();
        if let Some(length) = declared.filter(|n| *n > config.max_body_bytes) {
            let facts = sql_facts(host, config, &incoming, length, self.in_stage);
            return BodyOutcome::Decide(incoming, facts);
        }
        self.waiting = Some(Waiting { incoming, length_declared: declared.is_some() });
        BodyOutcome::Hold
    }

    /// At a piece of the body, `body_size` bytes buffered so far.
    pub(super) fn at_body(&mut self, host: &impl Host, config: &Config, body_size: usize, end: bool) -> BodyOutcome {
        let Some(waiting) = &self.waiting else { return BodyOutcome::NotHeld };
        let step = waiting.step(body_size, end, config.max_body_bytes);
        let Some(Waiting { incoming, .. }) = self.waiting.take_if(|_| step != BodyStep::Wait) else {
            return BodyOutcome::Hold;
        };
        let facts = match step {
            BodyStep::LeaveUnread => SqlFacts::length_not_declared(config.max_body_bytes),
            BodyStep::Read | BodyStep::Wait => sql_facts(host, config, &incoming, body_size, self.in_stage),
        };
        BodyOutcome::Decide(incoming, facts)
    }
}

impl Waiting {
    fn step(&self, body_size: usize, end_of_stream: bool, max: usize) -> BodyStep {
        match (end_of_stream && body_size <= max, self.length_declared) {
            (true, _) => BodyStep::Read,
            (false, true) if body_size <= max => BodyStep::Wait,
            (false, true) => BodyStep::Read,
            (false, false) => BodyStep::LeaveUnread,
        }
    }
}

/// What a new query's body of `body_size` bytes reveals: too large for the limit, or its SQL
/// worked out as far as the rules need (once per request in a rate-limit chain).
fn sql_facts(host: &impl Host, config: &Config, incoming: &Incoming, body_size: usize, in_stage: bool) -> SqlFacts {
    if body_size > config.max_body_bytes {
        return SqlFacts::too_large(body_size, config.max_body_bytes);
    }
    let body = host.body(Body::Request, 0, body_size).ok().flatten().unwrap_or_default();
    if in_stage {
        sql_memo::facts_for_stage(&body, &incoming.head, config.sql_depth)
    } else {
        sql_memo::facts_for_router(&body, &incoming.head, config.sql_depth)
    }
}
