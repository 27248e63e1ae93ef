//! Scenarios of Trino's OAuth2 external authentication through the router: a client without a
//! token gets a 401 from whichever coordinator the rules chose, and every later step of the
//! flow (the login URL it opens, the identity provider's callback in the browser, its token
//! polls) reaches that coordinator, where the flow's state lives. The steps alternate between
//! two workers: the pin travels in the URIs, so nothing a worker or replica stores is used.
// Test code: a panic here fails a test, not an Envoy worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::fake_envoy::{Answer, FakeEnvoy, Request, AUTHORITY};
use serde_json::json;

fn oauth2_envoy() -> FakeEnvoy {
    let envoy = FakeEnvoy::new(&common::config_json(json!([]), json!({})));
    for c in ["trino_adhoc_1", "trino_adhoc_2", "trino_etl_1"] {
        envoy.coordinator(c).oauth2 = true;
    }
    envoy
}

/// The path of an absolute URI the router handed out, to send back through it.
fn path_of(uri: &str) -> String {
    uri.strip_prefix(&format!("http://{AUTHORITY}")).unwrap_or_else(|| panic!("not the router's URI: {uri}")).into()
}

fn challenge_uris(answer: &Answer) -> (String, String) {
    let value = answer.headers.iter().find(|(n, v)| n == "www-authenticate" && v.starts_with(b"Bearer x_")).unwrap();
    let value = String::from_utf8(value.1.clone()).unwrap();
    let uri = |name: &str| value.split(&format!("{name}=\"")).nth(1).unwrap().split('"').next().unwrap().to_string();
    (uri("x_redirect_server"), uri("x_token_server"))
}

#[test]
fn every_step_of_an_oauth2_login_reaches_the_coordinator_that_started_it_on_any_worker() {
    let envoy = oauth2_envoy();
    let (replica_a, replica_b) = (&envoy, &envoy);
    let (a, b) = (envoy.worker(), envoy.worker());
    let denied = replica_a.send(&a, Request::query("SELECT 1"));
    assert_eq!(denied.status, 401);
    let owner = denied.cluster().unwrap().to_string();
    // Both challenge URIs carry the pin; the other scheme's challenge is left as it was.
    let (login, token_server) = challenge_uris(&denied);
    assert!(login.contains("/trino-router/") && token_server.contains("/trino-router/"), "{login} {token_server}");
    assert!(denied.headers.iter().any(|(n, v)| n == "www-authenticate" && v == br#"Basic realm="Trino""#));

    // A token poll before the login: the next poll is pinned too (the coordinator wrote none).
    let poll = replica_b.send(&b, Request::get(&path_of(&token_server)));
    assert_eq!(poll.cluster(), Some(owner.as_str()));
    let next_poll = poll.json()["nextUri"].as_str().unwrap().to_string();
    assert_eq!(path_of(&next_poll), path_of(&token_server));

    // The browser opens the login URL through the other replica, and the coordinator sends it
    // to the identity provider with a nonce cookie for the callback path it will come back to.
    let redirect = replica_b.send(&b, Request::get(&path_of(&login)));
    assert_eq!((redirect.status, redirect.cluster()), (303, Some(owner.as_str())));
    let location = redirect.header("location").unwrap();
    let callback = location.split("redirect_uri=").nth(1).unwrap().split('&').next().unwrap();
    let callback_path = path_of(callback);
    assert!(callback_path.starts_with("/trino-router/"), "Trino wrote the prefix into the callback: {callback}");
    let cookies: Vec<String> = redirect
        .headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .map(|(_, v)| String::from_utf8(v.clone()).unwrap())
        .collect();
    assert_eq!(cookies[0], "other=1;Path=/ui", "other cookies untouched, in order");
    let nonce = &cookies[1];
    let cookie_path = nonce.split(";Path=").nth(1).unwrap().split(';').next().unwrap();
    assert_eq!(cookie_path, callback_path, "a browser sends the nonce cookie to the callback: {nonce}");

    // The identity provider sends the browser back (state and code), with the nonce cookie.
    let state = location.split("state=").nth(1).unwrap();
    let back = Request::get(&format!("{callback_path}?code=c&state={state}"))
        .header("cookie", nonce.split(';').next().unwrap());
    let finished = replica_a.send(&a, back);
    assert_eq!((finished.status, finished.cluster()), (200, Some(owner.as_str())), "{}", finished.body);

    let token = replica_a.send(&a, Request::get(&path_of(&next_poll)));
    assert_eq!(token.json()["token"], format!("token-{}", replica_a.coordinator(&owner).id));
    let query = replica_b.send(
        &b,
        Request::query("SELECT 1")
            .header("authorization", &format!("Bearer token-{}", replica_b.coordinator(&owner).id)),
    );
    assert_eq!(query.status, 200, "a token from the identity provider is good on every cluster");
}

#[test]
fn oauth2_uris_without_a_token_are_refused_with_a_hint() {
    let envoy = oauth2_envoy();
    let worker = envoy.worker();
    for path in ["/oauth2/callback?code=c&state=s", "/oauth2/token/abc", "/oauth2/token/initiate/abc"] {
        let answer = envoy.send(&worker, Request::get(path));
        assert_eq!(answer.status, 404, "{path}");
        assert!(answer.body.contains("OAuth2 URI carries no routing token"), "{}", answer.body);
    }
}

#[test]
fn rewrite_mode_clusters_are_not_pinned_by_the_challenge_but_their_token_polls_are() {
    let mut config = common::config_json(json!([]), json!({}));
    for c in config["clusters"].as_array_mut().unwrap() {
        c["stickiness"] = json!("rewrite");
    }
    let envoy = FakeEnvoy::new(&config);
    for c in ["trino_adhoc_1", "trino_adhoc_2"] {
        envoy.coordinator(c).oauth2 = true;
    }
    let worker = envoy.worker();
    let denied = envoy.send(&worker, Request::query("SELECT 1"));
    let (login, _) = challenge_uris(&denied);
    assert!(!login.contains("/trino-router/"), "stock Trino's callback cannot carry a pin: {login}");
}
