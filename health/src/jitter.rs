//! A tiny seeded PRNG for probe-interval jitter.
//!
//! Jitter only has to keep checks from running in lockstep; it does not need to be
//! unpredictable. A seeded SplitMix64 keeps the verdict core deterministic (same seed, same
//! schedule), so tests can assert exact probe times, and it spares the crate a `rand`
//! dependency.

use std::time::Duration;

/// SplitMix64 (Steele, Lea, Flood 2014): one `u64` of state, full period, good enough spread.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform value in `[0, 1)` (53 random bits, the precision of an `f64` mantissa).
    pub fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Stable 64-bit FNV-1a hash, used to derive a per-check seed from its name so that two checks
/// with the same runner seed still get different schedules.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Scale `base` by `1 + fraction * (2u - 1)`, i.e. spread it uniformly over
/// `[base * (1 - fraction), base * (1 + fraction))`. `u` must be in `[0, 1)`.
pub fn spread(base: Duration, fraction: f64, u: f64) -> Duration {
    if fraction <= 0.0 || base.is_zero() {
        return base;
    }
    let factor = 1.0 + fraction * (2.0 * u - 1.0);
    base.mul_f64(factor.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn unit_is_in_range() {
        let mut r = SplitMix64::new(7);
        for _ in 0..10_000 {
            let u = r.next_unit();
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn spread_bounds() {
        let base = Duration::from_secs(10);
        assert_eq!(spread(base, 0.0, 0.9), base);
        assert_eq!(spread(base, 0.2, 0.5), base);
        assert_eq!(spread(base, 0.2, 0.0), Duration::from_secs(8));
        assert!(spread(base, 0.2, 0.999_999) < Duration::from_secs(12));
    }

    #[test]
    fn names_get_different_seeds() {
        assert_ne!(fnv1a(b"web-1"), fnv1a(b"web-2"));
    }
}
