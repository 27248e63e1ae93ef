//! The routing invariant with the router's session cookies in play, over every combination
//! of method, path (new queries, follow-ups, UI pages and API calls, with and without token
//! prefixes, the operator entry), cookies (valid, expired, forged, for another group or kind)
//! and cluster health: an affinity cookie only picks among the clusters the rules chose for a
//! new query, and a Web UI pin only routes paths under `/ui/`, to the cluster it names; every
//! cookie the router hands out names the cluster the request went to.
//!
//! The oracle is written from the feature's description, not from `route/`.
// Test code: a panic here fails a test, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::{config_json, decide, request, FakeView, NOW};
use serde_json::json;
use trino_router_core::config::{ClusterId, Config, GroupId};
use trino_router_core::cookie::{self, Scope};
use trino_router_core::inspect::SqlFacts;
use trino_router_core::route::{choose_group, Decision, Why};
use trino_router_core::rules::RuleInput;

const ETL_ID: &str = "20261120_101500_00042_dup55";
const METHODS: [&str; 7] = ["GET", "HEAD", "DELETE", "POST", "PUT", "PATCH", "OPTIONS"];
const USERS: [&str; 3] = ["etl", "alice", ""];

/// adhoc (adhoc-1, adhoc-2) with affinity; etl (etl-1) with affinity, falling back to adhoc;
/// user etl -> etl; the Web UI with the operator entry.
fn the_config() -> Config {
    let mut raw =
        config_json(json!([{"name": "etl", "when": {"user": {"exact": "etl"}}, "route_to": "etl"}]), json!({}));
    raw["groups"][0]["affinity"] = json!({"ttl_seconds": 600});
    raw["groups"][1]["affinity"] = json!({"ttl_seconds": 600, "cookie": "etl-session"});
    raw["groups"][1]["fallback"] = json!("adhoc");
    raw["web_ui"] = json!({"enabled": true, "cluster_entry": true, "ttl_seconds": 600});
    Config::from_json(raw.to_string().as_bytes()).unwrap()
}

/// What a cookie validly says, as the oracle knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Says {
    Affinity(&'static str, usize),
    UiPin(usize),
    Nothing,
}

fn cookies(c: &Config) -> Vec<(String, Says)> {
    let mint = |scope, cluster: &str, at| cookie::mint(&c.pin_keys, scope, cluster, at).unwrap();
    let adhoc = Scope::Affinity { group: "adhoc" };
    let etl = Scope::Affinity { group: "etl" };
    let mut out = vec![];
    for (i, name) in ["adhoc-1", "adhoc-2", "etl-1"].iter().enumerate() {
        // Valid only where the cluster is in the group: etl-1 is not in adhoc.
        let in_adhoc = if i < 2 { Says::Affinity("adhoc", i) } else { Says::Nothing };
        out.push((format!("trino-router-affinity-adhoc={}", mint(adhoc, name, NOW + 60)), in_adhoc));
        let in_etl = if i == 2 { Says::Affinity("etl", i) } else { Says::Nothing };
        out.push((format!("etl-session={}", mint(etl, name, NOW + 60)), in_etl));
        out.push((format!("trino-router-ui={}", mint(Scope::WebUi, name, NOW + 60)), Says::UiPin(i)));
        // Expired, of another kind, or under another name: nothing.
        out.push((format!("trino-router-ui={}", mint(Scope::WebUi, name, NOW)), Says::Nothing));
        out.push((format!("trino-router-ui={}", mint(adhoc, name, NOW + 60)), Says::Nothing));
        out.push((format!("etl-session={}", mint(adhoc, name, NOW + 60)), Says::Nothing));
        out.push((format!("trino-router-affinity-adhoc={}", mint(Scope::WebUi, name, NOW + 60)), Says::Nothing));
    }
    out.push(("trino-router-ui=AQdhZGhvYy0xAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(), Says::Nothing));
    out.push((String::new(), Says::Nothing));
    out
}

/// Paths with the cluster a valid token in them names (index), if any.
fn paths(c: &Config) -> Vec<(String, Option<usize>)> {
    let rests = [
        "/v1/statement".to_string(),
        format!("/v1/statement/executing/{ETL_ID}/y1/2"),
        format!("/v1/query/{ETL_ID}"),
        format!("/ui/query.html?{ETL_ID}"),
        "/ui/query.html?20261120_101500_00043_zzzzz".into(),
        "/ui/".into(),
        "/ui".into(),
        "/ui/api/stats".into(),
        format!("/ui/api/query/{ETL_ID}/killed"),
        "/ui/login".into(),
        "/ui/../v1/statement".into(),
        "/uix".into(),
        "/metrics".into(),
        "/v1/info".into(),
    ];
    let mut out = vec![];
    for rest in &rests {
        out.push((rest.clone(), None));
        for (i, name) in ["adhoc-1", "adhoc-2", "etl-1"].iter().enumerate() {
            out.push((format!("/trino-router/{}{rest}", c.pin_keys.sign(name).unwrap().as_str()), Some(i)));
        }
    }
    for entry in ["/trino-router/ui/adhoc-1/", "/trino-router/ui/etl-1", "/trino-router/ui/nope/", "/trino-router/ui/"]
    {
        out.push((entry.to_string(), None));
    }
    out
}

fn rule_clusters(c: &Config, group: GroupId) -> Vec<ClusterId> {
    let mut out = Vec::new();
    let mut current = Some(group);
    while let Some(g) = current.and_then(|g| c.group(g)) {
        out.extend(g.members.iter().map(|m| m.cluster));
        current = g.fallback;
    }
    out
}

fn group_of(c: &Config, name: &str) -> Vec<ClusterId> {
    c.group(c.group_by_name(name).unwrap()).unwrap().members.iter().map(|m| m.cluster).collect()
}

fn stripped(path: &str, pinned: Option<usize>) -> String {
    match pinned {
        Some(_) => format!("/{}", path.splitn(4, '/').nth(3).unwrap()),
        None => path.to_string(),
    }
}

fn under_ui(path: &str) -> bool {
    let p = path.split('?').next().unwrap();
    p == "/ui" || p.starts_with("/ui/")
}

/// The cluster a `Set-Cookie` names, by trying every scope.
fn named_by(c: &Config, set_cookie: &str) -> String {
    let (name, value) = set_cookie.split(';').next().unwrap().split_once('=').unwrap();
    let scope = match name {
        "trino-router-ui" => Scope::WebUi,
        "etl-session" => Scope::Affinity { group: "etl" },
        _ => Scope::Affinity { group: "adhoc" },
    };
    cookie::verify(&c.pin_keys, scope, value.as_bytes(), NOW, 600).unwrap().cluster
}

#[test]
fn cookies_pick_only_among_rule_chosen_clusters_and_pin_only_ui_paths() {
    let c = the_config();
    let cookies = cookies(&c);
    let mut seen = std::collections::HashMap::<&str, usize>::new();
    for down in [None, Some(0usize)] {
        let mut view = FakeView::default();
        view.owners.insert("dup55".into(), 2);
        view.down.extend(down);
        for (path, pinned) in paths(&c) {
            for method in METHODS {
                for user in USERS {
                    for (a, b) in (0..cookies.len()).flat_map(|a| [(a, None), (a, Some((a * 7 + 3) % cookies.len()))]) {
                        let sent: Vec<&(String, Says)> =
                            std::iter::once(&cookies[a]).chain(b.map(|b| &cookies[b])).collect();
                        let line = sent
                            .iter()
                            .map(|(v, _)| v.as_str())
                            .filter(|v| !v.is_empty())
                            .collect::<Vec<_>>()
                            .join("; ");
                        let mut headers = vec![("x-trino-user", user)];
                        if !line.is_empty() {
                            headers.push(("cookie", line.as_str()));
                        }
                        let head = request(method, &path, &headers);
                        let case = format!(
                            "{method} {path} user={user:?} cookies={:?} down={down:?}",
                            sent.iter().map(|s| s.1).collect::<Vec<_>>()
                        );
                        let says = |wanted: Says| sent.iter().any(|(_, s)| *s == wanted);
                        match decide(&c, &head, &SqlFacts::not_read(), &view, (a as u64) * 31 + 7) {
                            Decision::Forward(f) => {
                                let cluster = f.cluster.0;
                                match &f.why {
                                    Why::Affinity { .. } => {
                                        assert!(
                                            method == "POST" && stripped(&path, pinned).starts_with("/v1/statement"),
                                            "{case}"
                                        );
                                        let (group, _) =
                                            choose_group(&c, RuleInput { head: &head, sql: &SqlFacts::not_read() });
                                        assert!(
                                            rule_clusters(&c, group).contains(&f.cluster),
                                            "{case}: outside the rules' groups"
                                        );
                                        let group_name =
                                            if group_of(&c, "etl").contains(&f.cluster) { "etl" } else { "adhoc" };
                                        assert!(
                                            says(Says::Affinity(group_name, cluster)),
                                            "{case}: no valid cookie for it"
                                        );
                                        assert_ne!(Some(cluster), down, "{case}: a cluster that cannot take queries");
                                        *seen.entry("affinity").or_default() += 1;
                                    }
                                    Why::UiPin => {
                                        assert!(
                                            under_ui(&stripped(&path, pinned)),
                                            "{case}: a pin routed a path outside /ui/"
                                        );
                                        assert!(says(Says::UiPin(cluster)), "{case}: no valid pin for that cluster");
                                        assert!(f.forwarded_prefix.is_none(), "{case}");
                                        *seen.entry("ui_pin").or_default() += 1;
                                    }
                                    Why::Pinned => {
                                        assert_eq!(pinned, Some(cluster), "{case}");
                                        *seen.entry("pinned").or_default() += 1;
                                    }
                                    Why::QueryId => {
                                        assert!(path.contains(ETL_ID) && cluster == 2, "{case}");
                                        *seen.entry("query_id").or_default() += 1;
                                    }
                                    _ => {
                                        let (group, _) =
                                            choose_group(&c, RuleInput { head: &head, sql: &SqlFacts::not_read() });
                                        let group = if matches!(f.why, Why::ServerInfo { .. }) {
                                            c.default_group
                                        } else {
                                            group
                                        };
                                        assert!(
                                            rule_clusters(&c, group).contains(&f.cluster),
                                            "{case}: the rules did not choose it"
                                        );
                                        *seen.entry("rules").or_default() += 1;
                                    }
                                }
                                if let Some(set_cookie) = &f.answer.set_cookie {
                                    assert_eq!(
                                        named_by(&c, set_cookie),
                                        c.clusters[cluster].name,
                                        "{case}: the cookie names another cluster"
                                    );
                                }
                            }
                            Decision::Reply(r) => {
                                if let Why::UiOpen { cluster } = &r.why {
                                    let index = c.cluster_by_name(cluster).unwrap().0;
                                    let entry = path == format!("/trino-router/ui/{cluster}/")
                                        || path == format!("/trino-router/ui/{cluster}");
                                    assert!(
                                        entry || pinned == Some(index),
                                        "{case}: opened a UI no token or entry named"
                                    );
                                    assert!(matches!(method, "GET" | "HEAD"), "{case}");
                                    let set_cookie = &r.headers.iter().find(|(n, _)| *n == "set-cookie").unwrap().1;
                                    assert_eq!(&named_by(&c, set_cookie), cluster, "{case}");
                                    *seen.entry("ui_open").or_default() += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    for kind in ["affinity", "ui_pin", "pinned", "query_id", "rules", "ui_open"] {
        assert!(seen.get(kind).copied().unwrap_or(0) > 20, "{kind} was barely reached: {seen:?}");
    }
}
