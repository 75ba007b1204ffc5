//! The protocol's timer constants (§6.4.4) and the one-shot timer the machines use.

use std::time::{Duration, Instant};

/// Fast_Periodic_Time: "The number of seconds between periodic transmissions using Short
/// Timeouts."
pub const FAST_PERIODIC_TIME: Duration = Duration::from_secs(1);
/// Slow_Periodic_Time: "The number of seconds between periodic transmissions using Long
/// Timeouts."
pub const SLOW_PERIODIC_TIME: Duration = Duration::from_secs(30);
/// Short_Timeout_Time: "The number of seconds before invalidating received LACPDU
/// information when using Short Timeouts (3 × Fast_Periodic_Time)."
pub const SHORT_TIMEOUT_TIME: Duration = Duration::from_secs(3);
/// Long_Timeout_Time: "The number of seconds before invalidating received LACPDU information
/// when using Long Timeouts (3 × Slow_Periodic_Time)."
pub const LONG_TIMEOUT_TIME: Duration = Duration::from_secs(90);
/// Churn_Detection_Time: "The number of seconds that the Actor and Partner Churn state
/// machines wait for the Actor or Partner Sync state to stabilize."
pub const CHURN_DETECTION_TIME: Duration = Duration::from_secs(60);
/// Aggregate_Wait_Time: "The number of seconds to delay aggregation, to allow multiple links
/// to aggregate simultaneously."
pub const AGGREGATE_WAIT_TIME: Duration = Duration::from_secs(2);
/// §6.4.16: "no more than three LACPDUs may be transmitted in any Fast_Periodic_Time
/// interval".
pub const MAX_TX_PER_FAST_PERIODIC: usize = 3;

/// A timer as the state machines use it: started with a duration, stopped, or expired once
/// `now` reaches its deadline. Expiry is a condition the machines test, not an event, so a
/// timer that has fired must be restarted or stopped by the state it leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timer(Option<Instant>);

impl Timer {
    /// Starts (or restarts) the timer.
    pub fn start(&mut self, now: Instant, d: Duration) {
        self.0 = Some(now + d);
    }

    /// Stops the timer: it neither runs nor expires.
    pub fn stop(&mut self) {
        self.0 = None;
    }

    /// Running and its time has come.
    pub fn expired(&self, now: Instant) -> bool {
        self.0.is_some_and(|t| t <= now)
    }

    /// The deadline, when running.
    pub fn deadline(&self) -> Option<Instant> {
        self.0
    }
}

/// The earlier of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
