//! The Periodic Transmission machine (§6.4.13): how often NTT is raised to keep
//! the partner's information from expiring, at the rate the partner asked for.

use std::time::Instant;

use super::Port;
use crate::timers::{FAST_PERIODIC_TIME, SLOW_PERIODIC_TIME};

/// The Periodic Transmission machine's states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodicState {
    /// No periodic transmissions (and, by §6.4.16, no transmissions at all).
    NoPeriodic,
    /// Every Fast_Periodic_Time: the partner uses the short timeout.
    FastPeriodic,
    /// Every Slow_Periodic_Time: the partner uses the long timeout.
    SlowPeriodic,
    /// A periodic transmission is due (transient).
    PeriodicTx,
}

impl Port {
    /// Runs the Periodic Transmission machine. Returns whether a state was entered.
    pub(crate) fn run_periodic(&mut self, now: Instant) -> bool {
        // Global transition: "BEGIN || !LACP_Enabled || !port_enabled ||
        // (Actor_Oper_Port_State.LACP_Activity == PASSIVE_LACP &&
        // Partner_Oper_Port_State.LACP_Activity == PASSIVE_LACP)" → NO_PERIODIC, whose
        // action is "Stop periodic_timer". While it holds the machine stays there.
        let passive_both =
            !self.actor_oper_port_state.activity() && !self.partner_oper.state.activity();
        if !self.port_enabled || passive_both {
            let changed = self.periodic != PeriodicState::NoPeriodic;
            self.periodic = PeriodicState::NoPeriodic;
            self.periodic_timer.stop();
            return changed;
        }
        let short = self.partner_oper.state.timeout();
        let mut changed = false;
        loop {
            match self.periodic {
                // UCT.
                PeriodicState::NoPeriodic => self.periodic_enter_fast(now),
                PeriodicState::FastPeriodic => {
                    if !short {
                        self.periodic_enter_slow(now);
                    } else if self.periodic_timer.expired(now) {
                        self.periodic = PeriodicState::PeriodicTx;
                    } else {
                        break;
                    }
                }
                PeriodicState::SlowPeriodic => {
                    if self.periodic_timer.expired(now) || short {
                        self.periodic = PeriodicState::PeriodicTx;
                    } else {
                        break;
                    }
                }
                PeriodicState::PeriodicTx => {
                    // PERIODIC_TX: "NTT = TRUE".
                    self.ntt = true;
                    if short {
                        self.periodic_enter_fast(now);
                    } else {
                        self.periodic_enter_slow(now);
                    }
                }
            }
            changed = true;
        }
        changed
    }

    /// FAST_PERIODIC: "Start periodic_timer (fast_periodic_time)".
    fn periodic_enter_fast(&mut self, now: Instant) {
        self.periodic = PeriodicState::FastPeriodic;
        self.periodic_timer.start(now, FAST_PERIODIC_TIME);
    }

    /// SLOW_PERIODIC: "Start periodic_timer (slow_periodic_time)".
    fn periodic_enter_slow(&mut self, now: Instant) {
        self.periodic = PeriodicState::SlowPeriodic;
        self.periodic_timer.start(now, SLOW_PERIODIC_TIME);
    }
}
