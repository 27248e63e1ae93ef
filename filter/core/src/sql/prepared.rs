//! Decodes `X-Trino-Prepared-Statement`: comma-separated `name=sql` pairs, each side
//! URL-encoded the Java way (`+` is a space), as Trino's client writes them and its
//! server reads them. A value that decodes to `$zstd:<base64url>` is the compressed
//! form Trino's server hands out for long statements (v447+).

use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

use super::error::SqlError;

/// Most prepared statements one header may carry.
pub const MAX_PREPARED_STATEMENTS: usize = 256;
/// Largest SQL text one prepared statement may decode to (Trino's default
/// `query.max-length` is one million characters).
pub const MAX_PREPARED_SQL_BYTES: usize = 1 << 20;
/// Largest total decoded size of all the statements of one header.
pub const MAX_PREPARED_TOTAL_BYTES: usize = 4 << 20;

const ZSTD_PREFIX: &str = "$zstd:";

const BASE64_URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes the header into `(name, sql)` pairs in header order. Several headers may
/// be joined with commas first, as HTTP allows.
pub fn decode_prepared_statements(header_value: &[u8]) -> Result<Vec<(String, String)>, SqlError> {
    let mut out = Vec::new();
    let mut total: usize = 0;
    let mut offset: usize = 0;
    for item in header_value.split(|&b| b == b',') {
        let start = offset;
        offset = offset.saturating_add(item.len()).saturating_add(1);
        let (lead, entry) = trim(item);
        if entry.is_empty() {
            continue;
        }
        let pos = start.saturating_add(lead);
        let (name, sql) = decode_entry(entry, pos)?;
        total = total.saturating_add(sql.len());
        if total > MAX_PREPARED_TOTAL_BYTES {
            return Err(SqlError::TooLarge { len: total, limit: MAX_PREPARED_TOTAL_BYTES });
        }
        if out.len() >= MAX_PREPARED_STATEMENTS {
            return Err(SqlError::InvalidPreparedHeader { pos, reason: "too many prepared statements" });
        }
        out.push((name, sql));
    }
    Ok(out)
}

fn decode_entry(entry: &[u8], pos: usize) -> Result<(String, String), SqlError> {
    let eq = entry
        .iter()
        .position(|&b| b == b'=')
        .ok_or(SqlError::InvalidPreparedHeader { pos, reason: "expected name=value" })?;
    let (raw_name, rest) = entry.split_at(eq);
    let raw_value = rest.get(1..).unwrap_or_default();
    let name = url_decode(trim(raw_name).1, pos)?;
    if name.is_empty() {
        return Err(SqlError::InvalidPreparedHeader { pos, reason: "empty statement name" });
    }
    let value = url_decode(trim(raw_value).1, pos)?;
    // Trino URL-decodes first and then looks for the prefix; a client that sent the
    // prefix unencoded decodes the same, as `$`, `:` and base64url survive decoding.
    let sql = match value.strip_prefix(ZSTD_PREFIX) {
        Some(encoded) => decode_zstd_value(encoded, pos)?,
        None => value,
    };
    if sql.len() > MAX_PREPARED_SQL_BYTES {
        return Err(SqlError::TooLarge { len: sql.len(), limit: MAX_PREPARED_SQL_BYTES });
    }
    Ok((name, sql))
}

fn decode_zstd_value(encoded: &str, pos: usize) -> Result<String, SqlError> {
    let compressed = BASE64_URL
        .decode(encoded.trim())
        .map_err(|_| SqlError::InvalidPreparedHeader { pos, reason: "invalid base64url after $zstd:" })?;
    let bytes = decompress_zstd(&compressed, MAX_PREPARED_SQL_BYTES, pos)?;
    // Java's `new String(bytes, UTF_8)` replaces bad sequences the same way.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A zstd frame may ask for a window this large at most; a statement of at most
/// `MAX_PREPARED_SQL_BYTES` never needs more, and the decoder allocates by it.
const ZSTD_MAX_WINDOW: u64 = 8 << 20;

/// Decompresses one zstd frame of at most `limit` bytes.
fn decompress_zstd(compressed: &[u8], limit: usize, pos: usize) -> Result<Vec<u8>, SqlError> {
    use std::io::Read as _;
    let bad = |reason| SqlError::InvalidPreparedHeader { pos, reason };
    let decoder = ruzstd::decoding::StreamingDecoder::new_with_max_window_size(compressed, ZSTD_MAX_WINDOW)
        .map_err(|_| bad("invalid zstd frame after $zstd:"))?;
    // One byte over the limit is enough to know the statement is too large.
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    decoder.take(cap).read_to_end(&mut out).map_err(|_| bad("invalid zstd data after $zstd:"))?;
    if out.len() > limit {
        return Err(SqlError::TooLarge { len: out.len(), limit });
    }
    Ok(out)
}

/// `java.net.URLDecoder` rules: `+` is a space, `%XX` a byte, the bytes UTF-8.
fn url_decode(raw: &[u8], pos: usize) -> Result<String, SqlError> {
    let bad = SqlError::InvalidPreparedHeader { pos, reason: "invalid %-escape" };
    let mut bytes = Vec::with_capacity(raw.len());
    let mut iter = raw.iter();
    while let Some(&b) = iter.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hi = iter.next().and_then(|&h| hex_digit(h)).ok_or(bad.clone())?;
                let lo = iter.next().and_then(|&l| hex_digit(l)).ok_or(bad.clone())?;
                bytes.push(hi.wrapping_shl(4) | lo);
            }
            _ => bytes.push(b),
        }
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Trims ASCII whitespace; returns how much was cut from the front and the rest.
fn trim(bytes: &[u8]) -> (usize, &[u8]) {
    let lead = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
    let rest = bytes.get(lead..).unwrap_or_default();
    let tail = rest.iter().rev().take_while(|b| b.is_ascii_whitespace()).count();
    let keep = rest.len().saturating_sub(tail);
    (lead, rest.get(..keep).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_java_url_encoding() {
        let got = decode_prepared_statements(b"q1=SELECT+*+FROM+t+WHERE+x+%3D+%27a%2Cb%27").unwrap();
        assert_eq!(got, vec![("q1".into(), "SELECT * FROM t WHERE x = 'a,b'".into())]);
    }

    #[test]
    fn several_pairs_and_whitespace() {
        let got = decode_prepared_statements(b" a=SELECT+1 , b%20c=SELECT+2,,").unwrap();
        assert_eq!(got, vec![("a".into(), "SELECT 1".into()), ("b c".into(), "SELECT 2".into())]);
    }

    #[test]
    fn value_may_contain_equals_when_raw() {
        let got = decode_prepared_statements(b"q=SELECT+1=1").unwrap();
        assert_eq!(got, vec![("q".into(), "SELECT 1=1".into())]);
    }

    #[test]
    fn utf8_is_decoded() {
        let got = decode_prepared_statements(b"q=SELECT+%27%C3%A9%27").unwrap();
        assert_eq!(got, vec![("q".into(), "SELECT 'é'".into())]);
    }

    #[test]
    fn errors_carry_position() {
        let err = decode_prepared_statements(b"a=SELECT+1, broken").unwrap_err();
        assert_eq!(err, SqlError::InvalidPreparedHeader { pos: 12, reason: "expected name=value" });
        assert!(err.to_string().contains("byte 12"));
        assert_eq!(decode_prepared_statements(b"a=%G1").unwrap_err().kind(), "invalid_prepared_header");
        assert_eq!(decode_prepared_statements(b"a=%4").unwrap_err().kind(), "invalid_prepared_header");
        assert_eq!(decode_prepared_statements(b"=SELECT+1").unwrap_err().kind(), "invalid_prepared_header");
    }

    const LEDGER_SQL: &str = "SELECT o.orderkey, o.totalprice, c.name FROM hive.finance.ledger l JOIN tpch.sf1.orders o ON o.orderkey = l.ref JOIN tpch.sf1.customer c ON c.custkey = o.custkey WHERE l.account = ? AND o.orderdate > DATE '2024-01-01' AND o.orderdate < DATE '2024-12-31' ORDER BY o.totalprice DESC";

    #[test]
    fn zstd_form_is_decoded() {
        // From the zstd CLI: `-19` with checksum and padded base64url; `-1 --no-check` unpadded.
        let padded = "KLUv_QRofQUAgooiGDB5A0RrwKq-JCBN1co0JtcLMtEylBQUg052H-cax-6DXYZQEAhADMJRDAXgV2MeV_x35z0W44snvs00Y9xZ0i92oy1j7PrLvNEUf68t6Ylbl2dHiQ-1IT63W9I1Oen6Qe9J-9jsTPGzr4qhVxcG-ZedabEHj0V9kt3O22YP1h_1ezrb7JpzqZsFDQB3c3AAEODuqJnRwQ0GIl6KRDUw865UFoLaeRamoGUIZrGyPaI=";
        let unpadded = "KLUv_QBI3QUAMswoJEBrnAPAGCklpCO6wSqLjQOMj1iSCLyMsBRhY2st9zF2hmHOBIpFY28o-NPY454sAIVZAslalLUoAczCJG-MBPvANz6IOYkTvHmcKlZ9Cd-edsDAbx5ZR6QqTb3jru99cKQqjbYTvrnjzqd6oeZcEZUNhcQ7CC7h8L0O0MJcnd4kRbkPUuML7jH4Pt6UesSq1BD4IsfkIyLr6IWak89QNIW2CAcAd3NUwAmOzhEMT_yiYag9cpkRog";
        for b64 in [padded, unpadded] {
            let raw = format!("q=$zstd:{b64}");
            let encoded = format!("q=%24zstd%3A{}", b64.replace('=', "%3D"));
            for header in [raw, encoded] {
                let got = decode_prepared_statements(header.as_bytes()).unwrap();
                assert_eq!(got, vec![("q".to_string(), LEDGER_SQL.to_string())], "{header}");
            }
        }
    }

    #[test]
    fn zstd_bomb_is_bounded() {
        // 16 MB of zeros compress to a few hundred bytes; decoding stops past the limit.
        let zeros = vec![0u8; 16 << 20];
        let compressed = ruzstd::encoding::compress_to_vec(&zeros[..], ruzstd::encoding::CompressionLevel::Fastest);
        let header = format!("q=$zstd:{}", BASE64_URL.encode(compressed));
        let start = std::time::Instant::now();
        let err = decode_prepared_statements(header.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), "too_large", "{err}");
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn bad_zstd_is_an_error() {
        for header in [&b"q=$zstd:KLUv_QBYSQAAU0VMRUNUIDE"[..], b"q=$zstd:AAAA", b"q=$zstd:", b"q=$zstd:not*base64"] {
            let err = decode_prepared_statements(header).unwrap_err();
            assert_eq!(err.kind(), "invalid_prepared_header", "{err}");
        }
    }

    #[test]
    fn bounded() {
        let many: Vec<u8> =
            (0..=MAX_PREPARED_STATEMENTS).map(|i| format!("q{i}=SELECT+1")).collect::<Vec<_>>().join(",").into_bytes();
        assert!(decode_prepared_statements(&many).is_err());
        let big = format!("q={}", "x".repeat(MAX_PREPARED_SQL_BYTES + 1));
        assert_eq!(decode_prepared_statements(big.as_bytes()).unwrap_err().kind(), "too_large");
    }
}
