//! What the runner publishes: the full status of a check (every probe) and its transitions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::result::ProbeResult;
use crate::verdict::{Counters, Override, Reason, State, Verdict};

/// The full status of one check, republished after every probe and override change.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckStatus {
    pub name: Arc<str>,
    /// Effective state, the one to act on (override applied).
    pub state: State,
    /// The probe verdict alone, ignoring the override.
    pub health: State,
    pub override_state: Override,
    pub consecutive_ok: u32,
    pub consecutive_fail: u32,
    pub last_result: Option<ProbeResult>,
    pub last_latency: Option<Duration>,
    /// The latest failure's detail; kept after recovery, for diagnosis.
    pub last_error: Option<String>,
    /// When the effective state last changed.
    pub last_change: Option<Instant>,
    /// The latest result's weight (file and dynamic exec checks).
    pub weight: Option<i32>,
    pub counters: Counters,
}

impl CheckStatus {
    pub(crate) fn from_verdict(name: &Arc<str>, v: &Verdict) -> Self {
        Self {
            name: name.clone(),
            state: v.state(),
            health: v.health(),
            override_state: v.override_state(),
            consecutive_ok: v.consecutive_ok(),
            consecutive_fail: v.consecutive_fail(),
            last_result: v.last_result().cloned(),
            last_latency: v.last_result().map(|r| r.latency),
            last_error: v.last_error().map(str::to_string),
            last_change: v.last_change(),
            weight: v.weight(),
            counters: v.counters(),
        }
    }

    pub fn summary(&self) -> Summary {
        Summary {
            state: self.state,
            weight: self.weight,
        }
    }
}

/// The part of a status consumers act on. Its watch channel only fires when this changes, so
/// a VRRP or BGP task can `changed().await` without waking on every probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub state: State,
    pub weight: Option<i32>,
}

/// A change of a check's effective state, in order, for logs, notify hooks and event streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionEvent {
    pub name: Arc<str>,
    pub from: State,
    pub to: State,
    pub reason: Reason,
    pub at: Instant,
}
