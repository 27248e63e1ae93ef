//! Scenarios of transactions through the glue, against an in-memory Envoy whose coordinators
//! issue and check transaction ids as Trino does: the id a coordinator starts reaches the
//! client bound to its cluster, and every later statement of the transaction, COMMIT
//! included, reaches that coordinator with the id it issued, whatever the rules say.
// Test code: a panic here fails a test, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::fake_envoy::{Answer, FakeEnvoy, Request};
use serde_json::{json, Value};
use trino_router_core::handle::Plugin;

const STARTED: &str = "x-trino-started-transaction-id";
const TRANSACTION: &str = "x-trino-transaction-id";

fn envoy() -> FakeEnvoy {
    FakeEnvoy::new(&common::config_json(json!([]), json!({})))
}

/// Runs a statement as a client does: POST, then every nextUri; returns every answer.
fn run(envoy: &FakeEnvoy, worker: &Plugin, sql: &str, transaction: &str) -> Vec<Answer> {
    let mut answers = vec![envoy.send(worker, Request::query(sql).header(TRANSACTION, transaction))];
    while let Some(next) = answers.last().and_then(|a| (a.status == 200).then(|| a.next_path()).flatten()) {
        answers.push(envoy.send(worker, Request::get(&next).header(TRANSACTION, transaction)));
    }
    answers
}

/// START TRANSACTION until it lands on `envoy_cluster`: the id the client got, on which page.
fn start_on(envoy: &FakeEnvoy, worker: &Plugin, envoy_cluster: &str) -> (String, usize) {
    for _ in 0..50 {
        let answers = run(envoy, worker, "START TRANSACTION", "NONE");
        if answers[0].cluster() != Some(envoy_cluster) {
            continue;
        }
        let (page, id) = answers.iter().enumerate().find_map(|(i, a)| a.header(STARTED).map(|id| (i, id))).unwrap();
        return (id, page);
    }
    panic!("no transaction started on {envoy_cluster}")
}

fn state(answer: &Answer) -> Value {
    answer.json()["stats"]["state"].clone()
}

#[test]
fn given_two_clusters_every_statement_of_a_transaction_reaches_the_one_that_started_it() {
    let envoy = envoy();
    let (worker, other_worker) = (envoy.worker(), envoy.worker());
    for envoy_cluster in ["trino_adhoc_1", "trino_adhoc_2"] {
        let (bound, page) = start_on(&envoy, &worker, envoy_cluster);
        assert!(page > 0, "the id arrived on a nextUri page, as JDBC sees it");
        let issued = envoy.coordinator(envoy_cluster).transactions.last().unwrap().clone();
        assert!(bound.starts_with(&format!("{issued}~")) && bound.len() > issued.len() + 20, "{bound}");
        // Twenty statements and the COMMIT, spread over two workers: the rules alone would
        // send about half of them to the other cluster.
        for i in 0..21 {
            let sql = if i == 20 { "COMMIT" } else { "SELECT 1" };
            let worker = if i % 2 == 0 { &worker } else { &other_worker };
            let answers = run(&envoy, worker, sql, &bound);
            assert!(answers.iter().all(|a| a.cluster() == Some(envoy_cluster)), "statement {i} left {envoy_cluster}");
            let post = answers[0].upstream.as_ref().unwrap();
            assert_eq!(post.headers.get_str(TRANSACTION), Some(issued.as_str()), "Trino gets the id it issued");
            assert_eq!(state(answers.last().unwrap()), "FINISHED", "statement {i}");
        }
        assert!(!envoy.coordinator(envoy_cluster).transactions.contains(&issued), "COMMIT ended it");
    }
    assert_eq!(envoy.counter("trino_router.queries.via.transaction"), 42);
    envoy.send(&worker, Request::query("SELECT 1").header(TRANSACTION, &start_on(&envoy, &worker, "trino_adhoc_1").0));
    assert!(envoy.decision_logged().unwrap().contains("cluster=adhoc-1 via=transaction"));
}

#[test]
fn an_id_started_on_the_first_page_is_bound_too_and_none_leaves_the_choice_to_the_rules() {
    let envoy = envoy();
    let worker = envoy.worker();
    envoy.coordinator("trino_adhoc_1").transaction_page = 1;
    let (bound, page) = start_on(&envoy, &worker, "trino_adhoc_1");
    assert_eq!(page, 0, "the POST's own page");
    let answers = run(&envoy, &worker, "ROLLBACK", &bound);
    assert_eq!(state(answers.last().unwrap()), "FINISHED");
    let clusters: Vec<_> =
        (0..30).map(|_| run(&envoy, &worker, "SELECT 1", "NONE")[0].cluster().unwrap().to_string()).collect();
    assert!(clusters.iter().any(|c| c == "trino_adhoc_2"), "NONE: the rules spread new queries");
}

#[test]
fn a_forged_or_spliced_binding_is_refused_before_any_coordinator_sees_it() {
    let envoy = envoy();
    let worker = envoy.worker();
    let (bound, _) = start_on(&envoy, &worker, "trino_adhoc_1");
    let (id, binding) = bound.rsplit_once('~').unwrap();
    let (other, _) = start_on(&envoy, &worker, "trino_adhoc_2");
    let (other_id, other_binding) = other.rsplit_once('~').unwrap();
    let forged = [
        format!("{id}~{other_binding}"),   // adhoc-1's transaction onto adhoc-2
        format!("{other_id}~{binding}"),   // adhoc-2's transaction under adhoc-1's binding
        format!("{id}~{}", &binding[1..]), // cut
        format!("{id}~x{binding}"),        // garbage
        format!("{id}~"),                  // empty
    ];
    for value in &forged {
        let answer = envoy.send(&worker, Request::query("SELECT 1").header(TRANSACTION, value));
        assert_eq!(answer.status, 400, "{value}: {}", answer.body);
        assert!(answer.upstream.is_none(), "{value} reached a coordinator");
        assert!(answer.body.starts_with("Error 400 Bad Request: trino-router: invalid X-Trino-Transaction-Id"));
    }
    let twice = Request::query("SELECT 1").header(TRANSACTION, &bound).header(TRANSACTION, "NONE");
    assert_eq!(envoy.send(&worker, twice).status, 400);
    assert_eq!(envoy.counter("trino_router.refused.bad_transaction"), 6);
}

#[test]
fn a_draining_cluster_finishes_its_transactions_and_a_disabled_or_removed_one_answers_410() {
    let envoy = envoy();
    let mut worker = envoy.worker();
    let (bound, _) = start_on(&envoy, &worker, "trino_adhoc_2");
    let mut config = common::config_json(json!([]), json!({}));
    config["clusters"][1]["state"] = json!("draining");
    envoy.set_config(&config);
    envoy.tick(&mut worker);
    let worker = envoy.worker();
    let answers = run(&envoy, &worker, "SELECT 1", &bound);
    assert_eq!(answers[0].cluster(), Some("trino_adhoc_2"), "draining: the transaction still reaches it");
    assert_eq!(state(answers.last().unwrap()), "FINISHED");

    config["clusters"][1]["state"] = json!("disabled");
    envoy.set_config(&config);
    let answer = envoy.send(&envoy.worker(), Request::query("COMMIT").header(TRANSACTION, &bound));
    assert_eq!(answer.status, 410, "{}", answer.body);
    assert!(answer.upstream.is_none());
    assert!(answer.body.contains("cluster adhoc-2 that ran transaction"), "{}", answer.body);

    config["clusters"][1]["name"] = json!("adhoc-3");
    config["groups"][0]["members"][1]["cluster"] = json!("adhoc-3");
    envoy.set_config(&config);
    let answer = envoy.send(&envoy.worker(), Request::query("COMMIT").header(TRANSACTION, &bound));
    assert_eq!(answer.status, 410, "{}", answer.body);
    assert!(answer.body.contains("no longer configured"), "{}", answer.body);
    assert!(answer.upstream.is_none());
}

#[test]
fn an_unbound_id_is_routed_by_the_rules_and_checked_by_trino_as_before() {
    let envoy = envoy();
    let worker = envoy.worker();
    let (bound, _) = start_on(&envoy, &worker, "trino_adhoc_1");
    let (raw, _) = bound.rsplit_once('~').unwrap();
    let outcomes: Vec<_> = (0..30)
        .map(|_| {
            let answers = run(&envoy, &worker, "SELECT 1", raw);
            (answers[0].cluster().unwrap().to_string(), state(answers.last().unwrap()))
        })
        .collect();
    assert!(outcomes.iter().any(|(c, _)| c == "trino_adhoc_2"), "the rules decide");
    for (cluster, state) in outcomes {
        let expected = if cluster == "trino_adhoc_1" { "FINISHED" } else { "FAILED" };
        assert_eq!(state, expected, "on {cluster}");
    }
}
