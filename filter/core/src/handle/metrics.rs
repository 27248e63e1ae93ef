//! The filter's counters in Envoy's stats (`/stats`, `/stats/prometheus`), shown by Envoy as
//! `wasmcustom.trino_router.*`. Per-cluster, per-group and per-rule names are defined on
//! first use and remembered per worker; a counter that cannot be defined is skipped:
//! stats must never fail a request.

use crate::host::{Host, HostResult};
use crate::inspect::SqlStatus;
use crate::route::{Decision, Why};
use std::cell::RefCell;
use std::collections::HashMap;

/// Counter and gauge ids by family and name, so the per-query counters are found
/// without formatting their full names (only the first use of a name formats it).
#[derive(Default)]
pub struct Metrics {
    /// Metrics named in full.
    ids: RefCell<HashMap<String, u32>>,
    /// Metrics of a family (`trino_router.queries.group` and so on), by the rest of the name.
    families: RefCell<HashMap<&'static str, HashMap<String, u32>>>,
}

impl Metrics {
    pub fn count(&self, host: &impl Host, name: &str) {
        if let Some(id) = self.id(name, |full| host.define_counter(full)) {
            let _ = host.increment_counter(id);
        }
    }

    /// Counts `<family>.<name>`, e.g. family `trino_router.queries.group` and name `etl`.
    pub fn count_in(&self, host: &impl Host, family: &'static str, name: &str) {
        if let Some(id) = self.family_id(family, name, |full| host.define_counter(full)) {
            let _ = host.increment_counter(id);
        }
    }

    /// Moves a gauge by `delta` (Envoy keeps one value per name across its workers).
    pub fn add_to_gauge(&self, host: &impl Host, name: &str, delta: i64) {
        if let Some(id) = self.id(name, |full| host.define_gauge(full)) {
            let _ = host.add_to_metric(id, delta);
        }
    }

    /// The id of a metric, defined on first use; None when the host cannot define it.
    fn id(&self, name: &str, define: impl FnOnce(&str) -> HostResult<u32>) -> Option<u32> {
        if let Some(id) = self.ids.borrow().get(name) {
            return Some(*id);
        }
        let id = define(name).ok()?;
        self.ids.borrow_mut().insert(name.to_string(), id);
        Some(id)
    }

    /// As `id`, for `<family>.<name>`: the full name is formatted only to define it.
    fn family_id(&self, family: &'static str, name: &str, define: impl FnOnce(&str) -> HostResult<u32>) -> Option<u32> {
        if let Some(id) = self.families.borrow().get(family).and_then(|names| names.get(name)) {
            return Some(*id);
        }
        let id = define(&format!("{family}.{name}")).ok()?;
        self.families.borrow_mut().entry(family).or_default().insert(name.to_string(), id);
        Some(id)
    }

    /// `trino_router.sql.analysed`, `.too_large` or `.unparseable`: how reading a body went.
    pub fn count_sql(&self, host: &impl Host, status: SqlStatus) {
        self.count_in(host, "trino_router.sql", status.as_str());
    }

    /// Counts what a decision did: new queries by cluster, group and rule; follow-ups by how
    /// they were pinned; refusals by reason.
    pub fn count_decision(&self, host: &impl Host, decision: &Decision) {
        match decision {
            Decision::Forward(f) if f.new_query => {
                self.count_in(host, "trino_router.queries.cluster", &f.cluster_name);
                if let Some(g) = f.why.group() {
                    self.count_in(host, "trino_router.queries.group", g);
                }
                self.count_in(host, "trino_router.queries.rule", f.why.rule().unwrap_or("none"));
                self.count_in(host, "trino_router.queries.via", f.why.via());
            }
            // The hot path: a name per kind, no formatting.
            Decision::Forward(f) => match f.why {
                Why::Pinned => self.count(host, "trino_router.followups.pinned"),
                Why::QueryId => self.count(host, "trino_router.followups.query_id"),
                Why::UiPin => self.count(host, "trino_router.ui.pinned"),
                _ => self.count_in(host, "trino_router.other", f.why.via()),
            },
            // A redirect into the Web UI is no refusal.
            Decision::Reply(r) if matches!(r.why, Why::UiOpen { .. }) => self.count(host, "trino_router.ui.opened"),
            Decision::Reply(r) => self.count_in(host, "trino_router.refused", r.why.via()),
        }
    }
}
