//! The in-memory Envoy as the filter sees it: the `Host` trait over the fake's state.

use super::{Call, FakeEnvoy, HeaderList, Health, Response};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use trino_router_core::host::{Body, Callout, Host, HostError, HostResult, LogLevel};
use trino_router_core::request::Headers;

/// Every shared-data write draws the next number of one process-wide counter, as Envoy's
/// `nextCas()` does: a version never comes back for a key, even across the in-memory Envoys
/// one test thread runs (the filter keeps decoded states per thread, by key and version).
static NEXT_CAS: AtomicU32 = AtomicU32::new(1);

fn set(list: &mut HeaderList, name: &str, value: &[u8]) {
    list.retain(|(n, _)| n != name);
    list.push((name.to_string(), value.to_vec()));
}

impl Host for FakeEnvoy {
    fn now_ms(&self) -> HostResult<u64> {
        self.check("now_ms")?;
        self.check("now_ms")?;
        Ok(self.clock_ms.get())
    }
    fn log(&self, level: LogLevel, message: &str) -> HostResult<()> {
        self.logs.borrow_mut().push((level, message.to_string()));
        Ok(())
    }
    fn log_level(&self) -> HostResult<LogLevel> {
        Ok(self.log_level.get().unwrap_or(LogLevel::Debug))
    }
    fn plugin_configuration(&self) -> HostResult<Option<Vec<u8>>> {
        self.check("plugin_configuration")?;
        Ok(Some(self.config.borrow().clone()))
    }
    fn set_tick_period(&self, period: Duration) -> HostResult<()> {
        self.check("set_tick_period")?;
        self.tick_period.set(Some(period));
        Ok(())
    }
    fn request_headers(&self) -> HostResult<Headers> {
        self.check("request_headers")?;
        self.check("request_headers")?;
        Ok(Headers::from_owned(self.stream.borrow().request_headers.clone()))
    }
    fn set_request_header(&self, name: &str, value: &[u8]) -> HostResult<()> {
        self.check("set_request_header")?;
        self.check("set_request_header")?;
        set(&mut self.stream.borrow_mut().request_headers, name, value);
        Ok(())
    }
    fn remove_request_header(&self, name: &str) -> HostResult<()> {
        self.check("remove_request_header")?;
        self.stream.borrow_mut().request_headers.retain(|(n, _)| n != name);
        Ok(())
    }
    fn clear_route_cache(&self) -> HostResult<()> {
        self.check("clear_route_cache")?;
        Ok(())
    }
    fn set_filter_state(&self, name: &str, value: &[u8]) -> HostResult<()> {
        self.check("set_filter_state")?;
        self.stream.borrow_mut().filter_state.insert(name.to_string(), value.to_vec());
        Ok(())
    }
    fn send_reply(&self, status: u16, headers: &[(&str, &str)], body: &[u8]) -> HostResult<()> {
        self.check("send_reply")?;
        let headers = headers.iter().map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())).collect();
        let mut s = self.stream.borrow_mut();
        assert!(s.reply.is_none(), "a second local reply on one stream");
        s.reply = Some(Response { status, headers, body: body.to_vec(), details: None });
        Ok(())
    }
    fn resume_request(&self) -> HostResult<()> {
        self.check("resume_request")?;
        self.stream.borrow_mut().resumed = true;
        Ok(())
    }
    fn response_header(&self, name: &str) -> HostResult<Option<Vec<u8>>> {
        self.check("response_header")?;
        let s = self.stream.borrow();
        Ok(s.response_headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()))
    }
    fn response_headers(&self) -> HostResult<Headers> {
        self.check("response_headers")?;
        Ok(Headers::from_owned(self.stream.borrow().response_headers.clone()))
    }
    fn set_response_header(&self, name: &str, value: &[u8]) -> HostResult<()> {
        self.check("set_response_header")?;
        set(&mut self.stream.borrow_mut().response_headers, name, value);
        Ok(())
    }
    fn add_response_header(&self, name: &str, value: &[u8]) -> HostResult<()> {
        self.check("add_response_header")?;
        self.stream.borrow_mut().response_headers.push((name.to_string(), value.to_vec()));
        Ok(())
    }
    fn remove_response_header(&self, name: &str) -> HostResult<()> {
        self.check("remove_response_header")?;
        self.stream.borrow_mut().response_headers.retain(|(n, _)| n != name);
        Ok(())
    }
    fn property(&self, path: &[&str]) -> HostResult<Option<Vec<u8>>> {
        self.check("property")?;
        match path {
            ["response", "code_details"] => Ok(self.stream.borrow().code_details.clone().map(String::into_bytes)),
            // The client as Envoy's connection manager determined it.
            ["source", "address"] => Ok(Some(b"10.9.8.7:5555".to_vec())),
            _ => Ok(None),
        }
    }
    fn body(&self, which: Body, start: usize, max: usize) -> HostResult<Option<Vec<u8>>> {
        self.check("body")?;
        let whole = match which {
            Body::Request => self.stream.borrow().request_body.clone(),
            Body::Response => self.stream.borrow().chunk.clone(),
            Body::CallResponse => self.call_answer.borrow().as_ref().map(|(_, b)| b.clone()).unwrap_or_default(),
        };
        let from = start.min(whole.len());
        let bytes = whole[from..from.saturating_add(max).min(whole.len())].to_vec();
        if which == Body::Response {
            self.response_bytes_read.set(self.response_bytes_read.get() + bytes.len());
        }
        Ok(Some(bytes))
    }
    fn replace_response_body(&self, size: usize, data: &[u8]) -> HostResult<()> {
        self.check("replace_response_body")?;
        let mut s = self.stream.borrow_mut();
        let size = size.min(s.chunk.len());
        s.chunk.splice(..size, data.iter().copied());
        Ok(())
    }
    fn shared_get(&self, key: &str) -> HostResult<(Option<Vec<u8>>, Option<u32>)> {
        self.check("shared_get")?;
        Ok(match self.shared.borrow().get(key) {
            Some((v, cas)) => (Some(v.clone()), Some(*cas)),
            None => (None, None),
        })
    }
    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> HostResult<()> {
        self.check("shared_set")?;
        let mut shared = self.shared.borrow_mut();
        let current = shared.get(key).map(|(_, c)| *c);
        if cas.is_some_and(|c| Some(c) != current || self.cas_conflicts.get()) {
            return Err(HostError::CasMismatch);
        }
        shared.insert(key.to_string(), (value.to_vec(), NEXT_CAS.fetch_add(1, Ordering::Relaxed)));
        Ok(())
    }
    fn dispatch_call(&self, call: &Callout<'_>) -> HostResult<u32> {
        self.check("dispatch_call")?;
        let refused = self.coordinators.borrow().get(call.envoy_cluster).is_none_or(|c| c.health == Health::Refused);
        if refused {
            return Err(HostError::Failed("BadArgument".into()));
        }
        let token = self.next_token.get() + 1;
        self.next_token.set(token);
        if call.path == "/v1/info" {
            self.polls_sent.set(self.polls_sent.get() + 1);
        }
        let call = Call {
            token,
            envoy_cluster: call.envoy_cluster.to_string(),
            method: call.method.to_string(),
            path: call.path.to_string(),
            headers: call.headers.to_vec(),
        };
        self.call_log.borrow_mut().push(call.clone());
        self.calls.borrow_mut().push(call);
        Ok(token)
    }
    fn call_response_header(&self, name: &str) -> HostResult<Option<Vec<u8>>> {
        self.check("call_response_header")?;
        Ok(match (name, self.call_answer.borrow().as_ref()) {
            (":status", Some((status, _))) => Some(status.to_string().into_bytes()),
            _ => None,
        })
    }
    fn define_counter(&self, name: &str) -> HostResult<u32> {
        self.check("define_counter")?;
        let mut counters = self.counters.borrow_mut();
        if let Some(i) = counters.iter().position(|(n, _)| n == name) {
            return Ok(i as u32);
        }
        counters.push((name.to_string(), 0));
        Ok((counters.len() - 1) as u32)
    }
    fn increment_counter(&self, id: u32) -> HostResult<()> {
        self.check("increment_counter")?;
        self.counters.borrow_mut()[id as usize].1 += 1;
        Ok(())
    }
}
