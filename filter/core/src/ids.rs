//! The typed positions of clusters and groups in a validated config, on the ground floor so
//! that rules (which name a group) and the config (which holds rules) need not import each other.

/// Position of a cluster in `Config::clusters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterId(pub usize);

/// Position of a group in `Config::groups`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupId(pub usize);
