//! How response bodies go on the wire: `--chunk-bytes` frames and `--content-length`.
//!
//! Trino streams pages chunked in whatever pieces Jetty flushes; a router that rewrites
//! pages must cope with a URI split across any two reads. With `--chunk-bytes N` every
//! body leaves in frames of at most N bytes, each flushed to the socket on its own (the
//! body yields between frames, and hyper flushes when the body is not ready). With
//! `--content-length` JSON that would go chunked carries a Content-Length instead.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{HeaderValue, CONTENT_LENGTH};
use hyper::Response;

use crate::args::Config;
use crate::respond::Payload;

/// A response body cut into frames, each flushed before the next is produced.
#[derive(Debug)]
pub struct Framed {
    rest: Bytes,
    frame_bytes: usize,
    /// None: chunked transfer encoding.
    length: Option<u64>,
    /// Yield once before the next frame, so hyper flushes the previous one.
    pause: bool,
}

/// Re-frames `resp` as the flags ask; without them the body goes out as one frame.
pub fn apply(resp: Response<Payload>, config: &Config) -> Response<Framed> {
    let (mut parts, payload) = resp.into_parts();
    let (data, chunked) = payload.into_parts();
    let rest = data.unwrap_or_default();
    let sized = !chunked || config.content_length;
    let length = sized.then_some(rest.len() as u64);
    if chunked && length.is_some() {
        parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(rest.len()));
    }
    let frame_bytes = if config.chunk_bytes == 0 { usize::MAX } else { config.chunk_bytes };
    Response::from_parts(parts, Framed { rest, frame_bytes, length, pause: false })
}

impl Body for Framed {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.rest.is_empty() {
            return Poll::Ready(None);
        }
        if this.pause {
            this.pause = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let frame = this.rest.split_to(this.rest.len().min(this.frame_bytes));
        this.pause = !this.rest.is_empty();
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        match self.length {
            Some(_) => SizeHint::with_exact(self.rest.len() as u64),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::respond;
    use http_body_util::BodyExt as _;
    use hyper::StatusCode;

    fn config(chunk_bytes: usize, content_length: bool) -> Config {
        Config { chunk_bytes, content_length, ..Config::default() }
    }

    async fn frames(body: Framed) -> Vec<Bytes> {
        let mut body = body;
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            out.push(frame.unwrap().into_data().unwrap());
        }
        out
    }

    #[tokio::test]
    async fn pages_leave_in_frames_of_the_given_size() {
        // Over 8 KiB, so Trino (and the stand-in) would send it chunked.
        let page = format!(
            "{{\"id\":\"q\",\"nextUri\":\"http://h/v1/statement/executing/q/y/1\",\"x\":\"{}\"}}",
            "a".repeat(9000)
        );
        for n in [1, 7, 1000] {
            let resp = apply(respond::json(StatusCode::OK, page.clone(), false), &config(n, false));
            assert!(resp.headers().get("content-length").is_none(), "chunked by default");
            assert!(resp.body().size_hint().exact().is_none());
            let got = frames(resp.into_body()).await;
            assert!(got.iter().all(|f| f.len() <= n && !f.is_empty()));
            assert_eq!(got.len(), page.len().div_ceil(n));
            assert_eq!(got.concat(), page.as_bytes());
        }
    }

    #[tokio::test]
    async fn content_length_replaces_chunked_json() {
        let page = format!("{{\"id\":\"q\",\"x\":\"{}\"}}", "a".repeat(9000));
        let resp = apply(respond::json(StatusCode::OK, page.clone(), false), &config(3, true));
        assert_eq!(resp.headers()["content-length"], page.len().to_string().as_str());
        assert_eq!(resp.body().size_hint().exact(), Some(page.len() as u64));
        assert_eq!(frames(resp.into_body()).await.concat(), page.as_bytes());
    }

    #[tokio::test]
    async fn without_flags_nothing_changes() {
        let resp = apply(respond::json(StatusCode::OK, "[1]".repeat(3000), false), &config(0, false));
        assert!(resp.body().size_hint().exact().is_none());
        let small = apply(respond::json(StatusCode::OK, "[1]".repeat(100), false), &config(0, false));
        assert_eq!(small.body().size_hint().exact(), Some(300), "up to 8 KiB: sized, as Trino");
        assert_eq!(frames(resp.into_body()).await.len(), 1);
        let text = apply(respond::plain_status(StatusCode::GONE), &config(0, false));
        assert_eq!(text.body().size_hint().exact(), Some(29));
        let empty = apply(respond::empty(StatusCode::NO_CONTENT), &config(5, true));
        assert!(empty.headers().get("content-length").is_none());
        assert!(frames(empty.into_body()).await.is_empty());
    }
}
