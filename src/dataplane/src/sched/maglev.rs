//! Maglev consistent hashing (Eisenbud et al., NSDI 2016, §3.4) with weights.
//!
//! Each backend walks its own permutation of the table's slots (`offset + j * skip mod M`,
//! both from hashes of the backend's address and port, so the permutation does not depend on
//! list order) and the backends take turns claiming their next free preferred slot. Weights
//! change how many turns a backend gets: it earns `weight` credits per round and spends
//! `max_weight` per slot, so its share of slots is proportional to its weight.
//!
//! The table size is a prime of at least 100 times the number of configured backends (the
//! paper's and Cilium's rule, for an even spread), chosen from a fixed ladder so health changes
//! and small membership changes keep the same size, which is what makes the disruption small.

use crate::flow::mix2;

/// Slot value of a table with no usable backend.
pub const NONE: u16 = u16::MAX;

/// Primes roughly doubling, as Cilium offers them.
const SIZES: [u32; 11] = [
    251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071, 262139,
];

/// The table size for `configured` backends: the smallest prime on the ladder of at least
/// 100 × backends.
pub fn table_size(configured: usize) -> u32 {
    let want = (configured.max(1) * 100) as u64;
    SIZES
        .iter()
        .copied()
        .find(|&p| u64::from(p) >= want)
        .unwrap_or(SIZES[SIZES.len() - 1])
}

/// One backend as Maglev sees it: its identity (for the permutation) and its weight. A weight of
/// zero (drained, or down) keeps it out of the table.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    pub addr: u32,
    pub port: u16,
    pub weight: u32,
}

#[derive(Debug, Clone)]
pub struct Maglev {
    table: Box<[u16]>,
}

impl Maglev {
    /// Builds the table; slot values are indices into `members`.
    pub fn build(members: &[Member], size: u32, seed: u64) -> Maglev {
        let m = u64::from(size);
        let mut table = vec![NONE; size as usize].into_boxed_slice();
        let live: Vec<usize> = (0..members.len())
            .filter(|&i| members[i].weight > 0)
            .collect();
        let Some(max_weight) = live.iter().map(|&i| members[i].weight).max() else {
            return Maglev { table };
        };
        let perm: Vec<(u64, u64)> = live
            .iter()
            .map(|&i| {
                let id = (u64::from(members[i].addr) << 16) | u64::from(members[i].port);
                let offset = mix2(id, 0x6f66_6673, seed) % m;
                let skip = mix2(id, 0x736b_6970, seed) % (m - 1) + 1;
                (offset, skip)
            })
            .collect();
        let mut next = vec![0u64; live.len()];
        let mut credit = vec![0u64; live.len()];
        let mut filled = 0u64;
        while filled < m {
            for (k, &i) in live.iter().enumerate() {
                credit[k] += u64::from(members[i].weight);
                while credit[k] >= u64::from(max_weight) && filled < m {
                    credit[k] -= u64::from(max_weight);
                    let (offset, skip) = perm[k];
                    loop {
                        let slot = ((offset + next[k] * skip) % m) as usize;
                        next[k] += 1;
                        if table[slot] == NONE {
                            table[slot] = i as u16;
                            filled += 1;
                            break;
                        }
                    }
                }
            }
        }
        Maglev { table }
    }

    #[inline(always)]
    pub fn pick(&self, hash: u64) -> Option<u16> {
        let b = self.table[(hash % self.table.len() as u64) as usize];
        (b != NONE).then_some(b)
    }

    pub fn size(&self) -> usize {
        self.table.len()
    }

    pub fn slots(&self) -> &[u16] {
        &self.table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(n: usize) -> Vec<Member> {
        (0..n)
            .map(|i| Member {
                addr: 0xc612_0200 + i as u32,
                port: 80,
                weight: 1,
            })
            .collect()
    }

    fn shares(t: &Maglev, n: usize) -> Vec<usize> {
        let mut c = vec![0; n];
        for &s in t.slots() {
            c[usize::from(s)] += 1;
        }
        c
    }

    #[test]
    fn size_is_a_prime_of_at_least_100_per_backend() {
        for n in [1, 2, 3, 10, 50, 100, 1000] {
            let m = table_size(n);
            assert!(m as usize >= 100 * n, "{n}: {m}");
            assert!((2..m).take_while(|d| d * d <= m).all(|d| m % d != 0), "{m}");
        }
    }

    #[test]
    fn equal_weights_spread_evenly() {
        let n = 10;
        let t = Maglev::build(&members(n), table_size(n), 1);
        let per = t.size() / n;
        for c in shares(&t, n) {
            assert!(c.abs_diff(per) <= 1, "{c} vs {per}");
        }
    }

    #[test]
    fn weights_set_the_share() {
        let mut backends = members(3);
        backends[0].weight = 1;
        backends[1].weight = 2;
        backends[2].weight = 5;
        let t = Maglev::build(&backends, 4093, 1);
        let s = shares(&t, 3);
        let total = t.size() as f64;
        for (i, want) in [(0, 1.0 / 8.0), (1, 2.0 / 8.0), (2, 5.0 / 8.0)] {
            let got = s[i] as f64 / total;
            assert!((got - want).abs() < 0.005, "backend {i}: {got} vs {want}");
        }
    }

    #[test]
    fn zero_weight_and_empty_tables() {
        let mut backends = members(2);
        backends[0].weight = 0;
        let t = Maglev::build(&backends, 251, 1);
        assert!(t.slots().iter().all(|&s| s == 1));
        backends[1].weight = 0;
        let t = Maglev::build(&backends, 251, 1);
        assert_eq!(t.pick(12345), None);
    }

    /// Removing one backend of N moves its own slots and only a few others: the paper reports
    /// small extra disruption, and the ladder keeps the table size.
    #[test]
    fn removing_a_backend_disrupts_little() {
        for n in [5usize, 10, 40] {
            let size = table_size(n);
            let all = members(n);
            let before = Maglev::build(&all, size, 9);
            let mut without = all.clone();
            without[n / 2].weight = 0; // taken out (down), same indices
            let after = Maglev::build(&without, size, 9);
            let moved_others = before
                .slots()
                .iter()
                .zip(after.slots())
                .filter(|(b, a)| usize::from(**b) != n / 2 && b != a)
                .count();
            let frac = moved_others as f64 / size as f64;
            assert!(
                frac < 0.04,
                "n={n}: {frac:.4} of slots of surviving backends moved"
            );
            // Every slot of the removed backend went to a survivor.
            assert!(after.slots().iter().all(|&s| usize::from(s) != n / 2));
        }
    }

    #[test]
    fn adding_a_backend_disrupts_little() {
        let n = 10;
        let size = table_size(n + 1);
        let before = Maglev::build(&members(n), size, 3);
        let after = Maglev::build(&members(n + 1), size, 3);
        let moved = before
            .slots()
            .iter()
            .zip(after.slots())
            .filter(|(b, a)| b != a && usize::from(**a) != n)
            .count();
        assert!((moved as f64 / size as f64) < 0.04, "{moved} of {size}");
    }
}
