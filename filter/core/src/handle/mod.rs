//! The filter's work on Envoy's events, generic over the `Host` trait so it runs natively
//! under test: `plugin` (config, ticks, polls), `request` and `response` (one exchange),
//! `held_body` (a new query held until its SQL is in), `lookup` (a request held while the
//! owner of its query id is looked up), `identify` (the identify stage for Envoy's rate-limit
//! filters), `sql_memo` (its SQL facts kept for the router).
//!
//! It carries out what `route::decide` planned and records what it observed in `state`;
//! the proxy-wasm cdylib only forwards Envoy's callbacks here.

mod held_body;
mod identify;
mod lookup;
mod metrics;
mod page;
mod plugin;
mod poll;
mod queue;
mod request;
mod response;
mod sql_memo;
mod state;
mod state_cache;

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

/// Unix seconds for the cluster states: `now_ms` / 1000.
fn now_s(host: &impl crate::host::Host) -> u64 {
    now_ms(host) / 1000
}

std::thread_local! {
    /// The last time the host told this worker.
    static LAST_MS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Milliseconds by the host's wall clock (ABI 0.2.1 offers no monotonic one). A host that
/// cannot tell the time gives the last time it told, never 0 (which would end every hold and
/// make every lease due). The clock may step back: leases and holds guard against that
/// themselves (`poll.rs`, `Observed::accepts_new_queries`), so polling never stops.
fn now_ms(host: &impl crate::host::Host) -> u64 {
    LAST_MS.with(|last| match host.now_ms() {
        Ok(now) => {
            last.set(now);
            now
        }
        Err(_) => last.get(),
    })
}
