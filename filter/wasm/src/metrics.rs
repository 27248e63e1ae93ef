//! The filter's counters in Envoy's stats (`/stats`, `/stats/prometheus`), shown by Envoy as
//! `wasmcustom.trino_router.*`. Per-cluster, per-group and per-rule names are defined on
//! first use and remembered per worker; a counter that cannot be defined is skipped:
//! stats must never fail a request.

use crate::host;
use std::cell::RefCell;
use std::collections::HashMap;
use trino_router_core::route::{Decision, Why};

pub const SQL_ANALYSED: &str = "trino_router.sql.analysed";
pub const SQL_TOO_LARGE: &str = "trino_router.sql.too_large";
pub const SQL_UNPARSEABLE: &str = "trino_router.sql.unparseable";

#[derive(Default)]
pub struct Metrics {
    ids: RefCell<HashMap<String, u32>>,
}

impl Metrics {
    pub fn count(&self, name: &str) {
        let known = self.ids.borrow().get(name).copied();
        let id = match known {
            Some(id) => id,
            None => match host::define_counter(name) {
                Ok(id) => {
                    self.ids.borrow_mut().insert(name.to_string(), id);
                    id
                }
                Err(_) => return,
            },
        };
        host::increment(id);
    }

    /// Counts what a decision did: new queries by cluster, group and rule; follow-ups by how
    /// they were pinned; refusals by reason.
    pub fn count_decision(&self, decision: &Decision, cluster_name: Option<&str>) {
        match decision {
            Decision::Forward(f) if f.new_query => {
                if let Some(c) = cluster_name {
                    self.count(&format!("trino_router.queries.cluster.{c}"));
                }
                if let Some(g) = f.why.group() {
                    self.count(&format!("trino_router.queries.group.{g}"));
                }
                self.count(&format!("trino_router.queries.rule.{}", f.why.rule().unwrap_or("none")));
                self.count(&format!("trino_router.queries.via.{}", f.why.via()));
            }
            // The hot path: a name per kind, no formatting.
            Decision::Forward(f) => match f.why {
                Why::Pinned => self.count("trino_router.followups.pinned"),
                Why::QueryId => self.count("trino_router.followups.query_id"),
                _ => self.count(&format!("trino_router.other.{}", f.why.via())),
            },
            Decision::Reply(r) => self.count(&format!("trino_router.refused.{}", r.why.via())),
        }
    }
}
