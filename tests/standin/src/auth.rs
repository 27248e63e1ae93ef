//! Who is asking: Trino's insecure authenticator (no authentication configured).
//!
//! Over HTTP without authentication, Trino still requires a user on the
//! authenticated endpoints (/v1/statement POST, /v1/query, /metrics): Basic auth
//! with an empty password, `X-Trino-User` or `X-Trino-Original-User`. Otherwise 401 with
//! `Basic authentication or X-Trino-Original-User or X-Trino-User must be sent`
//! and a Basic challenge (Trino 476's words).

use hyper::header::HeaderMap;

pub const MISSING_USER: &str = "Basic authentication or X-Trino-Original-User or X-Trino-User must be sent";
pub const PASSWORD_NOT_ALLOWED: &str = "Password not allowed for insecure authentication";
/// Basic credentials naming no user: Trino answers this 401 without a challenge.
pub const EMPTY_USER: &str = "Malformed credentials: user is empty";
/// Basic credentials that are not base64: also without a challenge.
pub const BAD_BASE64: &str = "Invalid base64 encoded credentials";

/// The 401s that refuse credentials the client did send, so they carry no challenge.
pub fn is_malformed(message: &str) -> bool {
    message == EMPTY_USER || message == BAD_BASE64
}

/// The user, or the 401 message explaining why there is none.
pub fn user(headers: &HeaderMap) -> Result<String, &'static str> {
    if let Some(auth) = headers.get("authorization") {
        let text = String::from_utf8_lossy(auth.as_bytes());
        if let Some(encoded) = strip_prefix_ignore_case(text.trim(), "basic ") {
            let decoded = base64_decode(encoded.trim()).ok_or(BAD_BASE64)?;
            let decoded = String::from_utf8_lossy(&decoded).into_owned();
            let (user, password) = decoded.split_once(':').unwrap_or((&decoded, ""));
            if !password.is_empty() {
                return Err(PASSWORD_NOT_ALLOWED);
            }
            if !user.is_empty() {
                return Ok(user.to_string());
            }
            return Err(EMPTY_USER);
        }
    }
    // The original user stands in when no user is named (impersonating clients).
    ["x-trino-user", "x-trino-original-user"]
        .iter()
        .find_map(|name| headers.get(*name).filter(|v| !v.is_empty()))
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .ok_or(MISSING_USER)
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        text.get(prefix.len()..)
    } else {
        None
    }
}

/// Standard base64 (padding optional); `None` on any invalid character.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in text.bytes().take_while(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn h(name: &'static str, value: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(name, HeaderValue::from_str(value).unwrap());
        m
    }

    #[test]
    fn user_sources() {
        assert_eq!(user(&h("x-trino-user", "alice")), Ok("alice".into()));
        assert_eq!(user(&h("x-trino-user", "")), Err(MISSING_USER));
        assert_eq!(user(&HeaderMap::new()), Err(MISSING_USER));
        // "bob:" and "bob:pw"
        assert_eq!(user(&h("authorization", "Basic Ym9iOg==")), Ok("bob".into()));
        assert_eq!(user(&h("authorization", "basic Ym9iOnB3")), Err(PASSWORD_NOT_ALLOWED));
        // ":"
        assert_eq!(user(&h("authorization", "Basic Og==")), Err(EMPTY_USER));
        assert_eq!(user(&h("authorization", "Basic !!!")), Err(BAD_BASE64));
        assert_eq!(user(&h("x-trino-original-user", "carol")), Ok("carol".into()));
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
    }
}
