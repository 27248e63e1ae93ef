//! The hostcalls the filter makes, as one trait: what the glue in `handle/` may ask of Envoy.
//! The proxy-wasm cdylib implements it; the core's tests implement it in memory.
//!
//! Every method returns a `Result`: a failed hostcall is a value to handle, never a panic
//! (a panic kills the VM of an Envoy worker). Header values and bodies are bytes.

use crate::request::Headers;
use std::fmt;
use std::time::Duration;

/// Why a hostcall failed, as the host reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// Shared data changed since it was read: read again and retry.
    CasMismatch,
    /// The host refused or failed the call; the text is its status, for logs.
    Failed(String),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::CasMismatch => f.write_str("CasMismatch"),
            HostError::Failed(status) => f.write_str(status),
        }
    }
}

pub type HostResult<T> = Result<T, HostError>;

/// Envoy's log levels, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Critical,
}

/// Where a body lives: the request or response of the current stream, or the answer to
/// an HTTP call being delivered now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    Request,
    Response,
    CallResponse,
}

/// An HTTP request the filter itself sends through an Envoy cluster (no body): the root
/// context's polls, or a paused request's query lookup.
pub struct Callout<'a> {
    /// `GET` or `HEAD`.
    pub method: &'a str,
    pub envoy_cluster: &'a str,
    pub path: &'a str,
    pub headers: &'a [(String, String)],
    pub timeout: Duration,
}

/// A request the root context sends through an Envoy cluster on behalf of a held stream
/// (a query that waited at the router): headers include the pseudo-headers.
pub struct Submission<'a> {
    pub envoy_cluster: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    pub timeout: Duration,
}

pub trait Host {
    // Time and logs.
    /// Milliseconds since the Unix epoch, by the host's clock.
    fn now_ms(&self) -> HostResult<u64>;
    fn log(&self, level: LogLevel, message: &str) -> HostResult<()>;
    /// The level below which messages are dropped.
    fn log_level(&self) -> HostResult<LogLevel>;

    // The plugin.
    fn plugin_configuration(&self) -> HostResult<Option<Vec<u8>>>;
    fn set_tick_period(&self, period: Duration) -> HostResult<()>;

    // The current request.
    fn request_headers(&self) -> HostResult<Headers>;
    fn set_request_header(&self, name: &str, value: &[u8]) -> HostResult<()>;
    fn remove_request_header(&self, name: &str) -> HostResult<()>;
    /// Makes Envoy pick the route again after the headers it routes on changed (needed
    /// when an earlier filter, the compressor for one, already resolved the route).
    fn clear_route_cache(&self) -> HostResult<()>;
    /// Puts a value in the stream's filter state (`%FILTER_STATE(wasm.<name>:PLAIN)%`).
    fn set_filter_state(&self, name: &str, value: &[u8]) -> HostResult<()>;
    /// Answers the client directly; the request goes no further.
    fn send_reply(&self, status: u16, headers: &[(&str, &str)], body: &[u8]) -> HostResult<()>;
    /// Lets a request the filter paused go on (after its query lookup).
    fn resume_request(&self) -> HostResult<()>;

    // The current response.
    fn response_header(&self, name: &str) -> HostResult<Option<Vec<u8>>>;
    /// Every response header, in order (a name may come several times: `Set-Cookie`).
    fn response_headers(&self) -> HostResult<Headers>;
    fn set_response_header(&self, name: &str, value: &[u8]) -> HostResult<()>;
    fn add_response_header(&self, name: &str, value: &[u8]) -> HostResult<()>;
    fn remove_response_header(&self, name: &str) -> HostResult<()>;
    /// An Envoy property such as `response.code_details`.
    fn property(&self, path: &[&str]) -> HostResult<Option<Vec<u8>>>;

    // Bodies.
    /// Up to `max` bytes of the body from byte `start` (of the chunk Envoy holds now, for
    /// responses): a page is read only as far as its URIs, never copied whole.
    fn body(&self, which: Body, start: usize, max: usize) -> HostResult<Option<Vec<u8>>>;
    /// Replaces the first `size` bytes of the response chunk Envoy holds now with `data`
    /// (Envoy supports replacing from offset 0, which is all the filter needs).
    fn replace_response_body(&self, size: usize, data: &[u8]) -> HostResult<()>;

    // What all workers share.
    /// A value and its compare-and-swap version.
    fn shared_get(&self, key: &str) -> HostResult<(Option<Vec<u8>>, Option<u32>)>;
    /// Writes only if nobody wrote since `cas` was read (`Err(CasMismatch)` otherwise).
    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> HostResult<()>;

    // The filter's own HTTP calls.
    /// Starts a call; its answer comes back, under the returned token, to the context that
    /// made it (the root context for polls, the request's for a query lookup).
    fn dispatch_call(&self, call: &Callout<'_>) -> HostResult<u32>;
    /// A header of the answer being delivered now.
    fn call_response_header(&self, name: &str) -> HostResult<Option<Vec<u8>>>;
    /// Sends a request with a body; its answer comes to the root context under the token.
    fn dispatch_submission(&self, _call: &Submission<'_>) -> HostResult<u32> {
        Err(HostError::Failed("not supported by this host".into()))
    }
    /// Makes later calls act on the stream `context_id` (a held request the root context
    /// answers); fails when that stream is gone.
    fn set_effective_context(&self, _context_id: u32) -> HostResult<()> {
        Err(HostError::Failed("not supported by this host".into()))
    }

    // Stats.
    /// Defines (or finds) a counter; Envoy shows it as `wasmcustom.<name>`.
    fn define_counter(&self, name: &str) -> HostResult<u32>;
    fn increment_counter(&self, id: u32) -> HostResult<()>;
    /// Defines (or finds) a gauge, `wasmcustom.<name>`.
    fn define_gauge(&self, _name: &str) -> HostResult<u32> {
        Err(HostError::Failed("not supported by this host".into()))
    }
    /// Adds `delta` (which may be negative) to a gauge.
    fn add_to_metric(&self, _id: u32, _delta: i64) -> HostResult<()> {
        Err(HostError::Failed("not supported by this host".into()))
    }
}

/// Logging must never be the reason anything fails: a failed log call is dropped.
pub fn log(host: &impl Host, level: LogLevel, message: &str) {
    let _ = host.log(level, message);
}

/// The status of an answer, from its `:status` header.
pub fn parse_status(raw: Option<Vec<u8>>) -> Option<u16> {
    std::str::from_utf8(&raw?).ok()?.parse().ok()
}
