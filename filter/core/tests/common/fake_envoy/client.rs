//! What tests deal in: a request as a client sends it, and the answer it gets back.

use super::{HeaderList, Upstream, AUTHORITY};

/// What the client got back.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderList,
    pub body: String,
    /// None when the filter answered itself.
    pub upstream: Option<Upstream>,
    /// The filter held the request headers to read the body.
    pub held_for_body: bool,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The nextUri of a statement page, as a path to send back through the router.
    pub fn next_path(&self) -> Option<String> {
        let uri = self.json()["nextUri"].as_str()?.to_string();
        Some(uri.strip_prefix(&format!("http://{AUTHORITY}")).unwrap_or(&uri).to_string())
    }

    pub fn cluster(&self) -> Option<&str> {
        self.upstream.as_ref().map(|u| u.envoy_cluster.as_str())
    }
}

/// A request as a client sends it.
pub struct Request {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) headers: HeaderList,
    pub(super) body: Vec<u8>,
    pub(super) piece: usize,
}

impl Request {
    pub fn new(method: &str, path: &str) -> Request {
        Request { method: method.into(), path: path.into(), headers: Vec::new(), body: Vec::new(), piece: 64 }
    }

    pub fn query(sql: &str) -> Request {
        Request::new("POST", "/v1/statement").body(sql)
    }

    pub fn get(path: &str) -> Request {
        Request::new("GET", path)
    }

    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_ascii_lowercase(), value.as_bytes().to_vec()));
        self
    }

    /// A body with its Content-Length, as Trino's clients send it.
    pub fn body(mut self, sql: &str) -> Request {
        self.body = sql.as_bytes().to_vec();
        self.headers.retain(|(n, _)| n != "content-length");
        self.headers.push(("content-length".into(), sql.len().to_string().into_bytes()));
        self
    }

    /// The body without Content-Length (chunked transfer encoding).
    pub fn chunked(mut self) -> Request {
        self.headers.retain(|(n, _)| n != "content-length");
        self
    }

    /// Envoy delivers the body in pieces of this many bytes (64 unless set).
    pub fn in_pieces_of(mut self, bytes: usize) -> Request {
        self.piece = bytes.max(1);
        self
    }
}
