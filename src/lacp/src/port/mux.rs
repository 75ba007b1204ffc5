//! The Mux machine with coupled control (§6.4.15): attaches the port to its
//! aggregator after the wait_while_timer, and turns collecting and distributing on together
//! once the partner is in sync. Coupled control is what the Linux bonding driver, Open
//! vSwitch and DPDK run, and what a switch expects of a host.

use std::time::Instant;

use super::{Port, Selected};
use crate::timers::AGGREGATE_WAIT_TIME;

/// The Mux machine's states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MuxState {
    /// Not attached to any aggregator.
    Detached,
    /// An aggregator is chosen; waiting for the wait_while_timer and the other ports.
    Waiting,
    /// Attached; in sync on our side, not yet collecting or distributing.
    Attached,
    /// Collecting and distributing: the port carries traffic.
    CollectingDistributing,
}

impl Port {
    /// Runs the Mux machine. `ready` is the Selection Logic's Ready for the port's
    /// aggregator. Returns whether a state was entered or Ready_N changed.
    pub(crate) fn run_mux(&mut self, now: Instant, ready: bool) -> bool {
        let mut changed = false;
        loop {
            let sel = self.selected;
            let partner_sync = self.partner_oper.state.synchronization();
            match self.mux {
                MuxState::Detached => {
                    if sel == Selected::Selected || sel == Selected::Standby {
                        self.mux_enter_waiting(now);
                    } else {
                        break;
                    }
                }
                MuxState::Waiting => {
                    if sel == Selected::Unselected {
                        self.mux_enter_detached();
                    } else if sel == Selected::Selected && ready && self.ready_n {
                        self.mux_enter_attached();
                    } else if !self.ready_n && self.wait_while_timer.expired(now) {
                        // "The Mux machine asserts Ready_N TRUE to indicate to the Selection
                        // Logic that the wait_while_timer has expired and it is waiting
                        // ... to attach to an Aggregator."
                        self.ready_n = true;
                        self.wait_while_timer.stop();
                        // The bond recomputes Ready before this port can attach.
                        return true;
                    } else {
                        break;
                    }
                }
                MuxState::Attached => {
                    if sel == Selected::Unselected || sel == Selected::Standby {
                        self.mux_enter_detached();
                    } else if sel == Selected::Selected && partner_sync {
                        self.mux_enter_collecting_distributing();
                    } else {
                        break;
                    }
                }
                MuxState::CollectingDistributing => {
                    if sel != Selected::Selected || !partner_sync {
                        self.mux_enter_attached();
                    } else {
                        break;
                    }
                }
            }
            changed = true;
        }
        changed
    }

    /// DETACHED: "Detach_Mux_From_Aggregator(); Actor.Sync = FALSE;
    /// Disable_Collecting_Distributing(); Actor.Collecting = FALSE; Actor.Distributing =
    /// FALSE; NTT = TRUE".
    pub(crate) fn mux_enter_detached(&mut self) {
        self.mux = MuxState::Detached;
        let s = &mut self.actor_oper_port_state;
        s.set_synchronization(false);
        s.set_collecting(false);
        s.set_distributing(false);
        self.ntt = true;
        self.ready_n = false;
        self.wait_while_timer.stop();
    }

    /// WAITING: "Start wait_while_timer".
    fn mux_enter_waiting(&mut self, now: Instant) {
        self.mux = MuxState::Waiting;
        self.ready_n = false;
        self.wait_while_timer.start(now, AGGREGATE_WAIT_TIME);
    }

    /// ATTACHED: "Attach_Mux_To_Aggregator(); Actor.Sync = TRUE; Actor.Collecting = FALSE;
    /// Disable_Collecting_Distributing(); Actor.Distributing = FALSE; NTT = TRUE".
    fn mux_enter_attached(&mut self) {
        self.mux = MuxState::Attached;
        let s = &mut self.actor_oper_port_state;
        s.set_synchronization(true);
        s.set_collecting(false);
        s.set_distributing(false);
        self.ntt = true;
    }

    /// COLLECTING_DISTRIBUTING: "Actor.Distributing = TRUE; Enable_Collecting_Distributing();
    /// Actor.Collecting = TRUE; NTT = TRUE".
    fn mux_enter_collecting_distributing(&mut self) {
        self.mux = MuxState::CollectingDistributing;
        let s = &mut self.actor_oper_port_state;
        s.set_distributing(true);
        s.set_collecting(true);
        self.ntt = true;
    }
}
