//! What the router knows about one request: method, path and headers as raw bytes
//! (Envoy hands over bytes; a header need not be UTF-8), plus the Trino facts rules look at.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;

/// Request headers with lowercased names, in arrival order. Values stay bytes.
#[derive(Debug, Clone, Default)]
pub struct Headers(Vec<(String, Vec<u8>)>);

impl Headers {
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    /// Takes headers as Envoy gives them; names are lowercased here once.
    pub fn from_pairs<N: AsRef<[u8]>, V: Into<Vec<u8>>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        Headers(
            pairs
                .into_iter()
                .map(|(n, v)| (String::from_utf8_lossy(n.as_ref()).to_ascii_lowercase(), v.into()))
                .collect(),
        )
    }

    /// Takes Envoy's own list without copying: names are lowercased in place (Envoy already
    /// sends them lowercase, so this is a scan).
    pub fn from_owned(mut pairs: Vec<(String, Vec<u8>)>) -> Self {
        for (name, _) in &mut pairs {
            name.make_ascii_lowercase();
        }
        Headers(pairs)
    }

    pub fn push(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        self.0.push((name.to_ascii_lowercase(), value.into()));
    }

    /// The first value of a header; `name` must be lowercase.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    /// The first value as text; a value that is not UTF-8 counts as absent, so no rule
    /// matches on a mangled string.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every header, in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// Every value of a header, for list headers a client may split over several lines.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_slice())
    }
}

/// The parts of a request the router decides on.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: String,
    /// The `:path` as sent: path and query string.
    pub path: String,
    pub headers: Headers,
}

impl RequestHead {
    /// Builds a head from Envoy's header list, where `:method` and `:path` are pseudo headers.
    /// A non-UTF-8 path is kept lossily: such a path matches no Trino endpoint anyway.
    pub fn from_headers(headers: Headers) -> Self {
        let method = headers.get_str(":method").unwrap_or_default().to_string();
        let path = String::from_utf8_lossy(headers.get(":path").unwrap_or_default()).into_owned();
        RequestHead { method, path, headers }
    }
}

/// The Trino session facts of a request, read from its X-Trino-* headers on demand.
pub struct TrinoFacts<'a> {
    headers: &'a Headers,
}

impl<'a> TrinoFacts<'a> {
    pub fn new(headers: &'a Headers) -> Self {
        TrinoFacts { headers }
    }

    /// The user Trino runs the query as, by Trino's own rules: X-Trino-User (its first value,
    /// trimmed) unless empty, else the user of Basic authentication (which Trino's insecure
    /// and password authenticators take as the authenticated user). X-Trino-Original-User
    /// names the user before `SET SESSION AUTHORIZATION` and only feeds Trino's
    /// impersonation checks, so it does not change who runs the query. Bearer, Kerberos and
    /// certificate identities are opaque here: without X-Trino-User there is then no user.
    pub fn user(&self) -> Option<String> {
        let named = self.headers.get("x-trino-user").map(trim_java);
        if let Some(user) = named.filter(|u| !u.is_empty()) {
            return std::str::from_utf8(user).ok().map(str::to_string);
        }
        basic_auth_user(self.headers.get("authorization")?)
    }

    /// The first identity header sent more than once. Trino reads the first value of each;
    /// a proxy between Envoy and Trino may not, so such a request is refused rather than
    /// routed as one user and run as another.
    /// Envoy joins repeated `Authorization` lines into one value with commas, which no
    /// credential contains (base64 and JWTs have none), so a comma counts as a repeat.
    pub fn repeated_identity_header(&self) -> Option<&'static str> {
        let joined = self.headers.get("authorization").is_some_and(|v| v.contains(&b','));
        if joined {
            return Some("authorization");
        }
        ["x-trino-user", "x-trino-original-user", "authorization"]
            .into_iter()
            .find(|name| self.headers.get_all(name).nth(1).is_some())
    }

    pub fn source(&self) -> Option<&'a str> {
        self.headers.get_str("x-trino-source")
    }

    pub fn client_info(&self) -> Option<&'a str> {
        self.headers.get_str("x-trino-client-info")
    }

    pub fn catalog(&self) -> Option<&'a str> {
        self.headers.get_str("x-trino-catalog")
    }

    pub fn schema(&self) -> Option<&'a str> {
        self.headers.get_str("x-trino-schema")
    }

    pub fn sql_path(&self) -> Option<&'a str> {
        self.headers.get_str("x-trino-path")
    }

    pub fn routing_group(&self) -> Option<&'a str> {
        self.headers.get_str("x-trino-routing-group").map(str::trim)
    }

    /// X-Trino-Client-Tags: a comma list, possibly over several header lines.
    pub fn client_tags(&self) -> Vec<&'a str> {
        self.headers
            .get_all("x-trino-client-tags")
            .filter_map(|v| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// The value of one session property from X-Trino-Session (`name=value`, url-encoded,
    /// comma list). Catalog properties are named `catalog.property`.
    pub fn session_property(&self, name: &str) -> Option<String> {
        self.headers.get_all("x-trino-session").flat_map(|v| v.split(|b| *b == b',')).find_map(|pair| {
            let eq = pair.iter().position(|b| *b == b'=')?;
            let (k, v) = (pair.get(..eq)?, pair.get(eq.checked_add(1)?..)?);
            (percent_decode(k.trim_ascii())? == name).then(|| percent_decode(v.trim_ascii()))?
        })
    }
}

/// The user of `Authorization: Basic`, decoded as Trino does: the scheme is the text before
/// the first space (any case), the rest is trimmed, base64 with or without padding, read as
/// ISO-8859-1, and the user ends at the first colon. An empty user is no user (Trino
/// answers 401).
fn basic_auth_user(authorization: &[u8]) -> Option<String> {
    let rest = strip_prefix_ignore_case(authorization, b"basic ")?;
    let encoded = trim_java(rest);
    // Java's basic decoder takes base64 with all its padding or with none, not with some.
    let decoded =
        if encoded.ends_with(b"=") { STANDARD.decode(encoded) } else { STANDARD_NO_PAD.decode(encoded) }.ok()?;
    let user = decoded.split(|b| *b == b':').next()?;
    // ISO-8859-1: every byte is the code point of the same value.
    (!user.is_empty()).then(|| user.iter().map(|&b| char::from(b)).collect())
}

/// Java's `String.trim()`: removes every leading and trailing byte up to and including space.
fn trim_java(value: &[u8]) -> &[u8] {
    let start = value.iter().position(|b| *b > b' ').unwrap_or(value.len());
    let end = value.iter().rposition(|b| *b > b' ').map_or(start, |i| i.saturating_add(1));
    value.get(start..end).unwrap_or_default()
}

fn strip_prefix_ignore_case<'b>(value: &'b [u8], prefix: &[u8]) -> Option<&'b [u8]> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| value.get(prefix.len()..))?
}

/// Who the filter is to Trino on its own requests (load polls, query lookups): the user as
/// X-Trino-User, and Basic authentication when a password is configured.
pub fn identity_headers(user: &str, password: Option<&str>) -> Vec<(String, String)> {
    let mut headers = vec![("x-trino-user".to_string(), user.to_string())];
    if let Some(password) = password {
        let credentials = STANDARD.encode(format!("{user}:{password}"));
        headers.push(("authorization".to_string(), format!("Basic {credentials}")));
    }
    headers
}

/// The address part of Envoy's `ip:port` or `[ipv6]:port` (as in the `source.address`
/// property), checked to be an IP address so nothing else is ever forwarded as one.
pub fn ip_of_socket_address(socket: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(socket).ok()?;
    let ip = match text.strip_prefix('[') {
        Some(rest) => rest.split_once(']')?.0,
        None => text.rsplit_once(':').map_or(text, |(ip, _port)| ip),
    };
    ip.parse::<std::net::IpAddr>().ok().map(|ip| ip.to_string())
}

/// Decodes `%XX` escapes and `+` (Java's URLEncoder writes spaces as `+`). Invalid
/// escapes or non-UTF-8 results give None rather than a guess.
pub fn percent_decode(input: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(input.len());
    let mut bytes = input.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'%' => {
                let hi = hex_value(*bytes.next()?)?;
                let lo = hex_value(*bytes.next()?)?;
                out.push(hi.checked_mul(16)?.checked_add(lo)?);
            }
            b'+' => out.push(b' '),
            _ => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => b.checked_sub(b'0'),
        b'a'..=b'f' => b.checked_sub(b'a')?.checked_add(10),
        b'A'..=b'F' => b.checked_sub(b'A')?.checked_add(10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &[u8])]) -> Headers {
        Headers::from_pairs(pairs.iter().map(|(n, v)| (n.as_bytes(), v.to_vec())))
    }

    #[test]
    fn user_comes_from_trino_header_before_basic_auth() {
        let h = headers(&[("X-Trino-User", b"alice"), ("Authorization", b"Basic Ym9iOnNlY3JldA==")]);
        assert_eq!(TrinoFacts::new(&h).user().as_deref(), Some("alice"));
        let h = headers(&[("authorization", b"basic Ym9iOnNlY3JldA==")]);
        assert_eq!(TrinoFacts::new(&h).user().as_deref(), Some("bob"));
    }

    #[test]
    fn the_user_is_the_one_trino_runs_the_query_as() {
        let user = |pairs: &[(&str, &[u8])]| TrinoFacts::new(&headers(pairs)).user();
        // Unpadded base64 of "bob:" (Java's decoder accepts it).
        assert_eq!(user(&[("authorization", b"Basic Ym9iOg")]).as_deref(), Some("bob"));
        // An empty or blank X-Trino-User falls back to Basic, as Trino's trimEmptyToNull does.
        assert_eq!(user(&[("x-trino-user", b""), ("authorization", b"Basic Ym9iOg==")]).as_deref(), Some("bob"));
        assert_eq!(user(&[("x-trino-user", b" \t "), ("authorization", b"Basic Ym9iOg==")]).as_deref(), Some("bob"));
        assert_eq!(user(&[("x-trino-user", b"  carol ")]).as_deref(), Some("carol"));
        // X-Trino-Original-User does not change who runs the query.
        assert_eq!(user(&[("x-trino-original-user", b"alice"), ("x-trino-user", b"bob")]).as_deref(), Some("bob"));
        assert_eq!(user(&[("x-trino-original-user", b"alice")]), None);
        // Basic is read as ISO-8859-1, as Trino reads it: 0xE9 is e-acute.
        assert_eq!(user(&[("authorization", b"Basic Sm9z6To=")]).as_deref(), Some("Jos\u{e9}"));
        assert_eq!(user(&[("authorization", b"BASIC   Ym9iOg==  ")]).as_deref(), Some("bob"));
    }

    #[test]
    fn a_repeated_identity_header_is_found() {
        let h = headers(&[("x-trino-user", b"alice"), ("x-trino-source", b"a"), ("X-Trino-User", b"bob")]);
        assert_eq!(TrinoFacts::new(&h).repeated_identity_header(), Some("x-trino-user"));
        let h = headers(&[("authorization", b"Basic Ym9iOg=="), ("authorization", b"Basic YWxpY2U6")]);
        assert_eq!(TrinoFacts::new(&h).repeated_identity_header(), Some("authorization"));
        let h = headers(&[("authorization", b"Basic Ym9iOg==,Basic YWxpY2U6")]);
        assert_eq!(TrinoFacts::new(&h).repeated_identity_header(), Some("authorization"), "as Envoy joins them");
        let h = headers(&[("x-trino-user", b"alice"), ("x-trino-client-tags", b"a"), ("x-trino-client-tags", b"b")]);
        assert_eq!(TrinoFacts::new(&h).repeated_identity_header(), None);
    }

    #[test]
    fn broken_basic_auth_and_non_utf8_user_give_no_user() {
        for bad in [&b"Basic !!!"[..], b"Bearer abc", b"Basic", b"Basic OnNlY3JldA==", b"Basic Ym9iOg="] {
            let h = headers(&[("authorization", bad)]);
            assert_eq!(TrinoFacts::new(&h).user(), None, "{bad:?}");
        }
        let h = headers(&[("x-trino-user", b"\xff\xfe")]);
        assert_eq!(TrinoFacts::new(&h).user(), None);
    }

    #[test]
    fn client_tags_split_over_lines_and_commas() {
        let h = headers(&[("x-trino-client-tags", b"etl, nightly"), ("x-trino-client-tags", b",big")]);
        assert_eq!(TrinoFacts::new(&h).client_tags(), vec!["etl", "nightly", "big"]);
    }

    #[test]
    fn session_properties_are_url_decoded() {
        let h = headers(&[("x-trino-session", b"query_max_run_time=1h, hive.insert%5Fmode=APPEND%2Cx")]);
        let f = TrinoFacts::new(&h);
        assert_eq!(f.session_property("query_max_run_time").as_deref(), Some("1h"));
        assert_eq!(f.session_property("hive.insert_mode").as_deref(), Some("APPEND,x"));
        assert_eq!(f.session_property("missing"), None);
    }

    #[test]
    fn the_client_ip_is_read_from_envoys_socket_address() {
        assert_eq!(ip_of_socket_address(b"10.1.2.3:50412").as_deref(), Some("10.1.2.3"));
        assert_eq!(ip_of_socket_address(b"[2001:db8::1]:443").as_deref(), Some("2001:db8::1"));
        assert_eq!(ip_of_socket_address(b"10.1.2.3").as_deref(), Some("10.1.2.3"));
        for bad in [&b"evil.example:80"[..], b"", b"[::1", b"\xff:1", b"1.2.3.4, 5.6.7.8:1"] {
            assert_eq!(ip_of_socket_address(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn percent_decode_rejects_bad_escapes() {
        assert_eq!(percent_decode(b"a%2"), None);
        assert_eq!(percent_decode(b"a%zz"), None);
        assert_eq!(percent_decode(b"a+b%20c").as_deref(), Some("a b c"));
    }
}
