//! Trino's OAuth2 external authentication, pinned to the coordinator that started it: the
//! URIs and the cookie path of its answers get the cluster's pin, so every later step of the
//! flow (the login URL the client opens, its token polls, the identity provider's callback)
//! reaches that coordinator, where the flow's state lives (an in-memory token exchange).
//!
//! What Trino 476 writes, behind a router that sends `X-Forwarded-Prefix` (forwarded-prefix
//! mode): the 401's `WWW-Authenticate: Bearer x_redirect_server="…/oauth2/token/initiate/…",
//! x_token_server="…/oauth2/token/…"` without the prefix (it resolves absolute paths against
//! its base URI); the callback URI it gives the identity provider with the prefix; the nonce
//! cookie with `Path=/oauth2/callback`, without it, so a browser would not send it to the
//! prefixed callback; and a token poll's `{"nextUri": …}` without it (`rewrite.rs` pins that).

use crate::rewrite::{find, insert_pin};

const URI_PARAMETERS: [&[u8]; 2] = [b"x_redirect_server=\"", b"x_token_server=\""];
const CALLBACK_PATH: &[u8] = b"/oauth2/callback";

/// A `WWW-Authenticate` value with the pin in its `x_redirect_server` and `x_token_server`
/// URIs; None when it has neither (another scheme's challenge) or both are pinned already.
pub fn pin_challenge(value: &[u8], insert: &[u8]) -> Option<Vec<u8>> {
    let mut out = value.to_vec();
    let mut changed = false;
    for parameter in URI_PARAMETERS {
        let Some(start) = find(&out, parameter).and_then(|i| i.checked_add(parameter.len())) else { continue };
        let Some(len) = out.get(start..).and_then(|rest| rest.iter().position(|b| *b == b'"')) else { continue };
        let end = start.checked_add(len)?;
        let Some(pinned) = out.get(start..end).and_then(|uri| insert_pin(uri, insert)) else { continue };
        out.splice(start..end, pinned);
        changed = true;
    }
    changed.then_some(out)
}

/// A `Set-Cookie` value whose `Path` is Trino's callback, with the pin before it (the nonce
/// cookie must reach the prefixed callback); None for any other cookie.
pub fn pin_cookie_path(value: &[u8], insert: &[u8]) -> Option<Vec<u8>> {
    let mut offset = 0usize;
    for attribute in value.split(|b| *b == b';') {
        let trimmed = attribute.trim_ascii_start();
        let lead = attribute.len().saturating_sub(trimmed.len());
        let is_path = trimmed.get(..5).is_some_and(|name| name.eq_ignore_ascii_case(b"path="));
        if is_path && trimmed.get(5..).map(<[u8]>::trim_ascii_end) == Some(CALLBACK_PATH) {
            let at = offset.checked_add(lead)?.checked_add(5)?;
            let mut out = value.to_vec();
            out.splice(at..at, insert.iter().copied());
            return Some(out);
        }
        offset = offset.checked_add(attribute.len())?.checked_add(1)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIN: &[u8] = b"/trino-router/TOKEN";

    #[test]
    fn both_uris_of_trinos_challenge_get_the_pin_and_nothing_else_changes() {
        let challenge = br#"Bearer x_redirect_server="https://router:8443/oauth2/token/initiate/b311", x_token_server="https://router:8443/oauth2/token/035e3e96""#;
        let pinned = pin_challenge(challenge, PIN).unwrap();
        assert_eq!(
            String::from_utf8(pinned.clone()).unwrap(),
            r#"Bearer x_redirect_server="https://router:8443/trino-router/TOKEN/oauth2/token/initiate/b311", x_token_server="https://router:8443/trino-router/TOKEN/oauth2/token/035e3e96""#
        );
        assert_eq!(pin_challenge(&pinned, PIN), None, "pinned once");
        // A refreshed token's challenge names only the token server.
        let token_only = br#"Bearer x_token_server="http://r/oauth2/token/1""#;
        assert_eq!(
            pin_challenge(token_only, PIN).unwrap(),
            br#"Bearer x_token_server="http://r/trino-router/TOKEN/oauth2/token/1""#
        );
    }

    #[test]
    fn other_challenges_are_left_alone() {
        for value in [
            &br#"Basic realm="Trino""#[..],
            b"Bearer realm=\"Trino\"",
            b"",
            b"x_token_server=\"",
            b"x_token_server=\"no-uri\"",
        ] {
            assert_eq!(pin_challenge(value, PIN), None, "{}", String::from_utf8_lossy(value));
        }
    }

    #[test]
    fn the_nonce_cookie_follows_the_prefixed_callback() {
        let cookie = b"__Secure-Trino-Nonce=QBwD;Version=1;Path=/oauth2/callback;Secure;HttpOnly";
        assert_eq!(
            pin_cookie_path(cookie, PIN).unwrap(),
            b"__Secure-Trino-Nonce=QBwD;Version=1;Path=/trino-router/TOKEN/oauth2/callback;Secure;HttpOnly"
        );
        let spaced = b"Trino-Nonce=x; path=/oauth2/callback; HttpOnly";
        assert_eq!(
            pin_cookie_path(spaced, PIN).unwrap(),
            b"Trino-Nonce=x; path=/trino-router/TOKEN/oauth2/callback; HttpOnly"
        );
        for other in [&b"Trino-UI-Token=x;Path=/ui"[..], b"a=/oauth2/callback", b"b=1;Path=/oauth2/callback/x", b""] {
            assert_eq!(pin_cookie_path(other, PIN), None, "{}", String::from_utf8_lossy(other));
        }
    }
}
