//! Self URIs and `X-Forwarded-*` handling, like Trino's `http-server.process-forwarded`.
//!
//! Trino builds every URI it hands out (nextUri, infoUri, partialCancelUri)
//! from the request: the `Host` header, or, when forwarded processing is on, from
//! `X-Forwarded-Proto/Host/Port/Prefix`. Since 451 the default rejects any
//! request carrying an `X-Forwarded-*` header with 406 (rejection.rs). A router in front of
//! Trino depends on exactly these rules, so they are reproduced here.

use hyper::header::HeaderMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardedMode {
    /// Trino's default: any `X-Forwarded-*` header gets a 406.
    Reject,
    /// `http-server.process-forwarded=true`: URIs follow the forwarded headers.
    Accept,
    /// Forwarded headers are neither rejected nor used.
    Ignore,
}

/// Where the client reached us: the base every self URI starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    pub scheme: String,
    pub authority: String,
    /// Empty, or a path starting with `/` and not ending with `/`.
    pub prefix: String,
}

impl Base {
    /// `path` must start with `/`.
    pub fn uri(&self, path: &str) -> String {
        let mut s =
            String::with_capacity(self.scheme.len() + 3 + self.authority.len() + self.prefix.len() + path.len());
        s.push_str(&self.scheme);
        s.push_str("://");
        s.push_str(&self.authority);
        s.push_str(&self.prefix);
        s.push_str(path);
        s
    }
}

/// In reject mode, the canonical name of the first `X-Forwarded-*` header, if any.
pub fn rejected_header(mode: ForwardedMode, headers: &HeaderMap) -> Option<String> {
    if mode != ForwardedMode::Reject {
        return None;
    }
    headers
        .keys()
        .map(|name| name.as_str())
        .find(|name| name.starts_with("x-forwarded-")) // hyper lowercases names
        .map(canonical_header_name)
}

/// `x-forwarded-for` -> `X-Forwarded-For`.
pub fn canonical_header_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The base URI for this request; `fallback` (our bound address) is used only
/// when the request has no `Host` header (HTTP/1.0).
pub fn base(mode: ForwardedMode, headers: &HeaderMap, fallback: &str) -> Base {
    let host = first_value(headers, "host").unwrap_or_else(|| fallback.to_string());
    if mode != ForwardedMode::Accept {
        return Base { scheme: "http".to_string(), authority: host, prefix: String::new() };
    }
    let scheme =
        first_value(headers, "x-forwarded-proto").map(|p| p.to_ascii_lowercase()).unwrap_or_else(|| "http".to_string());
    // Jetty's order: X-Forwarded-Host, else X-Forwarded-Server, else Host; a port
    // written in X-Forwarded-Host beats X-Forwarded-Port (measured on 476).
    let forwarded_host = first_value(headers, "x-forwarded-host");
    let host_has_port = forwarded_host.as_deref().is_some_and(|h| strip_port(h) != h);
    let mut authority = forwarded_host.or_else(|| first_value(headers, "x-forwarded-server")).unwrap_or(host);
    let port = first_value(headers, "x-forwarded-port").and_then(|p| p.parse::<u16>().ok());
    if let Some(port) = port.filter(|_| !host_has_port) {
        let host_only = strip_port(&authority).to_string();
        let default_port = matches!((scheme.as_str(), port), ("http", 80) | ("https", 443));
        authority = if default_port { host_only } else { format!("{host_only}:{port}") };
    }
    let prefix = first_value(headers, "x-forwarded-prefix").map(|p| normalize_prefix(&p)).unwrap_or_default();
    Base { scheme, authority, prefix }
}

/// First element of a possibly comma-separated header (proxies append to lists).
fn first_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let raw = headers.get(name)?;
    let text = String::from_utf8_lossy(raw.as_bytes());
    let first = text.split(',').next().unwrap_or("").trim();
    if first.is_empty() {
        None
    } else {
        Some(first.to_string())
    }
}

/// `host:port` -> `host`, `[::1]:80` -> `[::1]`, `host` -> `host`.
fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

fn normalize_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderName, HeaderValue};

    fn headers(list: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in list {
            map.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        map
    }

    const FORWARDED: &[(&str, &str)] =
        &[("Host", "127.0.0.1:9001"), ("X-Forwarded-Host", "gw:8080"), ("X-Forwarded-Prefix", "/trino-router/abc")];

    #[test]
    fn accept_builds_from_forwarded_headers() {
        let b = base(ForwardedMode::Accept, &headers(FORWARDED), "fallback:1");
        assert_eq!(b.uri("/v1/statement/queued/q/y1/1"), "http://gw:8080/trino-router/abc/v1/statement/queued/q/y1/1");
        let h = headers(&[
            ("Host", "10.0.0.1:8080"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "trino.example.com, inner"),
            ("X-Forwarded-Port", "443"),
            ("X-Forwarded-Prefix", "p/"),
        ]);
        let b = base(ForwardedMode::Accept, &h, "x");
        assert_eq!(b.uri("/v1/info"), "https://trino.example.com/p/v1/info");
        let h = headers(&[("Host", "h:1"), ("X-Forwarded-Port", "9443")]);
        assert_eq!(base(ForwardedMode::Accept, &h, "x").uri("/a"), "http://h:9443/a");
        let h = headers(&[("Host", "[::1]:8080"), ("X-Forwarded-Port", "81")]);
        assert_eq!(base(ForwardedMode::Accept, &h, "x").uri("/a"), "http://[::1]:81/a");
    }

    #[test]
    fn a_port_in_x_forwarded_host_wins_and_x_forwarded_server_names_a_host() {
        let h = headers(&[("Host", "h:1"), ("X-Forwarded-Host", "gw:81"), ("X-Forwarded-Port", "82")]);
        assert_eq!(base(ForwardedMode::Accept, &h, "x").uri("/a"), "http://gw:81/a");
        let h = headers(&[("Host", "h:1"), ("X-Forwarded-Host", "gw"), ("X-Forwarded-Port", "82")]);
        assert_eq!(base(ForwardedMode::Accept, &h, "x").uri("/a"), "http://gw:82/a");
        let h = headers(&[("Host", "h:1"), ("X-Forwarded-Server", "zz")]);
        assert_eq!(base(ForwardedMode::Accept, &h, "x").uri("/a"), "http://zz/a");
        let h = headers(&[("Host", "h:1"), ("X-Forwarded-Server", "zz"), ("X-Forwarded-Host", "gw")]);
        assert_eq!(base(ForwardedMode::Accept, &h, "x").uri("/a"), "http://gw/a");
    }

    #[test]
    fn ignore_and_reject_use_host() {
        for mode in [ForwardedMode::Ignore, ForwardedMode::Reject] {
            let b = base(mode, &headers(FORWARDED), "fallback:1");
            assert_eq!(b.uri("/v1/info"), "http://127.0.0.1:9001/v1/info");
        }
        let b = base(ForwardedMode::Accept, &headers(&[]), "127.0.0.1:5");
        assert_eq!(b.uri("/x"), "http://127.0.0.1:5/x");
    }

    #[test]
    fn reject_names_the_first_forwarded_header() {
        let h = headers(&[("Host", "h"), ("x-forwarded-for", "1.2.3.4")]);
        let name = rejected_header(ForwardedMode::Reject, &h).unwrap();
        assert_eq!(name, "X-Forwarded-For");
        assert_eq!(rejected_header(ForwardedMode::Accept, &h), None);
        assert_eq!(rejected_header(ForwardedMode::Ignore, &h), None);
        assert_eq!(rejected_header(ForwardedMode::Reject, &headers(&[("Host", "h")])), None);
        assert_eq!(canonical_header_name("X-FORWARDED-PREFIX"), "X-Forwarded-Prefix");
    }
}
