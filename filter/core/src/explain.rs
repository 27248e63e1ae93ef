//! Why a new query would go where it goes, as one JSON-ready value: what the SQL is and
//! touches, and (given a config) the rule, group and candidate clusters. Used by
//! `trino-router explain`; it runs exactly the analysis and rule evaluation the filter runs.

use crate::config::Config;
use crate::inspect::SqlFacts;
use crate::request::RequestHead;
use crate::route::{choose_group, Why};
use crate::rules::RuleInput;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Explanation {
    /// `analysed`, `too_large` or `unparseable`.
    pub sql_inspection: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    pub statement_type: Option<String>,
    pub query_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inner_statement_type: Option<String>,
    pub catalogs: Vec<String>,
    pub schemas: Vec<String>,
    /// `catalog.schema.table`, sorted; a part with no session default is left empty.
    pub tables: Vec<String>,
    pub unresolved_names: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kill_query_id: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub routing: Option<Routing>,
}

#[derive(Debug, Serialize)]
pub struct Routing {
    /// The rule that matched; null when the routing-group header or the default decided.
    pub rule: Option<String>,
    pub group: String,
    pub reason: String,
    /// Members of the group, any of which may take the query (by weight, if usable).
    pub clusters: Vec<Candidate>,
}

#[derive(Debug, Serialize)]
pub struct Candidate {
    pub name: String,
    pub envoy_cluster: String,
    pub weight: u32,
}

pub fn explain(config: Option<&Config>, head: &RequestHead, sql: &SqlFacts) -> Explanation {
    let a = sql.analysis.as_ref();
    Explanation {
        sql_inspection: sql.status.as_str(),
        problem: sql.problem.clone(),
        statement_type: a.map(|a| a.statement_type.to_string()),
        query_type: a.and_then(|a| a.query_type).map(|q| q.to_string()),
        inner_statement_type: a.and_then(|a| a.inner_statement_type).map(|s| s.to_string()),
        catalogs: a.map(|a| a.catalogs.clone()).unwrap_or_default(),
        schemas: a.map(|a| a.schemas.clone()).unwrap_or_default(),
        tables: sql.tables.clone(),
        unresolved_names: a.is_some_and(|a| a.unresolved),
        kill_query_id: a.and_then(|a| a.kill_query_id.clone()),
        routing: config.map(|c| routing(c, head, sql)),
    }
}

fn routing(config: &Config, head: &RequestHead, sql: &SqlFacts) -> Routing {
    let (group, why) = choose_group(config, RuleInput { head, sql });
    let rule = match &why {
        Why::Rule { rule, .. } => Some(rule.clone()),
        _ => None,
    };
    let g = config.group(group);
    let clusters = g
        .map(|g| {
            g.members
                .iter()
                .filter_map(|m| {
                    let c = config.cluster(m.cluster)?;
                    Some(Candidate { name: c.name.clone(), envoy_cluster: c.envoy_cluster.clone(), weight: m.weight })
                })
                .collect()
        })
        .unwrap_or_default();
    let mut reason = why.to_string();
    if sql.analysis.as_ref().is_some_and(|a| a.kill_query_id.is_some()) {
        reason.push_str("; in Envoy, kill_query goes to the cluster that owns the query when it is known");
    }
    Routing { rule, group: g.map(|g| g.name.clone()).unwrap_or_default(), reason, clusters }
}
