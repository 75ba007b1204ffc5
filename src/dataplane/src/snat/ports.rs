//! How the port space of an external address is divided among the workers, and one worker's
//! share of one pool.
//!
//! # Ownership: `port % workers`
//!
//! Worker `w` owns the ports `p` of the pool's range with `p % workers == w` (interleaved, as
//! DPVS's `sa_pool` does with a mask). A reply's destination port alone therefore says which
//! worker owns its flow, whatever core the NIC delivered it to, and the worker that opens a
//! flow always allocates from its own share, so both directions agree on the owner. Interleaving
//! rather than contiguous ranges keeps every worker's share the same size for any range and any
//! number of workers, and maps onto NIC flow rules with a port mask where a NIC has them.

use super::bitmap::Bitmap;
use crate::wire::proto;

/// The worker that owns `port` of any pool address.
#[inline(always)]
pub fn owner_of_port(port: u16, workers: u16) -> u16 {
    port % workers.max(1)
}

/// A worker's ports in `lo..=hi`: slot `i` is port `first + i * workers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSpace {
    first: u32,
    hi: u32,
    workers: u32,
}

impl PortSpace {
    pub fn new(lo: u16, hi: u16, workers: u16, worker: u16) -> PortSpace {
        let (lo, hi, w, me) = (
            u32::from(lo),
            u32::from(hi),
            u32::from(workers.max(1)),
            u32::from(worker),
        );
        PortSpace {
            first: lo + (me + w - lo % w) % w,
            hi,
            workers: w,
        }
    }

    /// Ports this worker owns.
    pub fn len(&self) -> u32 {
        if self.first > self.hi {
            0
        } else {
            (self.hi - self.first) / self.workers + 1
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline(always)]
    pub fn port(&self, slot: u32) -> u16 {
        (self.first + slot * self.workers) as u16
    }

    /// The slot of `port`, if this worker owns it.
    #[inline(always)]
    pub fn slot(&self, port: u16) -> Option<u32> {
        let p = u32::from(port);
        (p >= self.first && p <= self.hi && (p - self.first) % self.workers == 0)
            .then(|| (p - self.first) / self.workers)
    }
}

/// Port maps are kept per transport protocol: TCP port 5000 and UDP port 5000 are different
/// endpoints, and ICMP echo identifiers are a third space (RFC 5508).
pub const PROTOS: usize = 3;

#[inline(always)]
pub fn proto_index(p: u8) -> Option<usize> {
    match p {
        proto::TCP => Some(0),
        proto::UDP => Some(1),
        proto::ICMP => Some(2),
        _ => None,
    }
}

/// One worker's share of one pool: a bitmap per (address, protocol).
#[derive(Debug, Clone)]
pub struct PoolPorts {
    pub space: PortSpace,
    pub addrs: Vec<u32>,
    maps: Vec<[Bitmap; PROTOS]>,
    /// Allocations refused because every owned port of every address was taken.
    pub exhausted: u64,
}

impl PoolPorts {
    pub fn new(addrs: &[u32], space: PortSpace) -> PoolPorts {
        let n = space.len();
        PoolPorts {
            space,
            addrs: addrs.to_vec(),
            maps: addrs
                .iter()
                .map(|_| std::array::from_fn(|_| Bitmap::new(n)))
                .collect(),
            exhausted: 0,
        }
    }

    /// A port on the preferred address (so all of one inside host's flows share an external
    /// address: "paired" pooling, RFC 4787 REQ-2), or on the next address that has one.
    pub fn allocate(&mut self, protocol: u8, preferred: usize) -> Option<(u32, u16)> {
        let pi = proto_index(protocol)?;
        let n = self.addrs.len();
        for k in 0..n {
            let a = (preferred + k) % n;
            if let Some(slot) = self.maps[a][pi].take() {
                return Some((self.addrs[a], self.space.port(slot)));
            }
        }
        self.exhausted += 1;
        None
    }

    fn find(&self, addr: u32, protocol: u8, port: u16) -> Option<(usize, usize, u32)> {
        let a = self.addrs.iter().position(|&x| x == addr)?;
        Some((a, proto_index(protocol)?, self.space.slot(port)?))
    }

    /// Gives a port back; false if it was not allocated here.
    pub fn release(&mut self, addr: u32, protocol: u8, port: u16) -> bool {
        match self.find(addr, protocol, port) {
            Some((a, p, s)) => self.maps[a][p].release(s),
            None => false,
        }
    }

    /// Marks a port a live flow holds (after a reload rebuilt the maps).
    pub fn claim(&mut self, addr: u32, protocol: u8, port: u16) -> bool {
        match self.find(addr, protocol, port) {
            Some((a, p, s)) => self.maps[a][p].take_slot(s),
            None => false,
        }
    }

    pub fn owns(&self, addr: u32) -> bool {
        self.addrs.contains(&addr)
    }

    /// Ports in use on address `a`, per protocol (TCP, UDP, ICMP).
    pub fn used(&self, a: usize) -> [u32; PROTOS] {
        std::array::from_fn(|p| self.maps[a][p].used())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_partition_the_range_and_replies_find_their_owner() {
        for workers in 1..=5u16 {
            let mut owned = vec![0u16; 65536];
            for w in 0..workers {
                let s = PortSpace::new(1024, 65535, workers, w);
                for slot in 0..s.len() {
                    let p = s.port(slot);
                    assert_eq!(owner_of_port(p, workers), w);
                    assert_eq!(s.slot(p), Some(slot));
                    owned[usize::from(p)] += 1;
                }
                assert_eq!(s.slot(1023), None);
            }
            assert!(owned[1024..].iter().all(|&n| n == 1), "{workers} workers");
            assert!(owned[..1024].iter().all(|&n| n == 0));
        }
        let tiny = PortSpace::new(2000, 2000, 2, 1);
        assert!(tiny.is_empty());
        assert_eq!(PortSpace::new(2000, 2000, 2, 0).len(), 1);
    }

    #[test]
    fn allocate_prefers_then_falls_back_then_counts_exhaustion() {
        let (a, b) = (0xc612_4001, 0xc612_4002);
        let mut p = PoolPorts::new(&[a, b], PortSpace::new(5000, 5003, 2, 1));
        assert_eq!(p.space.len(), 2);
        let got: Vec<(u32, u16)> = (0..4).map(|_| p.allocate(17, 1).unwrap()).collect();
        assert_eq!(got.iter().filter(|(x, _)| *x == b).count(), 2);
        assert_eq!(&got[..2].iter().map(|g| g.0).collect::<Vec<_>>(), &[b, b]);
        assert!(got.iter().all(|(_, port)| port % 2 == 1));
        assert_eq!(p.allocate(17, 0), None);
        assert_eq!(p.exhausted, 1);
        // Another protocol has its own ports.
        assert!(p.allocate(6, 0).is_some());
        assert_eq!(p.allocate(47, 0), None);
        assert!(p.release(a, 17, got[2].1));
        assert!(!p.release(a, 17, got[2].1));
        assert!(!p.release(a, 17, 5000), "not this worker's port");
        assert_eq!(p.used(0), [1, 1, 0]);
        assert!(p.claim(a, 17, got[2].1));
        assert!(!p.claim(a, 17, got[2].1));
    }
}
