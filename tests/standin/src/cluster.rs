//! Node and cluster endpoints a router health-checks or reads load from:
//! `/v1/info`, `/v1/info/state`, `/v1/status`, `/metrics`, `/ui/api/stats`,
//! and `/v1/query/{id}`. Shapes follow the 483 samples.

use std::fmt::Write as _;
use std::time::Duration;

use hyper::header::HeaderMap;
use hyper::{Response, StatusCode};

use crate::app::App;
use crate::auth;
use crate::pages::push_json_string;
use crate::respond::{self, Payload};
use crate::uris::Base;

/// The Trino version the stand-in claims to be.
pub const VERSION: &str = "483";

/// airlift's `Duration.toString()` of a succinct duration: `15.57s`, `2.50m`.
pub fn airlift_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    let units: [(&str, f64); 7] =
        [("d", 86_400.0), ("h", 3_600.0), ("m", 60.0), ("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)];
    for (name, size) in units {
        if secs >= size {
            return format!("{:.2}{name}", secs / size);
        }
    }
    "0.00ns".to_string()
}

fn quoted(text: &str) -> String {
    let mut out = String::new();
    push_json_string(&mut out, text);
    out
}

pub fn info(app: &App, gzip_ok: bool) -> Response<Payload> {
    let body = format!(
        "{{\"nodeId\":{},\"state\":\"ACTIVE\",\"nodeVersion\":{{\"version\":\"{VERSION}\"}},\
         \"environment\":{},\"coordinator\":true,\"coordinatorId\":{},\"starting\":{},\"uptime\":\"{}\"}}",
        quoted(&app.node_id),
        quoted(&app.config.name),
        quoted(&app.coordinator_id),
        app.is_starting(),
        airlift_duration(app.started.elapsed()),
    );
    respond::json(StatusCode::OK, body, gzip_ok)
}

pub fn info_state(gzip_ok: bool) -> Response<Payload> {
    respond::json(StatusCode::OK, "\"ACTIVE\"".to_string(), gzip_ok)
}

pub fn status(app: &App, gzip_ok: bool) -> Response<Payload> {
    let host = app.config.host.clone();
    let body = format!(
        "{{\"nodeId\":{},\"nodeVersion\":{{\"version\":\"{VERSION}\"}},\"environment\":{},\
         \"coordinator\":true,\"uptime\":\"{}\",\"externalAddress\":{host},\"internalAddress\":{host},\
         \"memoryInfo\":{{\"availableProcessors\":2,\"systemCpuLoad\":0.0,\"pool\":{{\
         \"maxBytes\":1879048192,\"reservedBytes\":0,\"reservedRevocableBytes\":0,\
         \"queryMemoryReservations\":{{}},\"queryMemoryAllocations\":{{}},\
         \"taskMemoryReservations\":{{}},\"taskMemoryRevocableReservations\":{{}},\
         \"freeBytes\":1879048192}}}},\"processors\":2,\"processCpuLoad\":0.0,\
         \"systemCpuLoad\":0.0,\"heapUsed\":206013920,\"heapAvailable\":2684354560,\
         \"nonHeapUsed\":240610176}}",
        quoted(&app.node_id),
        quoted(&app.config.name),
        airlift_duration(app.started.elapsed()),
        host = quoted(&host),
    );
    respond::json(StatusCode::OK, body, gzip_ok)
}

/// OpenMetrics text; needs a user like every authenticated Trino endpoint.
pub fn metrics(app: &App, headers: &HeaderMap, gzip_ok: bool) -> Response<Payload> {
    if let Err(message) = auth::user(headers) {
        return respond::unauthorized(message);
    }
    let c = app.registry().counts();
    let mut body = String::new();
    let gauges = [
        ("trino_execution_name_QueryManager_RunningQueries", c.running),
        ("trino_execution_name_QueryManager_QueuedQueries", c.queued),
        ("trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount", 1),
    ];
    for (name, value) in gauges {
        let _ = write!(body, "# TYPE {name} gauge\n{name} {value}.0\n");
    }
    body.push_str("# EOF\n");
    respond::json_typed(StatusCode::OK, "application/openmetrics-text; version=1.0.0; charset=utf-8", body, gzip_ok)
}

/// Real Trino wants a UI login here; the stand-in answers anyone.
pub fn ui_stats(app: &App, gzip_ok: bool) -> Response<Payload> {
    let c = app.registry().counts();
    let body = format!(
        "{{\"runningQueries\":{},\"blockedQueries\":0,\"queuedQueries\":{},\
         \"activeCoordinators\":1,\"activeWorkers\":1,\"runningDrivers\":0,\
         \"totalAvailableProcessors\":2,\"reservedMemory\":0.0,\"totalInputRows\":0,\
         \"totalInputBytes\":0,\"totalCpuTimeSecs\":0}}",
        c.running, c.queued
    );
    respond::json(StatusCode::OK, body, gzip_ok)
}

/// `/v1/query/{id}`: a small subset of Trino's QueryInfo.
pub fn query_info(app: &App, id: &str, headers: &HeaderMap, base: &Base, gzip_ok: bool) -> Response<Payload> {
    if let Err(message) = auth::user(headers) {
        return respond::unauthorized(message);
    }
    let Some(info) = app.registry().info(id) else {
        return respond::plain_status(StatusCode::GONE);
    };
    let body = format!(
        "{{\"queryId\":{id},\"session\":{{\"queryId\":{id},\"user\":{}}},\"state\":\"{}\",\
         \"self\":{},\"query\":{}}}",
        quoted(&info.user),
        info.state,
        quoted(&base.uri(&format!("/v1/query/{id}"))),
        quoted(&info.sql),
        id = quoted(id),
    );
    respond::json(StatusCode::OK, body, gzip_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_format() {
        assert_eq!(airlift_duration(Duration::from_millis(15_570)), "15.57s");
        assert_eq!(airlift_duration(Duration::from_secs(150)), "2.50m");
        assert_eq!(airlift_duration(Duration::from_millis(12)), "12.00ms");
        assert_eq!(airlift_duration(Duration::from_secs(7200)), "2.00h");
        assert_eq!(airlift_duration(Duration::ZERO), "0.00ns");
    }
}
