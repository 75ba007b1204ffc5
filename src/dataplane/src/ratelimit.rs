//! A token bucket for the ICMP errors a worker originates (RFC 1812 §4.3.2.8: a router must be
//! able to limit them, and should limit them by a count per time). Time is an argument, in
//! milliseconds on the pipeline's wrapping 32-bit clock.

/// `rate` tokens per second, at most `burst` saved up; credit is kept in thousandths of a
/// token so that any rate refills exactly, whatever the gaps between calls.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    rate: u32,
    /// Most credit, in thousandths of a token.
    cap: u64,
    credit: u64,
    last: u32,
}

impl TokenBucket {
    /// A full bucket. A rate of zero never gives a token.
    pub fn new(rate: u32, burst: u32, now: u32) -> TokenBucket {
        let cap = if rate == 0 {
            0
        } else {
            u64::from(burst) * 1000
        };
        TokenBucket {
            rate,
            cap,
            credit: cap,
            last: now,
        }
    }

    /// Takes a token if there is one.
    pub fn take(&mut self, now: u32) -> bool {
        // A clock going back (it does not) or wrapping leaves the elapsed time huge: that fills
        // the bucket, which is the right answer for a long gap.
        let elapsed = u64::from(now.wrapping_sub(self.last));
        self.last = now;
        self.credit = (self.credit + elapsed * u64::from(self.rate)).min(self.cap);
        if self.credit >= 1000 {
            self.credit -= 1000;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let mut b = TokenBucket::new(1000, 10, 0);
        assert_eq!((0..20).filter(|_| b.take(0)).count(), 10);
        // One token per millisecond at 1,000/s.
        assert!(b.take(1));
        assert!(!b.take(1));
        // A long pause fills it to the burst, no more.
        assert_eq!((0..20).filter(|_| b.take(60_000)).count(), 10);
    }

    #[test]
    fn slow_rates_accumulate_across_calls() {
        // 3/s: a token every 333.3 ms, even when asked every millisecond.
        let mut b = TokenBucket::new(3, 2, 0);
        assert!(b.take(0) && b.take(0) && !b.take(0));
        let got = (1..=1000u32).filter(|t| b.take(*t)).count();
        assert_eq!(got, 3);
        let mut z = TokenBucket::new(0, 5, 0);
        assert!(!z.take(1_000_000));
    }
}
