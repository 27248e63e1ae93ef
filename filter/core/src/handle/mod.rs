//! The filter's work on Envoy's events, generic over the `Host` trait so it runs natively
//! under test: `plugin` (config, ticks, polls), `request` and `response` (one exchange).
//!
//! It carries out what `route::decide` planned and records what it observed in `state`;
//! the proxy-wasm cdylib only forwards Envoy's callbacks here.

mod metrics;
mod page;
mod plugin;
mod poll;
mod request;
mod response;
mod state;

pub use metrics::Metrics;
pub use plugin::Plugin;
pub use request::Exchange;

/// What Envoy should do with the stream after a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Hold it: the filter waits for the body, or has answered the client itself.
    Pause,
}

/// Unix seconds by the host's clock, for the cluster states; 0 if the host would not tell.
fn now_s(host: &impl crate::host::Host) -> u64 {
    host.now_ms().map_or(0, |ms| ms / 1000)
}
