//! The router's signed cookies: a client session's affinity to one cluster of a group, and a
//! browser's Web UI pin. Like tokens they are signed, never stored, so any replica reads them.
//!
//! Value bytes: `version (1) | name length (1) | cluster name | expiry (8, Unix seconds,
//! big-endian) | HMAC-SHA256 truncated to 16`, base64url without padding. The MAC covers a
//! domain string per kind, version, length, name, expiry and, for affinity, the group's name:
//! a cookie moves to no other cluster, group or kind, its expiry cannot be stretched, and no
//! token or transaction binding verifies as one.

use crate::pin::{PinKeys, SignedName};
use crate::request::Headers;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use thiserror::Error;

const VERSION: u8 = 1;
const AFFINITY_DOMAIN: &[u8] = b"trino-router affinity cookie\0";
const WEB_UI_DOMAIN: &[u8] = b"trino-router web ui pin\0";
const EXPIRY_LEN: usize = 8;
/// Longer than any value this code mints (255-byte name), so decoding work stays bounded.
const MAX_VALUE_CHARS: usize = 400;
/// Cookies of one name the router tries (a browser sends several when paths differ); more
/// are ignored, so a client cannot make the filter verify without bound.
const MAX_CANDIDATES: usize = 4;

/// What a cookie is for; part of what its signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// New queries of a client session to one cluster of this group.
    Affinity { group: &'a str },
    /// A browser's requests under `/ui/` to one cluster.
    WebUi,
}

/// A cookie that verified: the cluster it names and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookiePin {
    pub cluster: String,
    pub expires_at: u64,
}

#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum CookieError {
    #[error("cookie is malformed")]
    Malformed,
    #[error("cookie has an unknown version")]
    UnknownVersion,
    #[error("cookie signature does not verify")]
    BadSignature,
    #[error("cookie has expired")]
    Expired,
}

/// The value that pins `scope` to `cluster` until `expires_at`, signed with the current key.
/// None for a name over 255 bytes (the config allows 100).
pub fn mint(keys: &PinKeys, scope: Scope<'_>, cluster: &str, expires_at: u64) -> Option<String> {
    let len = u8::try_from(cluster.len()).ok()?;
    let mut bytes = Vec::with_capacity(cluster.len().saturating_add(2 + EXPIRY_LEN + 16));
    bytes.push(VERSION);
    bytes.push(len);
    bytes.extend_from_slice(cluster.as_bytes());
    let header_len = bytes.len();
    let expiry = expires_at.to_be_bytes();
    let tag = keys.tag(&signed_data(scope, bytes.get(..header_len)?, &expiry))?;
    bytes.extend_from_slice(&expiry);
    bytes.extend_from_slice(&tag);
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

/// Checks a value with every key (current and previous): it must be of this scope, unexpired
/// at `now`, and expire no later than `now + max_ttl` (so a shorter TTL in a new config
/// applies to cookies already handed out).
pub fn verify(
    keys: &PinKeys,
    scope: Scope<'_>,
    value: &[u8],
    now: u64,
    max_ttl: u64,
) -> Result<CookiePin, CookieError> {
    if value.is_empty() || value.len() > MAX_VALUE_CHARS {
        return Err(CookieError::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD.decode(value).map_err(|_| CookieError::Malformed)?;
    let signed = SignedName::split(&bytes).ok_or(CookieError::Malformed)?;
    if signed.version != VERSION {
        return Err(CookieError::UnknownVersion);
    }
    let (expiry, tag) = signed.tag.split_at_checked(EXPIRY_LEN).ok_or(CookieError::Malformed)?;
    if !keys.tag_verifies(&signed_data(scope, signed.header, expiry), tag) {
        return Err(CookieError::BadSignature);
    }
    let expires_at = u64::from_be_bytes(expiry.try_into().map_err(|_| CookieError::Malformed)?);
    if expires_at <= now || expires_at > now.saturating_add(max_ttl) {
        return Err(CookieError::Expired);
    }
    let cluster = String::from_utf8(signed.name.to_vec()).map_err(|_| CookieError::Malformed)?;
    Ok(CookiePin { cluster, expires_at })
}

/// The first cookie named `name` in the request that verifies; others are ignored: a cookie
/// is a hint, and a forged or expired one is no error.
pub fn find_valid(
    keys: &PinKeys,
    scope: Scope<'_>,
    headers: &Headers,
    name: &str,
    now: u64,
    max_ttl: u64,
) -> Option<CookiePin> {
    values(headers, name).into_iter().find_map(|v| verify(keys, scope, v, now, max_ttl).ok())
}

/// The values of the cookies named `name` in every `Cookie` header (HTTP/2 may send several),
/// at most `MAX_CANDIDATES`. Names match exactly, as browsers send them.
pub fn values<'h>(headers: &'h Headers, name: &str) -> Vec<&'h [u8]> {
    headers
        .get_all("cookie")
        .flat_map(|line| line.split(|b| *b == b';'))
        .filter_map(|pair| {
            let at = pair.iter().position(|b| *b == b'=')?;
            let (n, v) = (pair.get(..at)?, pair.get(at.saturating_add(1)..)?);
            (trim(n) == name.as_bytes()).then(|| unquote(trim(v)))
        })
        .take(MAX_CANDIDATES)
        .collect()
}

/// A `Set-Cookie` value for a router cookie: the whole site (`Path=/`; the UI's API calls use
/// absolute `/ui/...` paths, and the pages of a token-pinned URI live under another prefix),
/// not readable by scripts, sent on top-level navigation from other sites (Lax, so a link to
/// a query page works), and `Secure` when the client came over TLS. Without `max_age` it is a
/// session cookie, dropped when the browser closes.
pub fn set_cookie(name: &str, value: &str, max_age: Option<u64>, secure: bool) -> String {
    let mut out = format!("{name}={value}; Path=/");
    if let Some(age) = max_age {
        out.push_str(&format!("; Max-Age={age}"));
    }
    out.push_str("; HttpOnly; SameSite=Lax");
    if secure {
        out.push_str("; Secure");
    }
    out
}

/// Whether the client reached Envoy over TLS, as Envoy says in `X-Forwarded-Proto` (which
/// it sets from the connection at the edge, `use_remote_address: true`).
pub fn over_tls(headers: &Headers) -> bool {
    headers.get("x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case(b"https"))
}

fn signed_data(scope: Scope<'_>, header: &[u8], expiry: &[u8]) -> Vec<u8> {
    let (domain, extra) = match scope {
        Scope::Affinity { group } => (AFFINITY_DOMAIN, group.as_bytes()),
        Scope::WebUi => (WEB_UI_DOMAIN, &b""[..]),
    };
    let mut data = Vec::with_capacity(
        domain.len().saturating_add(header.len()).saturating_add(extra.len()).saturating_add(EXPIRY_LEN),
    );
    data.extend_from_slice(domain);
    data.extend_from_slice(header);
    data.extend_from_slice(expiry);
    data.extend_from_slice(extra);
    data
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !matches!(b, b' ' | b'\t')).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !matches!(b, b' ' | b'\t')).map_or(start, |e| e.saturating_add(1));
    bytes.get(start..end).unwrap_or_default()
}

/// RFC 6265 allows a value in double quotes.
fn unquote(value: &[u8]) -> &[u8] {
    match value {
        [b'"', inner @ .., b'"'] => inner,
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;
    const ADHOC: Scope<'static> = Scope::Affinity { group: "adhoc" };

    fn keys() -> PinKeys {
        PinKeys::new(b"0123456789abcdef0123456789abcdef", &[]).unwrap()
    }

    fn cookie_headers(lines: &[&str]) -> Headers {
        Headers::from_pairs(lines.iter().map(|l| ("cookie", l.as_bytes().to_vec())))
    }

    #[test]
    fn a_minted_cookie_verifies_to_its_cluster_until_it_expires() {
        let value = mint(&keys(), ADHOC, "adhoc-2", NOW + 60).unwrap();
        assert!(!value.contains("adhoc"), "the name is not in clear: {value}");
        let pin = verify(&keys(), ADHOC, value.as_bytes(), NOW, 3600).unwrap();
        assert_eq!(pin, CookiePin { cluster: "adhoc-2".into(), expires_at: NOW + 60 });
        assert_eq!(verify(&keys(), ADHOC, value.as_bytes(), NOW + 60, 3600), Err(CookieError::Expired));
        // A TTL shortened since it was minted applies to it at once.
        assert_eq!(verify(&keys(), ADHOC, value.as_bytes(), NOW, 30), Err(CookieError::Expired));
    }

    #[test]
    fn a_cookie_moves_to_no_other_group_kind_cluster_or_expiry() {
        let value = mint(&keys(), ADHOC, "adhoc-1", NOW + 60).unwrap();
        let other_group = Scope::Affinity { group: "etl" };
        assert_eq!(verify(&keys(), other_group, value.as_bytes(), NOW, 3600), Err(CookieError::BadSignature));
        assert_eq!(verify(&keys(), Scope::WebUi, value.as_bytes(), NOW, 3600), Err(CookieError::BadSignature));
        let mut bytes = URL_SAFE_NO_PAD.decode(&value).unwrap();
        bytes[8] = b'2'; // adhoc-1 -> adhoc-2, same length
        let moved = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(verify(&keys(), ADHOC, moved.as_bytes(), NOW, 3600), Err(CookieError::BadSignature));
        let mut bytes = URL_SAFE_NO_PAD.decode(&value).unwrap();
        bytes[15] ^= 1; // the last byte of the expiry
        let stretched = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(verify(&keys(), ADHOC, stretched.as_bytes(), NOW, 3600), Err(CookieError::BadSignature));
        // A routing token for the cluster is no cookie.
        let token = keys().sign("adhoc-1").unwrap();
        assert!(verify(&keys(), ADHOC, token.as_str().as_bytes(), NOW, 3600).is_err());
        let foreign = PinKeys::new(b"another key of enough length!!!!", &[]).unwrap();
        assert_eq!(verify(&foreign, ADHOC, value.as_bytes(), NOW, 3600), Err(CookieError::BadSignature));
    }

    #[test]
    fn cookies_of_a_previous_key_still_verify() {
        let value = mint(&keys(), Scope::WebUi, "etl-1", NOW + 60).unwrap();
        let rotated =
            PinKeys::new(b"another key of enough length!!!!", &[b"0123456789abcdef0123456789abcdef"]).unwrap();
        assert_eq!(verify(&rotated, Scope::WebUi, value.as_bytes(), NOW, 60).unwrap().cluster, "etl-1");
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [&b""[..], b"!!", b"AQ", b"AQAAAA", b"AQFh", &[b'A'; 5000]] {
            assert!(verify(&keys(), ADHOC, bad, NOW, 60).is_err(), "{bad:?}");
        }
        let v2 = URL_SAFE_NO_PAD.encode([2u8, 1, b'a']);
        assert_eq!(verify(&keys(), ADHOC, v2.as_bytes(), NOW, 60), Err(CookieError::UnknownVersion));
    }

    #[test]
    fn cookie_headers_are_read_by_exact_name_across_lines_and_bounded() {
        let h = cookie_headers(&["a=1; trino-router-ui=x ;b=2", "trino-router-ui=\"y\"", "Trino-Router-UI=z"]);
        assert_eq!(values(&h, "trino-router-ui"), vec![&b"x"[..], b"y"]);
        assert_eq!(values(&h, "a"), vec![&b"1"[..]]);
        assert!(values(&h, "c").is_empty());
        let many = cookie_headers(&["n=1; n=2; n=3; n=4; n=5; n=6"]);
        assert_eq!(values(&many, "n").len(), MAX_CANDIDATES);
    }

    #[test]
    fn the_first_valid_cookie_of_a_name_wins_and_forged_ones_are_skipped() {
        let good = mint(&keys(), ADHOC, "adhoc-2", NOW + 60).unwrap();
        let line = format!("aff=garbage; aff={good}");
        let pin = find_valid(&keys(), ADHOC, &cookie_headers(&[&line]), "aff", NOW, 60).unwrap();
        assert_eq!(pin.cluster, "adhoc-2");
        assert_eq!(find_valid(&keys(), ADHOC, &cookie_headers(&["aff=garbage"]), "aff", NOW, 60), None);
    }

    #[test]
    fn set_cookie_says_path_lifetime_and_flags() {
        assert_eq!(set_cookie("c", "v", Some(60), false), "c=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax");
        assert_eq!(set_cookie("c", "v", None, true), "c=v; Path=/; HttpOnly; SameSite=Lax; Secure");
        let tls = Headers::from_pairs([("x-forwarded-proto", b"HTTPS".to_vec())]);
        assert!(over_tls(&tls) && !over_tls(&Headers::new()));
    }
}
