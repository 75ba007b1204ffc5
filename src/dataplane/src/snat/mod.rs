//! One worker's share of the SNAT pools: its ports on every external address (`ports`, over
//! the `bitmap` allocator) and its endpoint-independent mappings (`mapping`).
//!
//! # When ports run out
//!
//! A new flow needs a port only when its inside endpoint has no mapping yet. The worker tries
//! the endpoint's preferred address (all flows of one inside host leave from one address:
//! "paired" pooling, RFC 4787 REQ-2), then the pool's other addresses. If none has a free port
//! in this worker's share, expired flows are reclaimed (a bounded number) and the allocation is
//! tried once more; if it still fails the packet that would have opened the flow is dropped and
//! counted (`drops_ports_exhausted`, and the pool's `exhausted`). Live mappings are never taken
//! away from their flows: an established session is worth more than a new one, as in the
//! conntrack's own policy when it is full.

pub mod bitmap;
pub mod mapping;
pub mod ports;
pub mod v6;

use std::net::Ipv4Addr;

use mapping::{Inside, Mappings};
use ports::{PoolPorts, PortSpace};

use super::gateway::Pool;
use super::tables::AllocError;

/// What the worker's share looks like for one snapshot's pools: rebuilt when the pools change.
#[derive(Debug, Clone, PartialEq)]
struct Layout {
    pools: Vec<(Vec<u32>, (u16, u16))>,
    workers: u16,
}

pub struct SnatState {
    worker: u16,
    layout: Layout,
    pub pools: Vec<PoolPorts>,
    pub mappings: Mappings,
}

impl SnatState {
    /// `capacity`: most mappings (the worker's conntrack capacity).
    pub fn new(worker: u16, capacity: usize, seed: u64) -> SnatState {
        SnatState::try_new(worker, capacity, seed).expect("SNAT state")
    }

    /// [`SnatState::new`], or an error when the memory cannot be had.
    pub fn try_new(worker: u16, capacity: usize, seed: u64) -> Result<SnatState, AllocError> {
        Ok(SnatState {
            worker,
            layout: Layout {
                pools: Vec::new(),
                workers: 1,
            },
            pools: Vec::new(),
            mappings: Mappings::try_new(capacity, seed)?,
        })
    }

    /// Adopts a snapshot's pools. Returns true when the port maps were rebuilt: the caller must
    /// then [`SnatState::claim`] the ports its live FullNAT flows hold (mappings are re-claimed
    /// here). Ports of addresses no longer in any pool are simply forgotten; their flows keep
    /// their translation until they end.
    pub fn sync(&mut self, pools: &[Pool], workers: u16) -> bool {
        let layout = Layout {
            pools: pools.iter().map(|p| (p.addrs.clone(), p.ports)).collect(),
            workers,
        };
        if layout == self.layout {
            return false;
        }
        let exhausted: Vec<u64> = self.pools.iter().map(|p| p.exhausted).collect();
        self.pools = pools
            .iter()
            .map(|p| {
                PoolPorts::new(
                    &p.addrs,
                    PortSpace::new(p.ports.0, p.ports.1, workers, self.worker),
                )
            })
            .collect();
        // Counters carry over by position: a reload rarely reorders pools.
        for (p, e) in self.pools.iter_mut().zip(exhausted) {
            p.exhausted = e;
        }
        self.layout = layout;
        let held: Vec<(u8, u32, u16)> = self
            .mappings
            .iter()
            .map(|(k, a, p)| (k.proto, a, p))
            .collect();
        for (proto, addr, port) in held {
            self.claim(proto, addr.into(), port);
        }
        true
    }

    /// Marks a port a live flow holds.
    pub fn claim(&mut self, proto: u8, addr: Ipv4Addr, port: u16) {
        let addr = u32::from(addr);
        for p in &mut self.pools {
            if p.owns(addr) {
                p.claim(addr, proto, port);
                return;
            }
        }
    }

    /// Gives a port back to the pool that owns its address.
    /// Takes a port a peer's flow holds (session sync): true only when a pool has `addr`, the
    /// port is in this worker's share and nothing here holds it yet.
    pub fn claim_free(&mut self, proto: u8, addr: Ipv4Addr, port: u16) -> bool {
        let addr = u32::from(addr);
        self.pools
            .iter_mut()
            .find(|p| p.owns(addr))
            .is_some_and(|p| p.claim(addr, proto, port))
    }

    pub fn release_port(&mut self, proto: u8, addr: Ipv4Addr, port: u16) {
        let addr = u32::from(addr);
        for p in &mut self.pools {
            if p.owns(addr) {
                p.release(addr, proto, port);
                return;
            }
        }
    }

    /// The external endpoint for a new flow of `inside` through `pool`: its existing mapping
    /// (one more reference) or a new one. `preferred` picks the address (see the module doc).
    pub fn open(&mut self, pool: u16, inside: Inside, preferred: u64) -> Option<(Ipv4Addr, u16)> {
        if let Some((addr, port)) = self.mappings.get(&inside) {
            self.mappings.hold(&inside);
            return Some((addr.into(), port));
        }
        let p = self.pools.get_mut(usize::from(pool))?;
        let n = p.addrs.len().max(1) as u64;
        let (addr, port) = p.allocate(inside.proto, (preferred % n) as usize)?;
        if !self.mappings.insert(inside, addr, port) {
            self.release_port(inside.proto, addr.into(), port);
            return None;
        }
        Some((addr.into(), port))
    }

    /// A flow of `inside` ended.
    pub fn close(&mut self, inside: &Inside) {
        if let Some((addr, port)) = self.mappings.release(inside) {
            self.release_port(inside.proto, addr.into(), port);
        }
    }

    /// A port for one FullNAT flow (no mapping: each flow has its own).
    pub fn allocate(&mut self, pool: u16, proto: u8, preferred: u64) -> Option<(Ipv4Addr, u16)> {
        let p = self.pools.get_mut(usize::from(pool))?;
        let n = p.addrs.len().max(1) as u64;
        let (addr, port) = p.allocate(proto, (preferred % n) as usize)?;
        Some((addr.into(), port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conntrack::Timeouts;

    fn pool(addrs: &[u32]) -> Pool {
        Pool {
            name: "p".into(),
            addrs: addrs.to_vec(),
            ports: (1024, 1031),
            timeouts: Timeouts::default(),
        }
    }

    fn inside(zone: u16, port: u16) -> Inside {
        Inside {
            zone,
            proto: 17,
            addr: Ipv4Addr::new(10, 0, 0, 1),
            port,
        }
    }

    #[test]
    fn endpoint_independent_mapping_and_exhaustion() {
        let mut s = SnatState::new(1, 64, 9);
        assert!(s.sync(&[pool(&[100])], 2));
        assert!(
            !s.sync(&[pool(&[100])], 2),
            "same pools: nothing to rebuild"
        );
        // The same inside endpoint gets the same external port for every destination.
        let a = s.open(0, inside(1, 5000), 0).unwrap();
        assert_eq!(s.open(0, inside(1, 5000), 0), Some(a));
        assert_eq!(a.1 % 2, 1, "worker 1 owns odd ports");
        // Another site with the same private endpoint gets another port.
        let b = s.open(0, inside(2, 5000), 0).unwrap();
        assert_ne!(a, b);
        // Worker 1's share of 1024..=1031 is four ports.
        let c = s.open(0, inside(1, 5001), 0).unwrap();
        let d = s.open(0, inside(1, 5002), 0).unwrap();
        assert_eq!(s.open(0, inside(1, 5003), 0), None);
        assert_eq!(s.pools[0].exhausted, 1);
        // The mapping of `a` has two flows: the port comes back after both end.
        s.close(&inside(1, 5000));
        assert_eq!(s.open(0, inside(1, 5003), 0), None);
        s.close(&inside(1, 5000));
        assert_eq!(s.open(0, inside(1, 5003), 0), Some(a));
        let _ = (c, d);
    }

    #[test]
    fn a_rebuild_keeps_ports_held_by_mappings() {
        let mut s = SnatState::new(0, 64, 9);
        s.sync(&[pool(&[100])], 1);
        let a = s.open(0, inside(1, 5000), 0).unwrap();
        // A second address is added: the map is rebuilt, and the held port stays taken.
        assert!(s.sync(&[pool(&[100, 200])], 1));
        assert_eq!(s.pools[0].used(0), [0, 1, 0]);
        let b = s.open(0, inside(1, 5001), 0).unwrap();
        assert_ne!(a, b);
    }
}
