//! Node and cluster endpoints a router health-checks or reads load from:
//! `/v1/info`, `/v1/info/state`, `/v1/status`, `/metrics`, `/ui/api/stats`,
//! and `/v1/query`. `/v1/info` and `/v1/status` take the shape of the Trino release
//! chosen with `--trino-version` (476 as measured, 483 as in the samples).

use std::fmt::Write as _;
use std::time::Duration;

use hyper::header::HeaderMap;
use hyper::{Response, StatusCode};

use crate::app::App;
use crate::args::TrinoVersion;
use crate::auth;
use crate::pages::push_json_string;
use crate::queries::QueryInfo;
use crate::respond::{self, Payload};

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
    let uptime = airlift_duration(app.started.elapsed());
    let (environment, starting) = (quoted(&app.config.name), app.is_starting());
    let body = match app.config.trino_version {
        // 476 has neither a node id nor a state nor a coordinator id here.
        TrinoVersion::V476 => format!(
            "{{\"nodeVersion\":{{\"version\":\"476\"}},\"environment\":{environment},\"coordinator\":true,\
             \"starting\":{starting},\"uptime\":\"{uptime}\"}}"
        ),
        TrinoVersion::V483 => format!(
            "{{\"nodeId\":{},\"state\":\"ACTIVE\",\"nodeVersion\":{{\"version\":\"483\"}},\
             \"environment\":{environment},\"coordinator\":true,\"coordinatorId\":{},\"starting\":{starting},\
             \"uptime\":\"{uptime}\"}}",
            quoted(&app.node_id),
            quoted(&app.coordinator_id),
        ),
    };
    respond::json(StatusCode::OK, body, gzip_ok)
}

/// `PUT /v1/info/state` (drain) is for management users; nobody here is one.
pub fn put_info_state(headers: &HeaderMap) -> Response<Payload> {
    match auth::user(headers) {
        Err(message) => respond::unauthorized(message),
        Ok(_) => respond::error_page(StatusCode::FORBIDDEN, "Management only resource"),
    }
}

pub fn info_state(gzip_ok: bool) -> Response<Payload> {
    respond::json(StatusCode::OK, "\"ACTIVE\"".to_string(), gzip_ok)
}

pub fn status(app: &App, gzip_ok: bool) -> Response<Payload> {
    let host = app.config.host.clone();
    let version = app.config.trino_version;
    // 476's memoryInfo has no systemCpuLoad but lists revocable query reservations.
    let (cpu, revocable) = match version {
        TrinoVersion::V476 => ("", "\"queryMemoryRevocableReservations\":{},"),
        TrinoVersion::V483 => ("\"systemCpuLoad\":0.0,", ""),
    };
    let body = format!(
        "{{\"nodeId\":{},\"nodeVersion\":{{\"version\":\"{}\"}},\"environment\":{},\
         \"coordinator\":true,\"uptime\":\"{}\",\"externalAddress\":{host},\"internalAddress\":{host},\
         \"memoryInfo\":{{\"availableProcessors\":2,{cpu}\"pool\":{{\
         \"maxBytes\":1879048192,\"reservedBytes\":0,\"reservedRevocableBytes\":0,\
         \"queryMemoryReservations\":{{}},\"queryMemoryAllocations\":{{}},{revocable}\
         \"taskMemoryReservations\":{{}},\"taskMemoryRevocableReservations\":{{}},\
         \"freeBytes\":1879048192}}}},\"processors\":2,\"processCpuLoad\":0.0,\
         \"systemCpuLoad\":0.0,\"heapUsed\":206013920,\"heapAvailable\":2684354560,\
         \"nonHeapUsed\":240610176}}",
        quoted(&app.node_id),
        version.number(),
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
    let mut resp =
        respond::json_typed(StatusCode::OK, "application/openmetrics-text;charset=utf-8;version=1.0.0", body, gzip_ok);
    // The metrics servlet is not Jersey: no nosniff header.
    resp.headers_mut().remove("x-content-type-options");
    resp
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
pub fn query_info(app: &App, id: &str, headers: &HeaderMap, gzip_ok: bool) -> Response<Payload> {
    if let Err(message) = auth::user(headers) {
        return respond::unauthorized(message);
    }
    let Some(info) = app.registry().info(id) else {
        return respond::plain_status(StatusCode::GONE);
    };
    respond::json(StatusCode::OK, query_json(app, id, &info), gzip_ok)
}

/// `GET /v1/query`: every query Trino still remembers, in the same subset.
pub fn query_list(app: &App, headers: &HeaderMap, gzip_ok: bool) -> Response<Payload> {
    if let Err(message) = auth::user(headers) {
        return respond::unauthorized(message);
    }
    let items: Vec<String> = app.registry().list().iter().map(|(id, info)| query_json(app, id, info)).collect();
    respond::json(StatusCode::OK, format!("[{}]", items.join(",")), gzip_ok)
}

/// `DELETE /v1/query/{id}`: kills the query; 204 whether or not it exists.
pub fn kill_query(app: &App, id: &str, headers: &HeaderMap) -> Response<Payload> {
    if let Err(message) = auth::user(headers) {
        return respond::unauthorized(message);
    }
    let mut registry = app.registry();
    if registry.info(id).is_some() {
        let _ = registry.cancel(id, crate::slug::Context::Queued, std::time::Instant::now());
    }
    respond::empty(StatusCode::NO_CONTENT)
}

/// `self` names the coordinator's own address, whatever Host or X-Forwarded-* said
/// (Trino uses its node URI there, not the request's).
fn query_json(app: &App, id: &str, info: &QueryInfo) -> String {
    format!(
        "{{\"queryId\":{id},\"session\":{{\"queryId\":{id},\"user\":{}}},\"state\":\"{}\",\
         \"self\":{},\"query\":{}}}",
        quoted(&info.user),
        info.state,
        quoted(&format!("http://{}/v1/query/{id}", app.bound)),
        quoted(&info.sql),
        id = quoted(id),
    )
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
