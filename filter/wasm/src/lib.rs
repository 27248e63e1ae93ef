//! The proxy-wasm module Envoy loads: thin glue that forwards Envoy's callbacks to
//! `trino_router_core::handle` (`root`) over the `Host` trait implemented with hostcalls (`host`).

mod abi;
mod host;
mod root;
mod wire;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> { Box::new(root::Root::new()) });
}}
