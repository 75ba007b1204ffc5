//! What a session asks its shell to do, drained in order with [`crate::Session::poll_action`].

use std::time::Instant;

use crate::packet::{ControlPacket, Diagnostic, State};

/// One Control packet to send to the remote system (UDP to port 3784 from the session's
/// source port, TTL / Hop Limit 255: RFC 5881 §4, §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The packet as a value (logs, tests).
    pub packet: ControlPacket,
    /// Its bytes, authenticated.
    pub bytes: Vec<u8>,
}

/// bfd.SessionState changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// bfd.LocalDiag: why.
    pub diag: Diagnostic,
    /// bfd.RemoteSessionState at that moment.
    pub remote_state: State,
    /// When.
    pub at: Instant,
}

impl StateChange {
    /// Whether a client must treat this as the path failing (RFC 5882 §4.3 "the BFD session
    /// ... transitions from Up to Down"). A session brought down because the remote system
    /// went AdminDown is not a failure (RFC 5882 §3.2: the remote was administratively
    /// disabled, the path may well be fine), and neither is our own AdminDown.
    pub fn is_failure(&self) -> bool {
        self.from == State::Up && self.to == State::Down && self.remote_state != State::AdminDown
    }
}

/// An output of the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this packet now.
    Transmit(Transmit),
    /// The session changed state.
    StateChanged(StateChange),
}
