//! A session's counters.

use std::time::Instant;

use crate::error::Discard;

/// Counters of one session, for status and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Statistics {
    /// Control packets accepted (passed every §6.8.6 check).
    pub packets_in: u64,
    /// Control packets handed to the shell to send.
    pub packets_out: u64,
    /// Discarded packets by reason, indexed like [`Discard::ALL`].
    discards: [u64; Discard::ALL.len()],
    /// Times the session came Up.
    pub up_transitions: u64,
    /// Times it left Up (to Down or AdminDown).
    pub down_transitions: u64,
    /// Poll Sequences that ended with a Final (§6.5).
    pub polls_completed: u64,
    /// When bfd.SessionState last changed.
    pub last_state_change: Option<Instant>,
}

impl Statistics {
    /// Counts a discard.
    pub fn discard(&mut self, reason: Discard) {
        if let Some(i) = Discard::ALL.iter().position(|r| *r == reason) {
            self.discards[i] += 1;
        }
    }

    /// Discards for `reason`.
    pub fn discards(&self, reason: Discard) -> u64 {
        Discard::ALL
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.discards[i])
    }

    /// Every reason with a nonzero count.
    pub fn discards_by_reason(&self) -> impl Iterator<Item = (Discard, u64)> + '_ {
        Discard::ALL
            .iter()
            .zip(self.discards)
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| (*r, n))
    }

    /// All discards.
    pub fn discards_total(&self) -> u64 {
        self.discards.iter().sum()
    }
}
