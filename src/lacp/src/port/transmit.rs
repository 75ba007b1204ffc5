//! The Transmit machine (§6.4.16): sends an LACPDU when NTT is set, at most three in any
//! Fast_Periodic_Time interval, never while the Periodic machine is in NO_PERIODIC.
//!
//! "When the Periodic machine is in the NO_PERIODIC state, the Transmit machine shall not
//! transmit any LACPDUs and shall set the value of NTT to FALSE. When the LACP_Enabled
//! variable is TRUE and the NTT variable is TRUE, the Transmit machine shall ensure that a
//! properly formatted LACPDU is transmitted, subject to the restriction that no more than
//! three LACPDUs may be transmitted in any Fast_Periodic_Time interval. If NTT is set to
//! TRUE when this limit is in force, the transmission shall be delayed until such a time as
//! the restriction is no longer in force. The NTT variable shall be set to FALSE when the
//! Transmit machine has transmitted a LACPDU."
//!
//! The PDU carries the port's operational values at the moment it is built, after every
//! machine has settled, so one input never sends a PDU with half-updated state.

use std::time::Instant;

use super::{PeriodicState, Port};
use crate::codec::lacpdu::Lacpdu;
use crate::timers::{FAST_PERIODIC_TIME, MAX_TX_PER_FAST_PERIODIC};

/// The times of the last `N` transmissions, oldest first: at most `N` in any
/// Fast_Periodic_Time interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxHistory<const N: usize = MAX_TX_PER_FAST_PERIODIC>([Option<Instant>; N]);

impl<const N: usize> Default for TxHistory<N> {
    fn default() -> Self {
        TxHistory([None; N])
    }
}

impl<const N: usize> TxHistory<N> {
    /// When the next transmission may go: one Fast_Periodic_Time after the N-th last.
    pub(crate) fn next_allowed(&self) -> Option<Instant> {
        self.0
            .first()
            .copied()
            .flatten()
            .map(|t| t + FAST_PERIODIC_TIME)
    }

    /// Whether a transmission may go at `now`.
    pub(crate) fn allows(&self, now: Instant) -> bool {
        self.next_allowed().is_none_or(|t| t <= now)
    }

    pub(crate) fn record(&mut self, now: Instant) {
        if N > 0 {
            self.0.rotate_left(1);
            self.0[N - 1] = Some(now);
        }
    }
}

/// CollectorMaxDelay we advertise: zero, our collector delivers frames as they come.
pub const COLLECTOR_MAX_DELAY: u16 = 0;

impl Port {
    /// Runs the Transmit machine: the LACPDU to send now, if any.
    pub(crate) fn run_transmit(&mut self, now: Instant) -> Option<Lacpdu> {
        if self.periodic == PeriodicState::NoPeriodic {
            self.ntt = false;
            return None;
        }
        if !self.ntt || !self.tx_history.allows(now) {
            return None;
        }
        self.ntt = false;
        self.tx_history.record(now);
        self.stats.lacpdus_tx += 1;
        Some(Lacpdu::new(
            self.actor_info(),
            self.partner_oper,
            COLLECTOR_MAX_DELAY,
        ))
    }

    /// When a held-back transmission may go (NTT set while the limit is in force).
    pub(crate) fn transmit_deadline(&self) -> Option<Instant> {
        if self.ntt && self.periodic != PeriodicState::NoPeriodic {
            self.tx_history.next_allowed()
        } else {
            None
        }
    }
}
