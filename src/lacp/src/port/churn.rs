//! The Actor and Partner Churn Detection machines (§6.4.17): flag a
//! link whose actor (or partner) has not reached Synchronization within
//! Churn_Detection_Time, a sign of a misconfiguration (mismatched keys, too few aggregators
//! on the other side) that an operator should hear about. Churn changes no other machine.

use std::time::Instant;

use super::Port;
use crate::timers::CHURN_DETECTION_TIME;

/// A Churn Detection machine's states (the actor's and the partner's are alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChurnState {
    /// ACTOR_CHURN_MONITOR / PARTNER_CHURN_MONITOR: out of sync, the churn timer runs.
    Monitor,
    /// NO_ACTOR_CHURN / NO_PARTNER_CHURN: in sync.
    NoChurn,
    /// ACTOR_CHURN / PARTNER_CHURN: out of sync for Churn_Detection_Time.
    Churn,
}

/// One churn machine's state, flag and timer, driven by one Synchronization bit.
fn run(
    state: &mut ChurnState,
    churn: &mut bool,
    timer: &mut crate::timers::Timer,
    port_enabled: bool,
    in_sync: bool,
    now: Instant,
) -> bool {
    // Global transition: "BEGIN || !port_enabled" → MONITOR: "churn = FALSE; Start
    // churn_timer". While the port is disabled the machine re-enters MONITOR continuously,
    // so the timer effectively starts when the port is enabled: it is stopped meanwhile and
    // started by the first run with the port enabled.
    if !port_enabled {
        let changed = *state != ChurnState::Monitor || *churn;
        *state = ChurnState::Monitor;
        *churn = false;
        timer.stop();
        return changed;
    }
    let mut changed = false;
    if *state == ChurnState::Monitor && timer.deadline().is_none() {
        timer.start(now, CHURN_DETECTION_TIME);
    }
    loop {
        match *state {
            ChurnState::Monitor => {
                if in_sync {
                    // NO_CHURN: "churn = FALSE".
                    *state = ChurnState::NoChurn;
                    *churn = false;
                    timer.stop();
                } else if timer.expired(now) {
                    // CHURN: "churn = TRUE".
                    *state = ChurnState::Churn;
                    *churn = true;
                    timer.stop();
                } else {
                    break;
                }
            }
            ChurnState::Churn => {
                if in_sync {
                    *state = ChurnState::NoChurn;
                    *churn = false;
                } else {
                    break;
                }
            }
            ChurnState::NoChurn => {
                if !in_sync {
                    // Back to MONITOR: "churn = FALSE; Start churn_timer".
                    *state = ChurnState::Monitor;
                    *churn = false;
                    timer.start(now, CHURN_DETECTION_TIME);
                } else {
                    break;
                }
            }
        }
        changed = true;
    }
    changed
}

impl Port {
    /// Runs both churn machines. Returns whether either changed.
    pub(crate) fn run_churn(&mut self, now: Instant) -> bool {
        let a = run(
            &mut self.actor_churn_state,
            &mut self.actor_churn,
            &mut self.actor_churn_timer,
            self.port_enabled,
            self.actor_oper_port_state.synchronization(),
            now,
        );
        let p = run(
            &mut self.partner_churn_state,
            &mut self.partner_churn,
            &mut self.partner_churn_timer,
            self.port_enabled,
            self.partner_oper.state.synchronization(),
            now,
        );
        a || p
    }
}
