//! zstd frames made of stored (raw) blocks: what `json+zstd` segments are wrapped in.
//!
//! A valid zstd frame, readable by any decoder, without spending CPU on compression
//! (the stand-in is also a benchmark upstream). The frame header carries the content
//! size, which the Python client's `ZstdDecompressor().decompress()` needs.

/// zstd's magic number, little-endian on the wire.
const MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// Frame header descriptor: 8-byte Frame_Content_Size (bits 7-6 = 3), Single_Segment
/// (bit 5, so no window descriptor), no checksum, no dictionary.
const DESCRIPTOR: u8 = 0b1110_0000;
/// A block may hold at most 128 KiB.
const MAX_BLOCK: usize = 128 * 1024;
/// Block_Type 0 (Raw) sits in bits 1-2 of the block header; bit 0 marks the last block.
const LAST_BLOCK: u32 = 1;

/// `data` as one zstd frame of raw blocks.
pub fn encode(data: &[u8]) -> Vec<u8> {
    let blocks = data.len().div_ceil(MAX_BLOCK).max(1);
    let mut out = Vec::with_capacity(data.len() + 13 + 3 * blocks);
    out.extend_from_slice(&MAGIC);
    out.push(DESCRIPTOR);
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    let mut pieces = data.chunks(MAX_BLOCK).peekable();
    if pieces.peek().is_none() {
        // An empty frame still needs one (empty, last) block.
        out.extend_from_slice(&block_header(0, true));
    }
    while let Some(piece) = pieces.next() {
        let last = pieces.peek().is_none();
        out.extend_from_slice(&block_header(piece.len(), last));
        out.extend_from_slice(piece);
    }
    out
}

/// 3 bytes, little-endian: Last_Block | Block_Type << 1 | Block_Size << 3.
fn block_header(size: usize, last: bool) -> [u8; 3] {
    let value = (size as u32) << 3 | if last { LAST_BLOCK } else { 0 };
    let b = value.to_le_bytes();
    [b[0], b[1], b[2]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn decode(frame: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        ruzstd::decoding::StreamingDecoder::new(frame).unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn frames_decode_to_the_input_at_every_size() {
        for size in [0, 1, 100, MAX_BLOCK - 1, MAX_BLOCK, MAX_BLOCK + 1, 3 * MAX_BLOCK + 17] {
            let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            let frame = encode(&data);
            assert_eq!(decode(&frame), data, "size {size}");
            assert_eq!(frame.len(), data.len() + 13 + 3 * size.div_ceil(MAX_BLOCK).max(1));
        }
    }

    #[test]
    fn header_declares_the_content_size() {
        let frame = encode(b"[[1,\"a\"]]");
        assert_eq!(&frame[..4], &MAGIC);
        assert_eq!(u64::from_le_bytes(frame[5..13].try_into().unwrap()), 9);
    }
}
