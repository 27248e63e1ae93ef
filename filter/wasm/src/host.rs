//! Every Envoy hostcall the filter makes, in one place. Each returns a Result or an Option:
//! the SDK's trait helpers unwrap hostcall results, and a panic here would kill the VM
//! of the whole Envoy worker, so the filter calls these instead.

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, LogLevel, MapType, Status};
use std::time::{Duration, UNIX_EPOCH};
use trino_router_core::request::Headers;

pub type HostResult<T> = Result<T, Status>;

pub fn log(level: LogLevel, message: &str) {
    // Logging must never be the reason a request fails.
    let _ = hostcalls::log(level, message);
}

thread_local! {
    /// Envoy's log level for this VM, read on configure and every tick rather than per request.
    static DEBUG: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub fn refresh_log_level() {
    let debug = hostcalls::get_log_level().is_ok_and(|l| l as u32 <= LogLevel::Debug as u32);
    DEBUG.with(|d| d.set(debug));
}

pub fn debug_enabled() -> bool {
    DEBUG.with(|d| d.get())
}

/// Milliseconds since the Unix epoch, as Envoy's clock says; None if the host would not tell.
pub fn now_ms() -> Option<u64> {
    let now = hostcalls::get_current_time().ok()?;
    u64::try_from(now.duration_since(UNIX_EPOCH).ok()?.as_millis()).ok()
}

/// Unix seconds, for the cluster states; 0 if the host would not tell.
pub fn now_s() -> u64 {
    now_ms().unwrap_or(0) / 1000
}

pub fn plugin_configuration() -> HostResult<Option<Vec<u8>>> {
    hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
}

pub fn set_tick_period(period: Duration) -> HostResult<()> {
    hostcalls::set_tick_period(period)
}

pub fn request_headers() -> HostResult<Headers> {
    Ok(Headers::from_owned(hostcalls::get_map_bytes(MapType::HttpRequestHeaders)?))
}

pub fn set_request_header(name: &str, value: &[u8]) -> HostResult<()> {
    hostcalls::set_map_value_bytes(MapType::HttpRequestHeaders, name, Some(value))
}

pub fn remove_request_header(name: &str) -> HostResult<()> {
    hostcalls::remove_map_value(MapType::HttpRequestHeaders, name)
}

pub fn response_status() -> Option<u16> {
    let raw = hostcalls::get_map_value_bytes(MapType::HttpResponseHeaders, ":status").ok()??;
    std::str::from_utf8(&raw).ok()?.parse().ok()
}

/// The first `max` bytes of the response body Envoy holds now.
pub fn response_body_prefix(max: usize) -> Option<Vec<u8>> {
    hostcalls::get_buffer(BufferType::HttpResponseBody, 0, max).ok()?
}

/// An Envoy property such as `response.code_details`, as bytes.
pub fn property(path: &[&str]) -> Option<Vec<u8>> {
    hostcalls::get_property(path.to_vec()).ok()?
}

/// Answers the client directly; the request goes no further.
pub fn send_reply(status: u16, headers: &[(&str, &str)], body: &[u8]) -> HostResult<()> {
    hostcalls::send_http_response(u32::from(status), headers.to_vec(), Some(body))
}

/// A value in the data all Envoy workers share, with its compare-and-swap version.
pub fn shared_get(key: &str) -> (Option<Vec<u8>>, Option<u32>) {
    hostcalls::get_shared_data(key).unwrap_or((None, None))
}

/// Writes only if nobody wrote since `cas` was read; Err(CasMismatch) says try again.
pub fn shared_set(key: &str, value: &[u8], cas: Option<u32>) -> HostResult<()> {
    hostcalls::set_shared_data(key, Some(value), cas)
}

/// Starts an HTTP GET to an Envoy cluster from the root context; the answer arrives in
/// `on_http_call_response` under the returned token.
pub fn dispatch_get(envoy_cluster: &str, path: &str, extra: &[(String, String)], timeout: Duration) -> HostResult<u32> {
    let mut headers =
        vec![(":method", "GET"), (":path", path), (":authority", "trino-router"), ("user-agent", "trino-router")];
    headers.extend(extra.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    hostcalls::dispatch_http_call(envoy_cluster, headers, None, vec![], timeout)
}

pub fn http_call_status() -> Option<u16> {
    let raw = hostcalls::get_map_value_bytes(MapType::HttpCallResponseHeaders, ":status").ok()??;
    std::str::from_utf8(&raw).ok()?.parse().ok()
}

pub fn http_call_body(size: usize) -> Option<Vec<u8>> {
    hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, size).ok()?
}

/// The first `max` bytes of the request body Envoy has buffered.
pub fn request_body(max: usize) -> Option<Vec<u8>> {
    hostcalls::get_buffer(BufferType::HttpRequestBody, 0, max).ok()?
}

/// Defines (or finds) a counter in Envoy's stats; Envoy shows it as `wasmcustom.<name>`.
pub fn define_counter(name: &str) -> HostResult<u32> {
    hostcalls::define_metric(proxy_wasm::types::MetricType::Counter, name)
}

pub fn increment(metric: u32) {
    let _ = hostcalls::increment_metric(metric, 1);
}

/// Replaces the response body chunk Envoy holds now (`size` bytes from the start) with
/// `data`; Envoy supports replacing from offset 0, which is all the rewrite needs.
pub fn replace_response_body(size: usize, data: &[u8]) -> HostResult<()> {
    hostcalls::set_buffer(BufferType::HttpResponseBody, 0, size, data)
}

pub fn response_header(name: &str) -> Option<Vec<u8>> {
    hostcalls::get_map_value_bytes(MapType::HttpResponseHeaders, name).ok()?
}

pub fn remove_response_header(name: &str) -> HostResult<()> {
    hostcalls::remove_map_value(MapType::HttpResponseHeaders, name)
}

/// Makes Envoy pick the route again after the filter changed the headers it routes on.
/// Needed when an earlier filter (the compressor, for one) already resolved the route.
pub fn clear_route_cache() -> HostResult<()> {
    hostcalls::call_foreign_function("clear_route_cache", None).map(|_| ())
}

/// Puts a value in the request's filter state, where Envoy's access log reads it as
/// `%FILTER_STATE(wasm.<name>:PLAIN)%`.
pub fn set_filter_state(name: &str, value: &[u8]) -> HostResult<()> {
    hostcalls::set_property(vec![name], Some(value))
}

pub fn add_response_header(name: &str, value: &[u8]) -> HostResult<()> {
    hostcalls::add_map_value_bytes(MapType::HttpResponseHeaders, name, value)
}

pub fn set_response_header(name: &str, value: &[u8]) -> HostResult<()> {
    hostcalls::set_map_value_bytes(MapType::HttpResponseHeaders, name, Some(value))
}
