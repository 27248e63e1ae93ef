//! The answer to a statement request, as it streams back: learn the coordinator id from the
//! first bytes of a new query's page, and in rewrite mode put the pin into its URIs,
//! replacing each chunk in place (never buffering the page).

use super::{state, Metrics};
use crate::host::{log, Body, Host, LogLevel};
use crate::protocol::query_id_in_page;
use crate::rewrite::UriRewriter;
use crate::route::Forward;

/// The query id is the first field of a statement page; this is plenty to find it.
const PAGE_PREFIX_BYTES: usize = 512;

#[derive(Default)]
pub struct PageWork {
    /// Set while the query id of a new query is still to be read: the cluster it went to.
    learn_for: Option<String>,
    prefix: Vec<u8>,
    rewriter: Option<UriRewriter>,
}

impl PageWork {
    /// The page duties a forward's plan names.
    pub fn of(f: &Forward) -> PageWork {
        PageWork {
            learn_for: f.answer.learn_coordinator.then(|| f.cluster_name.clone()),
            prefix: Vec::new(),
            rewriter: f.answer.rewrite.as_ref().map(|r| UriRewriter::new(&r.authority, r.insert.as_bytes())),
        }
    }

    pub fn is_idle(&self) -> bool {
        self.learn_for.is_none() && self.rewriter.is_none()
    }

    /// Called with the response headers: only a plain 200 JSON page is read or rewritten.
    pub fn on_headers(&mut self, host: &impl Host, status: Option<u16>, metrics: &Metrics) {
        if status != Some(200) {
            *self = PageWork::default();
            return;
        }
        if self.rewriter.is_some() {
            let encoded = host
                .response_header("content-encoding")
                .ok()
                .flatten()
                .is_some_and(|e| !e.eq_ignore_ascii_case(b"identity"));
            if encoded {
                // The filter asked for identity; a page compressed anyway (by something between
                // Envoy and Trino that ignores Accept-Encoding) cannot be rewritten. Its
                // follow-ups still reach the owner by query id, looked up if need be.
                log(host, LogLevel::Warn, "trino-router: statement page came back compressed; URIs not rewritten");
                metrics.count(host, "trino_router.pages.not_rewritten");
                self.rewriter = None;
                self.learn_for = None;
            } else if let Err(e) = host.remove_response_header("content-length") {
                log(host, LogLevel::Warn, &format!("trino-router: cannot drop content-length, not rewriting: {e}"));
                self.rewriter = None;
            }
        }
    }

    pub fn on_chunk(&mut self, host: &impl Host, size: usize, end_of_stream: bool) {
        let want = if self.rewriter.is_some() { size } else { PAGE_PREFIX_BYTES.min(size) };
        let chunk = host.body(Body::Response, want).ok().flatten().unwrap_or_default();
        if let Some(cluster) = &self.learn_for {
            let room = PAGE_PREFIX_BYTES.saturating_sub(self.prefix.len());
            self.prefix.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
            if let Some(coordinator) = query_id_in_page(&self.prefix).and_then(|id| id.coordinator()) {
                state::update(host, cluster, |s| s.learn_coordinator(&coordinator));
                self.learn_for = None;
            } else if self.prefix.len() >= PAGE_PREFIX_BYTES || end_of_stream {
                self.learn_for = None;
            }
        }
        if let Some(rewriter) = &mut self.rewriter {
            let out = rewriter.feed(&chunk, end_of_stream);
            if out != chunk {
                if let Err(e) = host.replace_response_body(size, &out) {
                    log(host, LogLevel::Warn, &format!("trino-router: cannot rewrite page chunk: {e}"));
                }
            }
            if rewriter.is_done() {
                self.rewriter = None;
            }
        }
    }
}
