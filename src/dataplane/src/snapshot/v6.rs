//! The IPv6 half of a snapshot: services with IPv6 VIPs and backends, FullNAT pools of IPv6
//! addresses, the kernel's IPv6 routes and neighbours, and the host's own IPv6 addresses.
//!
//! Beside the IPv4 half rather than inside it: the IPv4 lookups (`StaticMap` over a packed
//! `u64` endpoint) and types stay as they are, so the IPv4 path pays nothing for IPv6, and the
//! shell's IPv4 spec is unchanged. Services of both families share one backend id space (the
//! per-core connection counts and health bits are indexed by it) and the WRR cursors
//! (`SchedState` keeps IPv6 services' after the IPv4 ones).
//!
//! The spec takes addresses as `IpAddr`, as configuration parses them: the snapshot is the one
//! place the family rule is checked (an IPv6 VIP with an IPv4 backend or pool address is a
//! [`BuildError::FamilyMismatch`]) except for NAT64 services (`nat64`): an IPv6 VIP, IPv4
//! backends (kept IPv4-mapped, `::ffff:a.b.c.d`, in the same `Service<Ipv6Addr>`) and an IPv4
//! FullNAT pool (`pool` indexes the IPv4 pools then), translated by `pipeline/nat64.rs`.

use std::net::{IpAddr, Ipv6Addr};

use super::{Backend, BackendSpec, BuildError, Scheduler, Service};
use crate::nat64::Pref64;
use crate::neighbours::v6::{NextHopsV6, RouteV6};
use crate::sched::maglev::{self, Maglev, Member};
use crate::sched::wrr;
use crate::wire::{proto, Address, MacAddr};

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpecV6 {
    pub name: String,
    /// Must be IPv6.
    pub vip: IpAddr,
    pub port: u16,
    /// TCP, UDP or ICMPv6 (echo, port 0).
    pub proto: u8,
    pub scheduler: Scheduler,
    pub persistence_ms: u32,
    /// Each must be IPv6 (IPv4 for NAT64).
    pub backends: Vec<BackendSpec<IpAddr>>,
    /// FullNAT: index into [`SpecV6::pools`] (into the IPv4 `Spec::pools` for NAT64).
    /// `None`: NAT mode.
    pub pool: Option<u16>,
    /// Direct server return: `dr` (only the MACs change) or `tunnel` (IPv6 in IPv6, RFC 2473).
    pub direct: Option<super::Direct<Ipv6Addr>>,
    /// NAT64: IPv4 backends behind an IPv4 FullNAT pool (`pool` required).
    pub nat64: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PoolSpecV6 {
    pub name: String,
    /// Each must be IPv6.
    pub addrs: Vec<IpAddr>,
    /// Inclusive range of external ports.
    pub ports: (u16, u16),
}

/// The IPv6 part of the configuration, beside [`super::Spec`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpecV6 {
    pub services: Vec<ServiceSpecV6>,
    pub pools: Vec<PoolSpecV6>,
    pub routes: Vec<RouteV6>,
    pub neighbours: Vec<(Ipv6Addr, MacAddr)>,
    /// The host's own IPv6 addresses on the data interfaces.
    pub locals: Vec<Ipv6Addr>,
    /// Where NAT64 writes the IPv4 addresses of routers' ICMP errors (RFC 6052).
    pub nat64_prefix: Pref64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PoolV6 {
    pub name: String,
    pub addrs: Vec<Ipv6Addr>,
    pub ports: (u16, u16),
}

/// The IPv6 half of a [`super::Snapshot`].
#[derive(Debug, Clone, Default)]
pub struct V6 {
    pub services: Vec<Service<Ipv6Addr>>,
    pub pools: Vec<PoolV6>,
    pub next_hops: NextHopsV6,
    /// (VIP, port, proto) → service, sorted.
    by_vip: Vec<((Ipv6Addr, u16, u8), u16)>,
    /// VIPs of any service, sorted (steering owns what is addressed to them).
    vips: Vec<Ipv6Addr>,
    /// (address, port, proto) of backends of services whose replies cross us, sorted.
    backends: Vec<(Ipv6Addr, u16, u8)>,
    /// Pool addresses → pool, sorted.
    pool_addrs: Vec<(Ipv6Addr, u16)>,
    locals: Vec<Ipv6Addr>,
    pub nat64_prefix: Pref64,
}

/// A NAT64 backend's address: IPv4, kept IPv4-mapped.
fn mapped_of(a: IpAddr, service: &str) -> Result<Ipv6Addr, BuildError> {
    match a {
        IpAddr::V4(a) => Ok(a.to_ipv6_mapped()),
        IpAddr::V6(_) => Err(BuildError::Nat64(service.to_string())),
    }
}

fn v6_of(a: IpAddr, service: &str) -> Result<Ipv6Addr, BuildError> {
    match a {
        IpAddr::V6(a) => Ok(a),
        IpAddr::V4(_) => Err(BuildError::FamilyMismatch(service.to_string())),
    }
}

impl V6 {
    /// `first`: the number of IPv4 services (IPv6 service `si` is `first + si` in the
    /// backend-id assignment); `id_of(service, backend)` gives each backend its stable id.
    pub(super) fn build(
        spec: &SpecV6,
        first: usize,
        v4_pools: usize,
        id_of: &mut impl FnMut(usize, usize) -> Result<u16, BuildError>,
        cluster_seed: u64,
    ) -> Result<V6, BuildError> {
        let mut services = Vec::with_capacity(spec.services.len());
        let mut by_vip: Vec<((Ipv6Addr, u16, u8), u16)> = Vec::new();
        for (si, s) in spec.services.iter().enumerate() {
            let vip = v6_of(s.vip, &s.name)?;
            if by_vip.iter().any(|(k, _)| *k == (vip, s.port, s.proto)) {
                return Err(BuildError::DuplicateService(format!(
                    "[{vip}]:{}/{}",
                    s.port, s.proto
                )));
            }
            by_vip.push(((vip, s.port, s.proto), si as u16));
            if s.backends.len() >= usize::from(maglev::NONE) {
                return Err(BuildError::ServiceTooLarge(s.name.clone()));
            }
            if s.nat64 {
                match s.pool {
                    Some(p) if usize::from(p) < v4_pools && s.direct.is_none() => {}
                    _ => return Err(BuildError::Nat64(s.name.clone())),
                }
            } else if let Some(p) = s.pool {
                let pool = spec
                    .pools
                    .get(usize::from(p))
                    .ok_or(BuildError::NoSuchPool(s.name.clone()))?;
                for a in &pool.addrs {
                    v6_of(*a, &s.name)?;
                }
                if s.direct.is_some() {
                    return Err(BuildError::DirectWithPool(s.name.clone()));
                }
            }
            let mut backends = Vec::with_capacity(s.backends.len());
            for (bi, b) in s.backends.iter().enumerate() {
                backends.push(Backend {
                    id: id_of(first + si, bi)?,
                    addr: if s.nat64 {
                        mapped_of(b.addr, &s.name)?
                    } else {
                        v6_of(b.addr, &s.name)?
                    },
                    // Echo has no port; direct routing leaves the destination port alone.
                    port: if s.proto == proto::ICMPV6 {
                        0
                    } else if s.direct.is_some() {
                        s.port
                    } else {
                        b.port
                    },
                    weight: b.weight,
                    up: b.up,
                });
            }
            let maglev = (s.scheduler == Scheduler::Maglev).then(|| {
                let members: Vec<Member> = backends
                    .iter()
                    .map(|b| Member {
                        // The permutation's identity of the backend: the folded address.
                        addr: fold32(b.addr),
                        port: b.port,
                        weight: b.effective_weight(),
                    })
                    .collect();
                Maglev::build(&members, maglev::table_size(members.len()), cluster_seed)
            });
            let wrr = if s.scheduler == Scheduler::RoundRobin {
                let w: Vec<u32> = backends.iter().map(Backend::effective_weight).collect();
                wrr::Sequence::build(&w)
            } else {
                wrr::Sequence::default()
            };
            services.push(Service {
                name: s.name.clone(),
                vip,
                port: s.port,
                proto: s.proto,
                scheduler: s.scheduler,
                persistence_ms: s.persistence_ms,
                backends,
                maglev,
                wrr,
                pool: s.pool,
                direct: s.direct,
                nat64: s.nat64,
            });
        }
        by_vip.sort_unstable();
        let mut vips: Vec<Ipv6Addr> = services.iter().map(|s| s.vip).collect();
        vips.sort_unstable();
        vips.dedup();
        let mut backends: Vec<(Ipv6Addr, u16, u8)> = services
            .iter()
            // NAT64 backends answer over IPv4, to a pool address.
            .filter(|s| s.direct.is_none() && !s.nat64)
            .flat_map(|s| s.backends.iter().map(move |b| (b.addr, b.port, s.proto)))
            .collect();
        backends.sort_unstable();
        backends.dedup();
        let mut pools = Vec::with_capacity(spec.pools.len());
        let mut pool_addrs = Vec::new();
        for (pi, p) in spec.pools.iter().enumerate() {
            let mut addrs = Vec::with_capacity(p.addrs.len());
            for a in &p.addrs {
                let a = v6_of(*a, &p.name)?;
                addrs.push(a);
                pool_addrs.push((a, pi as u16));
            }
            pools.push(PoolV6 {
                name: p.name.clone(),
                addrs,
                ports: p.ports,
            });
        }
        pool_addrs.sort_unstable();
        let mut locals = spec.locals.clone();
        locals.sort_unstable();
        locals.dedup();
        Ok(V6 {
            services,
            pools,
            next_hops: NextHopsV6::new(spec.routes.clone(), spec.neighbours.iter().copied()),
            by_vip,
            vips,
            backends,
            pool_addrs,
            locals,
            nat64_prefix: spec.nat64_prefix,
        })
    }

    #[inline]
    pub fn service_for(&self, vip: Ipv6Addr, port: u16, proto: u8) -> Option<u16> {
        self.by_vip
            .binary_search_by(|(k, _)| k.cmp(&(vip, port, proto)))
            .ok()
            .map(|i| self.by_vip[i].1)
    }

    /// Whether `addr` is the VIP of any IPv6 service.
    #[inline]
    pub fn is_vip(&self, addr: Ipv6Addr) -> bool {
        self.vips.binary_search(&addr).is_ok()
    }

    #[inline]
    pub fn is_backend(&self, addr: Ipv6Addr, port: u16, proto: u8) -> bool {
        self.backends.binary_search(&(addr, port, proto)).is_ok()
    }

    #[inline]
    pub fn pool_of_addr(&self, addr: Ipv6Addr) -> Option<u16> {
        self.pool_addrs
            .binary_search_by(|(a, _)| a.cmp(&addr))
            .ok()
            .map(|i| self.pool_addrs[i].1)
    }

    #[inline]
    pub fn is_local(&self, addr: Ipv6Addr) -> bool {
        self.locals.binary_search(&addr).is_ok()
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.pools.is_empty()
    }

    /// The source of ICMPv6 errors the fast path originates outside any flow: the host's
    /// lowest forwardable IPv6 address (RFC 4443 §2.2: an address of the node).
    pub fn error_source(&self) -> Option<Ipv6Addr> {
        self.locals
            .iter()
            .copied()
            .find(|a| crate::gateway::forwardable6(*a))
    }
}

/// An IPv6 address folded to 32 bits: its identity where a `u32` is kept (Maglev's
/// permutation, the persistence cache).
#[inline(always)]
pub fn fold32(a: Ipv6Addr) -> u32 {
    let w = a.hash_word();
    (w ^ (w >> 32)) as u32
}

#[cfg(test)]
mod tests {
    use super::super::{Snapshot, Spec};
    use super::*;

    fn a(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    pub(crate) fn service(vip: &str, backends: &[&str], pool: Option<u16>) -> ServiceSpecV6 {
        ServiceSpecV6 {
            name: "web6".into(),
            vip: a(vip),
            port: 80,
            proto: proto::TCP,
            scheduler: Scheduler::Maglev,
            persistence_ms: 0,
            backends: backends
                .iter()
                .map(|b| BackendSpec {
                    addr: a(b),
                    port: 8080,
                    weight: 1,
                    up: true,
                })
                .collect(),
            pool,
            direct: None,
            nat64: false,
        }
    }

    #[test]
    fn services_pools_and_family_mismatches() {
        let spec6 = SpecV6 {
            services: vec![service(
                "2001:db8:1::1",
                &["2001:db8:2::1", "2001:db8:2::2"],
                Some(0),
            )],
            pools: vec![PoolSpecV6 {
                name: "p6".into(),
                addrs: vec![a("2001:db8:9::1")],
                ports: (1024, 65535),
            }],
            ..SpecV6::default()
        };
        let snap = Snapshot::build_with_v6(&Spec::default(), &spec6, None).unwrap();
        let vip: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
        assert_eq!(snap.v6.service_for(vip, 80, proto::TCP), Some(0));
        assert_eq!(snap.v6.service_for(vip, 81, proto::TCP), None);
        assert!(snap.v6.is_vip(vip));
        assert!(snap
            .v6
            .is_backend("2001:db8:2::2".parse().unwrap(), 8080, proto::TCP));
        assert_eq!(
            snap.v6.pool_of_addr("2001:db8:9::1".parse().unwrap()),
            Some(0)
        );
        let ids: Vec<u16> = snap.v6.services[0].backends.iter().map(|b| b.id).collect();
        assert!(ids.iter().all(|&id| snap.backend_up(id)));
        // Ids stay across a rebuild.
        let next = Snapshot::build_with_v6(&Spec::default(), &spec6, Some(&snap)).unwrap();
        let again: Vec<u16> = next.v6.services[0].backends.iter().map(|b| b.id).collect();
        assert_eq!(ids, again);

        for bad in [
            service("198.18.1.1", &["2001:db8:2::1"], None),
            service("2001:db8:1::1", &["198.18.2.1"], None),
        ] {
            let s = SpecV6 {
                services: vec![bad],
                ..SpecV6::default()
            };
            assert_eq!(
                Snapshot::build_with_v6(&Spec::default(), &s, None).unwrap_err(),
                BuildError::FamilyMismatch("web6".into())
            );
        }
        let mut v4pool = spec6.clone();
        v4pool.pools[0].addrs.push(a("198.19.0.1"));
        assert!(matches!(
            Snapshot::build_with_v6(&Spec::default(), &v4pool, None),
            Err(BuildError::FamilyMismatch(_))
        ));
        let mut dup = spec6.clone();
        dup.services.push(dup.services[0].clone());
        assert!(matches!(
            Snapshot::build_with_v6(&Spec::default(), &dup, None),
            Err(BuildError::DuplicateService(_))
        ));
        // NAT64: IPv4 backends kept IPv4-mapped, the pool an IPv4 one; anything else refused.
        let v4spec = Spec {
            pools: vec![crate::gateway::PoolSpec {
                name: "v4".into(),
                addrs: vec!["198.19.0.1".parse().unwrap()],
                ports: (1024, 65535),
                timeouts: Default::default(),
                sources: vec![],
            }],
            ..Spec::default()
        };
        let mut web64 = service("2001:db8:1::64", &["198.18.2.1", "198.18.2.2"], Some(0));
        web64.nat64 = true;
        let nat64 = |svc: ServiceSpecV6| SpecV6 {
            services: vec![svc],
            ..SpecV6::default()
        };
        let snap = Snapshot::build_with_v6(&v4spec, &nat64(web64.clone()), None).unwrap();
        let svc = &snap.v6.services[0];
        assert!(svc.nat64);
        assert_eq!(
            svc.backends[0].addr.to_ipv4_mapped(),
            Some("198.18.2.1".parse().unwrap())
        );
        // Its backends answer over IPv4, to the pool: not IPv6 backends.
        assert!(!snap.v6.is_backend(svc.backends[0].addr, 8080, proto::TCP));
        let mut v6backend = web64.clone();
        v6backend.backends[1].addr = a("2001:db8:2::1");
        let mut no_pool = web64.clone();
        no_pool.pool = None;
        let mut no_such_pool = web64.clone();
        no_such_pool.pool = Some(1);
        let mut dr = web64;
        dr.direct = Some(super::super::Direct::Routing);
        for bad in [v6backend, no_pool, no_such_pool, dr] {
            assert_eq!(
                Snapshot::build_with_v6(&v4spec, &nat64(bad), None).unwrap_err(),
                BuildError::Nat64("web6".into())
            );
        }
        let mut nopool = spec6;
        nopool.services[0].pool = Some(3);
        assert!(matches!(
            Snapshot::build_with_v6(&Spec::default(), &nopool, None),
            Err(BuildError::NoSuchPool(_))
        ));
    }
}
