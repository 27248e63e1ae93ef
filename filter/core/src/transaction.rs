//! Transactions bound to their cluster: the id Trino issues in `X-Trino-Started-Transaction-Id`
//! reaches the client as `<id>~<binding>`, a signature over the id and the cluster's name, so
//! any Envoy replica sends the transaction's later statements to that cluster, with no store.
//!
//! Binding bytes: `version (1) | name length (1) | cluster name | HMAC-SHA256 truncated to 16`,
//! base64url without padding. The MAC covers a domain string, version, length, name and the
//! transaction id, so a binding can be moved neither to another transaction nor to another
//! cluster, and no routing token (whose MAC has no domain string) verifies as one.

use crate::pin::{PinKeys, SignedName};
use crate::request::Headers;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use thiserror::Error;

/// Response header of the page of `START TRANSACTION` (POST or nextUri GET).
pub const STARTED_HEADER: &str = "x-trino-started-transaction-id";
/// Request header of every statement in a transaction; `NONE` (any case) or empty: none open.
pub const TRANSACTION_HEADER: &str = "x-trino-transaction-id";
/// Between the id Trino issued (a UUID) and the binding: neither a UUID nor base64url has it,
/// and every client passes it back verbatim (an opaque header string).
const SEPARATOR: u8 = b'~';
const VERSION: u8 = 1;
const DOMAIN: &[u8] = b"trino-router transaction binding\0";
/// Longer than any binding this code mints (255-byte name), so decoding work stays bounded.
const MAX_BINDING_CHARS: usize = 400;
/// Longer than any transaction id Trino issues (36), so a giant header costs nothing.
const MAX_ID_BYTES: usize = 128;

#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum BindingError {
    #[error("transaction binding is malformed")]
    Malformed,
    #[error("transaction binding has an unknown version")]
    UnknownVersion,
    #[error("transaction binding signature does not verify")]
    BadSignature,
    #[error("X-Trino-Transaction-Id is sent more than once; send it once")]
    Repeated,
}

/// What a new query's `X-Trino-Transaction-Id` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionHeader<'a> {
    /// Absent, empty or `NONE`: no transaction; the rules decide.
    NoTransaction,
    /// An id without a binding (issued before the router bound ids, or never through it):
    /// the rules decide, and Trino checks the id as it always did.
    Unbound,
    /// `<id>~<binding>`, still to be verified.
    Bound { id: &'a [u8], binding: &'a [u8] },
    /// The header more than once: Trino reads the first, a proxy in between may not.
    Repeated,
}

impl<'a> TransactionHeader<'a> {
    pub fn read(headers: &'a Headers) -> TransactionHeader<'a> {
        let mut values = headers.get_all(TRANSACTION_HEADER);
        let Some(value) = values.next() else { return TransactionHeader::NoTransaction };
        if values.next().is_some() {
            return TransactionHeader::Repeated;
        }
        // Trino trims the value as Java's String.trim does (every byte up to a space).
        let value = trim_java(value);
        if value.is_empty() || value.eq_ignore_ascii_case(b"none") {
            return TransactionHeader::NoTransaction;
        }
        match value.iter().rposition(|b| *b == SEPARATOR) {
            Some(at) => TransactionHeader::Bound {
                id: value.get(..at).unwrap_or_default(),
                binding: value.get(at.saturating_add(1)..).unwrap_or_default(),
            },
            None => TransactionHeader::Unbound,
        }
    }
}

/// A transaction id that verified: the id Trino issued, and the cluster that issued it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundTransaction {
    pub id: String,
    pub cluster: String,
}

/// The value the client gets for `id`, started on `cluster`: `<id>~<binding>`. None for an
/// id that is not a plain token of visible ASCII (Trino's are UUIDs), or a name over 255 bytes.
pub fn bind(keys: &PinKeys, id: &[u8], cluster: &str) -> Option<Vec<u8>> {
    if !plain_id(id) {
        return None;
    }
    let header = binding_header(cluster)?;
    let tag = keys.tag(&signed_data(&header, id))?;
    let mut binding = header;
    binding.extend_from_slice(&tag);
    let mut out = Vec::with_capacity(id.len().saturating_add(80));
    out.extend_from_slice(id);
    out.push(SEPARATOR);
    out.extend_from_slice(URL_SAFE_NO_PAD.encode(binding).as_bytes());
    Some(out)
}

/// Checks a bound id with every key (current and previous).
pub fn verify(keys: &PinKeys, id: &[u8], binding: &[u8]) -> Result<BoundTransaction, BindingError> {
    if !plain_id(id) || binding.is_empty() || binding.len() > MAX_BINDING_CHARS {
        return Err(BindingError::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD.decode(binding).map_err(|_| BindingError::Malformed)?;
    let signed = SignedName::split(&bytes).ok_or(BindingError::Malformed)?;
    if signed.version != VERSION {
        return Err(BindingError::UnknownVersion);
    }
    if !keys.tag_verifies(&signed_data(signed.header, id), signed.tag) {
        return Err(BindingError::BadSignature);
    }
    let name = signed.name;
    let cluster = String::from_utf8(name.to_vec()).map_err(|_| BindingError::Malformed)?;
    let id = String::from_utf8(id.to_vec()).map_err(|_| BindingError::Malformed)?;
    Ok(BoundTransaction { id, cluster })
}

/// Whether a started-transaction value is one to bind (Trino never sends `NONE` there, but a
/// value that is not an id is passed on untouched).
pub fn is_issued_id(value: &[u8]) -> bool {
    plain_id(value) && !value.eq_ignore_ascii_case(b"none")
}

fn plain_id(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_BYTES && id.iter().all(|b| b.is_ascii_graphic() && *b != SEPARATOR)
}

fn binding_header(cluster: &str) -> Option<Vec<u8>> {
    let len = u8::try_from(cluster.len()).ok()?;
    let mut h = Vec::with_capacity(cluster.len().saturating_add(18));
    h.push(VERSION);
    h.push(len);
    h.extend_from_slice(cluster.as_bytes());
    Some(h)
}

fn signed_data(header: &[u8], id: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(DOMAIN.len().saturating_add(header.len()).saturating_add(id.len()));
    data.extend_from_slice(DOMAIN);
    data.extend_from_slice(header);
    data.extend_from_slice(id);
    data
}

fn trim_java(value: &[u8]) -> &[u8] {
    let start = value.iter().position(|b| *b > b' ').unwrap_or(value.len());
    let end = value.iter().rposition(|b| *b > b' ').map_or(start, |e| e.saturating_add(1));
    value.get(start..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &[u8] = b"1f7c3f0e-6a52-4b0e-9d8e-0c7c7b5d2a11";

    fn keys() -> PinKeys {
        PinKeys::new(b"0123456789abcdef0123456789abcdef", &[]).unwrap()
    }

    fn split(value: &[u8]) -> (&[u8], &[u8]) {
        let (id, binding) = std::str::from_utf8(value).unwrap().rsplit_once('~').unwrap();
        (id.as_bytes(), binding.as_bytes())
    }

    fn headers(values: &[&str]) -> Headers {
        Headers::from_pairs(values.iter().map(|v| ("X-Trino-Transaction-Id", v.as_bytes().to_vec())))
    }

    #[test]
    fn a_bound_id_verifies_to_the_id_trino_issued_and_its_cluster() {
        let bound = bind(&keys(), ID, "adhoc-2").unwrap();
        assert!(bound.starts_with(ID) && bound.iter().all(u8::is_ascii_graphic), "{bound:?}");
        let (id, binding) = split(&bound);
        let got = verify(&keys(), id, binding).unwrap();
        assert_eq!(got, BoundTransaction { id: String::from_utf8(ID.to_vec()).unwrap(), cluster: "adhoc-2".into() });
    }

    #[test]
    fn a_binding_cannot_be_moved_to_another_transaction_or_cluster() {
        let bound = bind(&keys(), ID, "adhoc-1").unwrap();
        let (_, binding) = split(&bound);
        let other_id = b"2f7c3f0e-6a52-4b0e-9d8e-0c7c7b5d2a11";
        assert_eq!(verify(&keys(), other_id, binding), Err(BindingError::BadSignature));
        // The same tag with the other cluster's name in place (same length).
        let mut bytes = URL_SAFE_NO_PAD.decode(binding).unwrap();
        bytes[8] = b'2';
        assert_eq!(verify(&keys(), ID, URL_SAFE_NO_PAD.encode(&bytes).as_bytes()), Err(BindingError::BadSignature));
        // A routing token for the cluster is no binding (different domain).
        let token = keys().sign("adhoc-1").unwrap();
        assert_eq!(verify(&keys(), ID, token.as_str().as_bytes()), Err(BindingError::BadSignature));
        let foreign = PinKeys::new(b"another key of enough length!!!!", &[]).unwrap();
        assert_eq!(verify(&foreign, ID, binding), Err(BindingError::BadSignature));
    }

    #[test]
    fn bindings_of_a_previous_key_still_verify() {
        let bound = bind(&keys(), ID, "etl-1").unwrap();
        let (id, binding) = split(&bound);
        let rotated =
            PinKeys::new(b"another key of enough length!!!!", &[b"0123456789abcdef0123456789abcdef"]).unwrap();
        assert_eq!(verify(&rotated, id, binding).unwrap().cluster, "etl-1");
    }

    #[test]
    fn garbage_bindings_fail_and_odd_ids_are_not_bound() {
        for bad in [&b""[..], b"!!", b"AQ", b"AQAAAA", &[b'A'; 5000]] {
            assert!(verify(&keys(), ID, bad).is_err(), "{bad:?}");
        }
        assert_eq!(verify(&keys(), b"", b"AQ"), Err(BindingError::Malformed));
        assert!(bind(&keys(), b"", "a").is_none());
        assert!(bind(&keys(), b"a b", "a").is_none());
        assert!(bind(&keys(), b"a~b", "a").is_none());
        assert!(bind(&keys(), &[b'a'; 200], "a").is_none());
        assert!(!is_issued_id(b"NONE") && is_issued_id(ID));
    }

    #[test]
    fn the_request_header_says_none_unbound_bound_or_repeated() {
        assert_eq!(TransactionHeader::read(&headers(&[])), TransactionHeader::NoTransaction);
        for none in ["NONE", "none", " NONE ", ""] {
            assert_eq!(TransactionHeader::read(&headers(&[none])), TransactionHeader::NoTransaction, "{none:?}");
        }
        let raw = std::str::from_utf8(ID).unwrap();
        assert_eq!(TransactionHeader::read(&headers(&[raw])), TransactionHeader::Unbound);
        assert_eq!(TransactionHeader::read(&headers(&[" a~b "])), TransactionHeader::Bound { id: b"a", binding: b"b" });
        assert_eq!(TransactionHeader::read(&headers(&["NONE", "NONE"])), TransactionHeader::Repeated);
    }
}
