//! The RFC 9568 §6 state machine, plus keepalived's Fault state.

mod instance;
mod receive;
mod reconfigure;
mod transitions;

pub use instance::{Instance, RxMeta, SyncView};

/// Instance states (RFC 9568 §6.4; RFC 9568 calls Master "Active").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// §6.4.1: "The purpose of the {Initialize} state is to wait for a
    /// Startup event." Not started, or shut down.
    Initialize,
    /// §6.4.2: "The purpose of the {Backup} state is to monitor the
    /// availability and state of the Active Router."
    Backup,
    /// §6.4.3: "While in the {Active} state, the router functions as the
    /// forwarding router for the IPvX address(es) associated with the Virtual
    /// Router."
    Master,
    /// Not in the RFC (keepalived FAULT): the interface is down or a hard
    /// tracker failed. Sends nothing, holds no addresses, ignores adverts.
    Fault,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Initialize => "Initialize",
            State::Backup => "Backup",
            State::Master => "Master",
            State::Fault => "Fault",
        })
    }
}
