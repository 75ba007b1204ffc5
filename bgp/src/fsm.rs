//! One TCP connection's view of the RFC 4271 §8 session FSM.
//!
//! [`Peer`](crate::peer::Peer) owns up to two of these (one we dialled, one
//! the peer dialled) and resolves collisions between them (RFC 4271 §6.8);
//! everything that only concerns one connection — its receive buffer, its
//! output queue, its Hold/Keepalive/DelayOpen/SendHold timers and the OPENs
//! exchanged on it — lives here.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::events::{ConnectionId, State};
use crate::negotiated::Negotiated;
use crate::packet::framer::MessageReader;
use crate::packet::open::OpenMessage;
use crate::packet::{CodecContext, Message};
use crate::timers::{Timer, TimerTable};

#[derive(Debug)]
pub(crate) struct Connection {
    pub id: ConnectionId,
    /// Connect (outgoing, or outgoing with DelayOpen running), Active
    /// (incoming with DelayOpen running), OpenSent, OpenConfirm, Established.
    pub state: State,
    /// We initiated this TCP connection (matters for collision resolution).
    pub outgoing: bool,
    /// TCP is up (for outgoing connections: the handshake completed).
    pub tcp_up: bool,
    pub local: Option<IpAddr>,
    pub reader: MessageReader,
    pub codec: CodecContext,
    pub timers: TimerTable,
    pub our_open: Option<OpenMessage>,
    pub negotiated: Option<Negotiated>,
    /// Encoded messages not yet handed to the shell.
    pub out: Vec<u8>,
    /// Octets handed to the shell since it last reported them all written.
    pub in_flight: usize,
}

impl Connection {
    pub fn outgoing(id: ConnectionId) -> Self {
        Connection::new(id, true, State::Connect)
    }

    pub fn incoming(id: ConnectionId, local: IpAddr) -> Self {
        let mut c = Connection::new(id, false, State::Active);
        c.tcp_up = true;
        c.local = Some(local);
        c
    }

    fn new(id: ConnectionId, outgoing: bool, state: State) -> Self {
        Connection {
            id,
            state,
            outgoing,
            tcp_up: false,
            local: None,
            reader: MessageReader::new(),
            codec: CodecContext::default(),
            timers: TimerTable::default(),
            our_open: None,
            negotiated: None,
            out: Vec::new(),
            in_flight: 0,
        }
    }

    /// Queues a control message. Control messages are small and always
    /// encodable; an encoding failure would be a bug, so it is dropped
    /// rather than taking the process down.
    pub fn send(&mut self, msg: &Message) {
        let _ = msg.encode_into(self.codec, &mut self.out);
    }

    /// We have sent our OPEN (or are about to): the DelayOpen phase is over.
    pub fn open_sent(&self) -> bool {
        self.our_open.is_some()
    }

    /// RFC 4271: the HoldTimer restarts on every KEEPALIVE/UPDATE received.
    pub fn restart_hold(&mut self, now: Instant) {
        match self.negotiated.as_ref().and_then(|n| n.hold()) {
            Some(hold) => self.timers.set(Timer::Hold, now + hold),
            None => self.timers.stop(Timer::Hold),
        }
    }

    pub fn keepalive_interval(&self) -> Option<Duration> {
        self.negotiated
            .as_ref()
            .filter(|n| n.hold_time > 0)
            .map(|n| n.keepalive)
    }
}
