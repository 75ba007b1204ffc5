//! Timers (RFC 4271 §10, RFC 9687), the jitter source and the reconnect
//! backoff. No clock is read here: deadlines are computed from the `now`
//! the shell passes in.

use std::time::{Duration, Instant};

/// Longest timer the core arms: configured durations are clamped to this so
/// that `now + duration` cannot overflow an `Instant`.
pub const MAX_TIMER: Duration = Duration::from_secs(7 * 24 * 3600);

/// Per-connection timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// RFC 4271 HoldTimer: peer silent for too long.
    Hold = 0,
    /// RFC 4271 KeepaliveTimer: time to send a KEEPALIVE.
    Keepalive = 1,
    /// RFC 4271 DelayOpenTimer (optional session attribute).
    DelayOpen = 2,
    /// RFC 9687 SendHoldTimer: our output has been stuck too long.
    SendHold = 3,
}

impl Timer {
    pub const ALL: [Timer; 4] = [
        Timer::Hold,
        Timer::Keepalive,
        Timer::DelayOpen,
        Timer::SendHold,
    ];
}

/// Fixed table of optional deadlines (quinn's `TimerTable`).
#[derive(Debug, Clone, Default)]
pub struct TimerTable {
    data: [Option<Instant>; 4],
}

impl TimerTable {
    pub fn set(&mut self, t: Timer, at: Instant) {
        self.data[t as usize] = Some(at);
    }

    pub fn stop(&mut self, t: Timer) {
        self.data[t as usize] = None;
    }

    pub fn get(&self, t: Timer) -> Option<Instant> {
        self.data[t as usize]
    }

    pub fn is_running(&self, t: Timer) -> bool {
        self.data[t as usize].is_some()
    }

    /// Timers due at `now`, cleared as they are returned.
    pub fn expired(&mut self, now: Instant) -> Vec<Timer> {
        let mut out = Vec::new();
        for t in Timer::ALL {
            if self.data[t as usize].is_some_and(|at| at <= now) {
                self.data[t as usize] = None;
                out.push(t);
            }
        }
        out
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        self.data.iter().flatten().min().copied()
    }
}

/// Small deterministic PRNG (xorshift64*) seeded by the caller, so jitter is
/// reproducible in tests and the core never touches an OS entropy source.
#[derive(Debug, Clone)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    pub fn new(seed: u64) -> Self {
        // xorshift must not start at zero.
        Jitter {
            state: seed ^ 0x9E37_79B9_7F4A_7C15 | 1,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `d` scaled by a random factor in [0.75, 1.0], the range RFC 4271 §10
    /// recommends for ConnectRetry, Keepalive and MRAI jitter.
    pub fn apply(&mut self, d: Duration) -> Duration {
        let frac = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        // try_from: an absurd configured duration must not panic on rounding.
        Duration::try_from_secs_f64(d.as_secs_f64() * (0.75 + 0.25 * frac)).unwrap_or(d)
    }
}

/// Exponential backoff for automatic restarts after a session failure
/// (RFC 4271 §8.1.1 DampPeerOscillations / IdleHoldTimer): doubles from
/// `min` to `max`; reset when a session reaches Established.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max: max.max(min),
            failures: 0,
        }
    }

    /// The next delay (jittered) and count one more failure.
    pub fn next_delay(&mut self, jitter: &mut Jitter) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(20)).unwrap_or(u32::MAX);
        let d = self.min.saturating_mul(factor).min(self.max);
        self.failures = self.failures.saturating_add(1);
        jitter.apply(d)
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps_with_jitter_in_range() {
        let mut j = Jitter::new(7);
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut prev_cap = Duration::ZERO;
        for i in 0..12 {
            let d = b.next_delay(&mut j);
            let cap = Duration::from_secs(1 << i.min(6)).min(Duration::from_secs(60));
            assert!(d <= cap && d >= cap.mul_f64(0.75), "{i}: {d:?} vs {cap:?}");
            assert!(cap >= prev_cap);
            prev_cap = cap;
        }
        b.reset();
        assert!(b.next_delay(&mut j) <= Duration::from_secs(1));
    }

    #[test]
    fn timer_table_min_and_expiry() {
        let t0 = Instant::now();
        let mut t = TimerTable::default();
        assert_eq!(t.next_timeout(), None);
        t.set(Timer::Hold, t0 + Duration::from_secs(9));
        t.set(Timer::Keepalive, t0 + Duration::from_secs(3));
        assert_eq!(t.next_timeout(), Some(t0 + Duration::from_secs(3)));
        assert_eq!(
            t.expired(t0 + Duration::from_secs(3)),
            vec![Timer::Keepalive]
        );
        assert!(!t.is_running(Timer::Keepalive));
        assert!(t.is_running(Timer::Hold));
    }
}
