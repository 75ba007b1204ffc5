//! The retransmission timeout, estimated from round-trip samples as RFC 6298 does for TCP
//! (§2: SRTT, RTTVAR, RTO = SRTT + 4·RTTVAR), bounded by the configured minimum and maximum,
//! doubled on each timeout (§5.5). Samples come only from datagrams sent once (Karn).

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Rto {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    min: Duration,
    max: Duration,
}

impl Rto {
    pub fn new(initial: Duration, min: Duration, max: Duration) -> Rto {
        Rto {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: initial.clamp(min, max),
            min,
            max,
        }
    }

    pub fn current(&self) -> Duration {
        self.rto
    }

    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// §2.2 and §2.3, with alpha = 1/8 and beta = 1/4.
    pub fn sample(&mut self, r: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(s) => {
                let diff = s.abs_diff(r);
                self.rttvar = self.rttvar * 3 / 4 + diff / 4;
                self.srtt = Some(s * 7 / 8 + r / 8);
            }
        }
        let s = self.srtt.unwrap_or(r);
        self.rto = (s + self.rttvar * 4).clamp(self.min, self.max);
    }

    /// §5.5: back off.
    pub fn backoff(&mut self) {
        self.rto = (self.rto * 2).clamp(self.min, self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn first_sample_sets_srtt_and_rto() {
        let mut r = Rto::new(ms(200), ms(10), ms(2000));
        r.sample(ms(40));
        assert_eq!(r.srtt(), Some(ms(40)));
        // 40 + 4 * 20
        assert_eq!(r.current(), ms(120));
    }

    #[test]
    fn bounded_both_ways() {
        let mut r = Rto::new(ms(200), ms(50), ms(400));
        r.sample(ms(1));
        assert_eq!(r.current(), ms(50));
        for _ in 0..10 {
            r.backoff();
        }
        assert_eq!(r.current(), ms(400));
    }

    #[test]
    fn converges_on_steady_rtt() {
        let mut r = Rto::new(ms(200), ms(1), ms(2000));
        for _ in 0..100 {
            r.sample(ms(30));
        }
        assert!(
            r.current() >= ms(30) && r.current() < ms(35),
            "{:?}",
            r.current()
        );
    }
}
