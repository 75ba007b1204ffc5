//! Protocol timers and the RFC 9568 §6.1 interval arithmetic.
//!
//! All arithmetic is integer microseconds. Holo computed Skew_Time in `f32`
//! seconds and truncated it to zero; FRR truncates it to whole centiseconds
//! (210 ms instead of 218.75 ms for priority 200 at 1 s). We keep
//! keepalived's microsecond precision so a 10 cs interval still gets a
//! meaningful, priority-ordered skew.

use std::time::{Duration, Instant};

/// A time in centiseconds, the unit of the VRRPv3 Max Advertise Interval
/// (RFC 9568 §5.2.7: a 12-bit field, so 1..=4095 are valid intervals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Centiseconds(pub u16);

impl Centiseconds {
    /// The largest value the 12-bit field can carry (40.95 s).
    pub const MAX_INTERVAL: Centiseconds = Centiseconds(0x0fff);
    /// RFC 9568 §6.1 default Advertisement_Interval: 100 cs (1 s).
    pub const DEFAULT_INTERVAL: Centiseconds = Centiseconds(100);

    /// The value as a [`Duration`].
    pub fn as_duration(self) -> Duration {
        Duration::from_millis(u64::from(self.0) * 10)
    }

    /// Whole milliseconds.
    pub fn as_millis(self) -> u64 {
        u64::from(self.0) * 10
    }
}

/// RFC 9568 §6.1: "Skew_Time: Time to skew Master_Down_Interval in centiseconds.
/// Calculated as: (((256 - Priority) * Master_Adver_Interval) / 256)".
///
/// The division is done in microseconds, not centiseconds, so that higher
/// priorities always time out strictly earlier even at 10 cs intervals.
pub fn skew_time(priority: u8, master_adver_interval: Centiseconds) -> Duration {
    let micros = (256 - u64::from(priority)) * u64::from(master_adver_interval.0) * 10_000 / 256;
    Duration::from_micros(micros)
}

/// RFC 9568 §6.1: "Master_Down_Interval: Time interval for Backup to declare
/// Master down (centiseconds). Calculated as:
/// (3 * Master_Adver_Interval) + Skew_Time".
pub fn master_down_interval(priority: u8, master_adver_interval: Centiseconds) -> Duration {
    master_adver_interval.as_duration() * 3 + skew_time(priority, master_adver_interval)
}

/// The timers one instance can have armed. A closed set, so the table is a
/// fixed array and the next deadline is a `min()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Adver_Timer: fires while Master to send an ADVERTISEMENT.
    Adver = 0,
    /// Master_Down_Timer (RFC 9568: Active_Down_Timer): fires while Backup
    /// when the Master has been silent for Master_Down_Interval.
    MasterDown = 1,
    /// Non-RFC: a Master that saw a lower-priority Master declares the split
    /// brain over after a Master_Down_Interval without such adverts.
    SplitBrainClear = 2,
}

impl Timer {
    const COUNT: usize = 3;
    const ALL: [Timer; Self::COUNT] = [Timer::Adver, Timer::MasterDown, Timer::SplitBrainClear];
}

/// Deadlines of the armed timers.
#[derive(Debug, Clone, Default)]
pub struct TimerTable {
    deadlines: [Option<Instant>; Timer::COUNT],
}

impl TimerTable {
    /// Arms (or re-arms) `timer` to fire at `at`.
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer as usize] = Some(at);
    }

    /// Disarms `timer`.
    pub fn stop(&mut self, timer: Timer) {
        self.deadlines[timer as usize] = None;
    }

    /// Disarms every timer.
    pub fn stop_all(&mut self) {
        self.deadlines = [None; Timer::COUNT];
    }

    /// Deadline of `timer`, if armed.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer as usize]
    }

    /// The earliest armed deadline.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Disarms and returns the earliest timer due at `now`, with its deadline.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(Timer, Instant)> {
        let (timer, at) = Timer::ALL
            .iter()
            .filter_map(|t| self.get(*t).map(|at| (*t, at)))
            .filter(|(_, at)| *at <= now)
            .min_by_key(|(_, at)| *at)?;
        self.stop(timer);
        Some((timer, at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frr_documentation_example() {
        // FRR doc: v3, 100 cs, priority 200 -> skew about 210 ms, MDI about 3210 ms.
        // Exact arithmetic gives 56/256 s = 218.75 ms.
        assert_eq!(
            skew_time(200, Centiseconds(100)),
            Duration::from_micros(218_750)
        );
        assert_eq!(
            master_down_interval(200, Centiseconds(100)),
            Duration::from_micros(3_218_750)
        );
    }

    #[test]
    fn keepalived_priority_100_one_second() {
        // 3 + 156/256 s = 3.609375 s.
        assert_eq!(
            master_down_interval(100, Centiseconds(100)),
            Duration::from_micros(3_609_375)
        );
    }

    #[test]
    fn owner_has_tiny_skew() {
        assert_eq!(
            skew_time(255, Centiseconds(100)),
            Duration::from_micros(3_906)
        );
    }

    #[test]
    fn higher_priority_times_out_first_at_10cs() {
        let mut last = Duration::MAX;
        for p in 1..=255u8 {
            let mdi = master_down_interval(p, Centiseconds(10));
            assert!(mdi < last, "priority {p}");
            last = mdi;
        }
    }

    #[test]
    fn table_pops_in_deadline_order() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        table.set(Timer::MasterDown, t0 + Duration::from_secs(2));
        table.set(Timer::Adver, t0 + Duration::from_secs(1));
        assert_eq!(table.next_timeout(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(table.pop_expired(t0), None);
        let now = t0 + Duration::from_secs(3);
        assert_eq!(table.pop_expired(now).map(|x| x.0), Some(Timer::Adver));
        assert_eq!(table.pop_expired(now).map(|x| x.0), Some(Timer::MasterDown));
        assert_eq!(table.pop_expired(now), None);
        assert_eq!(table.next_timeout(), None);
    }
}
