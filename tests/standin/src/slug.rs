//! Slugs: the `y` + 40 hex path segment that makes nextUris unguessable.
//!
//! Trino computes `"y" + hmacSha1(perQueryKey, context, token)`, so the slug
//! differs per query, per context (queued / executing) and per token, and a
//! client cannot forge the URI of a token it was not given. We reproduce that
//! shape with a keyed SipHash (std's `DefaultHasher`) over a per-process secret,
//! the query id, the context and the token: no crypto dependency, same
//! observable behaviour (160 bits, all different, validated on every request).

use std::hash::Hasher;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Queued,
    Executing,
}

/// The per-process secret all slugs are derived from.
#[derive(Debug, Clone)]
pub struct SlugKey {
    secret: [u64; 2],
}

impl SlugKey {
    pub fn random() -> SlugKey {
        SlugKey { secret: [crate::ids::random_u64(), crate::ids::random_u64()] }
    }

    #[cfg(test)]
    pub fn fixed(a: u64, b: u64) -> SlugKey {
        SlugKey { secret: [a, b] }
    }

    pub fn make(&self, query_id: &str, context: Context, token: u64) -> String {
        let mut out = String::with_capacity(41);
        out.push('y');
        // Three 64-bit lanes give 192 bits; the first 160 become 40 hex chars.
        for lane in 0u8..3 {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            h.write_u64(self.secret[0]);
            h.write_u64(self.secret[1]);
            h.write_u8(lane);
            h.write(query_id.as_bytes());
            h.write_u8(match context {
                Context::Queued => 0,
                Context::Executing => 1,
            });
            h.write_u64(token);
            let word = format!("{:016x}", h.finish());
            let take = if lane == 2 { 8 } else { 16 };
            out.push_str(&word[..take]);
        }
        out
    }

    /// Constant-time comparison is unnecessary here: the stand-in guards no secrets.
    pub fn is_valid(&self, query_id: &str, context: Context, token: u64, slug: &str) -> bool {
        self.make(query_id, context, token) == slug
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QID: &str = "20261006_232425_00141_x3v5n";

    #[test]
    fn shape_is_y_plus_40_hex() {
        let key = SlugKey::random();
        let s = key.make(QID, Context::Queued, 1);
        assert_eq!(s.len(), 41);
        assert!(s.starts_with('y'));
        assert!(s[1..].bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    }

    #[test]
    fn differs_per_query_context_and_token() {
        let key = SlugKey::fixed(1, 2);
        let a = key.make(QID, Context::Queued, 1);
        assert_ne!(a, key.make(QID, Context::Queued, 2));
        assert_ne!(a, key.make(QID, Context::Executing, 1));
        assert_ne!(a, key.make("20261006_232425_00142_x3v5n", Context::Queued, 1));
        assert_ne!(a, SlugKey::fixed(1, 3).make(QID, Context::Queued, 1));
        assert_eq!(a, key.make(QID, Context::Queued, 1));
    }

    #[test]
    fn validation() {
        let key = SlugKey::fixed(7, 8);
        let s = key.make(QID, Context::Executing, 3);
        assert!(key.is_valid(QID, Context::Executing, 3, &s));
        assert!(!key.is_valid(QID, Context::Executing, 4, &s));
        assert!(!key.is_valid(QID, Context::Queued, 3, &s));
        assert!(!key.is_valid(QID, Context::Executing, 3, "y0000"));
        assert!(!key.is_valid(QID, Context::Executing, 3, ""));
    }
}
