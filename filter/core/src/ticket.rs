//! Queue tickets: a new query that waits at the router travels in its own nextUri, sealed so
//! that it is neither readable (in access logs, proxies) nor forgeable, and no store is needed.
//!
//! A ticket is the query (SQL body, session headers) plus when it started waiting, when this
//! ticket was issued and the group it waits for; deflated, then encrypted with XChaCha20-Poly1305
//! under a key derived from the stickiness signing key (the previous keys still open tickets, so
//! key rotation works as for pins). The nonce is derived from the sealed content (a synthetic
//! nonce): two different tickets never share one, without any source of randomness.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use thiserror::Error;

/// Marks the format; a ticket of another version does not open.
const PREFIX: &str = "t1.";
const NONCE_BYTES: usize = 24;
/// The largest query a ticket may unpack to: a bound on what a forged or corrupt one costs.
const MAX_UNPACKED: usize = 1 << 20;

/// A query waiting at the router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Names the waiting query across the tickets it is given.
    pub id: u64,
    /// When the query first waited (ms): its wait and its place in line.
    pub queued_at_ms: u64,
    /// When this ticket was issued (ms): a ticket not polled again soon expires.
    pub issued_at_ms: u64,
    pub group: String,
    /// The SQL body of the POST.
    pub body: String,
    /// The session headers of the POST (lower-case names).
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TicketError {
    #[error("the query is too large to wait at the router ({0} bytes sealed, at most {1})")]
    TooLarge(usize, usize),
    #[error("the queue ticket is not valid")]
    Invalid,
    #[error("the queue ticket has expired")]
    Expired,
}

/// The keys tickets are sealed with: derived from the signing keys, current one first.
#[derive(Clone)]
pub struct TicketKeys {
    keys: Vec<([u8; 32], [u8; 32])>,
}

impl std::fmt::Debug for TicketKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TicketKeys({} keys)", self.keys.len())
    }
}

fn derive(signing_key: &[u8], purpose: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    if let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(signing_key) {
        mac.update(purpose);
        out.copy_from_slice(&mac.finalize().into_bytes());
    }
    out
}

impl TicketKeys {
    /// `signing_keys`: the current stickiness key first, then the previous ones.
    pub fn new<'a>(signing_keys: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let keys = signing_keys
            .into_iter()
            .map(|k| {
                (derive(k, b"trino-router queue ticket cipher v1"), derive(k, b"trino-router queue ticket nonce v1"))
            })
            .collect();
        TicketKeys { keys }
    }

    /// The ticket as a path segment (URL-safe base64), at most `max_bytes` long.
    pub fn seal(&self, ticket: &Ticket, max_bytes: usize) -> Result<String, TicketError> {
        let Some((cipher_key, nonce_key)) = self.keys.first() else { return Err(TicketError::Invalid) };
        let plain = serde_json::to_vec(ticket).map_err(|_| TicketError::Invalid)?;
        let packed = miniz_oxide::deflate::compress_to_vec(&plain, 6);
        let mut nonce = [0u8; NONCE_BYTES];
        let digest = derive(nonce_key, &packed);
        nonce.copy_from_slice(digest.get(..NONCE_BYTES).ok_or(TicketError::Invalid)?);
        let cipher = XChaCha20Poly1305::new(cipher_key.into());
        let sealed = cipher.encrypt(XNonce::from_slice(&nonce), packed.as_slice()).map_err(|_| TicketError::Invalid)?;
        let mut raw = nonce.to_vec();
        raw.extend_from_slice(&sealed);
        let text = format!("{PREFIX}{}", b64().encode(&raw));
        if text.len() > max_bytes {
            return Err(TicketError::TooLarge(text.len(), max_bytes));
        }
        Ok(text)
    }

    /// Opens a ticket sealed with any of the keys, if it was issued at most `ttl_ms` ago.
    pub fn open(&self, text: &str, now_ms: u64, ttl_ms: u64) -> Result<Ticket, TicketError> {
        let raw = text.strip_prefix(PREFIX).and_then(|t| b64().decode(t).ok()).ok_or(TicketError::Invalid)?;
        let (nonce, sealed) = raw.split_at_checked(NONCE_BYTES).ok_or(TicketError::Invalid)?;
        let packed = self
            .keys
            .iter()
            .find_map(|(cipher_key, _)| {
                XChaCha20Poly1305::new(cipher_key.into()).decrypt(XNonce::from_slice(nonce), sealed).ok()
            })
            .ok_or(TicketError::Invalid)?;
        let plain = miniz_oxide::inflate::decompress_to_vec_with_limit(&packed, MAX_UNPACKED)
            .map_err(|_| TicketError::Invalid)?;
        let ticket: Ticket = serde_json::from_slice(&plain).map_err(|_| TicketError::Invalid)?;
        // A ticket from the future (beyond a little clock skew between replicas) is as bad as an old one.
        let skew_ms = 60_000;
        if now_ms > ticket.issued_at_ms.saturating_add(ttl_ms) || ticket.issued_at_ms > now_ms.saturating_add(skew_ms) {
            return Err(TicketError::Expired);
        }
        Ok(ticket)
    }
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

use base64::Engine as _;

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"current-signing-key-0123456789abcdef";
    const OLD: &[u8] = b"previous-signing-key-0123456789abcdef";

    fn ticket(body: &str) -> Ticket {
        Ticket {
            id: 7,
            queued_at_ms: 1_000,
            issued_at_ms: 2_000,
            group: "adhoc".into(),
            body: body.into(),
            headers: vec![("x-trino-user".into(), "alice".into()), ("x-trino-catalog".into(), "tpch".into())],
        }
    }

    #[test]
    fn a_sealed_ticket_opens_to_the_same_query_and_hides_it() {
        let keys = TicketKeys::new([KEY]);
        let sealed = keys.seal(&ticket("SELECT secret_column FROM t"), 8192).unwrap();
        assert!(!sealed.contains("secret") && !sealed.contains("alice"), "{sealed}");
        assert!(sealed.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "path-safe: {sealed}");
        assert_eq!(keys.open(&sealed, 2_500, 30_000).unwrap(), ticket("SELECT secret_column FROM t"));
    }

    #[test]
    fn any_changed_byte_or_another_key_is_refused() {
        let keys = TicketKeys::new([KEY]);
        let sealed = keys.seal(&ticket("SELECT 1"), 8192).unwrap();
        for i in PREFIX.len()..sealed.len() {
            let mut bytes = sealed.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            if tampered != sealed {
                assert!(keys.open(&tampered, 2_500, 30_000).is_err(), "byte {i} changed and still opened");
            }
        }
        assert_eq!(TicketKeys::new([OLD]).open(&sealed, 2_500, 30_000), Err(TicketError::Invalid));
        assert_eq!(keys.open("t1.", 2_500, 30_000), Err(TicketError::Invalid));
        assert_eq!(keys.open("garbage", 2_500, 30_000), Err(TicketError::Invalid));
    }

    #[test]
    fn tickets_expire_and_future_ones_are_refused() {
        let keys = TicketKeys::new([KEY]);
        let sealed = keys.seal(&ticket("SELECT 1"), 8192).unwrap();
        assert!(keys.open(&sealed, 32_000, 30_000).is_ok());
        assert_eq!(keys.open(&sealed, 32_001, 30_000), Err(TicketError::Expired));
        assert_eq!(keys.open(&sealed, 0, 30_000), Ok(ticket("SELECT 1")), "within the allowed skew");
        let mut future = ticket("SELECT 1");
        future.issued_at_ms = 500_000;
        let sealed = keys.seal(&future, 8192).unwrap();
        assert_eq!(keys.open(&sealed, 2_000, 30_000), Err(TicketError::Expired));
    }

    #[test]
    fn tickets_of_the_previous_key_open_after_rotation() {
        let before = TicketKeys::new([OLD]);
        let sealed = before.seal(&ticket("SELECT 1"), 8192).unwrap();
        let rotated = TicketKeys::new([KEY, OLD]);
        assert_eq!(rotated.open(&sealed, 2_500, 30_000), Ok(ticket("SELECT 1")));
        let resealed = rotated.seal(&ticket("SELECT 1"), 8192).unwrap();
        assert!(before.open(&resealed, 2_500, 30_000).is_err(), "new tickets use the new key");
    }

    #[test]
    fn a_query_too_large_for_a_ticket_is_refused_and_sql_compresses() {
        let keys = TicketKeys::new([KEY]);
        let repetitive = format!("SELECT {} FROM t", vec!["column_name"; 2000].join(", "));
        assert!(keys.seal(&ticket(&repetitive), 8192).is_ok(), "26 KB of repetitive SQL deflates to far less");
        // Not compressible: pseudo-random text.
        let mut x: u64 = 1;
        let noise: String = (0..12_000)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                char::from(b'a' + ((x >> 33) % 26) as u8)
            })
            .collect();
        assert!(matches!(keys.seal(&ticket(&noise), 8192), Err(TicketError::TooLarge(_, 8192))));
    }

    #[test]
    fn different_tickets_never_share_a_nonce() {
        let keys = TicketKeys::new([KEY]);
        let a = keys.seal(&ticket("SELECT 1"), 8192).unwrap();
        let b = keys.seal(&ticket("SELECT 2"), 8192).unwrap();
        assert_ne!(a[..PREFIX.len() + 32], b[..PREFIX.len() + 32]);
    }
}
