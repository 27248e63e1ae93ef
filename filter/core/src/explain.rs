//! Why a new query would go where it goes, as one JSON-ready value: what the SQL is and
//! touches, and (given a config) the rule, group and candidate clusters. Used by
//! `trino-router explain`; it runs exactly the analysis and rule evaluation the filter runs.

use crate::config::{ClusterState, Config, GroupId};
use crate::inspect::{SqlDepth, SqlFacts};
use crate::request::RequestHead;
use crate::route::choose_group;
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
    /// The group whose clusters take the query: the chosen one, or the fallback that takes
    /// over when none of its members is active.
    pub group: String,
    pub reason: String,
    /// The active members of that group. In Envoy, any of them that the observed health
    /// also allows may take the query, by the group's selection; offline, health is unknown.
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

/// Explains a new query from its body. What the SQL is, is worked out in full for the
/// reader; where it goes, from the SQL worked out only as far as the config needs, as the
/// filter does: a statement naming more tables than the analyser keeps is unparseable in
/// full, yet routed by its type when no rule needs a name; so is a malformed query typed
/// from its first word when only type rules read the SQL.
pub fn explain_body(config: Option<&Config>, head: &RequestHead, body: &[u8]) -> Explanation {
    let limit = config.map_or(usize::MAX, |c| c.max_body_bytes);
    let facts = |depth| {
        if body.len() > limit {
            SqlFacts::too_large(body.len(), limit)
        } else {
            SqlFacts::from_body(body, head, depth)
        }
    };
    let shown = facts(SqlDepth::TableNames);
    let mut out = explain(None, head, &shown);
    out.routing = config.map(|c| {
        if c.sql_depth == SqlDepth::TableNames {
            return routing(c, head, &shown);
        }
        let routed = facts(c.sql_depth);
        let mut r = routing(c, head, &routed);
        if let (None, Some(a)) = (&out.statement_type, &routed.analysis) {
            // Unparseable in full, typed with less: show the type routed on.
            out.statement_type = Some(a.statement_type.to_string());
            out.query_type = a.query_type.map(|q| q.to_string());
            out.inner_statement_type = a.inner_statement_type.map(|s| s.to_string());
        }
        if routed.status != shown.status {
            let (now, full) = (routed.status.as_str(), shown.status.as_str());
            r.reason
                .push_str(&format!("; routed on SQL inspection `{now}`: the config needs less than made it `{full}`"));
        }
        r
    });
    out
}

fn routing(config: &Config, head: &RequestHead, sql: &SqlFacts) -> Routing {
    let (group, why) = choose_group(config, RuleInput { head, sql });
    let rule = why.rule().map(str::to_string);
    let mut reason = why.to_string();
    let (taking, clusters) = active_candidates(config, group);
    if taking != group {
        let name = |g: GroupId| config.group(g).map(|g| g.name.clone()).unwrap_or_default();
        reason.push_str(&format!("; no active cluster in {}, fallback group {}", name(group), name(taking)));
    }
    let kill_id = sql.analysis.as_ref().and_then(|a| a.kill_query_id.as_deref());
    if let (true, Some(id)) = (config.route_kill_query, kill_id) {
        reason = format!(
            "kill_query -> in Envoy, the cluster that owns query {id} when its coordinator is known; else {reason}"
        );
    }
    Routing { rule, group: config.group(taking).map(|g| g.name.clone()).unwrap_or_default(), reason, clusters }
}

/// The first group along the fallback chain with an active member, and those members: the
/// same walk routing makes, with every active cluster taken as healthy.
fn active_candidates(config: &Config, group: GroupId) -> (GroupId, Vec<Candidate>) {
    let mut current = Some(group);
    for _ in 0..=config.groups.len() {
        let Some((id, g)) = current.and_then(|id| config.group(id).map(|g| (id, g))) else { break };
        let active: Vec<Candidate> = g
            .members
            .iter()
            .filter_map(|m| {
                let c = config.cluster(m.cluster).filter(|c| c.state == ClusterState::Active)?;
                Some(Candidate { name: c.name.clone(), envoy_cluster: c.envoy_cluster.clone(), weight: m.weight })
            })
            .collect();
        if !active.is_empty() {
            return (id, active);
        }
        current = g.fallback;
    }
    (group, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Headers;

    fn config() -> Config {
        let json = serde_json::json!({
            "clusters": [
                {"name": "a-1", "envoy_cluster": "ea1", "state": "draining"},
                {"name": "a-2", "envoy_cluster": "ea2", "state": "disabled"},
                {"name": "b-1", "envoy_cluster": "eb1"}
            ],
            "groups": [
                {"name": "a", "members": [{"cluster": "a-1"}, {"cluster": "a-2"}], "fallback": "b"},
                {"name": "b", "members": [{"cluster": "b-1"}]}
            ],
            "default_group": "a",
            "sql_inspection": {"route_kill_query": true},
            "stickiness": {"signing_key": "explain-test-key-0123456789abcdefghij"}
        });
        Config::from_json(json.to_string().as_bytes()).unwrap()
    }

    fn head() -> RequestHead {
        let mut h = Headers::new();
        h.push(":method", "POST");
        h.push(":path", "/v1/statement");
        RequestHead::from_headers(h)
    }

    #[test]
    fn a_group_without_active_members_is_explained_by_its_fallback() {
        let c = config();
        let r = routing(&c, &head(), &SqlFacts::from_body(b"SELECT 1", &head(), crate::inspect::SqlDepth::TableNames));
        assert_eq!(r.group, "b");
        assert_eq!(r.clusters.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["b-1"]);
        assert!(r.reason.contains("fallback group b"), "{}", r.reason);
    }

    #[test]
    fn kill_query_names_the_owner_first_when_routed_by_owner() {
        let c = config();
        let sql = SqlFacts::from_body(
            b"CALL system.runtime.kill_query('20261120_101500_00042_dup55')",
            &head(),
            crate::inspect::SqlDepth::TableNames,
        );
        let r = routing(&c, &head(), &sql);
        assert!(r.reason.starts_with("kill_query -> "), "{}", r.reason);
    }

    #[test]
    fn a_statement_over_the_table_cap_is_explained_as_the_filter_routes_it() {
        let c = config();
        let wide: Vec<String> = (0..=crate::sql::MAX_TABLES).map(|i| format!("c.s.t{i}")).collect();
        let sql = format!("SELECT * FROM {}", wide.join(", "));
        let out = explain_body(Some(&c), &head(), sql.as_bytes());
        assert_eq!(out.sql_inspection, "unparseable");
        assert_eq!(out.statement_type.as_deref(), Some("SELECT"));
        let reason = &out.routing.as_ref().unwrap().reason;
        assert!(
            reason.ends_with("routed on SQL inspection `analysed`: the config needs less than made it `unparseable`")
        );
    }
}
