//! Stickiness tokens: the signed name of the cluster that owns a query, carried in the
//! URIs Trino hands to clients, so any Envoy replica routes a follow-up with no shared store.
//!
//! Token bytes: `version (1) | name length (1) | cluster name | HMAC-SHA256 truncated to 16`,
//! base64url without padding. The MAC covers version, length and name.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use thiserror::Error;

const VERSION: u8 = 1;
const MAC_LEN: usize = 16;
/// Longer than any token this code mints (255-byte name), so decoding work stays bounded.
const MAX_TOKEN_CHARS: usize = 400;

/// A token as it appears in a path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinToken(String);

impl PinToken {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum PinError {
    #[error("routing token is malformed")]
    Malformed,
    #[error("routing token has an unknown version")]
    UnknownVersion,
    #[error("routing token signature does not verify")]
    BadSignature,
}

/// Signing keys: the first signs, all verify, so keys rotate without failing running queries.
#[derive(Clone)]
pub struct PinKeys {
    keys: Vec<Vec<u8>>,
}

impl std::fmt::Debug for PinKeys {
    // Never print key material, not even in a debug dump of the config.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PinKeys({} keys)", self.keys.len())
    }
}

impl PinKeys {
    /// `current` signs; `previous` only verify. Returns None without a current key.
    pub fn new(current: &[u8], previous: &[&[u8]]) -> Option<PinKeys> {
        if current.is_empty() {
            return None;
        }
        let mut keys = vec![current.to_vec()];
        keys.extend(previous.iter().map(|k| k.to_vec()));
        Some(PinKeys { keys })
    }

    /// Mints the token that pins to `cluster`. Names are at most 255 bytes (the config checks).
    pub fn sign(&self, cluster: &str) -> Option<PinToken> {
        let payload = payload(cluster)?;
        let mac = mac_of(self.keys.first()?, &payload)?;
        let mut bytes = payload;
        bytes.extend_from_slice(mac.get(..MAC_LEN)?);
        Some(PinToken(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Returns the cluster name a token pins to, if any of the keys signed it.
    pub fn verify(&self, token: &str) -> Result<String, PinError> {
        if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
            return Err(PinError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| PinError::Malformed)?;
        let signed = SignedName::split(&bytes).ok_or(PinError::Malformed)?;
        if signed.version != VERSION {
            return Err(PinError::UnknownVersion);
        }
        if signed.tag.len() != MAC_LEN {
            return Err(PinError::Malformed);
        }
        if !self.tag_verifies(signed.header, signed.tag) {
            return Err(PinError::BadSignature);
        }
        let name = signed.name;
        String::from_utf8(name.to_vec()).map_err(|_| PinError::Malformed)
    }
}

impl PinKeys {
    /// A truncated tag over `data` with the current key, for other values the router signs
    /// (transaction bindings). Callers put a domain string first in `data`, so a tag made
    /// for one kind of value never verifies as another.
    pub fn tag(&self, data: &[u8]) -> Option<Vec<u8>> {
        let mac = mac_of(self.keys.first()?, data)?;
        mac.get(..MAC_LEN).map(<[u8]>::to_vec)
    }

    /// Whether any key (current or previous) made `tag` over `data`; constant-time per key.
    pub fn tag_verifies(&self, data: &[u8], tag: &[u8]) -> bool {
        tag.len() == MAC_LEN
            && self.keys.iter().any(|key| {
                Hmac::<Sha256>::new_from_slice(key)
                    .map(|mut m| {
                        m.update(data);
                        m.verify_truncated_left(tag).is_ok()
                    })
                    .unwrap_or(false)
            })
    }
}

/// The decoded form of a token or a transaction binding:
/// `version (1) | name length (1) | name | tag`.
pub(crate) struct SignedName<'b> {
    pub version: u8,
    pub name: &'b [u8],
    pub tag: &'b [u8],
    /// Version, length and name: what the tag covers (with, for bindings, more data).
    pub header: &'b [u8],
}

impl<'b> SignedName<'b> {
    pub fn split(bytes: &'b [u8]) -> Option<SignedName<'b>> {
        let (&version, rest) = bytes.split_first()?;
        let (&len, rest) = rest.split_first()?;
        let len = usize::from(len);
        Some(SignedName {
            version,
            name: rest.get(..len)?,
            tag: rest.get(len..)?,
            header: bytes.get(..len.checked_add(2)?)?,
        })
    }
}

/// Every configured cluster's token under every key, made once per config: a token is a
/// pure function of key and name, so new queries need no HMAC and a follow-up's token is
/// found by comparison (constant-time, so timing reveals nothing about a valid token).
#[derive(Debug, Clone, Default)]
pub struct PinBook {
    /// (token, cluster index), under every key.
    entries: Vec<(String, usize)>,
    /// `/<marker>/<current token>` per cluster index.
    prefixes: Vec<String>,
}

impl PinBook {
    pub fn new(keys: &PinKeys, marker: &str, clusters: &[&str]) -> Option<PinBook> {
        let mut book = PinBook::default();
        for (i, name) in clusters.iter().enumerate() {
            for (k, key) in keys.keys.iter().enumerate() {
                let token = PinKeys { keys: vec![key.clone()] }.sign(name)?;
                if k == 0 {
                    book.prefixes.push(prefix(marker, &token));
                }
                book.entries.push((token.0, i));
            }
        }
        Some(book)
    }

    /// The prefix that pins to the cluster at `index`, with the current key.
    pub fn prefix(&self, index: usize) -> Option<&str> {
        self.prefixes.get(index).map(String::as_str)
    }

    /// The cluster index a token names, when it is one this book made.
    pub fn lookup(&self, token: &str) -> Option<usize> {
        let mut found = None;
        // Compare with every entry, so the time does not depend on which one matches.
        for (t, index) in &self.entries {
            if bool::from(t.as_bytes().ct_eq(token.as_bytes())) {
                found = Some(*index);
            }
        }
        found
    }
}

fn payload(cluster: &str) -> Option<Vec<u8>> {
    let len = u8::try_from(cluster.len()).ok()?;
    let mut p = Vec::with_capacity(cluster.len().saturating_add(2 + MAC_LEN));
    p.push(VERSION);
    p.push(len);
    p.extend_from_slice(cluster.as_bytes());
    Some(p)
}

fn mac_of(key: &[u8], payload: &[u8]) -> Option<Vec<u8>> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).ok()?;
    m.update(payload);
    Some(m.finalize().into_bytes().to_vec())
}

/// The path prefix that carries a token: `/<marker>/<token>`.
pub fn prefix(marker: &str, token: &PinToken) -> String {
    format!("/{marker}/{}", token.as_str())
}

/// Splits `/<marker>/<token>/rest` into the token and `/rest`. Paths without the marker
/// give None; a marker with nothing after it gives an empty token, which fails verification.
pub fn split_prefix<'p>(marker: &str, path: &'p str) -> Option<(&'p str, &'p str)> {
    let rest = path.strip_prefix('/')?.strip_prefix(marker)?;
    let rest = rest.strip_prefix('/')?;
    match rest.find(['/', '?']) {
        Some(i) => Some((rest.get(..i)?, rest.get(i..)?)),
        None => Some((rest, "/")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> PinKeys {
        PinKeys::new(b"0123456789abcdef0123456789abcdef", &[]).unwrap()
    }

    #[test]
    fn a_signed_token_verifies_to_its_cluster() {
        let t = keys().sign("adhoc-1").unwrap();
        assert_eq!(keys().verify(t.as_str()).unwrap(), "adhoc-1");
        assert!(!t.as_str().contains("adhoc"), "token must not show the name in clear");
    }

    #[test]
    fn tokens_from_a_previous_key_still_verify_after_rotation() {
        let old = keys().sign("etl").unwrap();
        let rotated =
            PinKeys::new(b"another key of enough length!!!!", &[b"0123456789abcdef0123456789abcdef"]).unwrap();
        assert_eq!(rotated.verify(old.as_str()).unwrap(), "etl");
        let other = PinKeys::new(b"another key of enough length!!!!", &[]).unwrap();
        assert_eq!(other.verify(old.as_str()), Err(PinError::BadSignature));
    }

    #[test]
    fn forged_truncated_and_garbage_tokens_fail() {
        let good = keys().sign("adhoc-1").unwrap().as_str().to_string();
        let mut forged = URL_SAFE_NO_PAD.decode(&good).unwrap();
        forged[3] ^= 1; // change one letter of the cluster name
        assert_eq!(keys().verify(&URL_SAFE_NO_PAD.encode(forged)), Err(PinError::BadSignature));
        assert_eq!(keys().verify(&good[..good.len() - 3]), Err(PinError::Malformed));
        for bad in ["", "!!!!", "AA", "AQ", "AQAAAA", &"A".repeat(5000)] {
            assert!(keys().verify(bad).is_err(), "{bad}");
        }
        let v2 = URL_SAFE_NO_PAD.encode([2u8, 1, b'a']);
        assert_eq!(keys().verify(&v2), Err(PinError::UnknownVersion));
    }

    #[test]
    fn the_book_knows_every_clusters_token_under_every_key() {
        let rotated =
            PinKeys::new(b"another key of enough length!!!!", &[b"0123456789abcdef0123456789abcdef"]).unwrap();
        let book = PinBook::new(&rotated, "tr", &["a", "b"]).unwrap();
        let old = keys().sign("b").unwrap();
        assert_eq!(book.lookup(old.as_str()), Some(1), "a token of the previous key");
        let current = rotated.sign("a").unwrap();
        assert_eq!(book.lookup(current.as_str()), Some(0));
        assert_eq!(book.prefix(0), Some(format!("/tr/{}", current.as_str()).as_str()));
        assert_eq!(book.lookup(&current.as_str()[1..]), None);
        assert_eq!(book.lookup(""), None);
    }

    #[test]
    fn prefixes_split_back_into_token_and_path() {
        assert_eq!(
            split_prefix("tr", "/tr/abc/v1/statement/queued/x/y/1"),
            Some(("abc", "/v1/statement/queued/x/y/1"))
        );
        assert_eq!(split_prefix("tr", "/tr/abc?x"), Some(("abc", "?x")));
        assert_eq!(split_prefix("tr", "/tr/"), Some(("", "/")));
        assert_eq!(split_prefix("tr", "/trx/abc/v1"), None);
        assert_eq!(split_prefix("tr", "/v1/statement"), None);
    }
}
