//! One worker's share of the IPv6 FullNAT pools: the IPv4 allocator ([`PoolPorts`], one bitmap
//! per address and protocol, ports `p % workers == worker`) over the positions of the pool's
//! addresses, which it keeps as `u32`s; the position names the IPv6 address.

use std::net::Ipv6Addr;

use super::ports::{PoolPorts, PortSpace};
use crate::snapshot::v6::PoolV6;
use crate::wire::proto;

#[derive(Default)]
pub struct SnatV6 {
    layout: Vec<(Vec<Ipv6Addr>, (u16, u16))>,
    workers: u16,
    pools: Vec<PoolPorts>,
}

/// ICMPv6 echo identifiers share the ICMP bitmaps.
fn family_proto(p: u8) -> u8 {
    if p == proto::ICMPV6 {
        proto::ICMP
    } else {
        p
    }
}

impl SnatV6 {
    /// Adopts a snapshot's IPv6 pools; true when the maps were rebuilt (the caller claims the
    /// ports its live flows hold again).
    pub fn sync(&mut self, pools: &[PoolV6], workers: u16, worker: u16) -> bool {
        let layout: Vec<_> = pools.iter().map(|p| (p.addrs.clone(), p.ports)).collect();
        if layout == self.layout && workers == self.workers {
            return false;
        }
        self.pools = pools
            .iter()
            .map(|p| {
                let positions: Vec<u32> = (0..p.addrs.len() as u32).collect();
                PoolPorts::new(
                    &positions,
                    PortSpace::new(p.ports.0, p.ports.1, workers, worker),
                )
            })
            .collect();
        self.layout = layout;
        self.workers = workers;
        true
    }

    fn find(&self, addr: Ipv6Addr) -> Option<(usize, u32)> {
        self.layout.iter().enumerate().find_map(|(pi, (addrs, _))| {
            addrs
                .iter()
                .position(|&a| a == addr)
                .map(|ai| (pi, ai as u32))
        })
    }

    pub fn allocate(&mut self, pool: u16, protocol: u8, preferred: u64) -> Option<(Ipv6Addr, u16)> {
        let p = self.pools.get_mut(usize::from(pool))?;
        let n = p.addrs.len().max(1) as u64;
        let (ai, port) = p.allocate(family_proto(protocol), (preferred % n) as usize)?;
        Some((self.layout[usize::from(pool)].0[ai as usize], port))
    }

    pub fn release(&mut self, protocol: u8, addr: Ipv6Addr, port: u16) {
        if let Some((pi, ai)) = self.find(addr) {
            self.pools[pi].release(ai, family_proto(protocol), port);
        }
    }

    pub fn claim(&mut self, protocol: u8, addr: Ipv6Addr, port: u16) {
        if let Some((pi, ai)) = self.find(addr) {
            self.pools[pi].claim(ai, family_proto(protocol), port);
        }
    }

    pub fn exhausted(&self, pool: usize) -> u64 {
        self.pools.get(pool).map_or(0, |p| p.exhausted)
    }

    /// Pool `pool`'s addresses with this worker's ports in use (TCP, UDP, ICMP) on each.
    pub fn used(&self, pool: usize) -> Vec<(Ipv6Addr, [u32; 3])> {
        match (self.layout.get(pool), self.pools.get(pool)) {
            (Some((addrs, _)), Some(ports)) => addrs
                .iter()
                .enumerate()
                .map(|(i, a)| (*a, ports.used(i)))
                .collect(),
            _ => Vec::new(),
        }
    }
}
