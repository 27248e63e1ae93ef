//! The proxy-wasm ABI (0.2.1) calls the filter makes, declared as the SDK declares them but
//! returning Envoy's status as a plain number. The SDK's wrappers (0.2.5) panic on any status
//! they do not expect (set_property, replace/remove header, set_buffer, send_local_response,
//! define_metric, even get_current_time), and a panic kills the VM of an Envoy worker; here
//! every status, known or not, becomes an `Err` the caller handles. (HTTP calls go through
//! the SDK, whose dispatcher must register them: see `host.rs`.)
//!
//! Buffers the host returns are allocated in this module's memory through the SDK's exported
//! `proxy_on_memory_allocate`, and taken back here as a `Vec` exactly as the SDK does.

use crate::wire;
use std::ptr::{null, null_mut};

/// A status other than Ok, as Envoy returned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u32);

pub const NOT_FOUND: Status = Status(1);
pub const CAS_MISMATCH: Status = Status(8);

impl Status {
    /// The ABI's name of the status, for logs.
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "NotFound",
            2 => "BadArgument",
            3 => "SerializationFailure",
            4 => "ParseFailure",
            7 => "Empty",
            8 => "CasMismatch",
            10 => "InternalFailure",
            12 => "Unimplemented",
            _ => "unknown status",
        }
    }
}

pub type AbiResult<T> = Result<T, Status>;

// Map and buffer kinds of the ABI (the SDK's MapType and BufferType values).
pub const REQUEST_HEADERS: u32 = 0;
pub const RESPONSE_HEADERS: u32 = 2;
pub const CALL_RESPONSE_HEADERS: u32 = 6;
pub const REQUEST_BODY: u32 = 0;
pub const RESPONSE_BODY: u32 = 1;
pub const CALL_RESPONSE_BODY: u32 = 4;
pub const PLUGIN_CONFIGURATION: u32 = 7;
pub const METRIC_COUNTER: u32 = 0;
pub const METRIC_GAUGE: u32 = 1;
pub const STREAM_REQUEST: u32 = 0;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;
    fn proxy_get_log_level(return_level: *mut u32) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_buffer_data: *mut *mut u8,
        return_buffer_size: *mut usize,
    ) -> u32;
    fn proxy_set_buffer_bytes(
        buffer_type: u32,
        start: usize,
        size: usize,
        buffer_data: *const u8,
        buffer_size: usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(map_type: u32, return_map_data: *mut *mut u8, return_map_size: *mut usize) -> u32;
    fn proxy_get_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    fn proxy_replace_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_add_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_remove_header_map_value(map_type: u32, key_data: *const u8, key_size: usize) -> u32;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    fn proxy_set_property(path_data: *const u8, path_size: usize, value_data: *const u8, value_size: usize) -> u32;
    #[allow(clippy::too_many_arguments)]
    fn proxy_send_local_response(
        status_code: u32,
        status_code_details_data: *const u8,
        status_code_details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_get_shared_data(
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
        return_cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    fn proxy_call_foreign_function(
        function_name_data: *const u8,
        function_name_size: usize,
        arguments_data: *const u8,
        arguments_size: usize,
        results_data: *mut *mut u8,
        results_size: *mut usize,
    ) -> u32;
    fn proxy_continue_stream(stream_type: u32) -> u32;
    fn proxy_define_metric(metric_type: u32, name_data: *const u8, name_size: usize, return_id: *mut u32) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_set_effective_context(context_id: u32) -> u32;
}

fn ok(status: u32) -> AbiResult<()> {
    if status == 0 {
        Ok(())
    } else {
        Err(Status(status))
    }
}

/// Ok(None) for NotFound, which for getters means "absent", not a failure.
fn found(status: u32) -> AbiResult<Option<()>> {
    match ok(status) {
        Ok(()) => Ok(Some(())),
        Err(NOT_FOUND) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Takes ownership of a buffer the host allocated with `proxy_on_memory_allocate`.
///
/// # Safety
/// `data` is null or was returned by the host with exactly `size` bytes allocated by the
/// SDK's allocator (a boxed slice of `size` bytes), as the SDK itself assumes.
unsafe fn take(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() {
        Vec::new()
    } else {
        Vec::from_raw_parts(data, size, size)
    }
}

pub fn current_time_ns() -> AbiResult<u64> {
    let mut t: u64 = 0;
    ok(unsafe { proxy_get_current_time_nanoseconds(&mut t) })?;
    Ok(t)
}

pub fn log(level: u32, message: &str) -> AbiResult<()> {
    ok(unsafe { proxy_log(level, message.as_ptr(), message.len()) })
}

pub fn log_level() -> AbiResult<u32> {
    let mut level: u32 = 0;
    ok(unsafe { proxy_get_log_level(&mut level) })?;
    Ok(level)
}

pub fn set_tick_period_ms(ms: u32) -> AbiResult<()> {
    ok(unsafe { proxy_set_tick_period_milliseconds(ms) })
}

pub fn get_buffer(which: u32, start: usize, max: usize) -> AbiResult<Option<Vec<u8>>> {
    let (mut data, mut size): (*mut u8, usize) = (null_mut(), 0);
    let status = unsafe { proxy_get_buffer_bytes(which, start, max, &mut data, &mut size) };
    let bytes = unsafe { take(data, size) };
    Ok(found(status)?.map(|()| bytes))
}

pub fn set_buffer(which: u32, start: usize, size: usize, data: &[u8]) -> AbiResult<()> {
    ok(unsafe { proxy_set_buffer_bytes(which, start, size, data.as_ptr(), data.len()) })
}

pub fn get_map(map: u32) -> AbiResult<Vec<(String, Vec<u8>)>> {
    let (mut data, mut size): (*mut u8, usize) = (null_mut(), 0);
    let status = unsafe { proxy_get_header_map_pairs(map, &mut data, &mut size) };
    let bytes = unsafe { take(data, size) };
    ok(status)?;
    wire::decode_map(&bytes).ok_or(Status(3))
}

pub fn get_map_value(map: u32, name: &str) -> AbiResult<Option<Vec<u8>>> {
    let (mut data, mut size): (*mut u8, usize) = (null_mut(), 0);
    let status = unsafe { proxy_get_header_map_value(map, name.as_ptr(), name.len(), &mut data, &mut size) };
    let bytes = unsafe { take(data, size) };
    Ok(found(status)?.map(|()| bytes))
}

pub fn replace_map_value(map: u32, name: &str, value: &[u8]) -> AbiResult<()> {
    ok(unsafe { proxy_replace_header_map_value(map, name.as_ptr(), name.len(), value.as_ptr(), value.len()) })
}

pub fn add_map_value(map: u32, name: &str, value: &[u8]) -> AbiResult<()> {
    ok(unsafe { proxy_add_header_map_value(map, name.as_ptr(), name.len(), value.as_ptr(), value.len()) })
}

pub fn remove_map_value(map: u32, name: &str) -> AbiResult<()> {
    ok(unsafe { proxy_remove_header_map_value(map, name.as_ptr(), name.len()) })
}

pub fn get_property(path: &[&str]) -> AbiResult<Option<Vec<u8>>> {
    let path = wire::property_path(path);
    let (mut data, mut size): (*mut u8, usize) = (null_mut(), 0);
    let status = unsafe { proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut size) };
    let bytes = unsafe { take(data, size) };
    Ok(found(status)?.map(|()| bytes))
}

pub fn set_property(path: &[&str], value: &[u8]) -> AbiResult<()> {
    let path = wire::property_path(path);
    ok(unsafe { proxy_set_property(path.as_ptr(), path.len(), value.as_ptr(), value.len()) })
}

pub fn send_local_response(status: u32, headers: &[(&str, &[u8])], body: &[u8]) -> AbiResult<()> {
    let headers = wire::encode_map(headers);
    ok(unsafe {
        proxy_send_local_response(status, null(), 0, body.as_ptr(), body.len(), headers.as_ptr(), headers.len(), -1)
    })
}

/// Lets the request of the current stream, paused by the filter, go on.
pub fn continue_request() -> AbiResult<()> {
    ok(unsafe { proxy_continue_stream(STREAM_REQUEST) })
}

/// The value and its CAS version; (None, None) when the key was never written.
pub fn get_shared_data(key: &str) -> AbiResult<(Option<Vec<u8>>, Option<u32>)> {
    let (mut data, mut size, mut cas): (*mut u8, usize, u32) = (null_mut(), 0, 0);
    let status = unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) };
    let bytes = unsafe { take(data, size) };
    match found(status)? {
        Some(()) => Ok((Some(bytes), Some(cas))),
        None => Ok((None, None)),
    }
}

/// `cas` 0 writes unconditionally; otherwise Envoy refuses with CasMismatch if the value
/// changed since that version was read.
pub fn set_shared_data(key: &str, value: &[u8], cas: u32) -> AbiResult<()> {
    ok(unsafe { proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas) })
}

pub fn call_foreign_function(name: &str, arguments: &[u8]) -> AbiResult<Vec<u8>> {
    let (mut data, mut size): (*mut u8, usize) = (null_mut(), 0);
    let status = unsafe {
        proxy_call_foreign_function(
            name.as_ptr(),
            name.len(),
            arguments.as_ptr(),
            arguments.len(),
            &mut data,
            &mut size,
        )
    };
    let bytes = unsafe { take(data, size) };
    ok(status)?;
    Ok(bytes)
}

pub fn define_metric(kind: u32, name: &str) -> AbiResult<u32> {
    let mut id: u32 = 0;
    ok(unsafe { proxy_define_metric(kind, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

pub fn increment_metric(id: u32, offset: i64) -> AbiResult<()> {
    ok(unsafe { proxy_increment_metric(id, offset) })
}

/// Makes later calls act on another context of this VM (a held stream the root answers).
pub fn set_effective_context(context_id: u32) -> AbiResult<()> {
    // SAFETY: a plain number crosses the ABI.
    ok(unsafe { proxy_set_effective_context(context_id) })
}
