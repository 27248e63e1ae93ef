//! Which cluster of a group takes a new query: weighted random over the clusters that
//! can take one now. (Load-aware choice comes with live load figures.)

use crate::config::{ClusterId, Member};

/// Picks a member with probability proportional to its weight, among those `usable`
/// allows. `random` is any uniformly distributed number; the caller owns randomness so
/// this stays deterministic under test.
pub fn weighted_pick(members: &[Member], usable: impl Fn(ClusterId) -> bool, random: u64) -> Option<ClusterId> {
    let candidates: Vec<&Member> = members.iter().filter(|m| usable(m.cluster)).collect();
    let total: u64 = candidates.iter().map(|m| u64::from(m.weight)).fold(0, u64::saturating_add);
    let mut ticket = random.checked_rem(total)?;
    for m in candidates {
        let w = u64::from(m.weight);
        if ticket < w {
            return Some(m.cluster);
        }
        ticket = ticket.saturating_sub(w);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members() -> Vec<Member> {
        vec![Member { cluster: ClusterId(0), weight: 1 }, Member { cluster: ClusterId(1), weight: 3 }]
    }

    #[test]
    fn weights_shape_the_split() {
        let mut counts = [0u32; 2];
        for r in 0..4000u64 {
            let c = weighted_pick(&members(), |_| true, r.wrapping_mul(0x9E37_79B9_7F4A_7C15)).unwrap();
            counts[c.0] += 1;
        }
        assert_eq!(counts[0] + counts[1], 4000);
        assert!((900..1100).contains(&counts[0]), "{counts:?}");
    }

    #[test]
    fn unusable_clusters_never_get_picked() {
        for r in 0..100 {
            assert_eq!(weighted_pick(&members(), |c| c.0 == 0, r), Some(ClusterId(0)));
        }
        assert_eq!(weighted_pick(&members(), |_| false, 7), None);
        assert_eq!(weighted_pick(&[], |_| true, 7), None);
    }
}
