//! Flow states, the timeout class each belongs to, and the TCP transitions.
//!
//! The TCP tracking is the load balancer's, not a firewall's: it follows flags, not sequence
//! numbers, only to pick a timeout (as IPVS and DPVS do). Embryonic flows (SYN seen, handshake
//! not finished) get a short timeout so a SYN flood cannot fill the table for long.

use crate::wire::tcp::flags;

/// Which side sent a packet: the client towards the VIP, or the backend back to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Original = 0,
    Reply = 1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// Client SYN seen.
    SynSent,
    /// Backend SYN-ACK seen.
    SynRecv,
    Established,
    /// One side sent FIN.
    FinWait,
    /// Both sides sent FIN: the close is done, keep the entry briefly for retransmissions.
    TimeWait,
    /// RST seen.
    Close,
    Udp,
    Icmp,
}

/// Timeout classes; each has one timeout and one LRU list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Class {
    TcpSyn,
    TcpEstablished,
    TcpFin,
    TcpTimeWait,
    Udp,
    Icmp,
}

pub const CLASSES: usize = 6;

impl Class {
    pub const ALL: [Class; CLASSES] = [
        Class::TcpSyn,
        Class::TcpEstablished,
        Class::TcpFin,
        Class::TcpTimeWait,
        Class::Udp,
        Class::Icmp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Class::TcpSyn => "tcp_syn",
            Class::TcpEstablished => "tcp_established",
            Class::TcpFin => "tcp_fin",
            Class::TcpTimeWait => "tcp_time_wait",
            Class::Udp => "udp",
            Class::Icmp => "icmp",
        }
    }
}

impl State {
    pub fn class(self) -> Class {
        match self {
            State::SynSent | State::SynRecv => Class::TcpSyn,
            State::Established => Class::TcpEstablished,
            State::FinWait => Class::TcpFin,
            State::TimeWait | State::Close => Class::TcpTimeWait,
            State::Udp => Class::Udp,
            State::Icmp => Class::Icmp,
        }
    }

    pub fn from_u8(v: u8) -> State {
        match v {
            0 => State::SynSent,
            1 => State::SynRecv,
            2 => State::Established,
            3 => State::FinWait,
            4 => State::TimeWait,
            5 => State::Close,
            6 => State::Udp,
            _ => State::Icmp,
        }
    }
}

/// Timeouts in milliseconds per class. Defaults follow IPVS/DPVS for a load balancer: short for
/// transitory TCP states, 15 minutes for established TCP, 5 minutes for UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub ms: [u32; CLASSES],
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            ms: [10_000, 900_000, 30_000, 10_000, 300_000, 30_000],
        }
    }
}

impl Timeouts {
    pub fn of(&self, c: Class) -> u32 {
        self.ms[c as usize]
    }
}

/// Bits of `Entry::flags` recording which sides have sent FIN.
pub const FIN_ORIGINAL: u8 = 1;
pub const FIN_REPLY: u8 = 2;

/// The first state of a TCP flow seen with `tcp_flags` from the client, or `None` when the
/// packet cannot start a flow (a RST, or a lone FIN, for which there is nothing to balance).
pub fn tcp_initial(tcp_flags: u8) -> Option<State> {
    if tcp_flags & (flags::RST | flags::FIN) != 0 {
        return None;
    }
    if tcp_flags & flags::SYN != 0 && tcp_flags & flags::ACK == 0 {
        Some(State::SynSent)
    } else {
        // Mid-stream pickup: after a restart or a move between cores the flow is already open,
        // and Maglev sends it to the same backend as before.
        Some(State::Established)
    }
}

/// The first state of a flow of a direct-return service, whose replies we never see (IPVS's
/// "input only" table does the same). Any packet opens one: a flow that moved here from
/// another node (ECMP rehash) or another worker must reach the backend it was on, and Maglev
/// picks that backend again, so even a FIN or RST is sent on rather than dropped.
pub fn tcp_initial_one_way(tcp_flags: u8) -> State {
    if tcp_flags & flags::RST != 0 {
        State::Close
    } else if tcp_flags & flags::FIN != 0 {
        State::FinWait
    } else if tcp_flags & flags::SYN != 0 && tcp_flags & flags::ACK == 0 {
        State::SynSent
    } else {
        State::Established
    }
}

/// The next state of a direct-return flow: the client's ACK after its SYN establishes it, its
/// FIN starts the close (the backend's is never seen), a RST ends it.
pub fn tcp_next_one_way(state: State, fins: u8, tcp_flags: u8) -> (State, u8) {
    if tcp_flags & flags::RST != 0 {
        return (State::Close, fins);
    }
    let syn = tcp_flags & flags::SYN != 0;
    let ack = tcp_flags & flags::ACK != 0;
    if syn && !ack && matches!(state, State::TimeWait | State::Close) {
        return (State::SynSent, 0);
    }
    if tcp_flags & flags::FIN != 0 {
        return (State::FinWait, fins | FIN_ORIGINAL);
    }
    let next = match state {
        State::SynSent if ack && !syn => State::Established,
        s => s,
    };
    (next, fins)
}

/// The next TCP state and FIN bits after a packet with `tcp_flags` in direction `dir`.
pub fn tcp_next(state: State, fins: u8, dir: Dir, tcp_flags: u8) -> (State, u8) {
    if tcp_flags & flags::RST != 0 {
        return (State::Close, fins);
    }
    let syn = tcp_flags & flags::SYN != 0;
    let ack = tcp_flags & flags::ACK != 0;
    if syn && !ack && dir == Dir::Original && matches!(state, State::TimeWait | State::Close) {
        // The client reuses its port for a new connection to the same backend.
        return (State::SynSent, 0);
    }
    if tcp_flags & flags::FIN != 0 {
        let fins = fins
            | match dir {
                Dir::Original => FIN_ORIGINAL,
                Dir::Reply => FIN_REPLY,
            };
        let next = if fins == FIN_ORIGINAL | FIN_REPLY {
            State::TimeWait
        } else {
            State::FinWait
        };
        return (next, fins);
    }
    let next = match (state, dir) {
        (State::SynSent, Dir::Reply) if syn && ack => State::SynRecv,
        (State::SynRecv, Dir::Original) if ack && !syn => State::Established,
        (s, _) => s,
    };
    (next, fins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flags::*;

    #[test]
    fn handshake_data_and_close() {
        let s = tcp_initial(SYN).unwrap();
        assert_eq!(s, State::SynSent);
        assert_eq!(s.class(), Class::TcpSyn);
        let (s, f) = tcp_next(s, 0, Dir::Reply, SYN | ACK);
        assert_eq!(s, State::SynRecv);
        let (s, f) = tcp_next(s, f, Dir::Original, ACK);
        assert_eq!(s, State::Established);
        assert_eq!(s.class(), Class::TcpEstablished);
        let (s, f) = tcp_next(s, f, Dir::Reply, ACK);
        assert_eq!(s, State::Established);
        let (s, f) = tcp_next(s, f, Dir::Original, FIN | ACK);
        assert_eq!((s, f), (State::FinWait, FIN_ORIGINAL));
        assert_eq!(s.class(), Class::TcpFin);
        let (s, f) = tcp_next(s, f, Dir::Reply, FIN | ACK);
        assert_eq!(s, State::TimeWait);
        assert_eq!(s.class(), Class::TcpTimeWait);
        // Port reuse starts over.
        assert_eq!(tcp_next(s, f, Dir::Original, SYN), (State::SynSent, 0));
    }

    #[test]
    fn rst_closes_and_cannot_open() {
        assert_eq!(
            tcp_next(State::Established, 0, Dir::Reply, RST | ACK).0,
            State::Close
        );
        assert_eq!(tcp_initial(RST), None);
        assert_eq!(tcp_initial(FIN | ACK), None);
        assert_eq!(tcp_initial(ACK), Some(State::Established));
        // A SYN-ACK from the client side does not advance the handshake.
        assert_eq!(
            tcp_next(State::SynSent, 0, Dir::Original, SYN | ACK).0,
            State::SynSent
        );
    }

    #[test]
    fn one_way_flows_follow_the_client_alone() {
        assert_eq!(tcp_initial_one_way(SYN), State::SynSent);
        assert_eq!(tcp_initial_one_way(ACK), State::Established);
        assert_eq!(tcp_initial_one_way(FIN | ACK), State::FinWait);
        assert_eq!(tcp_initial_one_way(RST), State::Close);
        let (s, f) = tcp_next_one_way(State::SynSent, 0, ACK);
        assert_eq!(s, State::Established);
        // A retransmitted SYN does not establish it.
        assert_eq!(tcp_next_one_way(State::SynSent, 0, SYN).0, State::SynSent);
        let (s, f) = tcp_next_one_way(s, f, FIN | ACK);
        assert_eq!((s, f), (State::FinWait, FIN_ORIGINAL));
        assert_eq!(tcp_next_one_way(s, f, RST).0, State::Close);
        assert_eq!(tcp_next_one_way(State::Close, 0, SYN), (State::SynSent, 0));
    }

    #[test]
    fn state_round_trips_through_u8() {
        for s in [
            State::SynSent,
            State::SynRecv,
            State::Established,
            State::FinWait,
            State::TimeWait,
            State::Close,
            State::Udp,
            State::Icmp,
        ] {
            assert_eq!(State::from_u8(s as u8), s);
        }
    }
}
