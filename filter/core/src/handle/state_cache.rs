//! The cluster states this worker decoded, by shared-data key and compare-and-swap version:
//! decoding one (JSON) costs more than the rest of routing a header-placed query, and a
//! state seldom changes between two reads, so each version is decoded once per worker.
//!
//! Why an unchanged `(key, cas)` means unchanged bytes: Envoy (proxy-wasm-cpp-host,
//! `SharedData::set`) gives every write, to any key, the next number of one process-wide
//! counter (`nextCas()`, which skips 0), and the value and its number change together under
//! its lock. While a key still has the number this worker read it with, nobody wrote it
//! since. A stale hit needs the u32 counter to come round: at least 2^32 - 1 writes (to any
//! keys) between two reads of one key by one worker, the last of them to that key drawing
//! the same number again. The tests' in-memory Envoy draws from one process-wide counter
//! too. A value read without a version is decoded and not kept.
//!
//! One VM serves one Envoy worker thread, so the cache is per thread: no locks, and decoded
//! states are shared by `Rc` (a hit copies nothing). A writer keeps no entry for what it
//! wrote (the host does not return the new version): the next read decodes it again.

use crate::observed::Observed;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// More keys than this and the cache starts over. One key per configured cluster; config
/// reloads that rename clusters leave old keys behind, which this bounds.
const MAX_KEYS: usize = 64;

std::thread_local! {
    static DECODED: RefCell<HashMap<String, (u32, Rc<Observed>)>> = RefCell::new(HashMap::new());
}

/// The state read under `key`: `value` as the host returned it, with its version `cas`.
/// Nothing stored is the empty state.
pub(super) fn observed(key: &str, value: Option<&[u8]>, cas: Option<u32>) -> Rc<Observed> {
    let Some(bytes) = value else { return Rc::default() };
    let Some(cas) = cas else { return Rc::new(Observed::decode(bytes)) };
    if let Some(hit) = cached(key, cas) {
        return hit;
    }
    let state = Rc::new(Observed::decode(bytes));
    keep(key, cas, &state);
    state
}

fn cached(key: &str, cas: u32) -> Option<Rc<Observed>> {
    DECODED
        .try_with(|decoded| {
            let decoded = decoded.try_borrow().ok()?;
            let (version, state) = decoded.get(key)?;
            (*version == cas).then(|| Rc::clone(state))
        })
        .ok()
        .flatten()
}

/// Remembers `state` as what `key` holds at version `cas` (replacing an older version).
/// A cache that cannot be reached (never, in one thread) just keeps nothing.
fn keep(key: &str, cas: u32, state: &Rc<Observed>) {
    let _ = DECODED.try_with(|decoded| {
        let Ok(mut decoded) = decoded.try_borrow_mut() else { return };
        if let Some(entry) = decoded.get_mut(key) {
            *entry = (cas, Rc::clone(state));
            return;
        }
        if decoded.len() >= MAX_KEYS {
            decoded.clear();
        }
        decoded.insert(key.to_string(), (cas, Rc::clone(state)));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_is_decoded_once_and_a_new_one_again() {
        let starting = br#"{"starting":true}"#;
        let first = observed("t.a", Some(starting), Some(7));
        assert!(first.starting);
        assert!(Rc::ptr_eq(&first, &observed("t.a", Some(starting), Some(7))), "a hit shares the decoded state");
        assert!(!observed("t.a", Some(b"{}"), Some(8)).starting, "a new version is decoded");
        let unversioned = observed("t.c", Some(starting), None);
        assert!(!Rc::ptr_eq(&unversioned, &observed("t.c", Some(starting), None)), "no version: not kept");
        assert_eq!(*observed("t.d", None, Some(3)), Observed::default());
    }

    #[test]
    fn the_cache_starts_over_past_its_bound() {
        for i in 0..=MAX_KEYS {
            observed(&format!("t.{i}"), Some(b"{}"), Some(1));
        }
        let size = DECODED.with(|d| d.borrow().len());
        assert!(size <= MAX_KEYS, "{size} keys kept");
    }
}
