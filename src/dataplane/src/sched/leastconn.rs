//! Weighted least connections: the backend with the fewest active flows per unit of weight. The
//! counts are this core's own (each core balances its share of clients), kept by conntrack
//! inserts and frees so no other core is ever consulted.

/// Picks among `(index, weight)` of usable backends the one minimising `active[id] / weight`;
/// `id_of` maps an index to its stable backend id. Ties go to the earlier backend.
pub fn pick(
    candidates: impl Iterator<Item = (u16, u32)>,
    id_of: impl Fn(u16) -> u16,
    active: &[u32],
) -> Option<u16> {
    let mut best: Option<(u16, u64, u64)> = None;
    for (i, w) in candidates {
        if w == 0 {
            continue;
        }
        let a = u64::from(active[usize::from(id_of(i))]);
        let w = u64::from(w);
        // a/w < best_a/best_w without division.
        if best.is_none_or(|(_, ba, bw)| a * bw < ba * w) {
            best = Some((i, a, w));
        }
    }
    best.map(|(i, _, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fewest_per_weight_wins() {
        let active = [4, 3, 9];
        let id = |i: u16| i;
        // Equal weights: fewest connections.
        assert_eq!(
            pick([(0, 1), (1, 1), (2, 1)].into_iter(), id, &active),
            Some(1)
        );
        // Backend 2 has triple weight: 9/3 = 3 < 4/1 and = 3/1; ties go to the earlier one.
        assert_eq!(pick([(0, 1), (2, 3)].into_iter(), id, &active), Some(2));
        assert_eq!(pick([(1, 1), (2, 3)].into_iter(), id, &active), Some(1));
        assert_eq!(pick([(0, 0)].into_iter(), id, &active), None);
    }
}
