//! A routing decision as one line of `key=value` pairs, for access logs and the optional
//! debug header: `cluster=etl-1 group=etl rule=etl-workloads via=rule`. Never a token.

use super::{Decision, Forward, Reply};
use crate::config::Config;
use crate::inspect::{SqlFacts, SqlStatus};

pub fn summary(decision: &Decision, config: &Config, sql: &SqlFacts) -> String {
    let mut parts: Vec<String> = Vec::new();
    match decision {
        Decision::Forward(Forward { cluster, why, .. }) => {
            if let Some(c) = config.cluster(*cluster) {
                parts.push(format!("cluster={}", c.name));
            }
            push_why(&mut parts, why);
        }
        Decision::Reply(Reply { status, why, .. }) => {
            if let super::Why::UiOpen { cluster } = why {
                parts.push(format!("cluster={cluster}"));
            }
            parts.push(format!("reply={status}"));
            push_why(&mut parts, why);
        }
    }
    if sql.status != SqlStatus::NotRead {
        parts.push(format!("sql={}", sql.status.as_str()));
    }
    parts.join(" ")
}

fn push_why(parts: &mut Vec<String>, why: &super::Why) {
    if let Some(g) = why.group() {
        parts.push(format!("group={g}"));
    }
    if let Some(r) = why.rule() {
        parts.push(format!("rule={r}"));
    }
    parts.push(format!("via={}", why.via()));
}
