//! What the router knows about one request: method, path and headers as raw bytes
//! (Envoy hands over bytes; a header need not be UTF-8), plus the Trino facts rules look at.

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

    /// X-Trino-User, else the user name of Basic authentication.
    pub fn user(&self) -> Option<String> {
        if let Some(u) = self.headers.get_str("x-trino-user") {
            return Some(u.to_string());
        }
        basic_auth_user(self.headers.get("authorization")?)
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

fn basic_auth_user(authorization: &[u8]) -> Option<String> {
    let rest = strip_prefix_ignore_case(authorization.trim_ascii(), b"basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim_ascii()).ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    let user = std::str::from_utf8(decoded.get(..colon)?).ok()?;
    (!user.is_empty()).then(|| user.to_string())
}

fn strip_prefix_ignore_case<'b>(value: &'b [u8], prefix: &[u8]) -> Option<&'b [u8]> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| value.get(prefix.len()..))?
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
    fn broken_basic_auth_and_non_utf8_user_give_no_user() {
        for bad in [&b"Basic !!!"[..], b"Bearer abc", b"Basic", b"Basic OnNlY3JldA=="] {
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
    fn percent_decode_rejects_bad_escapes() {
        assert_eq!(percent_decode(b"a%2"), None);
        assert_eq!(percent_decode(b"a%zz"), None);
        assert_eq!(percent_decode(b"a+b%20c").as_deref(), Some("a b c"));
    }
}
