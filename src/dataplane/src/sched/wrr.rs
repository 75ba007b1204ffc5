//! Weighted round robin, as nginx's smooth variant: the sequence interleaves backends
//! (weights 5,1,1 give a a b a c a a, not a a a a a b c), so a heavy backend never receives a
//! burst. The sequence is built once per snapshot; each core keeps only a cursor into it.

/// Longest sequence kept; larger weight sums are scaled down (keeping every weight at least 1).
pub const MAX_LEN: u64 = 1 << 16;

#[derive(Debug, Clone, Default)]
pub struct Sequence {
    seq: Box<[u16]>,
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Sequence {
    /// `weights[i]` of backend `i`; zero keeps it out.
    pub fn build(weights: &[u32]) -> Sequence {
        let g = weights
            .iter()
            .filter(|&&w| w > 0)
            .fold(0u64, |g, &w| gcd(g, u64::from(w)));
        if g == 0 {
            return Sequence::default();
        }
        let mut w: Vec<u64> = weights.iter().map(|&x| u64::from(x) / g).collect();
        let sum: u64 = w.iter().sum();
        if sum > MAX_LEN {
            for x in w.iter_mut().filter(|x| **x > 0) {
                *x = (*x * MAX_LEN / sum).max(1);
            }
        }
        let total: i64 = w.iter().sum::<u64>() as i64;
        let mut current = vec![0i64; w.len()];
        let mut seq = Vec::with_capacity(total as usize);
        for _ in 0..total {
            let mut best = usize::MAX;
            for i in 0..w.len() {
                if w[i] == 0 {
                    continue;
                }
                current[i] += w[i] as i64;
                if best == usize::MAX || current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            seq.push(best as u16);
        }
        Sequence {
            seq: seq.into_boxed_slice(),
        }
    }

    /// The backend at `cursor`, advancing it.
    #[inline(always)]
    pub fn next(&self, cursor: &mut u32) -> Option<u16> {
        if self.seq.is_empty() {
            return None;
        }
        let i = *cursor as usize % self.seq.len();
        *cursor = ((i + 1) % self.seq.len()) as u32;
        Some(self.seq[i])
    }

    pub fn len(&self) -> usize {
        self.seq.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seq.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_interleaving() {
        let s = Sequence::build(&[5, 1, 1]);
        let mut c = 0;
        let got: Vec<u16> = (0..7).map(|_| s.next(&mut c).unwrap()).collect();
        assert_eq!(got, [0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn shares_follow_weights_and_zero_is_skipped() {
        let s = Sequence::build(&[20, 0, 10, 30]);
        assert_eq!(s.len(), 6);
        let mut c = 0;
        let mut n = [0; 4];
        for _ in 0..600 {
            n[usize::from(s.next(&mut c).unwrap())] += 1;
        }
        assert_eq!(n, [200, 0, 100, 300]);
        assert!(Sequence::build(&[0, 0]).next(&mut c).is_none());
    }

    #[test]
    fn huge_weights_are_scaled() {
        let s = Sequence::build(&[1_000_000, 1, 999_999]);
        assert!(s.len() as u64 <= MAX_LEN + 3);
        let mut c = 0;
        let mut seen = [false; 3];
        for _ in 0..s.len() {
            seen[usize::from(s.next(&mut c).unwrap())] = true;
        }
        assert_eq!(seen, [true, true, true]);
    }
}
