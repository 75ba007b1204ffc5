//! Interval arithmetic: transmit jitter (RFC 5880 §6.8.7) and the Detection Time (§6.8.4).

use std::time::Duration;

/// §6.8.3: "When bfd.SessionState is not Up, the system MUST set bfd.DesiredMinTxInterval to
/// a value of not less than one second (1,000,000 microseconds)."
pub const SLOW_TX_US: u32 = 1_000_000;

/// The random part of one transmit interval, chosen by the caller (the core has no random
/// source): a fraction `j / 65536` of the reduction §6.8.7 allows.
///
/// "The periodic transmission of BFD Control packets MUST be jittered on a per-packet basis by
/// up to 25%, that is, the interval MUST be reduced by a random value of 0 to 25% ... If
/// bfd.DetectMult is equal to 1, the interval between transmitted BFD Control packets MUST be
/// no more than 90% of the negotiated transmission interval, and MUST be no less than 75% of
/// the negotiated transmission interval." So `Jitter(0)` is 100% (90% with multiplier 1) and
/// `Jitter(u16::MAX)` is just above 75%.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Jitter(pub u16);

impl Jitter {
    /// No reduction beyond what the multiplier requires (tests, reproducible runs).
    pub const NONE: Jitter = Jitter(0);

    /// The interval to wait before the next periodic packet.
    pub fn apply(self, interval: Duration, detect_mult: u8) -> Duration {
        let ns = interval.as_nanos();
        let j = u128::from(self.0);
        let ns = if detect_mult == 1 {
            // 90% minus up to 15%.
            ns * 9 / 10 - ns * 15 * j / (100 * 65536)
        } else {
            // 100% minus up to 25%.
            ns - ns * j / (4 * 65536)
        };
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }
}

/// §6.8.4: "In Asynchronous mode, the Detection Time calculated in the local system is equal
/// to the value of Detect Mult received from the remote system, multiplied by the agreed
/// transmit interval of the remote system (the greater of bfd.RequiredMinRxInterval and the
/// last received Desired Min TX Interval)."
pub fn detection_time(
    remote_detect_mult: u8,
    required_min_rx_us: u32,
    remote_desired_min_tx_us: u32,
) -> Duration {
    let agreed = u64::from(required_min_rx_us.max(remote_desired_min_tx_us));
    Duration::from_micros(u64::from(remote_detect_mult) * agreed)
}

/// §6.8.7: the transmit interval "is equal to the greater of" bfd.DesiredMinTxInterval and
/// bfd.RemoteMinRxInterval.
pub fn transmit_interval(desired_min_tx_us: u32, remote_min_rx_us: u32) -> Duration {
    Duration::from_micros(u64::from(desired_min_tx_us.max(remote_min_rx_us)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS50: Duration = Duration::from_millis(50);

    #[test]
    fn jitter_bounds() {
        assert_eq!(Jitter::NONE.apply(MS50, 3), MS50);
        let most = Jitter(u16::MAX).apply(MS50, 3);
        assert!(most >= MS50 * 3 / 4 && most < MS50 * 3 / 4 + Duration::from_micros(1));
        // Multiplier 1: between 75% and 90%, never more.
        assert_eq!(Jitter::NONE.apply(MS50, 1), MS50 * 9 / 10);
        let most = Jitter(u16::MAX).apply(MS50, 1);
        assert!(most >= MS50 * 3 / 4 && most < MS50 * 3 / 4 + Duration::from_micros(1));
        for j in [1u16, 1000, 32768, 65534] {
            for mult in [1u8, 2, 3, 255] {
                let d = Jitter(j).apply(MS50, mult);
                let hi = if mult == 1 { MS50 * 9 / 10 } else { MS50 };
                assert!(d >= MS50 * 3 / 4 && d <= hi, "{j} {mult}: {d:?}");
            }
        }
    }

    #[test]
    fn detection_uses_the_slower_side() {
        // The remote sends every 50 ms but we can only take one per 300 ms: 3 x 300 ms.
        assert_eq!(
            detection_time(3, 300_000, 50_000),
            Duration::from_millis(900)
        );
        assert_eq!(
            detection_time(3, 50_000, 50_000),
            Duration::from_millis(150)
        );
        assert_eq!(detection_time(5, 10_000, 1_000_000), Duration::from_secs(5));
    }

    #[test]
    fn transmit_interval_is_the_larger() {
        assert_eq!(transmit_interval(50_000, 1), MS50);
        assert_eq!(
            transmit_interval(50_000, 300_000),
            Duration::from_millis(300)
        );
    }
}
