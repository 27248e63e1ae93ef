//! One request through the identify stage (`{"stage": "identify"}`, placed before Envoy's
//! rate-limit filters): removes client-sent identity headers and, on a new query, sets them to
//! what the router knows (`rate_limit::identify`), reading the body first when the rules need
//! the SQL to choose the group. It routes nothing: the main instance after it does.

use super::held_body::{BodyOutcome, HeldBody};
use super::request::{answer, apply_edits, internal};
use super::Flow;
use crate::config::Config;
use crate::host::{log, Host, LogLevel};
use crate::inspect::SqlFacts;
use crate::rate_limit::identify;
use crate::request::RequestHead;
use crate::route::Incoming;
use std::rc::Rc;

/// What the 503 of an identify stage without a router configuration says.
const NO_MAIN_CONFIG: &str = "the trino-router identify stage has no router configuration in its VM: give it the \
                              same vm_config (vm_id and code) as the trino-router filter it runs before";
/// A header the identify stage never reaches Trino with; removed from a request it cannot name.
const DEFAULT_CLUSTER_HEADER: &str = "x-trino-router-cluster";

pub struct Identify {
    /// A new query held while its body arrives, for SQL rules.
    held: HeldBody,
}

impl Default for Identify {
    fn default() -> Self {
        Identify { held: HeldBody::for_identify_stage() }
    }
}

impl Identify {
    pub fn on_request_headers(&mut self, host: &impl Host, main: Option<Rc<Config>>, end_of_stream: bool) -> Flow {
        let Some(config) = main else {
            log(host, LogLevel::Warn, &format!("trino-router: {NO_MAIN_CONFIG}"));
            return answer(host, &internal(503, NO_MAIN_CONFIG), DEFAULT_CLUSTER_HEADER);
        };
        let incoming = match host.request_headers() {
            Ok(h) => Incoming::read(&config, RequestHead::from_headers(h)),
            Err(e) => {
                log(host, LogLevel::Warn, &format!("trino-router: identify stage cannot read request headers: {e}"));
                return answer(host, &internal(500, "cannot read request headers"), DEFAULT_CLUSTER_HEADER);
            }
        };
        let outcome = self.held.at_headers(host, &config, incoming, end_of_stream);
        decide_when_ready(host, &config, outcome)
    }

    pub fn on_request_body(&mut self, host: &impl Host, main: Option<Rc<Config>>, size: usize, end: bool) -> Flow {
        let Some(config) = main else { return Flow::Continue };
        let outcome = self.held.at_body(host, &config, size, end);
        decide_when_ready(host, &config, outcome)
    }
}

/// Names the query once the body has decided; else holds the request or lets its body through.
fn decide_when_ready(host: &impl Host, config: &Config, outcome: BodyOutcome) -> Flow {
    match outcome {
        BodyOutcome::Decide(incoming, facts) => set_identity(host, config, &incoming, &facts),
        BodyOutcome::Hold => Flow::Pause,
        BodyOutcome::NotHeld => Flow::Continue,
    }
}

/// Sets the identity headers. A request whose forged copies cannot be removed goes no further:
/// it could spend another user's limit.
fn set_identity(host: &impl Host, config: &Config, incoming: &Incoming, sql: &SqlFacts) -> Flow {
    let edits = identify(config, incoming, sql);
    // Envoy picks the route again: a route may match on these headers (the global rate-limit
    // example's route for new queries).
    let cleared = |()| if edits.is_empty() { Ok(()) } else { host.clear_route_cache() };
    match apply_edits(host, &edits).and_then(cleared) {
        Ok(()) => Flow::Continue,
        Err(e) => {
            log(host, LogLevel::Warn, &format!("trino-router: identify stage cannot set its headers: {e}"));
            answer(host, &internal(500, "cannot set the identity headers"), &config.cluster_header)
        }
    }
}
