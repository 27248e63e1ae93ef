//! Scenarios of the router's session cookies through the glue, against an in-memory Envoy: a
//! group with affinity hands its cookie out with the coordinator's answer (never with Envoy's
//! own error), a client that sends it back stays on its cluster across workers and time until
//! the cookie expires; a browser that opens a token-pinned query page is redirected and pinned,
//! and its UI requests follow the pin.
// Test code: a panic here fails a test, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::fake_envoy::{Answer, FakeEnvoy, Health, Request};
use serde_json::json;

fn envoy(web_ui: bool) -> FakeEnvoy {
    let mut config = common::config_json(json!([]), json!({}));
    config["groups"][0]["affinity"] = json!({"ttl_seconds": 60});
    if web_ui {
        config["web_ui"] = json!({"enabled": true, "cluster_entry": true});
    }
    FakeEnvoy::new(&config)
}

/// What a cookie jar sends back for a `Set-Cookie`: the name=value pair.
fn jar(answer: &Answer) -> String {
    answer.header("set-cookie").unwrap_or_else(|| panic!("no Set-Cookie: {answer:?}")).split(';').next().unwrap().into()
}

#[test]
fn a_session_keeps_its_cluster_across_workers_until_its_cookie_expires() {
    let envoy = envoy(false);
    let (one, two) = (envoy.worker(), envoy.worker());
    let first = envoy.send(&one, Request::query("SELECT 1"));
    assert_eq!(first.status, 200);
    let cookie = jar(&first);
    assert!(cookie.starts_with("trino-router-affinity-adhoc="), "{cookie}");
    for i in 0..20 {
        let worker = if i % 2 == 0 { &one } else { &two };
        let next = envoy.send(worker, Request::query("SELECT 1").header("cookie", &cookie));
        assert_eq!(next.cluster(), first.cluster(), "query {i}");
        assert!(next.header("set-cookie").is_some(), "renewed with every query");
    }
    assert!(envoy.decision_logged().unwrap().contains("group=adhoc via=affinity"), "{:?}", envoy.decision_logged());
    assert_eq!(envoy.counter("trino_router.queries.via.affinity"), 20);
    // Follow-ups are pinned by their token; they hand out no cookie.
    let page = envoy.send(&one, Request::get(&first.next_path().unwrap()));
    assert!(page.header("set-cookie").is_none());
    // Past its TTL the old cookie is no hint: queries spread again.
    envoy.advance(61);
    let spread: std::collections::HashSet<_> = (0..30)
        .map(|_| envoy.send(&one, Request::query("SELECT 1").header("cookie", &cookie)).cluster().unwrap().to_string())
        .collect();
    assert_eq!(spread.len(), 2, "{spread:?}");
}

#[test]
fn no_cookie_comes_with_envoys_own_error_or_a_coordinators_refusal() {
    for health in [Health::Gone, Health::Status(401)] {
        let envoy = envoy(false);
        let worker = envoy.worker();
        envoy.coordinator("trino_adhoc_1").health = health;
        let failed = (0..50)
            .map(|_| envoy.send(&worker, Request::query("SELECT 1")))
            .find(|a| a.cluster() == Some("trino_adhoc_1"))
            .unwrap();
        assert!(failed.status >= 400 && failed.header("set-cookie").is_none(), "{health:?}: {failed:?}");
    }
}

#[test]
fn a_browser_opening_a_token_pinned_query_page_is_pinned_and_its_ui_requests_follow() {
    let envoy = envoy(true);
    let worker = envoy.worker();
    let query = (0..50)
        .map(|_| envoy.send(&worker, Request::query("SELECT 1")))
        .find(|a| a.cluster() == Some("trino_adhoc_2"))
        .unwrap();
    let info_uri = query.json()["infoUri"].as_str().unwrap().to_string();
    let info_path = info_uri.strip_prefix(&format!("http://{}", common::fake_envoy::AUTHORITY)).unwrap();
    assert!(info_path.starts_with("/trino-router/"), "{info_path}");
    let opened = envoy.send(&worker, Request::get(info_path));
    assert_eq!(opened.status, 303);
    assert!(opened.upstream.is_none(), "the filter answers the redirect itself");
    let page = opened.header("location").unwrap();
    assert!(page.starts_with("/ui/query.html?"), "{page}");
    let pin = jar(&opened);
    assert!(envoy.decision_logged().unwrap().starts_with("cluster=adhoc-2 reply=303 via=ui_open"));
    for path in [page.as_str(), "/ui/api/query/x", "/ui/login.html", "/ui/assets/trino.css"] {
        for _ in 0..5 {
            let answer = envoy.send(&worker, Request::get(path).header("cookie", &format!("a=b; {pin}")));
            assert_eq!((answer.status, answer.cluster()), (200, Some("trino_adhoc_2")), "{path}");
            let up = answer.upstream.unwrap();
            assert_eq!(up.path, path);
            assert!(up.headers.get("x-forwarded-prefix").is_none(), "{path}");
        }
    }
    assert_eq!(envoy.counter("trino_router.ui.opened"), 1);
    // The query page itself goes to its owner by query id; the rest by the pin.
    assert_eq!(envoy.counter("trino_router.ui.pinned"), 15);
    assert_eq!(envoy.counter("trino_router.followups.query_id"), 5);
    // Without the pin, the UI's API stays closed.
    assert_eq!(envoy.send(&worker, Request::get("/ui/api/query/x")).status, 404);
    // The operator entry moves the browser to another cluster.
    let entry = envoy.send(&worker, Request::get("/trino-router/ui/adhoc-1/"));
    assert_eq!((entry.status, entry.header("location").as_deref()), (303, Some("/ui/")));
    let stats = envoy.send(&worker, Request::get("/ui/api/stats").header("cookie", &jar(&entry)));
    assert_eq!(stats.cluster(), Some("trino_adhoc_1"));
}
