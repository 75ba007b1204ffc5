//! Asking the kernel to resolve next hops the workers lacked a MAC for, at once. The fast path
//! never resolves addresses itself; without this, a frame towards a client whose neighbour entry
//! expired (or that the kernel never talked to: a new master's clients after a VRRP failover)
//! would be dropped until something else made the kernel resolve it, seconds later.
//!
//! Both families the same way: an empty UDP datagram to the address's discard port makes the
//! kernel queue it and resolve the next hop, by ARP for IPv4 and by a Neighbor Solicitation
//! (RFC 4861, 7.2.2) for IPv6. No raw socket and no hand-made NS: the kernel's ND state machine
//! (retransmissions, NUD) is the one the monitor then reports.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV6, UdpSocket};
use std::time::{Duration, Instant};

/// One address is asked about at most this often: the kernel retransmits its ARP requests and
/// solicitations by itself (`mcast_solicit`, every `retrans_time_ms`) once resolution started.
const AGAIN_AFTER: Duration = Duration::from_millis(200);
const REMEMBERED: usize = 16;

pub struct Resolver {
    socket: Option<UdpSocket>,
    socket6: Option<UdpSocket>,
    recent: [(IpAddr, Option<Instant>); REMEMBERED],
    next: usize,
    /// Requests made, for the worker's counters.
    pub asked: u64,
}

fn nonblocking(s: std::io::Result<UdpSocket>) -> Option<UdpSocket> {
    s.and_then(|s| s.set_nonblocking(true).map(|()| s)).ok()
}

impl Default for Resolver {
    fn default() -> Self {
        Resolver {
            socket: nonblocking(UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))),
            // A host without IPv6 has no such socket: IPv6 next hops are then never asked for.
            socket6: nonblocking(UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0))),
            recent: [(IpAddr::V4(Ipv4Addr::UNSPECIFIED), None); REMEMBERED],
            next: 0,
            asked: 0,
        }
    }
}

impl Resolver {
    /// Whether `a` was asked about less than [`AGAIN_AFTER`] ago; if not, remembers it now.
    fn fresh(&mut self, a: IpAddr, now: Instant) -> bool {
        let recent = self
            .recent
            .iter()
            .any(|&(r, at)| r == a && at.is_some_and(|t| now.duration_since(t) < AGAIN_AFTER));
        if !recent {
            self.recent[self.next] = (a, Some(now));
            self.next = (self.next + 1) % REMEMBERED;
        }
        !recent
    }

    /// Starts the kernel's resolution of each of `addrs` not asked about just now: an empty
    /// datagram to the discard port makes it queue the packet and send an ARP request.
    pub fn ask(&mut self, addrs: impl Iterator<Item = Ipv4Addr>, now: Instant) {
        for a in addrs {
            if !self.fresh(a.into(), now) {
                continue;
            }
            if let Some(s) = &self.socket {
                // Nonblocking: a full socket buffer only delays the next request.
                let _ = s.send_to(&[], (a, 9));
                self.asked += 1;
            }
        }
    }

    /// The same for IPv6 next hops; `scope(a)` is the interface index a link-local `a` is
    /// reached on (0 when unknown: the datagram then cannot be sent, and the controller's
    /// periodic retry, which knows the routes' interfaces, takes over).
    pub fn ask_v6(
        &mut self,
        addrs: impl Iterator<Item = Ipv6Addr>,
        now: Instant,
        scope: impl Fn(Ipv6Addr) -> u32,
    ) {
        for a in addrs {
            if !self.fresh(a.into(), now) {
                continue;
            }
            if let Some(s) = &self.socket6 {
                let to = SocketAddrV6::new(a, 9, 0, super::kernel_view::scope_of(a, scope(a)));
                let _ = s.send_to(&[], to);
                self.asked += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_asked_about_once_per_interval() {
        let mut r = Resolver::default();
        let t0 = Instant::now();
        let a = Ipv4Addr::new(127, 0, 0, 1);
        r.ask([a, a].into_iter(), t0);
        r.ask([a].into_iter(), t0 + Duration::from_millis(50));
        assert_eq!(r.asked, 1);
        r.ask([a].into_iter(), t0 + AGAIN_AFTER);
        assert_eq!(r.asked, 2);
        if r.socket6.is_some() {
            let b = Ipv6Addr::LOCALHOST;
            r.ask_v6([b, b].into_iter(), t0, |_| 0);
            assert_eq!(r.asked, 3);
            r.ask_v6([b].into_iter(), t0 + AGAIN_AFTER, |_| 0);
            assert_eq!(r.asked, 4);
        }
    }
}
