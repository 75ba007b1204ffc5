//! The Receive machine (§6.4.12): records the partner's information from each
//! LACPDU, times it out (current_while_timer), and falls back to the administrative
//! defaults when the partner stays silent.

use std::time::Instant;

use super::{Port, Selected};
use crate::codec::lacpdu::Lacpdu;
use crate::timers::{LONG_TIMEOUT_TIME, SHORT_TIMEOUT_TIME};

/// The Receive machine's states. LACP_DISABLED is not reachable: LACP_Enabled is TRUE on
/// full-duplex links, and every link the data plane bonds is full duplex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxState {
    /// Entered at BEGIN and when a moved port is re-initialized.
    Initialize,
    /// The port is not operable.
    PortDisabled,
    /// The partner's information has timed out once: the short timeout runs.
    Expired,
    /// No LACPDU for a whole short timeout after expiry: defaults in use.
    Defaulted,
    /// Partner information is current.
    Current,
}

impl Port {
    /// Runs the Receive machine with at most one received LACPDU. Returns whether a state
    /// was entered. A PDU the machine cannot take (the port is disabled) is dropped.
    pub(crate) fn run_receive(&mut self, now: Instant, mut pdu: Option<&Lacpdu>) -> bool {
        let mut changed = false;
        loop {
            // Global transition: "(! port_enabled) && (! port_moved)" → PORT_DISABLED,
            // from any state but the one it leads to (and INITIALIZE, which ends there).
            if !self.port_enabled
                && !self.port_moved
                && !matches!(self.rx, RxState::PortDisabled | RxState::Initialize)
            {
                self.rx_enter_port_disabled();
                changed = true;
                continue;
            }
            match self.rx {
                // UCT.
                RxState::Initialize => self.rx_enter_port_disabled(),
                RxState::PortDisabled => {
                    if self.port_moved {
                        self.rx_enter_initialize();
                    } else if self.port_enabled {
                        self.rx_enter_expired(now);
                    } else {
                        break;
                    }
                }
                RxState::Expired => {
                    if let Some(p) = pdu.take() {
                        self.rx_enter_current(now, p);
                    } else if self.current_while_timer.expired(now) {
                        self.rx_enter_defaulted();
                    } else {
                        break;
                    }
                }
                RxState::Defaulted => {
                    if let Some(p) = pdu.take() {
                        self.rx_enter_current(now, p);
                    } else {
                        break;
                    }
                }
                RxState::Current => {
                    if let Some(p) = pdu.take() {
                        self.rx_enter_current(now, p);
                    } else if self.current_while_timer.expired(now) {
                        self.rx_enter_expired(now);
                    } else {
                        break;
                    }
                }
            }
            changed = true;
        }
        changed
    }

    /// INITIALIZE: "Selected = UNSELECTED; recordDefault(); Actor_Oper_Port_State.Expired =
    /// FALSE; port_moved = FALSE".
    pub(crate) fn rx_enter_initialize(&mut self) {
        self.rx = RxState::Initialize;
        self.selected = Selected::Unselected;
        self.record_default();
        self.actor_oper_port_state.set_expired(false);
        self.port_moved = false;
    }

    /// PORT_DISABLED: "Partner_Oper_Port_State.Synchronization = FALSE".
    fn rx_enter_port_disabled(&mut self) {
        self.rx = RxState::PortDisabled;
        self.partner_oper.state.set_synchronization(false);
        self.current_while_timer.stop();
    }

    /// EXPIRED: "Partner_Oper_Port_State.Synchronization = FALSE;
    /// Partner_Oper_Port_State.LACP_Timeout = Short Timeout; start
    /// current_while_timer(Short Timeout); Actor_Oper_Port_State.Expired = TRUE".
    fn rx_enter_expired(&mut self, now: Instant) {
        self.rx = RxState::Expired;
        self.partner_oper.state.set_synchronization(false);
        self.partner_oper.state.set_timeout(true);
        self.current_while_timer.start(now, SHORT_TIMEOUT_TIME);
        self.actor_oper_port_state.set_expired(true);
    }

    /// DEFAULTED: "update_Default_Selected(); recordDefault(); Actor_Oper_Port_State.Expired
    /// = FALSE".
    fn rx_enter_defaulted(&mut self) {
        self.rx = RxState::Defaulted;
        self.update_default_selected();
        self.record_default();
        self.actor_oper_port_state.set_expired(false);
        self.current_while_timer.stop();
    }

    /// CURRENT: "update_Selected(); update_NTT(); recordPDU(); start
    /// current_while_timer(Actor_Oper_Port_State.LACP_Timeout); Actor_Oper_Port_State.Expired
    /// = FALSE".
    fn rx_enter_current(&mut self, now: Instant, pdu: &Lacpdu) {
        self.rx = RxState::Current;
        self.update_selected(pdu);
        self.update_ntt(pdu);
        self.record_pdu(pdu);
        let timeout = if self.actor_oper_port_state.timeout() {
            SHORT_TIMEOUT_TIME
        } else {
            LONG_TIMEOUT_TIME
        };
        self.current_while_timer.start(now, timeout);
        self.actor_oper_port_state.set_expired(false);
    }

    /// recordPDU (§6.4.9): "This function records the parameter values for the Actor carried
    /// in a received LACPDU (Actor_Port_Number, Actor_Port_Priority, Actor_System,
    /// Actor_System_Priority, Actor_Key, and Actor_State variables) as the current Partner
    /// operational parameter values ... and sets Actor_Oper_Port_State.Defaulted to FALSE."
    /// Partner_Oper_Port_State.Synchronization is then TRUE only if the PDU's Partner
    /// information matches our own operational values (or the link is Individual), the
    /// partner says it is in sync, and LACP actively maintains the link.
    fn record_pdu(&mut self, pdu: &Lacpdu) {
        let actor = self.actor_info();
        let theirs_of_us = pdu.partner;
        let matched = theirs_of_us.port == actor.port
            && theirs_of_us.port_priority == actor.port_priority
            && theirs_of_us.system == actor.system
            && theirs_of_us.key == actor.key
            && theirs_of_us.state.aggregation() == actor.state.aggregation();
        // "LACP will actively maintain the link": the partner is Active, or we are and the
        // partner knows it.
        let maintained =
            pdu.actor.state.activity() || (actor.state.activity() && pdu.partner.state.activity());
        let individual = !pdu.actor.state.aggregation();
        let in_sync = pdu.actor.state.synchronization() && maintained && (matched || individual);
        self.partner_oper = pdu.actor;
        self.partner_oper.state.set_synchronization(in_sync);
        self.actor_oper_port_state.set_defaulted(false);
    }

    /// recordDefault: "records the default parameter values for the Partner carried in the
    /// Partner Admin parameters ... as the current Partner operational parameter values and
    /// sets Actor_Oper_Port_State.Defaulted to TRUE."
    fn record_default(&mut self) {
        self.partner_oper = self.partner_admin;
        self.actor_oper_port_state.set_defaulted(true);
    }

    /// update_Selected: "compares the Actor parameter values ... carried in a received
    /// LACPDU with the corresponding Partner_Oper_* values. If one or more of the comparisons
    /// shows that the value(s) received in the PDU differ from the current operational
    /// values, then Selected is set to UNSELECTED." The compared state bit is Aggregation.
    fn update_selected(&mut self, pdu: &Lacpdu) {
        let (a, p) = (pdu.actor, self.partner_oper);
        if a.port != p.port
            || a.port_priority != p.port_priority
            || a.system != p.system
            || a.key != p.key
            || a.state.aggregation() != p.state.aggregation()
        {
            self.selected = Selected::Unselected;
        }
    }

    /// update_Default_Selected: the same comparison between the Partner_Admin_* values and
    /// the Partner_Oper_* values.
    fn update_default_selected(&mut self) {
        let (a, p) = (self.partner_admin, self.partner_oper);
        if a.port != p.port
            || a.port_priority != p.port_priority
            || a.system != p.system
            || a.key != p.key
            || a.state.aggregation() != p.state.aggregation()
        {
            self.selected = Selected::Unselected;
        }
    }

    /// update_NTT: "compares the Partner parameter values in the received LACPDU with the
    /// corresponding Actor operational values. If one or more of the comparisons shows that
    /// the value(s) received in the PDU differ from the current operational values, then NTT
    /// is set to TRUE." The compared state bits are LACP_Activity, LACP_Timeout,
    /// Synchronization and Aggregation.
    fn update_ntt(&mut self, pdu: &Lacpdu) {
        let (p, a) = (pdu.partner, self.actor_info());
        const BITS: u8 = crate::codec::state::PortState::ACTIVITY
            | crate::codec::state::PortState::TIMEOUT
            | crate::codec::state::PortState::SYNCHRONIZATION
            | crate::codec::state::PortState::AGGREGATION;
        if p.port != a.port
            || p.port_priority != a.port_priority
            || p.system != a.system
            || p.key != a.key
            || (p.state.0 & BITS) != (a.state.0 & BITS)
        {
            self.ntt = true;
        }
    }
}
