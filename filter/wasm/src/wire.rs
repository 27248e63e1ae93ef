//! The byte layouts of the proxy-wasm ABI: header maps and property paths. Decoding checks
//! every length against the buffer (the SDK's own decoder indexes and unwraps), so a map
//! Envoy hands over cannot make the filter panic; a malformed one is `None`.

/// `[count u32][name len u32, value len u32]*count` then `name\0value\0` per pair, little endian.
pub fn encode_map(pairs: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&len32(pairs.len()).to_le_bytes());
    for (name, value) in pairs {
        out.extend_from_slice(&len32(name.len()).to_le_bytes());
        out.extend_from_slice(&len32(value.len()).to_le_bytes());
    }
    for (name, value) in pairs {
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.extend_from_slice(value);
        out.push(0);
    }
    out
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Header names are lower-case ASCII in Envoy; one that is not UTF-8 is kept lossily.
pub fn decode_map(bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let count = usize::try_from(read_u32(bytes, 0)?).ok()?;
    let mut sizes = 4usize;
    let mut data = count.checked_mul(8)?.checked_add(4)?;
    let mut pairs = Vec::with_capacity(count.min(256));
    for _ in 0..count {
        let name_len = usize::try_from(read_u32(bytes, sizes)?).ok()?;
        let value_len = usize::try_from(read_u32(bytes, sizes.checked_add(4)?)?).ok()?;
        sizes = sizes.checked_add(8)?;
        let name = bytes.get(data..data.checked_add(name_len)?)?;
        data = data.checked_add(name_len)?.checked_add(1)?;
        let value = bytes.get(data..data.checked_add(value_len)?)?;
        data = data.checked_add(value_len)?.checked_add(1)?;
        pairs.push((String::from_utf8_lossy(name).into_owned(), value.to_vec()));
    }
    Some(pairs)
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(raw))
}

/// Path segments joined by NUL, as the ABI names properties.
pub fn property_path(path: &[&str]) -> Vec<u8> {
    path.join("\0").into_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn maps_round_trip_with_binary_values() {
        let pairs: [(&str, &[u8]); 3] = [(":path", b"/v1/statement"), ("x-bin", b"\xff\x00a"), ("empty", b"")];
        let decoded = decode_map(&encode_map(&pairs)).unwrap();
        assert_eq!(decoded.len(), 3);
        assert_eq!(decoded[1], ("x-bin".to_string(), b"\xff\x00a".to_vec()));
        assert_eq!(decoded[2].1, b"");
    }

    #[test]
    fn a_malformed_map_is_none_never_a_panic() {
        let good = encode_map(&[("a", b"b")]);
        // Only the final NUL may be missing: the pairs are all there without it.
        for cut in 1..good.len() - 1 {
            assert_eq!(decode_map(&good[..cut]), None, "cut at {cut}");
        }
        assert_eq!(decode_map(&[0xff, 0xff, 0xff, 0xff]), None, "a count far beyond the buffer");
        let mut lying = good.clone();
        lying[4] = 200; // the name's length
        assert_eq!(decode_map(&lying), None);
        assert_eq!(decode_map(b""), Some(vec![]));
    }

    #[test]
    fn property_paths_are_nul_separated() {
        assert_eq!(property_path(&["response", "code_details"]), b"response\0code_details");
        assert_eq!(property_path(&["trino_router_decision"]), b"trino_router_decision");
    }
}
