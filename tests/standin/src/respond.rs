//! Response construction: Trino's headers, gzip, and chunked vs. sized bodies.
//!
//! Trino is Jersey behind Jetty's GzipHandler. Jersey buffers an entity of up to
//! 8 KiB and then sends it with a Content-Length; a larger one streams chunked
//! (measured on 476: 8188 bytes sized, 8197 chunked). Jetty gzips bodies of 32 bytes
//! or more when the client accepts it (the Content-Length is then the compressed
//! size). JSON carries `X-Content-Type-Options: nosniff`; every answer to a GET or
//! POST carries `Vary: Accept-Encoding` (http.rs drops it for other methods). Plain-text
//! errors carry a Content-Length and are never compressed (sample 06). hyper adds
//! the `Date` header itself.

use std::convert::Infallible;
use std::io::Write as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, VARY};
use hyper::{Response, StatusCode};

/// A response body sent in one piece, either with a Content-Length or chunked.
#[derive(Debug)]
pub struct Payload {
    data: Option<Bytes>,
    chunked: bool,
}

impl Payload {
    pub fn sized(data: impl Into<Bytes>) -> Payload {
        Payload { data: Some(data.into()), chunked: false }
    }

    pub fn chunked(data: impl Into<Bytes>) -> Payload {
        Payload { data: Some(data.into()), chunked: true }
    }

    pub fn empty() -> Payload {
        Payload { data: None, chunked: false }
    }

    /// The body, and whether it goes chunked: for re-framing on the way out (framing.rs).
    pub fn into_parts(self) -> (Option<Bytes>, bool) {
        (self.data, self.chunked)
    }

    #[cfg(test)]
    /// The bytes still to be sent (tests read responses through this).
    pub fn bytes(&self) -> Bytes {
        self.data.clone().unwrap_or_default()
    }
}

impl Body for Payload {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.data.take().map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.data, self.chunked) {
            // Unknown length makes hyper use Transfer-Encoding: chunked.
            (Some(_), true) => SizeHint::default(),
            (Some(d), false) => SizeHint::with_exact(d.len() as u64),
            (None, _) => SizeHint::with_exact(0),
        }
    }
}

/// True when the client's Accept-Encoding names gzip (`gzip;q=0` does not, and Jetty
/// does not take `*` as gzip either).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all("accept-encoding").iter().any(|value| {
        String::from_utf8_lossy(value.as_bytes()).split(',').any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                let p = p.trim().replace(' ', "");
                p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
            });
            coding == "gzip" && !refused
        })
    })
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    // Fast level: the stand-in doubles as a benchmark upstream.
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 4 + 64), Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// Entities up to this size go out with a Content-Length, larger ones chunked
/// (Jersey's outbound buffer).
pub const SIZED_UP_TO: usize = 8192;
/// Jetty's GzipHandler leaves smaller bodies alone (`"ACTIVE"` is never gzipped).
pub const MIN_GZIP: usize = 32;

/// A JSON response as Trino sends it.
pub fn json(status: StatusCode, body: String, gzip_ok: bool) -> Response<Payload> {
    json_typed(status, "application/json", body, gzip_ok)
}

/// Like [`json`] with another content type (OpenMetrics text goes the same way).
pub fn json_typed(status: StatusCode, content_type: &'static str, body: String, gzip_ok: bool) -> Response<Payload> {
    let gzip_ok = gzip_ok && body.len() >= MIN_GZIP;
    let sized = body.len() <= SIZED_UP_TO;
    let data: Bytes = if gzip_ok { gzip(body.as_bytes()).into() } else { body.into() };
    let payload = if sized { Payload::sized(data) } else { Payload::chunked(data) };
    let mut resp = Response::new(payload);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip_ok {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    resp
}

/// A plain-text error with a Content-Length, like sample 06.
pub fn text(status: StatusCode, body: impl Into<String>) -> Response<Payload> {
    text_typed(status, "text/plain", body)
}

pub fn text_typed(status: StatusCode, content_type: &'static str, body: impl Into<String>) -> Response<Payload> {
    let body = body.into();
    let length = HeaderValue::from(body.len());
    let mut resp = Response::new(Payload::sized(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CONTENT_LENGTH, length);
    h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    resp
}

/// `Error 404 Not Found: <message>`: the Jetty error-page text Trino sends for
/// exceptions without an entity.
pub fn error_page(status: StatusCode, message: &str) -> Response<Payload> {
    let reason = status.canonical_reason().unwrap_or("Error");
    text(status, format!("Error {} {reason}: {message}", status.as_u16()))
}

/// `Error 410 Gone: HTTP 410 Gone` and friends: an exception with no message.
pub fn plain_status(status: StatusCode) -> Response<Payload> {
    let reason = status.canonical_reason().unwrap_or("Error");
    error_page(status, &format!("HTTP {} {reason}", status.as_u16()))
}

/// 405 as Jersey sends it: no body, and the methods the resource has in `Allow`.
pub fn method_not_allowed(allow: &'static str) -> Response<Payload> {
    let mut resp = Response::new(Payload::sized(Bytes::new()));
    *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    let h = resp.headers_mut();
    h.insert(CONTENT_LENGTH, HeaderValue::from(0));
    h.insert("allow", HeaderValue::from_static(allow));
    h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    resp
}

/// Jersey's 404 for a path parameter it cannot convert (a token that is not a number).
pub fn empty_not_found() -> Response<Payload> {
    let mut resp = Response::new(Payload::sized(Bytes::new()));
    *resp.status_mut() = StatusCode::NOT_FOUND;
    resp.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(0));
    resp.headers_mut().insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    resp
}

/// The executing heartbeat's answer to HEAD: 200, JSON type, no entity.
pub fn heartbeat() -> Response<Payload> {
    let mut resp = Response::new(Payload::sized(Bytes::new()));
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(0));
    resp
}

/// A response without a body (204, HEAD).
pub fn empty(status: StatusCode) -> Response<Payload> {
    let mut resp = Response::new(Payload::empty());
    *resp.status_mut() = status;
    resp
}

/// Insecure authentication's 401, as Trino's `AuthenticationFilter` sends it.
pub fn unauthorized(message: &str) -> Response<Payload> {
    let mut resp = text_typed(StatusCode::UNAUTHORIZED, "text/plain;charset=utf-8", message.to_string());
    // Malformed credentials get no challenge: the client did try Basic.
    if !crate::auth::is_malformed(message) {
        resp.headers_mut().insert("www-authenticate", HeaderValue::from_static("Basic realm=\"Trino\""));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("accept-encoding", HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip(&headers("gzip, deflate")));
        assert!(accepts_gzip(&headers("br;q=1.0, GZIP;q=0.5")));
        assert!(!accepts_gzip(&headers("*")), "Jetty wants gzip by name");
        assert!(!accepts_gzip(&headers("gzip;q=0")));
        assert!(!accepts_gzip(&headers("identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn gzip_json_round_trips() {
        let body = "{\"a\":\"漢字\"}".repeat(100);
        let resp = json(StatusCode::OK, body.clone(), true);
        assert_eq!(resp.headers()["content-encoding"], "gzip");
        assert_eq!(resp.headers()["vary"], "Accept-Encoding");
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
        assert!(resp.body().size_hint().exact().is_some(), "small: sized");
        let mut out = String::new();
        flate2::read::GzDecoder::new(&resp.body().bytes()[..]).read_to_string(&mut out).unwrap();
        assert_eq!(out, body);
        let plain = json(StatusCode::OK, body.clone(), false);
        assert!(plain.headers().get("content-encoding").is_none());
        assert_eq!(plain.body().bytes(), body.as_bytes());
    }

    #[test]
    fn json_is_sized_up_to_8_kib_and_gzipped_from_32_bytes() {
        let small = json(StatusCode::OK, "\"ACTIVE\"".to_string(), true);
        assert!(small.headers().get("content-encoding").is_none(), "too small to gzip");
        assert_eq!(small.body().size_hint().exact(), Some(8));
        let edge = json(StatusCode::OK, "x".repeat(SIZED_UP_TO), false);
        assert_eq!(edge.body().size_hint().exact(), Some(SIZED_UP_TO as u64));
        let big = json(StatusCode::OK, "x".repeat(SIZED_UP_TO + 1), false);
        assert!(big.body().size_hint().exact().is_none(), "chunked");
        let big_gzip = json(StatusCode::OK, "x".repeat(SIZED_UP_TO + 1), true);
        assert!(big_gzip.body().size_hint().exact().is_none(), "the entity size decides, not the gzip size");
        let ok = json(StatusCode::OK, "x".repeat(100), true);
        assert_eq!(ok.body().size_hint().exact(), Some(ok.body().bytes().len() as u64), "gzip size is sent");
    }

    #[test]
    fn method_not_allowed_is_empty_with_allow() {
        let resp = method_not_allowed("GET,OPTIONS");
        assert_eq!(resp.headers()["allow"], "GET,OPTIONS");
        assert_eq!(resp.headers()["content-length"], "0");
        assert!(resp.headers().get("content-type").is_none());
        assert!(resp.body().bytes().is_empty());
    }

    #[test]
    fn text_errors_are_sized() {
        let resp = plain_status(StatusCode::GONE);
        assert_eq!(resp.body().bytes(), "Error 410 Gone: HTTP 410 Gone");
        assert_eq!(resp.body().size_hint().exact(), Some(29));
        assert_eq!(resp.headers()["content-type"], "text/plain");
        let resp = error_page(StatusCode::NOT_FOUND, "Query not found");
        assert_eq!(resp.body().bytes(), "Error 404 Not Found: Query not found");
    }
}
