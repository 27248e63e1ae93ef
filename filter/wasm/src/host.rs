//! Every Envoy hostcall the filter makes, in one place: the core's `Host` trait over the raw
//! ABI calls of `abi.rs`. Each returns Envoy's status as a `Result`, so a call Envoy refuses is
//! handled by the core like any other failure; nothing here can panic (the SDK's own hostcall
//! wrappers panic on statuses they do not expect, which is why they are not used).

use crate::abi::{self, Status};
use std::cell::Cell;
use std::time::Duration;
use trino_router_core::host::{Body, Callout, Host, HostError, HostResult, LogLevel, Submission};
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
        if let Ok(level) = abi::log_level() {
            LEVEL.with(|l| l.set(from_abi(level)));
        }
    }
}

fn err(status: Status) -> HostError {
    if status == abi::CAS_MISMATCH {
        HostError::CasMismatch
    } else {
        HostError::Failed(format!("{} ({})", status.name(), status.0))
    }
}

fn from_abi(level: u32) -> LogLevel {
    match level {
        0 => LogLevel::Trace,
        1 => LogLevel::Debug,
        2 => LogLevel::Info,
        3 => LogLevel::Warn,
        4 => LogLevel::Error,
        _ => LogLevel::Critical,
    }
}

fn to_abi(level: LogLevel) -> u32 {
    match level {
        LogLevel::Trace => 0,
        LogLevel::Debug => 1,
        LogLevel::Info => 2,
        LogLevel::Warn => 3,
        LogLevel::Error => 4,
        LogLevel::Critical => 5,
    }
}

fn buffer(which: Body) -> u32 {
    match which {
        Body::Request => abi::REQUEST_BODY,
        Body::Response => abi::RESPONSE_BODY,
        Body::CallResponse => abi::CALL_RESPONSE_BODY,
    }
}

fn bytes_of<'a>(pairs: &'a [(&'a str, &'a str)]) -> Vec<(&'a str, &'a [u8])> {
    pairs.iter().map(|(n, v)| (*n, v.as_bytes())).collect()
}

impl Host for Envoy {
    fn now_ms(&self) -> HostResult<u64> {
        abi::current_time_ns().map(|ns| ns / 1_000_000).map_err(err)
    }

    fn log(&self, level: LogLevel, message: &str) -> HostResult<()> {
        abi::log(to_abi(level), message).map_err(err)
    }

    fn log_level(&self) -> HostResult<LogLevel> {
        Ok(LEVEL.with(Cell::get))
    }

    fn plugin_configuration(&self) -> HostResult<Option<Vec<u8>>> {
        abi::get_buffer(abi::PLUGIN_CONFIGURATION, 0, usize::MAX).map_err(err)
    }

    fn set_tick_period(&self, period: Duration) -> HostResult<()> {
        abi::set_tick_period_ms(u32::try_from(period.as_millis()).unwrap_or(u32::MAX)).map_err(err)
    }

    fn request_headers(&self) -> HostResult<Headers> {
        Ok(Headers::from_owned(abi::get_map(abi::REQUEST_HEADERS).map_err(err)?))
    }

    fn set_request_header(&self, name: &str, value: &[u8]) -> HostResult<()> {
        abi::replace_map_value(abi::REQUEST_HEADERS, name, value).map_err(err)
    }

    fn remove_request_header(&self, name: &str) -> HostResult<()> {
        abi::remove_map_value(abi::REQUEST_HEADERS, name).map_err(err)
    }

    fn clear_route_cache(&self) -> HostResult<()> {
        abi::call_foreign_function("clear_route_cache", &[]).map(|_| ()).map_err(err)
    }

    fn set_filter_state(&self, name: &str, value: &[u8]) -> HostResult<()> {
        abi::set_property(&[name], value).map_err(err)
    }

    fn send_reply(&self, status: u16, headers: &[(&str, &str)], body: &[u8]) -> HostResult<()> {
        abi::send_local_response(u32::from(status), &bytes_of(headers), body).map_err(err)
    }

    fn resume_request(&self) -> HostResult<()> {
        abi::continue_request().map_err(err)
    }

    fn response_header(&self, name: &str) -> HostResult<Option<Vec<u8>>> {
        abi::get_map_value(abi::RESPONSE_HEADERS, name).map_err(err)
    }

    fn response_headers(&self) -> HostResult<Headers> {
        Ok(Headers::from_owned(abi::get_map(abi::RESPONSE_HEADERS).map_err(err)?))
    }

    fn set_response_header(&self, name: &str, value: &[u8]) -> HostResult<()> {
        abi::replace_map_value(abi::RESPONSE_HEADERS, name, value).map_err(err)
    }

    fn add_response_header(&self, name: &str, value: &[u8]) -> HostResult<()> {
        abi::add_map_value(abi::RESPONSE_HEADERS, name, value).map_err(err)
    }

    fn remove_response_header(&self, name: &str) -> HostResult<()> {
        abi::remove_map_value(abi::RESPONSE_HEADERS, name).map_err(err)
    }

    fn property(&self, path: &[&str]) -> HostResult<Option<Vec<u8>>> {
        abi::get_property(path).map_err(err)
    }

    fn body(&self, which: Body, start: usize, max: usize) -> HostResult<Option<Vec<u8>>> {
        abi::get_buffer(buffer(which), start, max).map_err(err)
    }

    fn replace_response_body(&self, size: usize, data: &[u8]) -> HostResult<()> {
        abi::set_buffer(abi::RESPONSE_BODY, 0, size, data).map_err(err)
    }

    fn shared_get(&self, key: &str) -> HostResult<(Option<Vec<u8>>, Option<u32>)> {
        abi::get_shared_data(key).map_err(err)
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> HostResult<()> {
        abi::set_shared_data(key, value, cas.unwrap_or(0)).map_err(err)
    }

    fn dispatch_call(&self, call: &Callout<'_>) -> HostResult<u32> {
        let mut headers = vec![
            (":method", call.method),
            (":path", call.path),
            (":authority", "trino-router"),
            ("user-agent", "trino-router"),
        ];
        headers.extend(call.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        // The one SDK wrapper still used: the SDK delivers an answer only to calls it
        // registered (its dispatcher panics on a token it does not know). It maps the
        // statuses Envoy's http_call returns (Ok, BadArgument for an unknown or unroutable
        // cluster, InternalFailure); it would panic only on InvalidMemoryAccess, which
        // needs pointers the SDK itself builds to be wrong.
        proxy_wasm::hostcalls::dispatch_http_call(call.envoy_cluster, headers, None, vec![], call.timeout)
            .map_err(|s| err(Status(s as u32)))
    }

    fn dispatch_submission(&self, call: &Submission<'_>) -> HostResult<u32> {
        let headers: Vec<(&str, &str)> = call.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        // Through the SDK for the same reason as `dispatch_get`.
        proxy_wasm::hostcalls::dispatch_http_call(call.envoy_cluster, headers, Some(call.body), vec![], call.timeout)
            .map_err(|s| err(Status(s as u32)))
    }

    fn set_effective_context(&self, context_id: u32) -> HostResult<()> {
        abi::set_effective_context(context_id).map_err(err)
    }

    fn call_response_header(&self, name: &str) -> HostResult<Option<Vec<u8>>> {
        abi::get_map_value(abi::CALL_RESPONSE_HEADERS, name).map_err(err)
    }

    fn define_counter(&self, name: &str) -> HostResult<u32> {
        abi::define_metric(abi::METRIC_COUNTER, name).map_err(err)
    }

    fn increment_counter(&self, id: u32) -> HostResult<()> {
        abi::increment_metric(id, 1).map_err(err)
    }

    fn define_gauge(&self, name: &str) -> HostResult<u32> {
        abi::define_metric(abi::METRIC_GAUGE, name).map_err(err)
    }

    fn add_to_metric(&self, id: u32, delta: i64) -> HostResult<()> {
        abi::increment_metric(id, delta).map_err(err)
    }
}
