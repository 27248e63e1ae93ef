//! The proxy-wasm contexts: Envoy's callbacks, forwarded to the core's handlers with the
//! `Envoy` host. The root context is one per worker; an HTTP context one per request.

use crate::host::Envoy;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};
use trino_router_core::handle::{Exchange, Flow, Plugin};

pub struct Root(Plugin);

impl Root {
    pub fn new() -> Self {
        Root(Plugin::new(&Envoy))
    }
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, _headers: usize, body_size: usize, _trailers: usize) {
        self.0.on_call_response(&Envoy, token, body_size);
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        Envoy::refresh_log_level();
        self.0.configure(&Envoy)
    }

    fn on_tick(&mut self) {
        Envoy::refresh_log_level();
        self.0.tick(&Envoy);
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream(self.0.new_exchange(context_id))))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Stream(Exchange);

fn action(flow: Flow) -> Action {
    match flow {
        Flow::Continue => Action::Continue,
        Flow::Pause => Action::Pause,
    }
}

impl Context for Stream {
    /// The answer to a call this request made: a query-id lookup, or a query the filter submits.
    fn on_http_call_response(&mut self, token: u32, _headers: usize, body_size: usize, _trailers: usize) {
        self.0.on_call_response(&Envoy, token, body_size);
    }

    fn on_done(&mut self) -> bool {
        self.0.on_done(&Envoy);
        true
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        action(self.0.on_request_headers(&Envoy, end_of_stream))
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        action(self.0.on_request_body(&Envoy, body_size, end_of_stream))
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        action(self.0.on_response_headers(&Envoy))
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        action(self.0.on_response_body(&Envoy, body_size, end_of_stream))
    }
}
