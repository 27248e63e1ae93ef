//! State-machine tests: page sequence, token rules, cancel, counts and purge.

use super::*;

fn registry() -> Registry {
    Registry::new("abcde", 100, 40, 2)
}

#[test]
fn hundred_row_query_page_sequence() {
    let mut r = registry();
    let t0 = Instant::now();
    let post = r.register("SELECT 1", "u", t0);
    assert_eq!(post.next, Some((Context::Queued, 1)));
    assert!(crate::ids::is_query_id(&post.id));
    assert!(post.id.ends_with("_abcde"));
    let id = post.id.clone();
    assert_eq!(r.counts().queued, 0, "a POST only registers the query");
    assert!(r.info(&id).is_none(), "not submitted: /v1/query answers 410");

    let q1 = r.queued_get(&id, 1, t0).unwrap();
    assert_eq!(r.counts().queued, 1, "the first queued GET submits it");
    assert_eq!(q1.next, Some((Context::Queued, 2)));
    assert!(matches!(q1.stats, Stats::Queued { .. }));
    let q2 = r.queued_get(&id, 2, t0).unwrap();
    assert_eq!(q2.next, Some((Context::Executing, 0)));
    assert!(matches!(q2.stats, Stats::Queued { .. }), "sample 02 stays QUEUED");
    assert_eq!((r.counts().queued, r.counts().running), (0, 1));

    let e0 = r.executing_get(&id, 0, t0).unwrap();
    assert_eq!((e0.next, e0.partial_cancel), (Some((Context::Executing, 1)), Some(1)));
    assert!(e0.columns && e0.data.is_none());
    assert!(matches!(e0.stats, Stats::Starting { .. }));

    let expected = [(0, 40), (40, 80), (80, 100)];
    for (i, range) in expected.iter().enumerate() {
        let token = i as u64 + 1;
        let page = r.executing_get(&id, token, t0).unwrap();
        assert_eq!(page.data, Some(*range));
        assert_eq!(page.next, Some((Context::Executing, token + 1)));
        assert_eq!(page.partial_cancel, Some(token + 1));
        assert!(page.columns);
    }
    let last = r.executing_get(&id, 4, t0).unwrap();
    assert_eq!((last.next, last.partial_cancel, last.data), (None, None, None));
    assert!(last.columns);
    assert!(matches!(last.stats, Stats::Finished { total_rows: 100, .. }));
    let c = r.counts();
    assert_eq!((c.queued, c.running, c.finished), (0, 0, 1));
}

#[test]
fn executing_token_rules() {
    let mut r = registry();
    let now = Instant::now();
    let id = r.register("SELECT 1 /* rows=10 */", "u", now).id;
    assert_eq!(r.executing_get(&id, 0, now), Err(Refusal::QueryNotFound), "not dispatched");
    r.queued_get(&id, 1, now).unwrap();
    r.queued_get(&id, 2, now).unwrap();
    assert_eq!(r.executing_get(&id, 1, now), Err(Refusal::NotFound), "must start at 0");
    let e0 = r.executing_get(&id, 0, now).unwrap();
    assert_eq!(r.executing_get(&id, 0, now).unwrap(), e0, "re-GET is idempotent");
    assert_eq!(r.executing_get(&id, 2, now), Err(Refusal::NotFound), "ahead");
    let e1 = r.executing_get(&id, 1, now).unwrap();
    assert_eq!(e1.data, Some((0, 10)));
    assert_eq!(r.executing_get(&id, 0, now), Err(Refusal::Gone), "older");
    let fin = r.executing_get(&id, 2, now).unwrap();
    assert_eq!(fin.next, None);
    assert_eq!(r.executing_get(&id, 2, now).unwrap(), fin);
    assert_eq!(r.executing_get(&id, 3, now), Err(Refusal::NotFound), "past the end");
    assert_eq!(r.executing_get("20200101_000000_00000_zzzzz", 0, now), Err(Refusal::QueryNotFound));
    assert_eq!(r.counts().finished, 1);
}

#[test]
fn queued_token_rules() {
    let mut r = registry();
    let now = Instant::now();
    let id = r.register("SELECT 1", "u", now).id;
    assert_eq!(r.queued_get(&id, 2, now), Err(Refusal::InvalidToken));
    let q1 = r.queued_get(&id, 1, now).unwrap();
    assert_eq!(r.queued_get(&id, 1, now).unwrap().next, q1.next);
    r.queued_get(&id, 2, now).unwrap();
    assert_eq!(r.queued_get(&id, 1, now), Err(Refusal::InvalidToken));
    assert_eq!(r.queued_get("nope", 1, now), Err(Refusal::QueryNotFound));
}

#[test]
fn zero_rows_and_exact_multiple() {
    let mut r = Registry::new("abcde", 80, 40, 1);
    let now = Instant::now();
    let id = r.register("SELECT 1", "u", now).id;
    assert_eq!(r.queued_get(&id, 1, now).unwrap().next, Some((Context::Executing, 0)));
    r.executing_get(&id, 0, now).unwrap();
    assert_eq!(r.executing_get(&id, 1, now).unwrap().data, Some((0, 40)));
    assert_eq!(r.executing_get(&id, 2, now).unwrap().data, Some((40, 80)));
    assert_eq!(r.executing_get(&id, 3, now).unwrap().next, None);

    let id = r.register("SELECT 1 /* rows=0 */", "u", now).id;
    r.queued_get(&id, 1, now).unwrap();
    r.executing_get(&id, 0, now).unwrap();
    let fin = r.executing_get(&id, 1, now).unwrap();
    assert_eq!((fin.next, fin.data), (None, None));
}

#[test]
fn failing_sql_fails_on_first_queued_get() {
    let mut r = registry();
    let now = Instant::now();
    let id = r.register("{\"a\":1}", "u", now).id;
    let page = r.queued_get(&id, 1, now).unwrap();
    assert_eq!(page.next, None);
    assert!(matches!(page.error, Some(PageError::Syntax(_))));
    assert!(matches!(page.stats, Stats::QueuedFailed { .. }));
    assert_eq!(r.queued_get(&id, 1, now).unwrap(), page, "same page again");
    assert_eq!(r.counts().failed, 1);
    assert_eq!(r.counts().queued, 0);
    assert_eq!(r.info(&id).unwrap().state, "FAILED");
}

#[test]
fn sql_over_a_million_characters_fails_on_first_queued_get() {
    let mut r = registry();
    let now = Instant::now();
    let sql = format!("SELECT 1 --{}", "é".repeat(1_000_000));
    let id = r.register(&sql, "u", now).id;
    let page = r.queued_get(&id, 1, now).unwrap();
    assert_eq!(page.error, Some(PageError::TextTooLarge(1_000_011)));
    assert_eq!(page.next, None);
    let id = r.register(&format!("SELECT 1 --{}", "x".repeat(999_989)), "u", now).id;
    assert_eq!(r.queued_get(&id, 1, now).unwrap().error, None, "exactly the limit is fine");
}

#[test]
fn cancel_while_executing() {
    let mut r = registry();
    let now = Instant::now();
    let id = r.register("SELECT 1", "u", now).id;
    r.queued_get(&id, 1, now).unwrap();
    assert_eq!(r.cancel(&id, Context::Executing, now), Err(Refusal::QueryNotFound));
    r.queued_get(&id, 2, now).unwrap();
    r.executing_get(&id, 0, now).unwrap();
    let e1 = r.executing_get(&id, 1, now).unwrap();
    r.cancel(&id, Context::Executing, now).unwrap();
    r.cancel(&id, Context::Executing, now).unwrap(); // idempotent
    assert_eq!(r.executing_get(&id, 1, now).unwrap(), e1, "the current page is cached");
    let next = r.executing_get(&id, 2, now).unwrap();
    assert_eq!(next.error, Some(PageError::Canceled));
    assert_eq!(next.next, None);
    assert_eq!(r.executing_get(&id, 3, now), Err(Refusal::NotFound));
    let c = r.counts();
    assert_eq!((c.running, c.canceled, c.finished), (0, 1, 0));
}

#[test]
fn cancel_while_queued() {
    let mut r = registry();
    let now = Instant::now();
    let id = r.register("SELECT 1", "u", now).id;
    r.cancel(&id, Context::Queued, now).unwrap();
    let page = r.queued_get(&id, 1, now).unwrap();
    assert_eq!(page.error, Some(PageError::Canceled));
    assert_eq!(page.next, None);
    assert_eq!(r.counts(), Counts { canceled: 1, ..Counts::default() });
    assert_eq!(r.cancel("x", Context::Queued, now), Err(Refusal::QueryNotFound));
}

#[test]
fn touch_requires_the_right_context() {
    let mut r = registry();
    let now = Instant::now();
    let id = r.register("SELECT 1", "u", now).id;
    assert!(r.touch(&id, Context::Queued, now).is_ok());
    assert_eq!(r.touch(&id, Context::Executing, now), Err(Refusal::QueryNotFound));
}

#[test]
fn purge_forgets_old_queries_and_fixes_counts() {
    let mut r = registry();
    let t0 = Instant::now();
    let a = r.register("SELECT 1", "u", t0).id;
    let b = r.register("SELECT 2", "u", t0).id;
    r.queued_get(&b, 1, t0).unwrap();
    r.queued_get(&b, 2, t0).unwrap();
    r.purge(t0 + Duration::from_secs(5));
    assert_eq!(r.len(), 2);
    r.purge(t0 + RETENTION + Duration::from_secs(1));
    assert_eq!(r.len(), 0);
    assert_eq!((r.counts().queued, r.counts().running), (0, 0));
    assert!(r.info(&a).is_none());
}

/// Runs a query to its last page; returns that page's plan (or the failed queued page).
fn run_to_end(r: &mut Registry, sql: &str, transaction: Option<&str>, now: Instant) -> Plan {
    let id = r.register_in(sql, "u", transaction, now).id;
    let mut plan = r.queued_get(&id, 1, now).unwrap();
    if plan.error.is_some() {
        return plan;
    }
    plan = r.queued_get(&id, 2, now).unwrap();
    let mut token = 0;
    while plan.next.is_some() {
        plan = r.executing_get(&id, token, now).unwrap();
        token += 1;
    }
    plan
}

#[test]
fn a_transaction_is_started_named_on_the_last_page_used_and_cleared_by_commit() {
    let mut r = registry();
    let now = Instant::now();
    let started = run_to_end(&mut r, "START TRANSACTION ISOLATION LEVEL READ UNCOMMITTED", None, now);
    let Some(TransactionHeader::Started(tx)) = started.transaction else { panic!("{started:?}") };
    assert_eq!(tx.len(), 36);
    assert!(run_to_end(&mut r, "SELECT 1", Some(&tx), now).error.is_none());
    let unknown = run_to_end(&mut r, "SELECT 1", Some("00000000-0000-4000-8000-000000000000"), now);
    assert_eq!(unknown.error, Some(PageError::UnknownTransaction("00000000-0000-4000-8000-000000000000".into())));
    assert_eq!(run_to_end(&mut r, "COMMIT", Some(&tx), now).transaction, Some(TransactionHeader::Cleared));
    let after = run_to_end(&mut r, "SELECT 1", Some(&tx), now);
    assert!(matches!(after.error, Some(PageError::UnknownTransaction(_))), "committed: no longer known");
}
