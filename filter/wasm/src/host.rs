//! Every Envoy hostcall the filter makes, in one place: the core's `Host` trait over
//! `proxy_wasm::hostcalls`. The SDK's trait helpers unwrap hostcall results, and a panic
//! would kill the VM of the whole Envoy worker, so only these Result-returning calls are used.

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType, MetricType, Status};
use std::cell::Cell;
use std::time::{Duration, UNIX_EPOCH};
use trino_router_core::host::{Body, Callout, Host, HostError, HostResult, LogLevel};
use trino_router_core::request::Headers;

/// The host of the current context: proxy-wasm hostcalls act on whichever context Envoy
/// is calling back, so this carries no state.
pub struct Envoy;

thread_local! {
    /// Envoy's log level for this VM, read on configure and every tick rather than per request.
    static LEVEL: Cell<LogLevel> = const { Cell::new(LogLevel::Info) };
}

impl Envoy {
    pub fn refresh_log_level() {
        if let Ok(level) = hostcalls::get_log_level() {
            LEVEL.with(|l| l.set(from_sdk(level)));
        }
    }
}

fn err(status: Status) -> HostError {
    match status {
        Status::CasMismatch => HostError::CasMismatch,
        other => HostError::Failed(format!("{other:?}")),
    }
}

fn from_sdk(level: proxy_wasm::types::LogLevel) -> LogLevel {
    use proxy_wasm::types::LogLevel as L;
    match level {
        L::Trace => LogLevel::Trace,
        L::Debug => LogLevel::Debug,
        L::Info => LogLevel::Info,
        L::Warn => LogLevel::Warn,
        L::Error => LogLevel::Error,
        L::Critical => LogLevel::Critical,
    }
}

fn to_sdk(level: LogLevel) -> proxy_wasm::types::LogLevel {
    use proxy_wasm::types::LogLevel as L;
    match level {
        LogLevel::Trace => L::Trace,
        LogLevel::Debug => L::Debug,
        LogLevel::Info => L::Info,
        LogLevel::Warn => L::Warn,
        LogLevel::Error => L::Error,
        LogLevel::Critical => L::Critical,
    }
}

fn buffer(which: Body) -> BufferType {
    match which {
        Body::Request => BufferType::HttpRequestBody,
        Body::Response => BufferType::HttpResponseBody,
        Body::CallResponse => BufferType::HttpCallResponseBody,
    }
}

impl Host for Envoy {
    fn now_ms(&self) -> HostResult<u64> {
        let now = hostcalls::get_current_time().map_err(err)?;
        let since = now.duration_since(UNIX_EPOCH).map_err(|_| HostError::Failed("clock before 1970".into()))?;
        u64::try_from(since.as_millis()).map_err(|_| HostError::Failed("clock overflow".into()))
    }

    fn log(&self, level: LogLevel, message: &str) -> HostResult<()> {
        hostcalls::log(to_sdk(level), message).map_err(err)
    }

    fn log_level(&self) -> HostResult<LogLevel> {
        Ok(LEVEL.with(Cell::get))
    }

    fn plugin_configuration(&self) -> HostResult<Option<Vec<u8>>> {
        hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX).map_err(err)
    }

    fn set_tick_period(&self, period: Duration) -> HostResult<()> {
        hostcalls::set_tick_period(period).map_err(err)
    }

    fn request_headers(&self) -> HostResult<Headers> {
        Ok(Headers::from_owned(hostcalls::get_map_bytes(MapType::HttpRequestHeaders).map_err(err)?))
    }

    fn set_request_header(&self, name: &str, value: &[u8]) -> HostResult<()> {
        hostcalls::set_map_value_bytes(MapType::HttpRequestHeaders, name, Some(value)).map_err(err)
    }

    fn remove_request_header(&self, name: &str) -> HostResult<()> {
        hostcalls::remove_map_value(MapType::HttpRequestHeaders, name).map_err(err)
    }

    fn clear_route_cache(&self) -> HostResult<()> {
        hostcalls::call_foreign_function("clear_route_cache", None).map(|_| ()).map_err(err)
    }

    fn set_filter_state(&self, name: &str, value: &[u8]) -> HostResult<()> {
        hostcalls::set_property(vec![name], Some(value)).map_err(err)
    }

    fn send_reply(&self, status: u16, headers: &[(&str, &str)], body: &[u8]) -> HostResult<()> {
        hostcalls::send_http_response(u32::from(status), headers.to_vec(), Some(body)).map_err(err)
    }

    fn response_header(&self, name: &str) -> HostResult<Option<Vec<u8>>> {
        hostcalls::get_map_value_bytes(MapType::HttpResponseHeaders, name).map_err(err)
    }

    fn set_response_header(&self, name: &str, value: &[u8]) -> HostResult<()> {
        hostcalls::set_map_value_bytes(MapType::HttpResponseHeaders, name, Some(value)).map_err(err)
    }

    fn add_response_header(&self, name: &str, value: &[u8]) -> HostResult<()> {
        hostcalls::add_map_value_bytes(MapType::HttpResponseHeaders, name, value).map_err(err)
    }

    fn remove_response_header(&self, name: &str) -> HostResult<()> {
        hostcalls::remove_map_value(MapType::HttpResponseHeaders, name).map_err(err)
    }

    fn property(&self, path: &[&str]) -> HostResult<Option<Vec<u8>>> {
        hostcalls::get_property(path.to_vec()).map_err(err)
    }

    fn body(&self, which: Body, max: usize) -> HostResult<Option<Vec<u8>>> {
        hostcalls::get_buffer(buffer(which), 0, max).map_err(err)
    }

    fn replace_response_body(&self, size: usize, data: &[u8]) -> HostResult<()> {
        hostcalls::set_buffer(BufferType::HttpResponseBody, 0, size, data).map_err(err)
    }

    fn shared_get(&self, key: &str) -> HostResult<(Option<Vec<u8>>, Option<u32>)> {
        hostcalls::get_shared_data(key).map_err(err)
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> HostResult<()> {
        hostcalls::set_shared_data(key, Some(value), cas).map_err(err)
    }

    fn dispatch_get(&self, call: &Callout<'_>) -> HostResult<u32> {
        let mut headers = vec![
            (":method", "GET"),
            (":path", call.path),
            (":authority", "trino-router"),
            ("user-agent", "trino-router"),
        ];
        headers.extend(call.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        hostcalls::dispatch_http_call(call.envoy_cluster, headers, None, vec![], call.timeout).map_err(err)
    }

    fn call_response_header(&self, name: &str) -> HostResult<Option<Vec<u8>>> {
        hostcalls::get_map_value_bytes(MapType::HttpCallResponseHeaders, name).map_err(err)
    }

    fn define_counter(&self, name: &str) -> HostResult<u32> {
        hostcalls::define_metric(MetricType::Counter, name).map_err(err)
    }

    fn increment_counter(&self, id: u32) -> HostResult<()> {
        hostcalls::increment_metric(id, 1).map_err(err)
    }
}
