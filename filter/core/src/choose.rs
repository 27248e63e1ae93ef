//! Which cluster of a group takes a new query, among the members that can take one now:
//! weighted random, least loaded, or the less loaded of two weighted draws.
//!
//! Load-aware policies need fresh figures for every candidate; when any candidate has
//! none (load polling off or failing, figures stale), the pick falls back to weighted
//! random, so a cluster whose metrics cannot be read is neither starved nor flooded.

use crate::config::{ClusterId, Member, Selection};
use crate::observed::LoadFigure;

/// Picks a member for a new query. `random` is any uniformly distributed number; the
/// caller owns randomness so this stays deterministic under test.
pub fn pick(
    selection: Selection,
    members: &[Member],
    usable: impl Fn(ClusterId) -> bool,
    load: impl Fn(ClusterId) -> Option<LoadFigure>,
    random: u64,
) -> Option<ClusterId> {
    let candidates: Vec<Member> = members.iter().copied().filter(|m| usable(m.cluster)).collect();
    let loads: Option<Vec<(Member, LoadFigure)>> = match selection {
        Selection::WeightedRandom => None,
        Selection::LeastLoaded | Selection::PowerOfTwo => {
            candidates.iter().map(|m| Some((*m, load(m.cluster)?))).collect()
        }
    };
    let Some(loads) = loads else {
        return weighted(&candidates, random);
    };
    match selection {
        Selection::LeastLoaded => {
            let least = loads.iter().map(|(_, l)| *l).min()?;
            let tied: Vec<Member> = loads.iter().filter(|(_, l)| *l == least).map(|(m, _)| *m).collect();
            weighted(&tied, random)
        }
        _ => power_of_two(&loads, random),
    }
}

/// Two weighted draws without replacement (from the two halves of `random`); the less
/// loaded wins. Spreads load like least-loaded without sending every query to one cluster
/// while figures are a poll old.
fn power_of_two(loads: &[(Member, LoadFigure)], random: u64) -> Option<ClusterId> {
    let members: Vec<Member> = loads.iter().map(|(m, _)| *m).collect();
    let first = weighted(&members, random & 0xFFFF_FFFF)?;
    let rest: Vec<Member> = members.iter().copied().filter(|m| m.cluster != first).collect();
    let Some(second) = weighted(&rest, random >> 32) else {
        return Some(first);
    };
    let load_of = |c: ClusterId| loads.iter().find(|(m, _)| m.cluster == c).map(|(_, l)| *l);
    Some(if load_of(second) < load_of(first) { second } else { first })
}

/// A member with probability proportional to its weight.
fn weighted(members: &[Member], random: u64) -> Option<ClusterId> {
    let total: u64 = members.iter().map(|m| u64::from(m.weight)).fold(0, u64::saturating_add);
    let mut ticket = random.checked_rem(total)?;
    for m in members {
        let w = u64::from(m.weight);
        if ticket < w {
            return Some(m.cluster);
        }
        ticket = ticket.saturating_sub(w);
    }
    None
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    fn members() -> Vec<Member> {
        vec![
            Member { cluster: ClusterId(0), weight: 1 },
            Member { cluster: ClusterId(1), weight: 3 },
            Member { cluster: ClusterId(2), weight: 1 },
        ]
    }

    fn spread(selection: Selection, load: impl Fn(ClusterId) -> Option<LoadFigure> + Copy) -> [u32; 3] {
        let mut counts = [0u32; 3];
        for r in 0..5000u64 {
            let c = pick(selection, &members(), |_| true, load, r.wrapping_mul(0x9E37_79B9_7F4A_7C15)).unwrap();
            counts[c.0] += 1;
        }
        counts
    }

    fn figure(queued: u64, running: u64) -> Option<LoadFigure> {
        Some(LoadFigure { queued, running })
    }

    #[test]
    fn weights_shape_the_split() {
        let counts = spread(Selection::WeightedRandom, |_| None);
        assert!((800..1200).contains(&counts[0]) && (2750..3250).contains(&counts[1]), "{counts:?}");
    }

    #[test]
    fn unusable_clusters_never_get_picked() {
        for r in 0..100 {
            assert_eq!(pick(Selection::LeastLoaded, &members(), |c| c.0 == 2, |_| figure(0, 0), r), Some(ClusterId(2)));
        }
        assert_eq!(pick(Selection::WeightedRandom, &members(), |_| false, |_| None, 7), None);
        assert_eq!(pick(Selection::PowerOfTwo, &[], |_| true, |_| None, 7), None);
    }

    #[test]
    fn least_loaded_prefers_fewer_queued_then_fewer_running() {
        let load = |c: ClusterId| match c.0 {
            0 => figure(1, 9),
            1 => figure(4, 0),
            _ => figure(1, 2),
        };
        assert_eq!(spread(Selection::LeastLoaded, load), [0, 0, 5000]);
    }

    #[test]
    fn least_loaded_without_fresh_figures_falls_back_to_weights() {
        let load = |c: ClusterId| if c.0 == 1 { None } else { figure(0, 0) };
        let counts = spread(Selection::LeastLoaded, load);
        assert!(counts.iter().all(|n| *n > 0), "{counts:?}");
    }

    #[test]
    fn power_of_two_avoids_the_busiest_member() {
        let load = |c: ClusterId| if c.0 == 1 { figure(50, 50) } else { figure(0, 0) };
        let counts = spread(Selection::PowerOfTwo, load);
        assert_eq!(counts[1], 0, "{counts:?}");
        assert!(counts[0] > 1000 && counts[2] > 1000, "{counts:?}");
    }
}
