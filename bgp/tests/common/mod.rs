//! Test harness: two `Peer`s joined by an in-memory TCP pipe on a virtual
//! clock (quinn-proto's `Pair`). Nothing sleeps; time jumps to the next
//! deadline.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bgp::packet::{CodecContext, Message};
use bgp::{Command, ConnectionId, Event, Peer, PeerConfig, State};

pub const A_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
pub const B_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));

/// One end of the pipe: which peer (0 = a, 1 = b) and its connection id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct End {
    pub side: usize,
    pub conn: ConnectionId,
}

#[derive(Debug)]
pub struct Link {
    pub ends: [End; 2],
    /// Bytes in flight toward ends[0] / ends[1].
    pub queues: [VecDeque<Vec<u8>>; 2],
}

pub struct Pair {
    pub peers: [Peer; 2],
    pub addrs: [IpAddr; 2],
    pub now: Instant,
    pub links: Vec<Link>,
    /// Pending dials: (side, conn) not yet connected.
    pub dials: Vec<End>,
    pub events: [Vec<Event>; 2],
    /// Every message each side put on the wire (decoded, 4-octet context
    /// unknown so only for inspection of non-UPDATEs), with the time.
    pub sent: [Vec<(Instant, Vec<u8>)>; 2],
    /// When false, a side does not read its sockets (bytes pile up) and
    /// its peer's writes are never reported drained.
    pub reading: [bool; 2],
    /// When false, dials toward this side are refused (no listener).
    pub listening: [bool; 2],
}

impl Pair {
    pub fn new(a: PeerConfig, b: PeerConfig) -> Self {
        Pair {
            peers: [Peer::new(a, 1), Peer::new(b, 2)],
            addrs: [A_ADDR, B_ADDR],
            now: Instant::now(),
            links: Vec::new(),
            dials: Vec::new(),
            events: [Vec::new(), Vec::new()],
            sent: [Vec::new(), Vec::new()],
            reading: [true, true],
            listening: [true, true],
        }
    }

    /// eBGP pair: a is AS 65001 (active), b is AS 65002 (passive).
    pub fn ebgp() -> Self {
        let a = PeerConfig::new(65001, 65002, Ipv4Addr::new(192, 0, 2, 1));
        let mut b = PeerConfig::new(65002, 65001, Ipv4Addr::new(192, 0, 2, 2));
        b.passive = true;
        Pair::new(a, b)
    }

    pub fn start(&mut self) {
        let now = self.now;
        self.peers[0].start(now);
        self.peers[1].start(now);
        self.drive();
    }

    pub fn state(&self, side: usize) -> State {
        self.peers[side].state()
    }

    /// Processes all outputs and deliveries until nothing moves.
    pub fn drive(&mut self) {
        for _ in 0..10_000 {
            let mut progress = false;
            for side in 0..2 {
                progress |= self.drain_outputs(side);
            }
            progress |= self.deliver();
            if !progress {
                return;
            }
        }
        panic!("harness did not settle");
    }

    fn link_of(&self, end: End) -> Option<usize> {
        self.links.iter().position(|l| l.ends.contains(&end))
    }

    fn drain_outputs(&mut self, side: usize) -> bool {
        let now = self.now;
        let mut progress = false;
        while let Some(t) = self.peers[side].poll_transmit(now) {
            progress = true;
            self.sent[side].push((now, t.data.clone()));
            let end = End { side, conn: t.conn };
            if let Some(li) = self.link_of(end) {
                let l = &mut self.links[li];
                let dir = if l.ends[0] == end { 1 } else { 0 };
                l.queues[dir].push_back(t.data);
                if self.reading[1 - side] {
                    self.peers[side].handle_transmit_drained(now, t.conn);
                }
            }
        }
        while let Some(c) = self.peers[side].poll_command() {
            progress = true;
            match c {
                Command::Connect(conn) => self.dials.push(End { side, conn }),
                Command::Close(conn) => {
                    let end = End { side, conn };
                    self.dials.retain(|d| *d != end);
                    if let Some(li) = self.link_of(end) {
                        // Deliver what is in flight, then the FIN.
                        let mut l = self.links.remove(li);
                        let dir = if l.ends[0] == end { 1 } else { 0 };
                        let other = l.ends[dir];
                        if self.reading[other.side] {
                            for data in l.queues[dir].drain(..) {
                                self.peers[other.side].handle_data(now, other.conn, &data);
                            }
                        }
                        self.peers[other.side].handle_closed(now, other.conn);
                    }
                }
            }
        }
        while let Some(e) = self.peers[side].poll_event() {
            progress = true;
            self.events[side].push(e);
        }
        progress
    }

    fn deliver(&mut self) -> bool {
        let now = self.now;
        let mut progress = false;
        // Dials complete instantly when the other side listens.
        for d in std::mem::take(&mut self.dials) {
            progress = true;
            let other = 1 - d.side;
            if !self.listening[other] {
                self.peers[d.side].handle_closed(now, d.conn);
                continue;
            }
            match self.peers[other].accept(now, self.addrs[other]) {
                Some(oc) => {
                    self.links.push(Link {
                        ends: [
                            d,
                            End {
                                side: other,
                                conn: oc,
                            },
                        ],
                        queues: [VecDeque::new(), VecDeque::new()],
                    });
                    self.peers[d.side].handle_connected(now, d.conn, self.addrs[d.side]);
                }
                None => self.peers[d.side].handle_closed(now, d.conn),
            }
        }
        for li in 0..self.links.len() {
            for dir in 0..2 {
                let Some(l) = self.links.get_mut(li) else {
                    break;
                };
                let to = l.ends[dir];
                if !self.reading[to.side] {
                    continue;
                }
                while let Some(data) = self
                    .links
                    .get_mut(li)
                    .and_then(|l| l.queues[dir].pop_front())
                {
                    progress = true;
                    self.peers[to.side].handle_data(now, to.conn, &data);
                }
            }
        }
        progress
    }

    /// Advances the clock to the next deadline (at most `limit` ahead).
    pub fn step(&mut self, limit: Instant) -> bool {
        let next = [self.peers[0].poll_timeout(), self.peers[1].poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(t) if t <= limit => {
                self.now = self.now.max(t);
                let now = self.now;
                self.peers[0].handle_timeout(now);
                self.peers[1].handle_timeout(now);
                self.drive();
                true
            }
            _ => {
                self.now = limit;
                false
            }
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.step(end) {}
    }

    /// Runs until both sides are Established (or panics after `max`).
    pub fn establish(&mut self, max: Duration) {
        let end = self.now + max;
        while !(self.state(0) == State::Established && self.state(1) == State::Established) {
            assert!(
                self.step(end),
                "not established: {:?} {:?}",
                self.state(0),
                self.state(1)
            );
        }
    }

    pub fn take_events(&mut self, side: usize) -> Vec<Event> {
        std::mem::take(&mut self.events[side])
    }
}

/// Splits a byte stream into decoded messages (for assertions).
pub fn messages(data: &[u8], ctx: CodecContext) -> Vec<Message> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (m, used) = Message::decode(rest, ctx).expect("valid message");
        out.push(m);
        rest = &rest[used..];
    }
    out
}
