//! Asking the kernel to resolve next hops the workers lacked a MAC for, at once. The fast path
//! never resolves addresses itself; without this, a frame towards a client whose neighbour entry
//! expired (or that the kernel never talked to: a new master's clients after a VRRP failover)
//! would be dropped until something else made the kernel resolve it, seconds later.

use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

/// One address is asked about at most this often: the kernel retransmits its ARP requests by
/// itself (`mcast_solicit`, every `retrans_time_ms`) once resolution has started.
const AGAIN_AFTER: Duration = Duration::from_millis(200);
const REMEMBERED: usize = 16;

pub struct Resolver {
    socket: Option<UdpSocket>,
    recent: [(Ipv4Addr, Option<Instant>); REMEMBERED],
    next: usize,
    /// Requests made, for the worker's counters.
    pub asked: u64,
}

impl Default for Resolver {
    fn default() -> Self {
        Resolver {
            socket: UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
                .and_then(|s| s.set_nonblocking(true).map(|()| s))
                .ok(),
            recent: [(Ipv4Addr::UNSPECIFIED, None); REMEMBERED],
            next: 0,
            asked: 0,
        }
    }
}

impl Resolver {
    /// Starts the kernel's resolution of each of `addrs` not asked about just now: an empty
    /// datagram to the discard port makes it queue the packet and send an ARP request.
    pub fn ask(&mut self, addrs: impl Iterator<Item = Ipv4Addr>, now: Instant) {
        for a in addrs {
            let recent = self
                .recent
                .iter()
                .any(|&(r, at)| r == a && at.is_some_and(|t| now.duration_since(t) < AGAIN_AFTER));
            if recent {
                continue;
            }
            self.recent[self.next] = (a, Some(now));
            self.next = (self.next + 1) % REMEMBERED;
            if let Some(s) = &self.socket {
                // Nonblocking: a full socket buffer only delays the next request.
                let _ = s.send_to(&[], (a, 9));
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
    }
}
