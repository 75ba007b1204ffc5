//! One Aggregation Port's LACP state machines (§6.4.12 to §6.4.17): Receive, Periodic
//! Transmission, Mux (coupled control), Transmit and the two Churn Detection machines, over
//! the port's variables (§6.4.7, §6.4.8) named as the standard names them.
//!
//! The Selection Logic spans the ports of a bond and lives in [`crate::selection`], run by
//! [`crate::bond`]; it sets
//! each port's `Selected` variable and aggregator and computes each aggregator's `Ready`.
//! Each machine is a function that takes the transitions whose conditions hold until none
//! does, returning whether it changed anything, so the bond can run them all to a fixed
//! point after every input.

pub mod churn;
pub mod mux;
pub mod periodic;
pub mod receive;
pub mod transmit;

use std::time::Instant;

use crate::codec::lacpdu::PortInfo;
use crate::codec::state::PortState;
use crate::codec::{MacAddr, SystemId};
use crate::config::{actor_admin_state, BondConfig, PortConfig};
use crate::selection::LagId;
use crate::statistics::PortStatistics;
use crate::timers::{earliest, Timer};

pub use churn::ChurnState;
pub use mux::MuxState;
pub use periodic::PeriodicState;
pub use receive::RxState;

/// The Selected variable (§6.4.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selected {
    /// No aggregator chosen, or the choice is no longer valid.
    Unselected,
    /// Attached (or attaching) to the chosen aggregator.
    Selected,
    /// An aggregator is chosen but the port is held back from it (here: its aggregator is
    /// not the bond's selected one).
    Standby,
}

/// One port's machines and variables.
#[derive(Debug, Clone)]
pub struct Port {
    /// The port's MAC (frames' source).
    pub(crate) mac: MacAddr,
    /// Actor_System and Actor_System_Priority.
    pub(crate) actor_system: SystemId,
    /// Actor_Port_Number.
    pub(crate) actor_port_number: u16,
    /// Actor_Port_Priority.
    pub(crate) actor_port_priority: u16,
    /// Actor_Oper_Port_Key (equal to the admin key: we never change keys at run time).
    pub(crate) actor_oper_port_key: u16,
    /// Actor_Oper_Port_State.
    pub(crate) actor_oper_port_state: PortState,
    /// Partner_Admin_* as one record: the defaults a partner that sends nothing gets.
    pub(crate) partner_admin: PortInfo,
    /// Partner_Oper_*: what we believe of the partner.
    pub(crate) partner_oper: PortInfo,

    /// port_enabled: the MAC is operable (carrier), told by the shell.
    pub(crate) port_enabled: bool,
    /// port_moved: the partner's port was seen on another port of ours while this one was
    /// disabled.
    pub(crate) port_moved: bool,
    /// Selected, set by the Receive machine and the Selection Logic.
    pub(crate) selected: Selected,
    /// The aggregator the Selection Logic chose (when `selected` is not Unselected).
    pub(crate) aggregator: Option<LagId>,
    /// Ready_N: in WAITING and the wait_while_timer has expired.
    pub(crate) ready_n: bool,
    /// NTT: Need To Transmit.
    pub(crate) ntt: bool,
    /// actor_churn / partner_churn.
    pub(crate) actor_churn: bool,
    pub(crate) partner_churn: bool,

    pub(crate) rx: RxState,
    pub(crate) periodic: PeriodicState,
    pub(crate) mux: MuxState,
    pub(crate) actor_churn_state: ChurnState,
    pub(crate) partner_churn_state: ChurnState,

    pub(crate) current_while_timer: Timer,
    pub(crate) periodic_timer: Timer,
    pub(crate) wait_while_timer: Timer,
    pub(crate) actor_churn_timer: Timer,
    pub(crate) partner_churn_timer: Timer,
    /// When the last LACPDUs went out, oldest first, for the three-per-second limit.
    pub(crate) tx_history: transmit::TxHistory,

    pub(crate) stats: PortStatistics,
}

impl Port {
    /// A port as BEGIN leaves it: every machine initialized, the port disabled.
    pub(crate) fn new(bond: &BondConfig, cfg: &PortConfig) -> Port {
        let mut p = Port {
            mac: cfg.mac,
            actor_system: bond.system,
            actor_port_number: cfg.number,
            actor_port_priority: cfg.priority,
            actor_oper_port_key: cfg.key.unwrap_or(bond.key),
            actor_oper_port_state: actor_admin_state(bond, cfg),
            partner_admin: default_partner_admin(bond),
            partner_oper: default_partner_admin(bond),
            port_enabled: false,
            port_moved: false,
            selected: Selected::Unselected,
            aggregator: None,
            ready_n: false,
            ntt: false,
            actor_churn: false,
            partner_churn: false,
            rx: RxState::Initialize,
            periodic: PeriodicState::NoPeriodic,
            mux: MuxState::Detached,
            actor_churn_state: ChurnState::Monitor,
            partner_churn_state: ChurnState::Monitor,
            current_while_timer: Timer::default(),
            periodic_timer: Timer::default(),
            wait_while_timer: Timer::default(),
            actor_churn_timer: Timer::default(),
            partner_churn_timer: Timer::default(),
            tx_history: transmit::TxHistory::default(),
            stats: PortStatistics::default(),
        };
        // BEGIN: every machine enters its initial state.
        p.rx_enter_initialize();
        p.mux_enter_detached();
        p
    }

    /// The earliest instant at which a timer of this port expires.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let mut d = None;
        if matches!(self.rx, RxState::Current | RxState::Expired) {
            d = earliest(d, self.current_while_timer.deadline());
        }
        d = earliest(d, self.periodic_timer.deadline());
        if self.mux == MuxState::Waiting && !self.ready_n {
            d = earliest(d, self.wait_while_timer.deadline());
        }
        if self.actor_churn_state == ChurnState::Monitor {
            d = earliest(d, self.actor_churn_timer.deadline());
        }
        if self.partner_churn_state == ChurnState::Monitor {
            d = earliest(d, self.partner_churn_timer.deadline());
        }
        earliest(d, self.transmit_deadline())
    }

    /// The information this port sends about itself.
    pub(crate) fn actor_info(&self) -> PortInfo {
        PortInfo {
            system: self.actor_system,
            key: self.actor_oper_port_key,
            port_priority: self.actor_port_priority,
            port: self.actor_port_number,
            state: self.actor_oper_port_state,
        }
    }

    /// Individual: the link cannot aggregate with others, because either end says so
    /// (the Aggregation bit of Actor_Oper_Port_State or of Partner_Oper_Port_State is clear).
    pub(crate) fn is_individual(&self) -> bool {
        !self.actor_oper_port_state.aggregation() || !self.partner_oper.state.aggregation()
    }
}

/// Partner_Admin_*: the values in use while no LACPDU has been received (DEFAULTED). All zero
/// but LACP_Timeout, so a defaulted partner is Passive, Individual and out of sync: the port
/// never carries traffic on defaults (no "fallback" aggregation), and a passive actor stays
/// silent towards it. LACP_Timeout follows our own rate: the Periodic machine transmits at
/// the rate of Partner_Oper_Port_State.LACP_Timeout, and with the standard's Long Timeout
/// two defaulted ends of a fast bond would each speak only every 30 s, so a link whose
/// partner comes back (or whose first PDUs were lost) would take up to half a minute to be
/// found. Short keeps a fast bond asking every second.
fn default_partner_admin(bond: &BondConfig) -> PortInfo {
    let mut p = PortInfo::default();
    p.state
        .set_timeout(bond.timeout == crate::config::Timeout::Fast);
    p
}
