//! Rewrite mode: puts the pin prefix into the URIs a stock Trino writes in a statement
//! page (`infoUri`, `partialCancelUri`, `nextUri`, and spooled segments' `uri`/`ackUri`),
//! as the page streams through, in chunks of any size.
//!
//! It follows the JSON structure byte by byte (strings, escapes, nesting), so a row that
//! merely contains the text `"nextUri":"http://..."` is never touched: inside a JSON
//! string every quote is escaped. Row data is never scanned at all: when the top-level
//! `data` turns out to be an array of rows, or `stats` starts, the rest of the page is
//! passed through as is. Only a key or a URI being read is held back between chunks.

/// Longest key or URI held back across chunks; a longer one is passed through unrewritten.
const MAX_CAPTURE: usize = 8 * 1024;
/// Top-level keys whose string values are rewritten.
const TOP_URI_KEYS: [&[u8]; 3] = [b"infoUri", b"partialCancelUri", b"nextUri"];
/// Keys inside spooled `data` whose values are rewritten when they point at the coordinator.
const SEGMENT_URI_KEYS: [&[u8]; 2] = [b"uri", b"ackUri"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Capture {
    None,
    Key,
    /// A URI value; `segment` ones are rewritten only for the coordinator's own paths.
    Uri {
        segment: bool,
    },
}

pub struct UriRewriter {
    /// The client-facing authority Trino wrote into its URIs (the request's Host).
    authority: Vec<u8>,
    /// What goes between the authority and the path: `/<marker>/<token>`.
    insert: Vec<u8>,
    done: bool,
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// In an object, the next string at this depth is a key (after `{` or `,`).
    expect_key: bool,
    capture: Capture,
    held: Vec<u8>,
    /// The last key read at the current position of interest.
    key: Vec<u8>,
    /// Depth at which the top-level `data` object (spooled segments) was entered.
    spooled_depth: Option<u32>,
    /// Waiting for the first byte of the top-level `data` value.
    data_value_next: bool,
    /// The last `feed` pinned a URI.
    pinned: bool,
    /// The last `feed` gave back other bytes than it took (`changed_last_feed`).
    changed: bool,
}

impl UriRewriter {
    pub fn new(authority: &[u8], insert: &[u8]) -> Self {
        UriRewriter {
            authority: authority.to_ascii_lowercase(),
            insert: insert.to_vec(),
            done: false,
            depth: 0,
            in_string: false,
            escaped: false,
            expect_key: false,
            capture: Capture::None,
            held: Vec::new(),
            key: Vec::new(),
            spooled_depth: None,
            data_value_next: false,
            pinned: false,
            changed: false,
        }
    }

    /// Nothing more can be rewritten: the caller may stop feeding and pass the rest through.
    pub fn is_done(&self) -> bool {
        self.done && self.held.is_empty()
    }

    /// Takes the next chunk and returns the bytes to send now. Bytes of a key or URI that
    /// continues in the next chunk are held back; `end` flushes everything.
    pub fn feed(&mut self, chunk: &[u8], end: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len().saturating_add(self.insert.len()));
        let carried_in = !self.held.is_empty();
        self.pinned = false;
        let mut rest = chunk;
        while let Some((&b, after)) = rest.split_first() {
            if self.done {
                out.extend_from_slice(rest);
                break;
            }
            // Most of a page's head is string bytes: those up to the next quote or backslash
            // go as one run, not byte by byte.
            let run = if self.in_string && !self.escaped {
                rest.iter().position(|&c| c == b'"' || c == b'\\').unwrap_or(rest.len())
            } else {
                0
            };
            if let Some((plain, tail)) = rest.split_at_checked(run).filter(|_| run > 0) {
                self.string_run(plain, &mut out);
                rest = tail;
            } else {
                self.step(b, &mut out);
                rest = after;
            }
        }
        if end {
            out.append(&mut self.held);
            self.done = true;
        }
        self.changed = carried_in || self.pinned || !self.held.is_empty();
        out
    }

    /// Whether the last `feed` gave back other bytes than it took: it pinned a URI, or
    /// held bytes back into the next chunk or gave back bytes held from the last one.
    /// Cheaper than comparing the bytes (a byte loop in wasm, where `memcmp` has no
    /// instruction), and exact: every other byte goes out as it came, in place.
    pub fn changed_last_feed(&self) -> bool {
        self.changed
    }

    fn step(&mut self, b: u8, out: &mut Vec<u8>) {
        if self.in_string {
            self.string_byte(b, out);
            return;
        }
        if self.data_value_next && !b.is_ascii_whitespace() && b != b':' {
            self.data_value_next = false;
            match b {
                // Rows: never scanned.
                b'[' => self.done = true,
                b'{' => self.spooled_depth = Some(self.depth.saturating_add(1)),
                _ => {}
            }
        }
        out.push(b);
        match b {
            b'"' => self.open_string(),
            b'{' => {
                self.depth = self.depth.saturating_add(1);
                self.expect_key = true;
            }
            b'[' => {
                self.depth = self.depth.saturating_add(1);
                self.expect_key = false;
            }
            b'}' | b']' => {
                if self.spooled_depth == Some(self.depth) {
                    self.spooled_depth = None;
                }
                self.depth = self.depth.saturating_sub(1);
                self.expect_key = false;
            }
            b',' => self.expect_key = self.in_object_context(),
            b':' => self.expect_key = false,
            _ => {}
        }
    }

    /// Whether a `,` at this point separates object members. Only positions the rewriter
    /// cares about (the top level, spooled data) are objects we track; elsewhere a wrong
    /// guess only means a string is captured as a key and emitted unchanged.
    fn in_object_context(&self) -> bool {
        self.depth == 1 || self.spooled_depth.is_some()
    }

    fn open_string(&mut self) {
        self.in_string = true;
        self.escaped = false;
        let interesting = self.depth == 1 || self.spooled_depth.is_some();
        self.capture = if !interesting {
            Capture::None
        } else if self.expect_key {
            Capture::Key
        } else if self.depth == 1 && TOP_URI_KEYS.contains(&self.key.as_slice()) {
            Capture::Uri { segment: false }
        } else if self.spooled_depth.is_some() && SEGMENT_URI_KEYS.contains(&self.key.as_slice()) {
            Capture::Uri { segment: true }
        } else {
            Capture::None
        };
    }

    /// Bytes inside a string that neither close it nor escape: copied, or held while the
    /// string is captured (as `string_byte` does for each, in one go).
    fn string_run(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        match self.capture {
            Capture::None => out.extend_from_slice(bytes),
            _ if self.held.len().saturating_add(bytes.len()) > MAX_CAPTURE => {
                // Too long to be ours: give up on this string, keep the bytes flowing.
                out.append(&mut self.held);
                out.extend_from_slice(bytes);
                self.capture = Capture::None;
            }
            _ => self.held.extend_from_slice(bytes),
        }
    }

    fn string_byte(&mut self, b: u8, out: &mut Vec<u8>) {
        let closes = !self.escaped && b == b'"';
        self.escaped = !self.escaped && b == b'\\';
        if !closes {
            match self.capture {
                Capture::None => out.push(b),
                _ if self.held.len() >= MAX_CAPTURE => {
                    // Too long to be ours: give up on this string, keep the bytes flowing.
                    out.append(&mut self.held);
                    out.push(b);
                    self.capture = Capture::None;
                }
                _ => self.held.push(b),
            }
            return;
        }
        self.in_string = false;
        match self.capture {
            Capture::None => {}
            Capture::Key => {
                self.key = std::mem::take(&mut self.held);
                out.extend_from_slice(&self.key);
                self.after_key();
            }
            Capture::Uri { segment } => {
                let value = std::mem::take(&mut self.held);
                match self.rewrite(&value, segment) {
                    Some(pinned) => {
                        self.pinned = true;
                        out.extend_from_slice(&pinned);
                    }
                    None => out.extend_from_slice(&value),
                }
            }
        }
        self.capture = Capture::None;
        out.push(b'"');
    }

    /// Top-level keys steer the scan: `data` decides between rows and spooled segments;
    /// from `stats` on nothing carries a URI.
    fn after_key(&mut self) {
        if self.depth != 1 {
            return;
        }
        match self.key.as_slice() {
            b"data" => self.data_value_next = true,
            b"stats" | b"error" | b"warnings" | b"updateType" | b"updateCount" => self.done = true,
            _ => {}
        }
    }

    /// `scheme://authority/path` -> `scheme://authority<insert>/path`; None: left as is.
    fn rewrite(&self, uri: &[u8], segment: bool) -> Option<Vec<u8>> {
        let scheme_end = find(uri, b"://").and_then(|i| i.checked_add(3))?;
        let rest = uri.get(scheme_end..).unwrap_or_default();
        let authority_len = rest.iter().position(|b| *b == b'/').unwrap_or(rest.len());
        let (authority, path) =
            (rest.get(..authority_len).unwrap_or_default(), rest.get(authority_len..).unwrap_or_default());
        let ours = authority.eq_ignore_ascii_case(&self.authority);
        // Segments served elsewhere (a worker, pre-signed storage) are not the coordinator's.
        if segment && !(ours && path.starts_with(b"/v1/spooled/")) {
            return None;
        }
        insert_pin(uri, &self.insert)
    }
}

/// `scheme://authority/path` -> `scheme://authority<insert>/path`; None when `uri` is not an
/// absolute URI with a path, or already carries `insert`.
pub fn insert_pin(uri: &[u8], insert: &[u8]) -> Option<Vec<u8>> {
    let scheme_end = find(uri, b"://")?.checked_add(3)?;
    let rest = uri.get(scheme_end..)?;
    let authority_len = rest.iter().position(|b| *b == b'/')?;
    let path = rest.get(authority_len..)?;
    if path.starts_with(insert) {
        return None;
    }
    let mut out = Vec::with_capacity(uri.len().saturating_add(insert.len()));
    out.extend_from_slice(uri.get(..scheme_end.checked_add(authority_len)?)?);
    out.extend_from_slice(insert);
    out.extend_from_slice(path);
    Some(out)
}

/// Where `needle` first occurs in `haystack` (also used by `auth_flow.rs`).
pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests;
