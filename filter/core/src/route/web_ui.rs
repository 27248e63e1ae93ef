//! The Web UI through the router (opt-in, `web_ui`): a browser's UI session stays on one
//! cluster. A page that names its cluster pins the browser with a signed cookie: the infoUri
//! under a token (answered with a 303 to the same page at `/ui/...`, so that the page, its
//! assets and Trino's own UI cookie, whose path is `/ui`, all live where the UI expects), a
//! query page by the id of a query whose coordinator is known, and `/<marker>/ui/<cluster>/`
//! when `cluster_entry` is on. Every later request under `/ui/` (the page's API calls, its
//! assets, the login form, logout) follows the pin. Without a valid pin, paths under `/ui/`
//! are routed exactly as without `web_ui`: a token alone still opens no `/ui/api/...`.

use super::{internal_reply, reply, Kind, Reply, Target, Why};
use crate::config::{ClusterId, ClusterState, Config, WebUi};
use crate::cookie::{self, CookiePin, Scope};
use crate::observed::ClusterView;
use crate::protocol::{Endpoint, FollowUp};

use super::Incoming;

/// The segment after the marker that names the operator's entry: `/<marker>/ui/<cluster>/`.
/// No token is `ui` (tokens are base64 of at least 18 bytes).
const ENTRY_SEGMENT: &str = "ui";

/// Some(decision) when the Web UI settings decide this request; None: route it as always.
pub(super) fn route(config: &Config, req: &Incoming, view: &dyn ClusterView) -> Option<Result<Target, Reply>> {
    let ui = config.web_ui.as_ref()?;
    if req.endpoint == Endpoint::NotNormal {
        return None;
    }
    if let Some(name) = entry_name(req) {
        return ui.cluster_entry.then(|| Err(open_entry(config, ui, req, name, view)));
    }
    if !under_ui(&req.path) {
        return None;
    }
    match (&req.endpoint, req.usable_token()) {
        (Endpoint::QueryFollowUp(_, FollowUp::InfoPage) | Endpoint::UiEntry, Some(token)) => {
            Some(Err(match super::follow_pinned(config, token, &req.path) {
                Ok(target) => open(config, ui, req, target.cluster, &req.path, view),
                Err(refused) => refused,
            }))
        }
        (Endpoint::QueryFollowUp(id, FollowUp::InfoPage), None) => {
            match id.coordinator().and_then(|c| view.owner_of(&c)) {
                Some(owner) => Some(forward(config, ui, req, owner, Why::QueryId, view)),
                None => by_pin(config, ui, req, view),
            }
        }
        _ => by_pin(config, ui, req, view),
    }
}

/// A request under `/ui/` goes where the browser's valid pin says (None without one).
fn by_pin(config: &Config, ui: &WebUi, req: &Incoming, view: &dyn ClusterView) -> Option<Result<Target, Reply>> {
    let pin = current_pin(config, ui, req, view)?;
    let cluster = config.cluster_by_name(&pin.cluster)?;
    Some(forward(config, ui, req, cluster, Why::UiPin, view))
}

/// Sends the request to `cluster` with the path the UI knows (no pin prefix, and no
/// `X-Forwarded-Prefix`: the UI's links and Trino's redirects must stay under `/ui/`), and
/// pins the browser there, unless its pin already does for at least half its lifetime.
fn forward(
    config: &Config,
    ui: &WebUi,
    req: &Incoming,
    cluster: ClusterId,
    why: Why,
    view: &dyn ClusterView,
) -> Result<Target, Reply> {
    refuse_disabled(config, cluster)?;
    let now = view.now_s();
    let fresh = current_pin(config, ui, req, view).is_some_and(|pin| {
        config.cluster_by_name(&pin.cluster) == Some(cluster)
            && pin.expires_at.saturating_sub(now) >= ui.ttl_seconds.saturating_div(2)
    });
    let set_cookie = if fresh { None } else { pin_cookie(config, ui, req, cluster, now) };
    Ok(Target { cluster, path: req.stripped_path(), why, kind: Kind::WebUi, transaction: None, set_cookie })
}

/// A 303 to `location` that pins the browser to `cluster`.
fn open(
    config: &Config,
    ui: &WebUi,
    req: &Incoming,
    cluster: ClusterId,
    location: &str,
    view: &dyn ClusterView,
) -> Reply {
    if let Err(refused) = refuse_disabled(config, cluster) {
        return refused;
    }
    let (Some(c), Some(set_cookie)) = (config.cluster(cluster), pin_cookie(config, ui, req, cluster, view.now_s()))
    else {
        return internal_reply();
    };
    Reply {
        status: 303,
        body: format!("trino-router: the Web UI of cluster {} is at {location}", c.name),
        retry_after_seconds: None,
        headers: vec![("location", location.to_string()), ("set-cookie", set_cookie)],
        why: Why::UiOpen { cluster: c.name.clone() },
    }
}

/// `/<marker>/ui/<cluster>[/]`: the operator's way into one cluster's UI.
fn open_entry(config: &Config, ui: &WebUi, req: &Incoming, name: &str, view: &dyn ClusterView) -> Reply {
    match config.cluster_by_name(name) {
        Some(cluster) => open(config, ui, req, cluster, "/ui/", view),
        None => reply(404, &format!("no cluster named {name}"), Why::UnknownPath),
    }
}

/// The cluster name of an entry path, for GET and HEAD.
fn entry_name(req: &Incoming) -> Option<&str> {
    if req.token.as_deref() != Some(ENTRY_SEGMENT) || !matches!(req.head.method.as_str(), "GET" | "HEAD") {
        return None;
    }
    let path = req.path.split('?').next().unwrap_or_default();
    let name = path.strip_prefix('/')?;
    let name = name.strip_suffix('/').unwrap_or(name);
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

fn under_ui(path_and_query: &str) -> bool {
    let path = path_and_query.split('?').next().unwrap_or_default();
    path == "/ui" || path.starts_with("/ui/")
}

fn current_pin(config: &Config, ui: &WebUi, req: &Incoming, view: &dyn ClusterView) -> Option<CookiePin> {
    let headers = &req.head.headers;
    cookie::find_valid(&config.pin_keys, Scope::WebUi, headers, &ui.cookie, view.now_s(), ui.ttl_seconds)
}

/// A session cookie (gone when the browser closes) whose signature expires after `ttl_seconds`.
fn pin_cookie(config: &Config, ui: &WebUi, req: &Incoming, cluster: ClusterId, now: u64) -> Option<String> {
    let name = &config.cluster(cluster)?.name;
    let value = cookie::mint(&config.pin_keys, Scope::WebUi, name, now.saturating_add(ui.ttl_seconds))?;
    Some(cookie::set_cookie(&ui.cookie, &value, None, cookie::over_tls(&req.head.headers)))
}

/// A disabled cluster's UI is as closed as its queries' follow-ups.
fn refuse_disabled(config: &Config, cluster: ClusterId) -> Result<(), Reply> {
    match config.cluster(cluster) {
        Some(c) if c.state == ClusterState::Disabled => Err(reply(
            410,
            &format!("cluster {} is disabled; its Web UI can no longer be reached", c.name),
            Why::ClusterDisabled { cluster: c.name.clone() },
        )),
        _ => Ok(()),
    }
}
