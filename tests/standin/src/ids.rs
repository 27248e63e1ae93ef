//! Identifiers: process randomness, coordinator id, node id and Trino query ids.
//!
//! Query ids follow Trino's `QueryIdGenerator`: `YYYYMMdd_HHmmss_NNNNN_ccccc`
//! (UTC second, a per-process counter reset every UTC day, the coordinator id).
//! The router reads the coordinator id back out of query ids, so the format must
//! be exact.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Trino's coordinator-id alphabet: a-z and 2-9 without the look-alikes l, o, 0, 1.
pub const COORDINATOR_ID_ALPHABET: &str = "abcdefghijkmnpqrstuvwxyz23456789";

/// A random `u64`. `RandomState` is seeded from the OS per process, which is all
/// the randomness a test stand-in needs, without a `rand` dependency.
pub fn random_u64() -> u64 {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    h.write_u128(nanos);
    h.finish()
}

pub fn is_valid_coordinator_id(id: &str) -> bool {
    id.len() == 5 && id.chars().all(|c| COORDINATOR_ID_ALPHABET.contains(c))
}

pub fn random_coordinator_id() -> String {
    let alphabet = COORDINATOR_ID_ALPHABET.as_bytes();
    let mut bits = random_u64();
    (0..5)
        .map(|_| {
            // 32 symbols: 5 bits each, 25 bits in all.
            let c = alphabet[(bits & 31) as usize] as char;
            bits >>= 5;
            c
        })
        .collect()
}

/// 12 hex chars, the shape of the `nodeId` in the 483 /v1/info sample.
pub fn random_node_id() -> String {
    format!("{:012x}", random_u64() & 0xffff_ffff_ffff)
}

/// A broken-down UTC time, enough to format query ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl UtcTime {
    pub fn from_unix(secs: i64) -> UtcTime {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        UtcTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem / 60 % 60) as u32,
            second: (rem % 60) as u32,
        }
    }

    pub fn now() -> UtcTime {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        UtcTime::from_unix(secs)
    }

    fn date_key(&self) -> i64 {
        self.year * 10_000 + i64::from(self.month) * 100 + i64::from(self.day)
    }
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

pub fn format_query_id(t: UtcTime, counter: u32, coordinator_id: &str) -> String {
    format!(
        "{:04}{:02}{:02}_{:02}{:02}{:02}_{:05}_{}",
        t.year, t.month, t.day, t.hour, t.minute, t.second, counter, coordinator_id
    )
}

/// Hands out query ids; the counter restarts at 0 on every new UTC day like
/// Trino's, and wraps after 99999 (Trino waits for the next second instead; the
/// registry skips any id it still holds, so wrapping cannot produce duplicates).
#[derive(Debug, Default)]
pub struct QueryIdGenerator {
    day: i64,
    counter: u32,
}

impl QueryIdGenerator {
    pub fn next(&mut self, now: UtcTime, coordinator_id: &str) -> String {
        if now.date_key() != self.day {
            self.day = now.date_key();
            self.counter = 0;
        }
        let id = format_query_id(now, self.counter, coordinator_id);
        self.counter = (self.counter + 1) % 100_000;
        id
    }
}

#[cfg(test)]
/// True when `id` has the `YYYYMMdd_HHmmss_NNNNN_ccccc` shape.
pub fn is_query_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('_').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    parts.len() == 4
        && digits(parts[0], 8)
        && digits(parts[1], 6)
        && digits(parts[2], 5)
        && is_valid_coordinator_id(parts[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_conversion() {
        // 2026-10-06T23:24:25Z, the time of the recorded samples.
        let t = UtcTime::from_unix(1_791_329_065);
        assert_eq!((t.year, t.month, t.day, t.hour, t.minute, t.second), (2026, 10, 6, 23, 24, 25));
        let t = UtcTime::from_unix(951_782_400); // 2000-02-29 (leap day)
        assert_eq!((t.year, t.month, t.day), (2000, 2, 29));
        assert_eq!(UtcTime::from_unix(0).year, 1970);
    }

    #[test]
    fn query_id_format_matches_trino() {
        let t = UtcTime::from_unix(1_791_329_065);
        assert_eq!(format_query_id(t, 141, "x3v5n"), "20261006_232425_00141_x3v5n");
        assert!(is_query_id("20261006_232425_00141_x3v5n"));
        assert!(!is_query_id("20261006_232425_0141_x3v5n"));
        assert!(!is_query_id("20261006_232425_00141_x3v5l"));
        assert!(!is_query_id("x"));
    }

    #[test]
    fn counter_is_daily_and_zero_padded() {
        let mut g = QueryIdGenerator::default();
        let t = UtcTime::from_unix(1_791_329_065);
        assert_eq!(g.next(t, "abcde"), "20261006_232425_00000_abcde");
        assert_eq!(g.next(t, "abcde"), "20261006_232425_00001_abcde");
        let next_day = UtcTime::from_unix(1_791_329_065 + 3600);
        assert_eq!(g.next(next_day, "abcde"), "20261007_002425_00000_abcde");
    }

    #[test]
    fn random_ids_have_the_right_shape() {
        for _ in 0..200 {
            assert!(is_valid_coordinator_id(&random_coordinator_id()));
        }
        let node = random_node_id();
        assert_eq!(node.len(), 12);
        assert!(node.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!is_valid_coordinator_id("abcd"));
        assert!(!is_valid_coordinator_id("abcd0"));
        assert!(!is_valid_coordinator_id("ABCDE"));
    }
}
