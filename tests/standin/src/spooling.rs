//! The spooling protocol (Trino 466+): result rows as encoded segments, inline or spooled.
//!
//! With `--spooling`, a query whose POST carried `X-Trino-Query-Data-Encoding` (the
//! client's preference list) gets the first encoding the stand-in speaks (`json+zstd`,
//! `json`; not `json+lz4`), and every data page's `data` becomes
//! `{"encoding":..,"segments":[..]}` in the shape Trino's Jackson writes. Small segments
//! are inline (base64); larger ones are spooled: `uri` to download them from the
//! coordinator (`GET /v1/spooled/download/{id}`), or for every Nth one from pre-signed
//! "storage" (this process, under another path, reached without the router), and
//! `ackUri` (`GET /v1/spooled/ack/{id}`) that deletes them. Segment ids are keyed hashes
//! that carry no query id, so only a routing token can bring a segment URI back to its
//! coordinator. A re-GET of the current page names the same segments again.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::hash::Hasher;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};

use crate::app::App;
use crate::respond::{self, Payload};
use crate::rows;
use crate::uris::Base;
use crate::zstd_frame;

/// The request header a client lists its encodings in, most preferred first.
pub const ENCODING_HEADER: &str = "x-trino-query-data-encoding";
/// The per-segment header a client must send back to download or ack (Trino's
/// file-system spooling sends the segment's encryption key this way).
pub const KEY_HEADER: &str = "X-Trino-SSE-C-Key";
/// Where pre-signed segments live on the "storage" side of this process.
pub const STORAGE_PREFIX: &str = "/spooling-bucket/segments/";
/// Spooled segments not acknowledged are forgotten after this long.
const RETENTION: Duration = Duration::from_secs(600);
/// At most this many segments (and spooling queries) are remembered; the oldest go first.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    /// JSON in a zstd frame of stored blocks (see `zstd_frame`).
    JsonZstd,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Json => "json",
            Encoding::JsonZstd => "json+zstd",
        }
    }

    /// The first entry of the client's list the stand-in speaks, as Trino's
    /// `PreferredQueryDataEncoderSelector` picks; `None` means the direct protocol.
    pub fn choose(header: &str) -> Option<Encoding> {
        header.split(',').find_map(|item| match item.trim() {
            "json" => Some(Encoding::Json),
            "json+zstd" => Some(Encoding::JsonZstd),
            _ => None,
        })
    }

    fn encode(self, json: &[u8]) -> Vec<u8> {
        match self {
            Encoding::Json => json.to_vec(),
            Encoding::JsonZstd => zstd_frame::encode(json),
        }
    }
}

/// One spooled segment: enough to produce its bytes again on download.
#[derive(Debug, Clone, Copy)]
struct Segment {
    sql_hash: u64,
    rows: (u64, u64),
    encoding: Encoding,
    acked: bool,
}

#[derive(Debug, Default)]
struct State {
    encodings: HashMap<String, Encoding>,
    encodings_order: VecDeque<(Instant, String)>,
    segments: HashMap<String, Segment>,
    segments_order: VecDeque<(Instant, String)>,
}

/// Which queries spool, and the segments handed out, with bounded memory.
#[derive(Debug)]
pub struct SpoolStore {
    secret: [u64; 2],
    state: Mutex<State>,
}

impl SpoolStore {
    pub fn new() -> SpoolStore {
        SpoolStore { secret: [crate::ids::random_u64(), crate::ids::random_u64()], state: Mutex::default() }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called on the POST: this query's data pages use `encoding`.
    pub fn set_encoding(&self, query_id: &str, encoding: Encoding) {
        let now = Instant::now();
        let mut state = self.state();
        let State { encodings, encodings_order, .. } = &mut *state;
        evict(encodings, encodings_order, now);
        encodings.insert(query_id.to_string(), encoding);
        encodings_order.push_back((now, query_id.to_string()));
    }

    pub fn encoding_of(&self, query_id: &str) -> Option<Encoding> {
        self.state().encodings.get(query_id).copied()
    }

    /// Remembers a segment; one already known (and perhaps acknowledged) stays as it is,
    /// so re-rendering a page does not bring an acknowledged segment back.
    fn keep(&self, id: &str, segment: Segment) {
        let now = Instant::now();
        let mut state = self.state();
        let State { segments, segments_order, .. } = &mut *state;
        if segments.contains_key(id) {
            return;
        }
        evict(segments, segments_order, now);
        segments.insert(id.to_string(), segment);
        segments_order.push_back((now, id.to_string()));
    }

    /// The live (not acknowledged) segment `id`.
    fn live(&self, id: &str) -> Option<Segment> {
        self.state().segments.get(id).copied().filter(|s| !s.acked)
    }

    /// Marks `id` acknowledged: its bytes are gone. False when the id was never handed out.
    fn acknowledge(&self, id: &str) -> bool {
        match self.state().segments.get_mut(id) {
            Some(segment) => {
                segment.acked = true;
                true
            }
            None => false,
        }
    }

    fn hash_hex(&self, parts: &[&[u8]], lanes: u8) -> String {
        let mut out = String::with_capacity(16 * lanes as usize);
        for lane in 0..lanes {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            h.write_u64(self.secret[0]);
            h.write_u64(self.secret[1]);
            h.write_u8(lane);
            for part in parts {
                h.write_usize(part.len());
                h.write(part);
            }
            let _ = write!(out, "{:016x}", h.finish());
        }
        out
    }

    /// 32 hex chars derived from the query and the segment's first row: stable across
    /// re-renders, unguessable, and free of the query id.
    fn segment_id(&self, query_id: &str, first_row: u64) -> String {
        self.hash_hex(&[b"segment", query_id.as_bytes(), &first_row.to_le_bytes()], 2)
    }

    /// The value of [`KEY_HEADER`] a client must send back for `id` (base64 of 32 bytes).
    fn segment_key(&self, id: &str) -> String {
        let hex = self.hash_hex(&[b"key", id.as_bytes()], 4);
        let bytes: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0)).collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// The query string of `id`'s pre-signed URI, signature included.
    fn presigned_query(&self, id: &str) -> String {
        format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=STANDIN%2F20250101%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20250101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={}",
            self.hash_hex(&[b"signature", id.as_bytes()], 4)
        )
    }
}

impl Default for SpoolStore {
    fn default() -> Self {
        SpoolStore::new()
    }
}

/// Drops entries past [`RETENTION`] and, when full, the oldest, before an insert.
fn evict<V>(map: &mut HashMap<String, V>, order: &mut VecDeque<(Instant, String)>, now: Instant) {
    while let Some((since, id)) = order.front() {
        if map.len() < MAX_ENTRIES && now.saturating_duration_since(*since) < RETENTION {
            break;
        }
        map.remove(id);
        order.pop_front();
    }
}

/// The rows of one data page: `range` of the query `query_id`, whose SQL hashes to `sql_hash`.
#[derive(Debug, Clone, Copy)]
pub struct PageRows<'a> {
    pub query_id: &'a str,
    pub sql_hash: u64,
    pub range: (u64, u64),
}

/// Writes the `data` value of a spooling page: `{"encoding":..,"segments":[..]}`.
pub fn write_data(out: &mut String, app: &App, base: &Base, encoding: Encoding, page: PageRows<'_>) {
    let config = &app.config;
    let per_segment = if config.spool_segment_rows > 0 { config.spool_segment_rows } else { config.page_rows.max(1) };
    let _ = write!(out, "{{\"encoding\":\"{}\",\"segments\":[", encoding.name());
    let (start, end) = page.range;
    let mut first = start;
    while first < end {
        let last = end.min(first.saturating_add(per_segment));
        if first > start {
            out.push(',');
        }
        let mut json = String::new();
        rows::write_rows(&mut json, page.sql_hash, first, last, config.row_bytes);
        let encoded = encoding.encode(json.as_bytes());
        let mut metadata =
            format!("{{\"rowOffset\":{first},\"rowsCount\":{},\"segmentSize\":{}", last - first, encoded.len());
        if encoding != Encoding::Json {
            let _ = write!(metadata, ",\"uncompressedSize\":{}", json.len());
        }
        metadata.push('}');
        if encoded.len() <= config.spool_inline_bytes {
            out.push_str("{\"type\":\"inline\",\"data\":\"");
            base64::engine::general_purpose::STANDARD.encode_string(&encoded, out);
            let _ = write!(out, "\",\"metadata\":{metadata}}}");
        } else {
            let id = app.spool.segment_id(page.query_id, first);
            app.spool.keep(&id, Segment { sql_hash: page.sql_hash, rows: (first, last), encoding, acked: false });
            let every = config.spool_external_every;
            let external = every > 0 && (first / per_segment + 1) % every == 0;
            write_spooled(out, app, base, &id, external, &metadata);
        }
        first = last;
    }
    out.push_str("]}");
}

/// A spooled segment: downloaded from the coordinator, or from storage when `external`;
/// acknowledged on the coordinator either way (as Trino does for pre-signed URIs).
fn write_spooled(out: &mut String, app: &App, base: &Base, id: &str, external: bool, metadata: &str) {
    let uri = if external {
        format!("http://{}{STORAGE_PREFIX}{id}?{}", app.bound, app.spool.presigned_query(id))
    } else {
        base.uri(&format!("/v1/spooled/download/{id}"))
    };
    out.push_str("{\"type\":\"spooled\",\"uri\":");
    crate::pages::push_json_string(out, &uri);
    out.push_str(",\"ackUri\":");
    crate::pages::push_json_string(out, &base.uri(&format!("/v1/spooled/ack/{id}")));
    let key = app.spool.segment_key(id);
    let _ = write!(out, ",\"metadata\":{metadata},\"headers\":{{\"{KEY_HEADER}\":[\"{key}\"]}}}}");
}

/// The coordinator's segment resource (`/v1/spooled/download|ack/{id}`); `None` for other
/// paths, and for every path when spooling is off (Trino then has no such resource).
pub fn coordinator(app: &App, method: &Method, path: &str, headers: &HeaderMap) -> Option<Response<Payload>> {
    if !app.config.spooling {
        return None;
    }
    let rest = path.strip_prefix("/v1/spooled/")?;
    let (action, id) = rest.split_once('/')?;
    if id.is_empty() || id.contains('/') || !matches!(action, "download" | "ack") {
        return None;
    }
    if *method != Method::GET {
        return Some(respond::plain_status(StatusCode::METHOD_NOT_ALLOWED));
    }
    if !has_key(app, id, headers) {
        return Some(respond::error_page(StatusCode::BAD_REQUEST, &format!("Missing or wrong {KEY_HEADER} header")));
    }
    Some(match action {
        "download" => download(app, id),
        _ if app.spool.acknowledge(id) => respond::empty(StatusCode::OK),
        _ => respond::error_page(StatusCode::NOT_FOUND, "Segment not found"),
    })
}

/// The pre-signed "storage" side: `GET /spooling-bucket/segments/{id}?X-Amz-...`. The
/// signature must be exactly the one handed out, so a URI altered on the way fails.
pub fn storage(
    app: &App,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Option<Response<Payload>> {
    if !app.config.spooling {
        return None;
    }
    let id = path.strip_prefix(STORAGE_PREFIX)?;
    if *method != Method::GET {
        return Some(respond::text(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed"));
    }
    if query != Some(app.spool.presigned_query(id).as_str()) {
        return Some(respond::text(StatusCode::FORBIDDEN, "SignatureDoesNotMatch"));
    }
    if !has_key(app, id, headers) {
        return Some(respond::text(StatusCode::BAD_REQUEST, "InvalidArgument: missing encryption key"));
    }
    Some(download(app, id))
}

fn has_key(app: &App, id: &str, headers: &HeaderMap) -> bool {
    headers.get(KEY_HEADER).is_some_and(|v| v.as_bytes() == app.spool.segment_key(id).as_bytes())
}

fn download(app: &App, id: &str) -> Response<Payload> {
    let Some(segment) = app.spool.live(id) else {
        return respond::error_page(StatusCode::NOT_FOUND, "Segment not found");
    };
    let mut json = String::new();
    rows::write_rows(&mut json, segment.sql_hash, segment.rows.0, segment.rows.1, app.config.row_bytes);
    let bytes = segment.encoding.encode(json.as_bytes());
    let length = HeaderValue::from(bytes.len());
    let mut resp = Response::new(Payload::sized(bytes));
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    resp.headers_mut().insert(CONTENT_LENGTH, length);
    resp
}

#[cfg(test)]
#[path = "spooling_tests.rs"]
mod tests;
