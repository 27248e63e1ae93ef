//! The filter's counters in Envoy's stats (`/stats`, `/stats/prometheus`), defined once per
//! VM. A counter that could not be defined is skipped: stats must never fail a request.

use crate::host;
use std::collections::HashMap;

/// Counter names, without Envoy's `wasmcustom.` prefix.
pub const SQL_ANALYSED: &str = "trino_router.sql.analysed";
pub const SQL_TOO_LARGE: &str = "trino_router.sql.too_large";
pub const SQL_UNPARSEABLE: &str = "trino_router.sql.unparseable";

const ALL: &[&str] = &[SQL_ANALYSED, SQL_TOO_LARGE, SQL_UNPARSEABLE];

#[derive(Default)]
pub struct Metrics {
    ids: HashMap<&'static str, u32>,
}

impl Metrics {
    pub fn define() -> Metrics {
        let ids = ALL.iter().filter_map(|name| host::define_counter(name).ok().map(|id| (*name, id))).collect();
        Metrics { ids }
    }

    pub fn count(&self, name: &str) {
        if let Some(id) = self.ids.get(name) {
            host::increment(*id);
        }
    }
}
