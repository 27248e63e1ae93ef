//! How long a realistic ~10 KB statement takes to analyse. The number is printed
//! (`cargo test --release -p trino-router-core --test sql_perf -- --nocapture`);
//! the assertion only catches gross regressions, even in debug builds.
// Test code: a panic here fails a test, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::time::{Duration, Instant};

use trino_router_core::sql::{analyze, SessionContext};

/// A TPC-DS-shaped statement: CTEs, joins, subqueries, windows, comments and strings,
/// repeated with UNION ALL until it is at least `bytes` long.
fn big_query(bytes: usize) -> String {
    let block = |i: usize| {
        format!(
            "SELECT /* block {i} */ ss.ss_item_sk, i.i_brand, d.d_year, sum(ss.ss_net_profit) AS profit_{i},
       rank() OVER (PARTITION BY d.d_year ORDER BY sum(ss.ss_net_profit) DESC) AS rnk
FROM store_sales ss
JOIN item i ON ss.ss_item_sk = i.i_item_sk
JOIN date_dim d ON ss.ss_sold_date_sk = d.d_date_sk
LEFT JOIN hive.finance.ledger_{i} l ON l.item = ss.ss_item_sk -- side ledger
WHERE d.d_year BETWEEN 1999 AND 2001 AND i.i_category IN ('Books', 'Home', 'It''s')
  AND ss.ss_customer_sk IN (SELECT c_customer_sk FROM customer WHERE c_birth_year > 1970)
GROUP BY ss.ss_item_sk, i.i_brand, d.d_year
"
        )
    };
    let mut sql = String::from(
        "WITH recent AS (SELECT * FROM date_dim WHERE d_year > 2000),\n     top AS (SELECT * FROM recent JOIN store s ON true)\n",
    );
    let mut i = 0;
    while sql.len() < bytes {
        if i > 0 {
            sql.push_str("UNION ALL\n");
        }
        sql.push_str(&block(i));
        i += 1;
    }
    sql
}

#[test]
fn sql_ten_kilobyte_query_is_fast() {
    let sql = big_query(10 * 1024);
    let ctx = SessionContext::new(Some("hive"), Some("tpcds"));
    let analysis = analyze(&sql, &ctx).unwrap();
    assert!(analysis.tables.len() > 10);

    let rounds = 200;
    let start = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(analyze(std::hint::black_box(&sql), &ctx).unwrap());
    }
    let each = start.elapsed() / rounds;
    println!("analyse {} bytes ({} tables): {:?} per statement", sql.len(), analysis.tables.len(), each);
    assert!(each < Duration::from_millis(20), "{each:?} per 10 KB statement");
}
