//! Immutable configuration snapshots: what the controller tells the workers. A snapshot is built
//! off the fast path (Maglev tables and lookup maps included), published with one atomic swap,
//! and read by each worker once per batch, so a batch sees one consistent configuration and
//! no worker ever waits for the controller.

pub mod v6;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::gateway::{Gateway, GatewayError, PoolSpec, TunnelSpec};
use super::lookup::{endpoint_key, StaticMap};
use super::neighbours::{NextHops, Route};
use super::sched::maglev::{self, Maglev, Member};
use super::sched::wrr;
use super::wire::MacAddr;

/// Backend ids index per-core connection counts; they stay the same across snapshots for the
/// same (service, address, port), so counts survive reconfiguration.
pub const MAX_BACKEND_IDS: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheduler {
    /// Maglev consistent hashing on the client address and port.
    Maglev,
    /// Smooth weighted round robin.
    RoundRobin,
    /// Weighted least connections (per core).
    LeastConn,
}

impl Scheduler {
    /// The name used in the configuration file.
    pub fn name(self) -> &'static str {
        match self {
            Scheduler::Maglev => "maglev",
            Scheduler::RoundRobin => "round_robin",
            Scheduler::LeastConn => "least_conn",
        }
    }
}

/// Direct server return: packets reach the backend with the VIP still their destination, and
/// the backend answers the client itself (it holds the VIP), so replies never cross us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direct<A = Ipv4Addr> {
    /// Only the MAC addresses change (LVS's "direct routing"): the backend shares a segment
    /// with us.
    Routing,
    /// IP in IP (RFC 2003; IPv6 in IPv6, RFC 2473, for an IPv6 service) to the backend, from
    /// `source`, or else from the preferred source of the route towards the backend.
    Tunnel { source: Option<A> },
}

/// A backend as configured; `A` is `IpAddr` in an IPv6 service's spec (see `snapshot::v6`).
#[derive(Debug, Clone, PartialEq)]
pub struct BackendSpec<A = Ipv4Addr> {
    pub addr: A,
    pub port: u16,
    pub weight: u32,
    /// The health verdict; a down backend gets no new flows (existing flows continue).
    pub up: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    pub name: String,
    pub vip: Ipv4Addr,
    pub port: u16,
    pub proto: u8,
    pub scheduler: Scheduler,
    /// Source-address persistence timeout in milliseconds; 0 turns it off.
    pub persistence_ms: u32,
    pub backends: Vec<BackendSpec>,
    /// FullNAT: the pool (index into `Spec::pools`) whose addresses and ports become the source
    /// of packets to backends, so backends need no route back to clients. `None`: NAT mode.
    pub pool: Option<u16>,
    /// Direct server return instead of NAT (never with `pool`).
    pub direct: Option<Direct>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InterfaceSpec {
    pub name: String,
    pub mac: MacAddr,
    /// The link's MTU: what a tunnel-mode packet may grow to.
    pub mtu: u16,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Spec {
    pub services: Vec<ServiceSpec>,
    pub interfaces: Vec<InterfaceSpec>,
    pub routes: Vec<Route>,
    pub neighbours: Vec<(Ipv4Addr, MacAddr)>,
    /// Number of workers; flows are owned by `client_hash % workers`.
    pub workers: u16,
    /// Seed of every hash that must agree across workers (ownership, lookup maps); random per
    /// start.
    pub hash_seed: u64,
    /// Seed of the choices that must agree across nodes and restarts: Maglev's tables and its
    /// client hash. From configuration, so every node with the same services sends a flow to
    /// the same backend.
    pub cluster_seed: u64,
    pub tunnels: Vec<TunnelSpec>,
    pub pools: Vec<PoolSpec>,
    /// The host's own addresses on the data interfaces: what is addressed to them is the
    /// kernel's (see `steering`).
    pub locals: Vec<Ipv4Addr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backend<A = Ipv4Addr> {
    pub id: u16,
    pub addr: A,
    pub port: u16,
    pub weight: u32,
    pub up: bool,
}

impl<A> Backend<A> {
    /// Weight for new flows: zero when down.
    pub fn effective_weight(&self) -> u32 {
        if self.up {
            self.weight
        } else {
            0
        }
    }
}

/// A service of either family (`Service<Ipv6Addr>` in [`v6::V6`]): the schedulers take either.
#[derive(Debug, Clone)]
pub struct Service<A = Ipv4Addr> {
    pub name: String,
    pub vip: A,
    pub port: u16,
    pub proto: u8,
    pub scheduler: Scheduler,
    pub persistence_ms: u32,
    pub backends: Vec<Backend<A>>,
    pub maglev: Option<Maglev>,
    pub wrr: wrr::Sequence,
    /// FullNAT pool (index into `gw.pools`; an IPv6 service's into `v6.pools`, unless NAT64).
    pub pool: Option<u16>,
    pub direct: Option<Direct<A>>,
    /// NAT64 (an IPv6 service only): the backends are IPv4, kept as IPv4-mapped addresses
    /// (`::ffff:a.b.c.d`), and `pool` indexes the IPv4 pools (`gw.pools`).
    pub nat64: bool,
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub generation: u64,
    pub services: Vec<Service>,
    pub interfaces: Vec<InterfaceSpec>,
    pub next_hops: NextHops,
    pub workers: u16,
    pub hash_seed: u64,
    pub cluster_seed: u64,
    /// GRE tunnels and SNAT pools.
    pub gw: Gateway,
    /// (VIP, port, proto) → service index.
    services_by_vip: StaticMap<u16>,
    /// (backend address, port, proto) → present, to recognise replies from backends.
    backends_by_addr: StaticMap<u8>,
    /// The host's own addresses, sorted.
    locals: Vec<Ipv4Addr>,
    /// By backend id: whether the backend is up (health-checked, configured). A backend that
    /// is gone or down is `false`. Ids are shared by both families.
    backend_up: Vec<bool>,
    /// IPv6 services, pools, next hops and local addresses.
    pub v6: v6::V6,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    #[error("more than {MAX_BACKEND_IDS} backends in total")]
    TooManyBackends,
    #[error("two services use {0}")]
    DuplicateService(String),
    #[error("service {0} has more than 65534 backends")]
    ServiceTooLarge(String),
    #[error("service {0} refers to a pool that does not exist")]
    NoSuchPool(String),
    #[error("service {0} cannot both return directly and take a FullNAT pool")]
    DirectWithPool(String),
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error(
        "service {0} mixes address families (an IPv6 service takes IPv6 backends and an IPv6 pool)"
    )]
    FamilyMismatch(String),
    #[error("NAT64 service {0} needs a FullNAT pool of IPv4 addresses and IPv4 backends only")]
    Nat64(String),
}

impl Snapshot {
    /// The MTU of data interface `iface` (1500 for an index the snapshot does not have).
    #[inline(always)]
    pub fn mtu(&self, iface: u16) -> u16 {
        self.interfaces
            .get(usize::from(iface))
            .map_or(1500, |i| i.mtu)
    }

    /// Builds a snapshot of IPv4 services only; `previous` keeps backend ids stable.
    pub fn build(spec: &Spec, previous: Option<&Snapshot>) -> Result<Snapshot, BuildError> {
        Snapshot::build_with_v6(spec, &v6::SpecV6::default(), previous)
    }

    /// Builds a snapshot with IPv6 services, pools and next hops beside the IPv4 ones (a
    /// separate spec, so the shell's IPv4 spec is unchanged); `previous` keeps backend ids of
    /// both families stable. An IPv6 service with an IPv4 address anywhere (VIP, backend,
    /// pool) is refused: [`BuildError::FamilyMismatch`].
    pub fn build_with_v6(
        spec: &Spec,
        spec6: &v6::SpecV6,
        previous: Option<&Snapshot>,
    ) -> Result<Snapshot, BuildError> {
        let generation = previous.map_or(1, |p| p.generation + 1);
        let mut old_ids: BTreeMap<(&str, IpAddr, u16), u16> = BTreeMap::new();
        if let Some(p) = previous {
            for s in &p.services {
                for b in &s.backends {
                    old_ids.insert((s.name.as_str(), b.addr.into(), b.port), b.id);
                }
            }
            for s in &p.v6.services {
                for b in &s.backends {
                    old_ids.insert((s.name.as_str(), b.addr.into(), b.port), b.id);
                }
            }
        }
        // Every backend of both families in one order: IPv4 services' (service si), then
        // IPv6 services' (service `spec.services.len() + si`).
        let all: Vec<(usize, usize, &str, IpAddr, u16)> = spec
            .services
            .iter()
            .enumerate()
            .flat_map(|(si, s)| {
                s.backends
                    .iter()
                    .enumerate()
                    .map(move |(bi, b)| (si, bi, s.name.as_str(), IpAddr::from(b.addr), b.port))
            })
            .chain(spec6.services.iter().enumerate().flat_map(|(si, s)| {
                let si = spec.services.len() + si;
                s.backends
                    .iter()
                    .enumerate()
                    .map(move |(bi, b)| (si, bi, s.name.as_str(), b.addr, b.port))
            }))
            .collect();
        let mut taken = vec![false; MAX_BACKEND_IDS];
        let mut ids: BTreeMap<(usize, usize), u16> = BTreeMap::new();
        for &(si, bi, name, addr, port) in &all {
            if let Some(&id) = old_ids.get(&(name, addr, port)) {
                if !taken[usize::from(id)] {
                    taken[usize::from(id)] = true;
                    ids.insert((si, bi), id);
                }
            }
        }
        // Fresh ids come first from those the previous snapshot did not use: flows of a removed
        // backend still end later and decrement its id's count, which must not be a new backend's.
        let mut was_used = vec![false; MAX_BACKEND_IDS];
        for &id in old_ids.values() {
            was_used[usize::from(id)] = true;
        }
        let mut free = (0..MAX_BACKEND_IDS)
            .filter(|&i| !taken[i] && !was_used[i])
            .chain((0..MAX_BACKEND_IDS).filter(|&i| !taken[i] && was_used[i]));
        let mut services = Vec::with_capacity(spec.services.len());
        let mut seen_vips = BTreeMap::new();
        for (si, s) in spec.services.iter().enumerate() {
            let key = endpoint_key(s.vip, s.port, s.proto);
            if seen_vips.insert(key, si).is_some() {
                return Err(BuildError::DuplicateService(format!(
                    "{}:{}/{}",
                    s.vip, s.port, s.proto
                )));
            }
            if s.backends.len() >= usize::from(maglev::NONE) {
                return Err(BuildError::ServiceTooLarge(s.name.clone()));
            }
            let mut backends = Vec::with_capacity(s.backends.len());
            for (bi, b) in s.backends.iter().enumerate() {
                let id = match ids.get(&(si, bi)) {
                    Some(&id) => id,
                    None => free.next().ok_or(BuildError::TooManyBackends)? as u16,
                };
                backends.push(Backend {
                    id,
                    addr: b.addr,
                    port: b.port,
                    weight: b.weight,
                    up: b.up,
                });
            }
            let weights: Vec<u32> = backends.iter().map(Backend::effective_weight).collect();
            let maglev = (s.scheduler == Scheduler::Maglev).then(|| {
                let members: Vec<Member> = backends
                    .iter()
                    .map(|b| Member {
                        addr: b.addr.into(),
                        port: b.port,
                        weight: b.effective_weight(),
                    })
                    .collect();
                Maglev::build(
                    &members,
                    maglev::table_size(members.len()),
                    spec.cluster_seed,
                )
            });
            let wrr = if s.scheduler == Scheduler::RoundRobin {
                wrr::Sequence::build(&weights)
            } else {
                wrr::Sequence::default()
            };
            if s.pool.is_some_and(|p| usize::from(p) >= spec.pools.len()) {
                return Err(BuildError::NoSuchPool(s.name.clone()));
            }
            if s.direct.is_some() && s.pool.is_some() {
                return Err(BuildError::DirectWithPool(s.name.clone()));
            }
            services.push(Service {
                pool: s.pool,
                direct: s.direct,
                nat64: false,
                name: s.name.clone(),
                vip: s.vip,
                port: s.port,
                proto: s.proto,
                scheduler: s.scheduler,
                persistence_ms: s.persistence_ms,
                backends,
                maglev,
                wrr,
            });
        }
        let mut id_of = |si: usize, bi: usize| match ids.get(&(si, bi)) {
            Some(&id) => Ok(id),
            None => free
                .next()
                .map(|i| i as u16)
                .ok_or(BuildError::TooManyBackends),
        };
        let v6 = v6::V6::build(
            spec6,
            spec.services.len(),
            spec.pools.len(),
            &mut id_of,
            spec.cluster_seed,
        )?;
        let services_by_vip = StaticMap::build(
            services
                .iter()
                .enumerate()
                .map(|(i, s)| (endpoint_key(s.vip, s.port, s.proto), i as u16)),
            spec.hash_seed,
        );
        let backends_by_addr = StaticMap::build(
            // Backends of direct-return services never send their replies through us.
            services
                .iter()
                .filter(|s| s.direct.is_none())
                .flat_map(|s| {
                    s.backends
                        .iter()
                        .map(move |b| (endpoint_key(b.addr, b.port, s.proto), 1u8))
                }),
            spec.hash_seed,
        );
        let mut backend_up = vec![false; MAX_BACKEND_IDS];
        for b in services.iter().flat_map(|s| &s.backends) {
            backend_up[usize::from(b.id)] = b.up;
        }
        for b in v6.services.iter().flat_map(|s| &s.backends) {
            backend_up[usize::from(b.id)] = b.up;
        }
        let gw = Gateway::build(
            &spec.tunnels,
            &spec.pools,
            previous.map(|p| &p.gw),
            spec.hash_seed,
        )?;
        Ok(Snapshot {
            v6,
            gw,
            generation,
            services,
            interfaces: spec.interfaces.clone(),
            next_hops: NextHops::new(
                spec.routes.clone(),
                spec.neighbours.iter().copied(),
                spec.hash_seed,
            ),
            workers: spec.workers.max(1),
            hash_seed: spec.hash_seed,
            cluster_seed: spec.cluster_seed,
            backend_up,
            services_by_vip,
            backends_by_addr,
            locals: {
                let mut l = spec.locals.clone();
                l.sort_unstable();
                l.dedup();
                l
            },
        })
    }

    #[inline(always)]
    pub fn service_for(&self, vip: Ipv4Addr, port: u16, proto: u8) -> Option<u16> {
        self.services_by_vip.get(endpoint_key(vip, port, proto))
    }

    /// Whether `addr` is one of the host's own addresses.
    #[inline]
    pub fn is_local(&self, addr: Ipv4Addr) -> bool {
        self.locals.binary_search(&addr).is_ok()
    }

    /// Whether the backend with stable id `id` is configured and up.
    #[inline(always)]
    pub fn backend_up(&self, id: u16) -> bool {
        self.backend_up
            .get(usize::from(id))
            .copied()
            .unwrap_or(false)
    }

    #[inline(always)]
    pub fn is_backend(&self, addr: Ipv4Addr, port: u16, proto: u8) -> bool {
        self.backends_by_addr
            .get(endpoint_key(addr, port, proto))
            .is_some()
    }
}

/// The controller's side of the snapshot channel.
pub struct Publisher {
    current: Arc<ArcSwap<Snapshot>>,
}

/// A worker's side: `load` once per batch.
#[derive(Clone)]
pub struct Subscriber {
    current: Arc<ArcSwap<Snapshot>>,
}

pub fn channel(first: Snapshot) -> (Publisher, Subscriber) {
    let current = Arc::new(ArcSwap::from_pointee(first));
    (
        Publisher {
            current: current.clone(),
        },
        Subscriber { current },
    )
}

impl Publisher {
    pub fn publish(&self, s: Snapshot) {
        self.current.store(Arc::new(s));
    }

    pub fn current(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }
}

impl Subscriber {
    /// A guard valid for one batch; cheap (no reference-count traffic in the common case).
    #[inline(always)]
    pub fn load(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(backends: &[(u8, bool)]) -> Spec {
        Spec {
            locals: Vec::new(),
            services: vec![ServiceSpec {
                name: "web".into(),
                vip: Ipv4Addr::new(198, 18, 1, 1),
                port: 80,
                proto: 6,
                scheduler: Scheduler::Maglev,
                persistence_ms: 0,
                backends: backends
                    .iter()
                    .map(|&(last, up)| BackendSpec {
                        addr: Ipv4Addr::new(198, 18, 2, last),
                        port: 8080,
                        weight: 1,
                        up,
                    })
                    .collect(),
                pool: None,
                direct: None,
            }],
            workers: 2,
            hash_seed: 5,
            cluster_seed: 0,
            ..Spec::default()
        }
    }

    #[test]
    fn backend_ids_are_stable_across_snapshots() {
        let a = Snapshot::build(&spec(&[(1, true), (2, true), (3, true)]), None).unwrap();
        let ids = |s: &Snapshot| -> Vec<(u8, u16)> {
            s.services[0]
                .backends
                .iter()
                .map(|b| (b.addr.octets()[3], b.id))
                .collect()
        };
        // Backend 1 removed, 4 added, 3 down: 2 and 3 keep their ids, 4 gets a fresh one.
        let b = Snapshot::build(&spec(&[(2, true), (3, false), (4, true)]), Some(&a)).unwrap();
        let (before, after) = (ids(&a), ids(&b));
        assert_eq!(after[0], before[1]);
        assert_eq!(after[1], before[2]);
        assert!(before.iter().all(|(_, id)| *id != after[2].1));
        assert_eq!(b.generation, 2);
        // The down backend has no Maglev slots.
        let m = b.services[0].maglev.as_ref().unwrap();
        assert!(m.slots().iter().all(|&s| s != 1));
    }

    #[test]
    fn lookups_and_duplicates() {
        let s = Snapshot::build(&spec(&[(1, true)]), None).unwrap();
        let vip = Ipv4Addr::new(198, 18, 1, 1);
        assert_eq!(s.service_for(vip, 80, 6), Some(0));
        assert_eq!(s.service_for(vip, 80, 17), None);
        assert!(s.is_backend(Ipv4Addr::new(198, 18, 2, 1), 8080, 6));
        assert!(!s.is_backend(Ipv4Addr::new(198, 18, 2, 1), 8081, 6));
        let mut dup = spec(&[(1, true)]);
        dup.services.push(dup.services[0].clone());
        assert!(matches!(
            Snapshot::build(&dup, None),
            Err(BuildError::DuplicateService(_))
        ));
    }

    #[test]
    fn publish_is_seen_by_subscribers() {
        let (p, sub) = channel(Snapshot::build(&spec(&[(1, true)]), None).unwrap());
        assert_eq!(sub.load().generation, 1);
        let next = Snapshot::build(&spec(&[(1, true)]), Some(&p.current())).unwrap();
        p.publish(next);
        assert_eq!(sub.load().generation, 2);
    }
}
