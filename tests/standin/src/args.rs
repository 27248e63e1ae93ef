//! Command-line parsing: turns `argv` into a [`Config`].
//!
//! Hand-rolled on purpose (no clap): the flag set is small and a test harness is
//! the only user, so a clear error message and `--help` are all that is needed.

use crate::ids;
use crate::uris::ForwardedMode;

/// Which Trino release `/v1/info` and `/v1/status` look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrinoVersion {
    /// No `nodeId`, `state` or `coordinatorId` in /v1/info (the newest server on Maven Central).
    V476,
    /// /v1/info with `coordinatorId` (477+).
    V483,
}

impl TrinoVersion {
    pub fn number(self) -> &'static str {
        match self {
            TrinoVersion::V476 => "476",
            TrinoVersion::V483 => "483",
        }
    }
}

/// Everything the stand-in is told at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    /// Reported as `environment` in /v1/info, like Trino's `node.environment`.
    pub name: String,
    /// Explicit coordinator id; `None` means "pick a random one at start".
    pub coordinator_id: Option<String>,
    pub forwarded: ForwardedMode,
    pub rows: u64,
    pub page_rows: u64,
    pub row_bytes: usize,
    pub latency_ms: u64,
    pub queued_polls: u64,
    pub starting_secs: u64,
    /// Answer clients that send `X-Trino-Query-Data-Encoding` with the spooling protocol.
    pub spooling: bool,
    /// Segments whose encoded size is at most this are inlined; larger ones are spooled.
    pub spool_inline_bytes: usize,
    /// Rows per segment; 0 = one segment per data page.
    pub spool_segment_rows: u64,
    /// Every Nth spooled segment points at pre-signed "storage" instead of the coordinator.
    pub spool_external_every: u64,
    /// Write response bodies in frames of at most this many bytes, flushed one by one (0 = whole).
    pub chunk_bytes: usize,
    /// Send JSON with a Content-Length instead of chunked.
    pub content_length: bool,
    /// Benchmark upstream: statement pages from precomputed bytes, no per-query state (fast.rs).
    pub fast: bool,
    pub trino_version: TrinoVersion,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".to_string(),
            port: 0,
            name: "standin".to_string(),
            coordinator_id: None,
            forwarded: ForwardedMode::Reject,
            rows: 100,
            page_rows: 40,
            row_bytes: 0,
            latency_ms: 0,
            queued_polls: 2,
            starting_secs: 0,
            spooling: false,
            spool_inline_bytes: 4096,
            spool_segment_rows: 0,
            spool_external_every: 0,
            chunk_bytes: 0,
            content_length: false,
            fast: false,
            trino_version: TrinoVersion::V483,
        }
    }
}

pub const USAGE: &str = "\
usage: trino-standin --port PORT --name CLUSTER_NAME [options]

  --host ADDR               bind address (default 127.0.0.1)
  --port PORT               bind port, 0 = ephemeral (required)
  --name NAME               cluster name, reported as `environment` (required)
  --coordinator-id ID       5 chars from a-z2-9 without l,o (default random)
  --forwarded MODE          reject|accept|ignore X-Forwarded-* (default reject)
  --rows N                  rows per query (default 100)
  --page-rows N             rows per data page (default 40)
  --row-bytes N             pad each row's string column to N bytes (default 0)
  --latency-ms N            delay before answering statement requests (default 0)
  --queued-polls N          queued tokens before executing (default 2, min 1)
  --starting-secs N         report starting:true for the first N seconds (default 0)
  --spooling                spooling protocol for clients sending X-Trino-Query-Data-Encoding
  --spool-inline-bytes N    inline segments up to N encoded bytes, spool larger ones (default 4096)
  --spool-segment-rows N    rows per segment, 0 = one segment per page (default 0)
  --spool-external-every N  every Nth spooled segment gets a pre-signed storage URI (default 0 = none)
  --chunk-bytes N           write bodies in flushed frames of N bytes (default 0 = one frame)
  --content-length          JSON answers with Content-Length instead of chunked
  --fast                    benchmark upstream: precomputed pages, the token picks the page
  --trino-version V         476|483: the /v1/info and /v1/status shapes (default 483)
";

/// Parses the arguments after the program name. `Err` carries a message for
/// stderr; `--help` is reported as `Err` with the usage text.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Config, String> {
    let mut config = Config::default();
    let mut saw_port = false;
    let mut saw_name = false;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        if arg == "--help" || arg == "-h" {
            return Err(USAGE.to_string());
        }
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().ok_or_else(|| format!("{flag} needs a value")),
            }
        };
        match flag.as_str() {
            "--host" => config.host = value()?,
            "--port" => {
                config.port = number(&flag, &value()?)?;
                saw_port = true;
            }
            "--name" => {
                config.name = value()?;
                saw_name = true;
            }
            "--coordinator-id" => {
                let id = value()?;
                if !ids::is_valid_coordinator_id(&id) {
                    return Err(format!("--coordinator-id must be 5 chars from {}", ids::COORDINATOR_ID_ALPHABET));
                }
                config.coordinator_id = Some(id);
            }
            "--forwarded" => {
                config.forwarded = match value()?.as_str() {
                    "reject" => ForwardedMode::Reject,
                    "accept" => ForwardedMode::Accept,
                    "ignore" => ForwardedMode::Ignore,
                    other => return Err(format!("--forwarded: unknown mode {other:?}")),
                }
            }
            "--rows" => config.rows = number(&flag, &value()?)?,
            "--page-rows" => config.page_rows = number(&flag, &value()?)?,
            "--row-bytes" => config.row_bytes = number(&flag, &value()?)?,
            "--latency-ms" => config.latency_ms = number(&flag, &value()?)?,
            "--queued-polls" => config.queued_polls = number(&flag, &value()?)?,
            "--starting-secs" => config.starting_secs = number(&flag, &value()?)?,
            "--spooling" => config.spooling = true,
            "--spool-inline-bytes" => config.spool_inline_bytes = number(&flag, &value()?)?,
            "--spool-segment-rows" => config.spool_segment_rows = number(&flag, &value()?)?,
            "--spool-external-every" => config.spool_external_every = number(&flag, &value()?)?,
            "--chunk-bytes" => config.chunk_bytes = number(&flag, &value()?)?,
            "--content-length" => config.content_length = true,
            "--fast" => config.fast = true,
            "--trino-version" => {
                config.trino_version = match value()?.as_str() {
                    "476" => TrinoVersion::V476,
                    "483" => TrinoVersion::V483,
                    other => return Err(format!("--trino-version: 476 or 483, not {other:?}")),
                }
            }
            _ => return Err(format!("unknown argument {arg:?}\n\n{USAGE}")),
        }
    }
    if !saw_port {
        return Err(format!("--port is required\n\n{USAGE}"));
    }
    if !saw_name {
        return Err(format!("--name is required\n\n{USAGE}"));
    }
    // Trino always hands out queued/1 first, so at least one queued poll exists;
    // a data page needs at least one row.
    config.queued_polls = config.queued_polls.max(1);
    config.page_rows = config.page_rows.max(1);
    Ok(config)
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("{flag}: not a valid number: {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_all_flags() {
        let c = parse(args(&[
            "--port=0",
            "--name",
            "blue",
            "--coordinator-id",
            "abc23",
            "--forwarded",
            "accept",
            "--rows",
            "7",
            "--page-rows",
            "3",
            "--row-bytes",
            "1000",
            "--latency-ms",
            "5",
            "--queued-polls",
            "0",
            "--starting-secs",
            "9",
            "--host",
            "0.0.0.0",
        ]))
        .unwrap();
        assert_eq!(c.port, 0);
        assert_eq!(c.name, "blue");
        assert_eq!(c.coordinator_id.as_deref(), Some("abc23"));
        assert_eq!(c.forwarded, ForwardedMode::Accept);
        assert_eq!((c.rows, c.page_rows, c.row_bytes), (7, 3, 1000));
        assert_eq!((c.latency_ms, c.queued_polls, c.starting_secs), (5, 1, 9));
        assert_eq!(c.host, "0.0.0.0");
    }

    #[test]
    fn parses_spooling_and_framing_flags() {
        let c = parse(args(&["--port", "0", "--name", "n"])).unwrap();
        assert!(!c.spooling && !c.content_length);
        assert_eq!((c.chunk_bytes, c.spool_segment_rows, c.spool_external_every), (0, 0, 0));
        let c = parse(args(&[
            "--port",
            "0",
            "--name",
            "n",
            "--spooling",
            "--spool-inline-bytes=100",
            "--spool-segment-rows",
            "5",
            "--spool-external-every",
            "3",
            "--chunk-bytes",
            "7",
            "--content-length",
        ]))
        .unwrap();
        assert!(c.spooling && c.content_length);
        assert_eq!((c.spool_inline_bytes, c.spool_segment_rows, c.spool_external_every), (100, 5, 3));
        assert_eq!(c.chunk_bytes, 7);
    }

    #[test]
    fn parses_fast_mode() {
        assert!(!parse(args(&["--port", "0", "--name", "n"])).unwrap().fast);
        assert!(parse(args(&["--port", "0", "--name", "n", "--fast"])).unwrap().fast);
    }

    #[test]
    fn parses_the_trino_version() {
        assert_eq!(parse(args(&["--port", "0", "--name", "n"])).unwrap().trino_version, TrinoVersion::V483);
        let c = parse(args(&["--port", "0", "--name", "n", "--trino-version", "476"])).unwrap();
        assert_eq!(c.trino_version, TrinoVersion::V476);
        assert!(parse(args(&["--port", "0", "--name", "n", "--trino-version", "477"])).is_err());
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(args(&["--name", "x"])).is_err());
        assert!(parse(args(&["--port", "1"])).is_err());
        assert!(parse(args(&["--port", "x", "--name", "n"])).is_err());
        assert!(parse(args(&["--port", "1", "--name", "n", "--coordinator-id", "abcl1"])).is_err());
        assert!(parse(args(&["--port", "1", "--name", "n", "--forwarded", "maybe"])).is_err());
        assert!(parse(args(&["--port", "1", "--name", "n", "--bogus"])).is_err());
        assert!(parse(args(&["--port"])).is_err());
    }
}
