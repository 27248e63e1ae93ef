//! The proxy-wasm module Envoy loads. It only moves data between Envoy and
//! `trino_router_core`: `root` (config, polling), `http` (per request), `host` (hostcalls),
//! `shared_state` (what all workers know about the clusters).

mod host;
mod http;
mod metrics;
mod page;
mod poller;
mod root;
mod shared_state;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> { Box::new(root::Root::new()) });
}}
