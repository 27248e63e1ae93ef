//! The filter's counters in Envoy's stats (`/stats`, `/stats/prometheus`), shown by Envoy as
//! `wasmcustom.trino_router.*`. Per-cluster, per-group and per-rule names are defined on
//! first use and remembered per worker; a counter that cannot be defined is skipped:
//! stats must never fail a request.

use crate::host::Host;
use crate::inspect::SqlStatus;
use crate::route::{Decision, Why};
use std::cell::RefCell;
use std::collections::HashMap;

#[derive(Default)]
pub struct Metrics {
    ids: RefCell<HashMap<String, u32>>,
}

impl Metrics {
    pub fn count(&self, host: &impl Host, name: &str) {
        let known = self.ids.borrow().get(name).copied();
        let id = match known {
            Some(id) => id,
            None => match host.define_counter(name) {
                Ok(id) => {
                    self.ids.borrow_mut().insert(name.to_string(), id);
                    id
                }
                Err(_) => return,
            },
        };
        let _ = host.increment_counter(id);
    }

    /// Moves a gauge by `delta` (Envoy keeps one value per name across its workers).
    pub fn add_to_gauge(&self, host: &impl Host, name: &str, delta: i64) {
        let known = self.ids.borrow().get(name).copied();
        let id = match known {
            Some(id) => id,
            None => match host.define_gauge(name) {
                Ok(id) => {
                    self.ids.borrow_mut().insert(name.to_string(), id);
                    id
                }
                Err(_) => return,
            },
        };
        let _ = host.add_to_metric(id, delta);
    }

    /// `trino_router.sql.analysed`, `.too_large` or `.unparseable`: how reading a body went.
    pub fn count_sql(&self, host: &impl Host, status: SqlStatus) {
        self.count(host, &format!("trino_router.sql.{}", status.as_str()));
    }

    /// Counts what a decision did: new queries by cluster, group and rule; follow-ups by how
    /// they were pinned; refusals by reason.
    pub fn count_decision(&self, host: &impl Host, decision: &Decision) {
        match decision {
            Decision::Forward(f) if f.new_query => {
                self.count(host, &format!("trino_router.queries.cluster.{}", f.cluster_name));
                if let Some(g) = f.why.group() {
                    self.count(host, &format!("trino_router.queries.group.{g}"));
                }
                self.count(host, &format!("trino_router.queries.rule.{}", f.why.rule().unwrap_or("none")));
                self.count(host, &format!("trino_router.queries.via.{}", f.why.via()));
            }
            // The hot path: a name per kind, no formatting.
            Decision::Forward(f) => match f.why {
                Why::Pinned => self.count(host, "trino_router.followups.pinned"),
                Why::QueryId => self.count(host, "trino_router.followups.query_id"),
                Why::UiPin => self.count(host, "trino_router.ui.pinned"),
                _ => self.count(host, &format!("trino_router.other.{}", f.why.via())),
            },
            // A redirect into the Web UI is no refusal.
            Decision::Reply(r) if matches!(r.why, Why::UiOpen { .. }) => self.count(host, "trino_router.ui.opened"),
            Decision::Reply(r) => self.count(host, &format!("trino_router.refused.{}", r.why.via())),
        }
    }
}
