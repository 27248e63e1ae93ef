//! Session affinity (opt-in per group): a client's new queries stay on the member its signed
//! cookie names, while that member can take them. The rules still choose the group; the
//! cookie only picks within it, and a cookie that does not verify for this group is no error,
//! just no hint.

use crate::config::{ClusterId, Config, Group};
use crate::cookie::{self, Scope};
use crate::request::Headers;

/// A client session's cookies, as a new query brings them, and the time of the decision.
pub(super) struct Session<'a> {
    pub headers: &'a Headers,
    pub now: &'a dyn Fn() -> u64,
}

/// The member of `group` that the client's cookie for it names, when the cookie verifies for
/// this group, has not expired, and names a cluster still in the group.
pub(super) fn preferred(config: &Config, group: &Group, session: &Session<'_>) -> Option<ClusterId> {
    let affinity = group.affinity.as_ref()?;
    let scope = Scope::Affinity { group: &group.name };
    let now = (session.now)();
    let pin =
        cookie::find_valid(&config.pin_keys, scope, session.headers, &affinity.cookie, now, affinity.ttl_seconds)?;
    let cluster = config.cluster_by_name(&pin.cluster)?;
    group.members.iter().any(|m| m.cluster == cluster).then_some(cluster)
}

/// The `Set-Cookie` that keeps the session on `cluster` for another `ttl_seconds` (given on
/// every new query the group takes, so the affinity lasts while the session is active, and
/// moves the session when its cluster could not take the query).
pub(super) fn set_cookie(config: &Config, group: &Group, cluster: ClusterId, session: &Session<'_>) -> Option<String> {
    let affinity = group.affinity.as_ref()?;
    let name = &config.cluster(cluster)?.name;
    let expires_at = (session.now)().saturating_add(affinity.ttl_seconds);
    let value = cookie::mint(&config.pin_keys, Scope::Affinity { group: &group.name }, name, expires_at)?;
    let secure = cookie::over_tls(session.headers);
    Some(cookie::set_cookie(&affinity.cookie, &value, Some(affinity.ttl_seconds), secure))
}
