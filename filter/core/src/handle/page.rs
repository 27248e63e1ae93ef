//! The answer to a statement request, as it streams back: learn the coordinator id from the
//! first bytes of a new query's page, and in rewrite mode put the pin into its URIs,
//! replacing the start of a chunk in place (never buffering the page, never reading its rows).

use super::{state, Metrics};
use crate::host::{log, Body, Host, LogLevel};
use crate::protocol::query_id_in_page;
use crate::rewrite::UriRewriter;
use crate::route::Forward;

/// The query id is the first field of a statement page; this is plenty to find it.
const PAGE_PREFIX_BYTES: usize = 512;
/// How much of a chunk is read into the VM at a time for rewriting. A page's URIs and
/// columns come first, and fit in one window unless the table is very wide.
const REWRITE_WINDOW_BYTES: usize = 4 * 1024;

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
        if let Some(mut rewriter) = self.rewriter.take() {
            self.rewrite_chunk(host, &mut rewriter, size, end_of_stream);
            if !rewriter.is_done() {
                self.rewriter = Some(rewriter);
            }
        } else if self.learn_for.is_some() {
            let prefix = host.body(Body::Response, 0, PAGE_PREFIX_BYTES.min(size)).ok().flatten().unwrap_or_default();
            self.learn(host, &prefix, end_of_stream);
        }
    }

    /// Feeds the chunk to the rewriter a window at a time, only until it is done (the URIs
    /// come before the rows), and replaces just the bytes it read: the rows of a large page
    /// stay in Envoy, never copied into the VM.
    fn rewrite_chunk(&mut self, host: &impl Host, rewriter: &mut UriRewriter, size: usize, end_of_stream: bool) {
        let mut read = 0usize;
        let mut out = Vec::new();
        let mut changed = false;
        loop {
            let want = REWRITE_WINDOW_BYTES.min(size.saturating_sub(read));
            let window = match want {
                0 => Vec::new(),
                _ => host.body(Body::Response, read, want).ok().flatten().unwrap_or_default(),
            };
            read = read.saturating_add(window.len());
            // A window the host did not give (an error, or nothing left) ends the chunk.
            let last_window = window.is_empty() || read >= size;
            if self.learn_for.is_some() {
                self.learn(host, &window, end_of_stream && last_window);
            }
            let piece = rewriter.feed(&window, end_of_stream && last_window);
            changed |= rewriter.changed_last_feed();
            out.extend_from_slice(&piece);
            if last_window || rewriter.is_done() {
                break;
            }
        }
        if changed {
            if let Err(e) = host.replace_response_body(read, &out) {
                log(host, LogLevel::Warn, &format!("trino-router: cannot rewrite page chunk: {e}"));
            }
        }
    }

    /// Reads the query id from the page's first bytes, handed over as they come.
    fn learn(&mut self, host: &impl Host, bytes: &[u8], end_of_stream: bool) {
        let Some(cluster) = &self.learn_for else { return };
        let room = PAGE_PREFIX_BYTES.saturating_sub(self.prefix.len());
        self.prefix.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
        if let Some(coordinator) = query_id_in_page(&self.prefix).and_then(|id| id.coordinator()) {
            state::update(host, cluster, |s| s.learn_coordinator(&coordinator));
            self.learn_for = None;
        } else if self.prefix.len() >= PAGE_PREFIX_BYTES || end_of_stream {
            self.learn_for = None;
        }
    }
}
