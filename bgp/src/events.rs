//! What the core reports to the shell: FSM states, events and commands.

use crate::negotiated::Negotiated;
use crate::packet::family::Family;
use crate::packet::notification::NotificationMessage;
use crate::packet::open::OpenMessage;
use crate::packet::update::{Rfc7606Verdict, UpdateMessage};

/// RFC 4271 §8.2.2 session states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

/// A TCP connection, as numbered by the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub u64);

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// Something the shell must do with a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Open a TCP connection to the peer; report the outcome with
    /// `handle_connected` or `handle_closed` for this id.
    Connect(ConnectionId),
    /// Close this TCP connection (all its bytes have already been handed
    /// out by `poll_transmit`; write them first).
    Close(ConnectionId),
}

/// Bytes to write to one connection, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub conn: ConnectionId,
    pub data: Vec<u8>,
}

/// Why a connection went away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// We sent this NOTIFICATION.
    NotificationSent(NotificationMessage),
    /// The peer sent this NOTIFICATION.
    NotificationReceived(NotificationMessage),
    /// TCP failed or the peer closed it (TcpConnectionFails).
    TcpFailed,
    /// ConnectRetry expired while the TCP handshake was pending.
    ConnectTimeout,
    /// ManualStop.
    Stopped,
    /// The neighbour's BFD session failed (RFC 5882) before an OPEN was sent.
    BfdDown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    StateChanged {
        from: State,
        to: State,
    },
    /// The peer's OPEN passed validation; carries its capabilities.
    OpenReceived(Box<OpenMessage>),
    Established(Box<Negotiated>),
    ConnectionClosed {
        conn: ConnectionId,
        reason: CloseReason,
    },
    NotificationSent(NotificationMessage),
    NotificationReceived(NotificationMessage),
    /// RFC 6.8 collision: `closed` lost to `kept`.
    CollisionResolved {
        kept: ConnectionId,
        closed: ConnectionId,
    },
    /// The peer asked for a re-advertisement (RFC 2918); the core re-sends
    /// the Adj-RIB-Out by itself.
    RouteRefreshRequested(Family),
    /// A received UPDATE (we originate only, so nothing is installed); the
    /// verdict says what RFC 7606 asks a receiver to do with it.
    UpdateReceived {
        update: Box<UpdateMessage>,
        verdict: Rfc7606Verdict,
    },
    EndOfRibReceived(Family),
    /// We finished the initial advertisement of a family.
    EndOfRibSent(Family),
}
