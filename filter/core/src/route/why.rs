//! Why the router decided what it did (for logs, metrics and `explain`), and the
//! Trino-style plain-text errors it answers with.

use crate::pin::PinError;
use crate::transaction::BindingError;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    Rule {
        rule: String,
        group: String,
    },
    DefaultGroup {
        group: String,
    },
    RoutingGroupHeader {
        group: String,
    },
    /// The chosen group had no usable cluster; its fallback (chain) took the query.
    Fallback {
        from: String,
        to: String,
        first: Box<Why>,
    },
    /// A new query of a session with affinity: the group's cookie named a member that can
    /// take it. `first` says how the group was chosen.
    Affinity {
        first: Box<Why>,
    },
    Pinned,
    QueryId,
    /// A request under `/ui/` of a browser whose Web UI pin names the cluster.
    UiPin,
    /// A 303 that pins the browser's Web UI to a cluster and sends it to the page: a
    /// token-pinned UI page, or the operator's cluster entry.
    UiOpen {
        cluster: String,
    },
    /// A statement of a transaction goes to the cluster that started it (its bound id).
    Transaction,
    /// `CALL system.runtime.kill_query` goes to the cluster that runs the query it kills.
    KillQuery,
    ServerInfo {
        group: String,
    },
    NoUsableCluster {
        group: String,
    },
    /// Members could take queries, but every one is at its limit (`clusters[].limits`).
    GroupFull {
        group: String,
    },
    BadToken(PinError),
    /// A new query's X-Trino-Transaction-Id carries a binding that does not verify.
    BadTransaction(BindingError),
    PinnedClusterGone,
    /// The cluster a transaction is bound to is no longer configured.
    TransactionClusterGone,
    ClusterDisabled {
        cluster: String,
    },
    UnknownQuery,
    UnknownPath,
    NotNormalPath,
    /// A new query named its user ambiguously (an identity header twice).
    RepeatedIdentityHeader,
    Internal,
}

impl fmt::Display for Why {
    /// One short phrase for log lines; never includes a token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Rule { rule, group } => write!(f, "rule {rule} -> group {group}"),
            Why::DefaultGroup { group } => write!(f, "no rule matched -> default group {group}"),
            Why::RoutingGroupHeader { group } => write!(f, "X-Trino-Routing-Group -> group {group}"),
            Why::Fallback { from, to, first } => write!(f, "{first}; no usable cluster in {from}, fallback group {to}"),
            Why::Affinity { first } => write!(f, "{first}; session affinity cookie -> its cluster"),
            Why::Pinned => f.write_str("pinned by token"),
            Why::UiPin => f.write_str("Web UI pin cookie"),
            Why::UiOpen { cluster } => write!(f, "Web UI of cluster {cluster} opened"),
            Why::QueryId => f.write_str("owner of the query id"),
            Why::KillQuery => f.write_str("kill_query -> owner of the killed query"),
            Why::Transaction => f.write_str("statement of a transaction -> the cluster that started it"),
            Why::ServerInfo { group } => write!(f, "server info -> group {group}"),
            Why::NoUsableCluster { group } => write!(f, "no usable cluster in group {group} or its fallbacks"),
            Why::GroupFull { group } => write!(f, "every cluster of group {group} is at its query limit"),
            Why::BadToken(e) => write!(f, "{e}"),
            Why::BadTransaction(e) => write!(f, "{e}"),
            Why::TransactionClusterGone => f.write_str("transaction's cluster no longer configured"),
            Why::PinnedClusterGone => f.write_str("pinned cluster no longer configured"),
            Why::ClusterDisabled { cluster } => write!(f, "cluster {cluster} is disabled"),
            Why::UnknownQuery => f.write_str("no known owner for the query id"),
            Why::UnknownPath => f.write_str("not a Trino client endpoint"),
            Why::NotNormalPath => f.write_str("path not in normal form"),
            Why::RepeatedIdentityHeader => f.write_str("identity header sent more than once"),
            Why::Internal => f.write_str("internal error"),
        }
    }
}

/// Trino answers protocol errors as `text/plain` `Error <code> <reason>: <message>`.
pub fn trino_error(status: u16, message: &str) -> String {
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        410 => "Gone",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    format!("Error {status} {reason}: trino-router: {message}")
}

impl Why {
    /// How the destination was found, as one word for access logs and metric names.
    pub fn via(&self) -> &'static str {
        match self {
            Why::Rule { .. } => "rule",
            Why::DefaultGroup { .. } => "default_group",
            Why::RoutingGroupHeader { .. } => "routing_group_header",
            Why::Fallback { .. } => "fallback",
            Why::Affinity { .. } => "affinity",
            Why::Pinned => "pinned",
            Why::QueryId => "query_id",
            Why::UiPin => "ui_pin",
            Why::UiOpen { .. } => "ui_open",
            Why::KillQuery => "kill_query",
            Why::Transaction => "transaction",
            Why::ServerInfo { .. } => "server_info",
            Why::NoUsableCluster { .. } => "no_usable_cluster",
            Why::GroupFull { .. } => "group_full",
            Why::BadToken(_) => "bad_token",
            Why::BadTransaction(_) => "bad_transaction",
            Why::TransactionClusterGone => "transaction_cluster_gone",
            Why::PinnedClusterGone => "pinned_cluster_gone",
            Why::ClusterDisabled { .. } => "cluster_disabled",
            Why::UnknownQuery => "unknown_query",
            Why::UnknownPath => "unknown_path",
            Why::NotNormalPath => "not_normal_path",
            Why::RepeatedIdentityHeader => "repeated_identity_header",
            Why::Internal => "internal",
        }
    }

    /// The group that took (or could not take) a new query: after a fallback, the fallback.
    pub fn group(&self) -> Option<&str> {
        match self {
            Why::Rule { group, .. }
            | Why::DefaultGroup { group }
            | Why::RoutingGroupHeader { group }
            | Why::ServerInfo { group }
            | Why::NoUsableCluster { group }
            | Why::GroupFull { group } => Some(group),
            Why::Fallback { to, .. } => Some(to),
            Why::Affinity { first } => first.group(),
            _ => None,
        }
    }

    /// The rule that matched, also when its group fell back.
    pub fn rule(&self) -> Option<&str> {
        match self {
            Why::Rule { rule, .. } => Some(rule),
            Why::Fallback { first, .. } | Why::Affinity { first } => first.rule(),
            _ => None,
        }
    }
}
