//! Test introspection under `/_standin/` (not part of Trino).
//!
//! Tests ask a stand-in what reached it: which requests, with which headers and
//! answers ("no follow-up reached the wrong coordinator", "no X-Forwarded header
//! reached a stock cluster"), and how many queries are in which state.

use std::collections::VecDeque;
use std::sync::Mutex;

use hyper::header::HeaderMap;
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Map, Value};

use crate::app::App;
use crate::respond::{self, Payload};

/// How many requests the log keeps (the oldest are dropped first).
pub const LOG_CAPACITY: usize = 20_000;

#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub status: u16,
}

impl LoggedRequest {
    pub fn new(method: &Method, path: &str, headers: &HeaderMap, status: StatusCode) -> Self {
        LoggedRequest {
            method: method.as_str().to_string(),
            path: path.to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect(),
            status: status.as_u16(),
        }
    }

    fn to_json(&self) -> Value {
        let mut headers = Map::new();
        for (k, v) in &self.headers {
            // Repeated headers are joined the way HTTP allows folding them.
            match headers.get_mut(k) {
                Some(Value::String(prev)) => {
                    prev.push_str(", ");
                    prev.push_str(v);
                }
                _ => {
                    headers.insert(k.clone(), Value::String(v.clone()));
                }
            }
        }
        json!({
            "method": self.method,
            "path": self.path,
            "headers": headers,
            "status": self.status,
        })
    }
}

#[derive(Debug, Default)]
pub struct RequestLog {
    entries: Mutex<VecDeque<LoggedRequest>>,
}

impl RequestLog {
    pub fn push(&self, entry: LoggedRequest) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= LOG_CAPACITY {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    pub fn to_json(&self) -> String {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        Value::Array(entries.iter().map(LoggedRequest::to_json).collect()).to_string()
    }
}

/// Handles `/_standin/*`; `query` is the raw query string, if any.
pub fn handle(app: &App, method: &Method, path: &str, query: Option<&str>) -> Response<Payload> {
    match (method, path) {
        (&Method::GET, "/_standin/requests") => respond::json(StatusCode::OK, app.requests.to_json(), false),
        (&Method::DELETE, "/_standin/requests") => {
            app.requests.clear();
            respond::empty(StatusCode::NO_CONTENT)
        }
        (&Method::GET, "/_standin/state") => {
            let c = app.registry().counts();
            let body = json!({
                "name": app.config.name,
                "coordinatorId": app.coordinator_id,
                "queries": {
                    "queued": c.queued,
                    "running": c.running,
                    "finished": c.finished,
                    "canceled": c.canceled,
                    "failed": c.failed,
                    "maxRunning": c.max_running,
                },
            });
            respond::json(StatusCode::OK, body.to_string(), false)
        }
        (&Method::POST, "/_standin/starting") => {
            let secs = query
                .unwrap_or("")
                .split('&')
                .find_map(|kv| kv.strip_prefix("secs="))
                .and_then(|v| v.parse::<u64>().ok());
            match secs {
                Some(secs) => {
                    app.set_starting_for(secs);
                    respond::empty(StatusCode::NO_CONTENT)
                }
                None => respond::text(StatusCode::BAD_REQUEST, "secs=N query parameter required"),
            }
        }
        _ => respond::plain_status(StatusCode::NOT_FOUND),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn ring_buffer_drops_the_oldest() {
        let log = RequestLog::default();
        let mut h = HeaderMap::new();
        h.insert("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("2"));
        h.insert("x-bin", HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        for i in 0..LOG_CAPACITY + 5 {
            log.push(LoggedRequest::new(&Method::GET, &format!("/p{i}"), &h, StatusCode::OK));
        }
        let v: Value = serde_json::from_str(&log.to_json()).unwrap();
        let arr = v.as_array().unwrap();
        assert_eq!(arr.len(), LOG_CAPACITY);
        assert_eq!(arr[0]["path"], "/p5");
        assert_eq!(arr[LOG_CAPACITY - 1]["path"], format!("/p{}", LOG_CAPACITY + 4));
        assert_eq!(arr[0]["headers"]["x-a"], "1, 2");
        assert_eq!(arr[0]["headers"]["x-bin"], "\u{fffd}\u{fffd}");
        log.clear();
        assert_eq!(log.to_json(), "[]");
    }
}
