//! The work one request costs the filter, for counting instructions with callgrind:
//! runs N requests of one kind through the in-memory Envoy of the scenario tests, so
//! `(instructions at N=201 - instructions at N=1) / 200` is the cost of one request,
//! host included (the fake host's share is the same before and after a change).
//!
//!   cargo build --release -p trino-router-core --example request_cost
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/request_cost CONFIG.json SQL.sql post|get|headers|identify|chain N
//!
//! `post` sends the SQL as a new query, `headers` a new query that header rules place
//! (the same SQL, user `etl`), `get` a pinned follow-up of one query, `identify` the new
//! query through the identify stage alone (`{"stage":"identify"}`, what a rate-limit chain
//! adds in front of the router: it names the user and picks the group, routes nothing), and
//! `chain` the new query through the stage and then the router, as that chain runs it.
// Example code: a panic here ends a measurement, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::fake_envoy::{FakeEnvoy, Request};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, config, sql, kind, n] = &args[..] else {
        eprintln!("usage: request_cost CONFIG.json SQL.sql post|get|headers|identify|chain N");
        std::process::exit(2);
    };
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(config).unwrap()).unwrap();
    let sql = std::fs::read_to_string(sql).unwrap();
    let n: usize = n.parse().unwrap();
    let envoy = FakeEnvoy::new(&config);
    let mut worker = envoy.worker();
    envoy.tick(&mut worker);
    let first = envoy.send(&worker, Request::query(&sql));
    let next = first.next_path().expect("the first page names a nextUri");
    // The stage shares the router's configuration through its VM (this thread).
    envoy.set_config(&serde_json::json!({"stage": "identify"}));
    let identify = envoy.worker();
    for _ in 0..n {
        let answer = match kind.as_str() {
            // No cluster header set, so the in-memory Envoy finds no route: 404, after the
            // stage has done all its work.
            "identify" => {
                let answer = envoy.send(&identify, Request::query(&sql));
                assert_eq!(answer.status, 404, "{}", answer.body);
                continue;
            }
            "post" => envoy.send(&worker, Request::query(&sql)),
            // A rate-limit chain: the stage, then the router, on the same query.
            "chain" => {
                assert_eq!(envoy.send(&identify, Request::query(&sql)).status, 404);
                envoy.send(&worker, Request::query(&sql))
            }
            "headers" => envoy.send(&worker, Request::query(&sql).header("x-trino-user", "etl")),
            "get" => envoy.send(&worker, Request::get(&next)),
            other => panic!("unknown kind {other}"),
        };
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
}
