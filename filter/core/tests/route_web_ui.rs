//! Scenarios of the Web UI through the router (`web_ui`) in `route::decide`: a token-pinned UI
//! page answers with a 303 to the page at `/ui/...` and pins the browser with a cookie; what
//! the browser asks under `/ui/` then follows the pin; without a pin nothing changes, and a
//! routing token alone still opens no `/ui/api/...`.
// Test code: a panic here fails a test, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::{config_json, decide, forward, reply, request, FakeView, NOW};
use serde_json::{json, Value};
use trino_router_core::config::Config;
use trino_router_core::cookie::{self, Scope};
use trino_router_core::inspect::SqlFacts;
use trino_router_core::route::{Decision, Reply, Why};

const ID: &str = "20261120_101500_00042_dup55";
const TTL: u64 = 3600;

fn config_with(web_ui: Value) -> Config {
    let mut raw = config_json(json!([]), json!({}));
    raw["web_ui"] = web_ui;
    Config::from_json(raw.to_string().as_bytes()).unwrap()
}

fn ui_config() -> Config {
    config_with(json!({"enabled": true, "cluster_entry": true, "ttl_seconds": TTL}))
}

fn view() -> FakeView {
    let mut v = FakeView::default();
    v.owners.insert("dup55".into(), 2); // etl-1 issued ID
    v
}

fn go(c: &Config, method: &str, path: &str, headers: &[(&str, &str)]) -> Decision {
    decide(c, &request(method, path, headers), &SqlFacts::not_read(), &view(), 7)
}

fn header<'r>(r: &'r Reply, name: &str) -> &'r str {
    r.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {name}: {r:?}"))
}

fn token_path(c: &Config, cluster: &str, rest: &str) -> String {
    format!("/trino-router/{}{rest}", c.pin_keys.sign(cluster).unwrap().as_str())
}

fn pin(c: &Config, cluster: &str, expires_at: u64) -> String {
    format!("trino-router-ui={}", cookie::mint(&c.pin_keys, Scope::WebUi, cluster, expires_at).unwrap())
}

/// The pin a `Set-Cookie` names.
fn pinned_cluster(c: &Config, set_cookie: &str) -> String {
    let value = set_cookie.split(';').next().unwrap().strip_prefix("trino-router-ui=").unwrap();
    cookie::verify(&c.pin_keys, Scope::WebUi, value.as_bytes(), NOW, TTL).unwrap().cluster
}

#[test]
fn the_info_uri_under_a_token_pins_the_browser_and_redirects_to_the_page_at_ui() {
    let c = ui_config();
    for (cluster, page) in [("adhoc-2", format!("/ui/query.html?{ID}")), ("etl-1", "/ui/".to_string())] {
        for method in ["GET", "HEAD"] {
            let r = reply(go(&c, method, &token_path(&c, cluster, &page), &[]));
            assert_eq!(r.status, 303);
            assert_eq!(header(&r, "location"), page);
            let set_cookie = header(&r, "set-cookie");
            assert!(
                set_cookie.ends_with("; Path=/; HttpOnly; SameSite=Lax"),
                "a session cookie for the site: {set_cookie}"
            );
            assert_eq!(pinned_cluster(&c, set_cookie), cluster);
            assert_eq!(r.why, Why::UiOpen { cluster: cluster.into() });
        }
    }
    // A forged token is refused as on any follow-up.
    let r = reply(go(&c, "GET", &format!("/trino-router/AQdhZGhvYy0xAAAAAAAAAAAAAAAAAAAAAA/ui/query.html?{ID}"), &[]));
    assert_eq!(r.status, 400);
}

#[test]
fn everything_under_ui_follows_a_valid_pin_to_its_cluster_without_a_forwarded_prefix() {
    let c = ui_config();
    let cookies = format!("other=1; {}", pin(&c, "adhoc-2", NOW + TTL));
    for (method, path) in [
        ("GET", "/ui/api/query/20261120_101500_00001_aaaaa"),
        ("GET", "/ui/api/stats"),
        ("PUT", "/ui/api/query/20261120_101500_00001_aaaaa/killed"),
        ("GET", "/ui/dist/query.js"),
        ("GET", "/ui/login.html"),
        ("POST", "/ui/login"),
        ("GET", "/ui/logout"),
        ("GET", "/ui/"),
        ("GET", "/ui"),
    ] {
        let f = forward(go(&c, method, path, &[("cookie", &cookies)]));
        assert_eq!((f.envoy_cluster.as_str(), &f.why), ("trino_adhoc_2", &Why::UiPin), "{method} {path}");
        assert_eq!(f.forwarded_prefix, None, "{path}: Trino must write links under /ui/");
        assert_eq!(f.path, None, "{path} goes up as it is");
        assert!(!f.new_query && f.answer.set_cookie.is_none(), "{path}: a fresh pin is not renewed");
    }
    // Under a token prefix (a relative link of a page opened there), the prefix is dropped.
    let f = forward(go(&c, "GET", &token_path(&c, "etl-1", "/ui/api/stats"), &[("cookie", &cookies)]));
    assert_eq!((f.envoy_cluster.as_str(), f.path.as_deref()), ("trino_adhoc_2", Some("/ui/api/stats")));
}

#[test]
fn without_a_valid_pin_ui_api_stays_refused_even_with_a_token() {
    let c = ui_config();
    let other_key = trino_router_core::pin::PinKeys::new(b"some-other-key-nobody-configured-0123", &[]).unwrap();
    let foreign = format!("trino-router-ui={}", cookie::mint(&other_key, Scope::WebUi, "adhoc-1", NOW + 60).unwrap());
    let affinity = format!(
        "trino-router-ui={}",
        cookie::mint(&c.pin_keys, Scope::Affinity { group: "adhoc" }, "adhoc-1", NOW + 60).unwrap()
    );
    let cookie_cases = [
        "".to_string(),
        pin(&c, "adhoc-1", NOW),
        pin(&c, "adhoc-1", NOW + TTL + 60),
        foreign,
        affinity,
        "trino-router-ui=x".into(),
    ];
    for cookies in &cookie_cases {
        for path in ["/ui/api/stats".to_string(), token_path(&c, "adhoc-1", "/ui/api/stats"), "/ui/login".into()] {
            let headers: Vec<(&str, &str)> =
                if cookies.is_empty() { vec![] } else { vec![("cookie", cookies.as_str())] };
            let r = reply(go(&c, "GET", &path, &headers));
            assert_eq!((r.status, &r.why), (404, &Why::UnknownPath), "{path} with {cookies:?}");
        }
    }
    // Outside /ui/ a pin routes nothing.
    let cookies = pin(&c, "adhoc-1", NOW + TTL);
    assert_eq!(reply(go(&c, "GET", "/metrics", &[("cookie", &cookies)])).status, 404);
    assert_eq!(reply(go(&c, "GET", "/v1/node", &[("cookie", &cookies)])).status, 404);
    assert_eq!(reply(go(&c, "GET", "/uix/api", &[("cookie", &cookies)])).status, 404);
    assert_eq!(reply(go(&c, "GET", "/ui/../metrics", &[("cookie", &cookies)])).status, 400);
    let f = forward(go(&c, "POST", "/v1/statement", &[("cookie", &cookies), ("x-trino-user", "etl")]));
    assert!(f.new_query && !matches!(f.why, Why::UiPin));
}

#[test]
fn a_query_page_by_id_opens_on_the_owner_and_repins_the_browser_there() {
    let c = ui_config();
    let path = format!("/ui/query.html?{ID}");
    for cookies in ["".to_string(), pin(&c, "adhoc-1", NOW + TTL)] {
        let headers: Vec<(&str, &str)> = if cookies.is_empty() { vec![] } else { vec![("cookie", cookies.as_str())] };
        let f = forward(go(&c, "GET", &path, &headers));
        assert_eq!((f.envoy_cluster.as_str(), &f.why), ("trino_etl_1", &Why::QueryId));
        assert_eq!(f.forwarded_prefix, None);
        assert_eq!(pinned_cluster(&c, f.answer.set_cookie.as_deref().unwrap()), "etl-1");
    }
    // An owner nobody knows: the pin decides.
    let unknown = "/ui/query.html?20261120_101500_00001_zzzzz";
    let f = forward(go(&c, "GET", unknown, &[("cookie", &pin(&c, "adhoc-1", NOW + TTL))]));
    assert_eq!((f.envoy_cluster.as_str(), &f.why), ("trino_adhoc_1", &Why::UiPin));
}

#[test]
fn a_pin_past_half_its_life_is_renewed_and_a_disabled_clusters_ui_is_gone() {
    let c = ui_config();
    let f = forward(go(&c, "GET", "/ui/api/stats", &[("cookie", &pin(&c, "adhoc-1", NOW + TTL / 2 - 1))]));
    let renewed = f.answer.set_cookie.unwrap();
    assert_eq!(pinned_cluster(&c, &renewed), "adhoc-1");
    let mut raw = config_json(json!([]), json!({}));
    raw["web_ui"] = json!({"enabled": true, "cluster_entry": true});
    raw["clusters"][0]["state"] = json!("disabled");
    let c = Config::from_json(raw.to_string().as_bytes()).unwrap();
    let r = reply(go(&c, "GET", "/ui/api/stats", &[("cookie", &pin(&c, "adhoc-1", NOW + 60))]));
    assert_eq!((r.status, r.why.via()), (410, "cluster_disabled"));
    assert_eq!(reply(go(&c, "GET", "/trino-router/ui/adhoc-1/", &[])).status, 410);
}

#[test]
fn the_operator_entry_opens_a_chosen_clusters_ui_only_when_configured() {
    let c = ui_config();
    for path in ["/trino-router/ui/adhoc-2/", "/trino-router/ui/adhoc-2", "/trino-router/ui/adhoc-2/?x=1"] {
        let r = reply(go(&c, "GET", path, &[("cookie", &pin(&c, "adhoc-1", NOW + TTL))]));
        assert_eq!((r.status, header(&r, "location")), (303, "/ui/"), "{path}");
        assert_eq!(pinned_cluster(&c, header(&r, "set-cookie")), "adhoc-2");
    }
    let r = reply(go(&c, "GET", "/trino-router/ui/nope/", &[]));
    assert_eq!(r.status, 404);
    assert!(r.body.contains("no cluster named nope"), "{}", r.body);
    for (method, path) in
        [("POST", "/trino-router/ui/adhoc-2/"), ("GET", "/trino-router/ui/adhoc-2/x"), ("GET", "/trino-router/ui/")]
    {
        assert_eq!(reply(go(&c, method, path, &[])).status, 404, "{method} {path}");
    }
    let no_entry = config_with(json!({"enabled": true}));
    assert_eq!(reply(go(&no_entry, "GET", "/trino-router/ui/adhoc-2/", &[])).status, 404);
    let tls = reply(go(&c, "GET", "/trino-router/ui/adhoc-2/", &[("x-forwarded-proto", "https")]));
    assert!(header(&tls, "set-cookie").ends_with("; Secure"));
}

#[test]
fn without_web_ui_a_token_pinned_page_goes_to_its_cluster_as_before_and_cookies_mean_nothing() {
    let c = common::config(json!([]));
    let f = forward(go(&c, "GET", &token_path(&c, "adhoc-2", &format!("/ui/query.html?{ID}")), &[]));
    assert_eq!((f.envoy_cluster.as_str(), &f.why), ("trino_adhoc_2", &Why::Pinned));
    assert!(f.forwarded_prefix.is_some() && f.answer.set_cookie.is_none());
    let cookies = pin(&c, "adhoc-1", NOW + 60);
    assert_eq!(reply(go(&c, "GET", "/ui/api/stats", &[("cookie", &cookies)])).status, 404);
    assert_eq!(reply(go(&c, "GET", "/trino-router/ui/adhoc-1/", &[])).status, 404);
}
