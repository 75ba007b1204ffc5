//! From configuration, health verdicts and the kernel's tables to a snapshot specification and
//! the steering program's owned keys. Pure functions, tested without a kernel.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::kernel_view::{Iface, KernelView};
use crate::config::dataplane::Mode;
use crate::config::dataplane::{Protocol, ServiceConfig};
use crate::config::gateway::{GreConfig, PoolConfig, SnatConfig};
use crate::dataplaned::xdp::steer::{OwnedKey, OwnedKeyV6};
use crate::verdicts::Verdicts;
use dataplane::gateway::{PoolSpec, TunnelSpec};
use dataplane::snapshot::v6::{PoolSpecV6, ServiceSpecV6, SpecV6};
use dataplane::snapshot::{BackendSpec, Direct, InterfaceSpec, ServiceSpec, Spec};
use dataplane::wire::proto;

/// A backend without a check is always up; one with a check is up only while its check's
/// verdict says so (no verdict yet counts as down: traffic waits for the first success).
pub fn backend_up(check: Option<&str>, verdicts: &Verdicts) -> bool {
    match check {
        None => true,
        Some(name) => verdicts.get(name).is_some_and(|v| v.up),
    }
}

/// The pools of one family, in file order: a spec's pool index is a position in this list (the
/// IPv4 spec holds the IPv4 pools, the IPv6 spec the IPv6 ones).
fn pools_of(snat: &SnatConfig, v6: bool) -> impl Iterator<Item = &PoolConfig> {
    snat.pool.iter().filter(move |p| p.is_v6() == v6)
}

/// The index of the pool `name` among the pools of its family.
fn pool_index(snat: &SnatConfig, name: &str, v6: bool) -> Option<u16> {
    pools_of(snat, v6)
        .position(|p| p.name == name)
        .map(|i| i as u16)
}

/// Whether a service is NAT64: an IPv6 VIP whose backends are IPv4 (validation has made sure
/// it is FullNAT with an IPv4 pool and no IPv6 backend).
pub fn nat64(s: &ServiceConfig) -> bool {
    crate::config::dataplane::is_nat64(s)
}

/// The per-service backend address and port, as the snapshot takes them.
fn backend_port(s: &ServiceConfig, b: &crate::config::dataplane::BackendConfig) -> u16 {
    if s.protocol == Protocol::Icmp {
        0
    } else if s.mode.direct() {
        s.port
    } else {
        b.port
    }
}

fn persistence_ms(s: &ServiceConfig) -> u32 {
    s.persistence.map_or(0, |p| {
        p.get().as_millis().min(u128::from(u32::MAX / 2)) as u32
    })
}

/// A service's direct-return mode, its tunnel source in the VIP's family (`family` picks it;
/// validation refuses a source of the other family).
fn direct<A>(s: &ServiceConfig, family: impl Fn(IpAddr) -> Option<A>) -> Option<Direct<A>> {
    match s.mode {
        Mode::Dr => Some(Direct::Routing),
        Mode::Tunnel => Some(Direct::Tunnel {
            source: s.tunnel_source.and_then(family),
        }),
        Mode::Nat | Mode::Fullnat => None,
    }
}

/// The SNAT gateway's part of a spec: tunnels name their pool by index (a pool lists the
/// tunnels it serves), services their FullNAT pool. IPv4 pools only: IPv6 pools are in
/// [`build_v6`].
pub fn gateway(gre: &GreConfig, snat: &SnatConfig) -> (Vec<TunnelSpec>, Vec<PoolSpec>) {
    let pool_of = |tunnel: &str| {
        pools_of(snat, false)
            .position(|p| p.tunnels.iter().any(|t| t == tunnel))
            .map(|i| i as u16)
    };
    let tunnels = gre
        .tunnel
        .iter()
        .map(|t| TunnelSpec {
            name: t.name.clone(),
            local: t.local,
            remote: t.remote,
            key: t.key,
            mtu: t.mtu(),
            pool: pool_of(&t.name),
            inside: t.inside.iter().map(|n| (n.network(), n.prefix())).collect(),
            routed6: t
                .ipv6_prefixes
                .iter()
                .map(|n| (n.network(), n.prefix()))
                .collect(),
            nat64_sources: t
                .nat64_sources
                .iter()
                .map(|n| (n.network(), n.prefix()))
                .collect(),
        })
        .collect();
    let pools = pools_of(snat, false)
        .map(|p| PoolSpec {
            name: p.name.clone(),
            addrs: p.v4().collect(),
            ports: (p.ports.lo, p.ports.hi),
            timeouts: p.timeouts.to_timeouts(),
            sources: p
                .sources
                .iter()
                .map(|n| (n.network(), n.prefix()))
                .collect(),
        })
        .collect();
    (tunnels, pools)
}

pub fn build(
    services: &[ServiceConfig],
    gw: (&GreConfig, &SnatConfig),
    verdicts: &Verdicts,
    ifaces: &[Iface],
    view: &KernelView,
    workers: u16,
    (hash_seed, cluster_seed): (u64, u64),
) -> Spec {
    let (tunnels, pools) = gateway(gw.0, gw.1);
    Spec {
        locals: view.locals.clone(),
        services: services
            .iter()
            .filter_map(|s| match s.vip {
                IpAddr::V4(vip) => Some((s, vip)),
                IpAddr::V6(_) => None,
            })
            .map(|(s, vip)| ServiceSpec {
                name: s.name.clone(),
                vip,
                port: s.port,
                proto: s.protocol.number(),
                scheduler: s.scheduler,
                persistence_ms: persistence_ms(s),
                backends: s
                    .backends
                    .iter()
                    .filter_map(|b| match b.address {
                        IpAddr::V4(addr) => Some(BackendSpec {
                            addr,
                            port: backend_port(s, b),
                            weight: b.weight,
                            up: backend_up(b.check.as_deref(), verdicts),
                        }),
                        // Refused by validation; never in a running configuration.
                        IpAddr::V6(_) => None,
                    })
                    .collect(),
                pool: s
                    .pool
                    .as_ref()
                    .and_then(|name| pool_index(gw.1, name, false)),
                direct: direct(s, |a| match a {
                    IpAddr::V4(a) => Some(a),
                    IpAddr::V6(_) => None,
                }),
            })
            .collect(),
        interfaces: ifaces
            .iter()
            .map(|i| InterfaceSpec {
                name: i.name.clone(),
                mac: i.mac,
                mtu: i.mtu,
            })
            .collect(),
        routes: view.routes.clone(),
        neighbours: view.neighbours.clone(),
        workers,
        hash_seed,
        cluster_seed,
        tunnels,
        pools,
    }
}

/// The IPv6 half of the spec: the IPv6 services (backends gated by their checks exactly as
/// IPv4's), the IPv6 pools, and the kernel's IPv6 routes, neighbours and addresses. The family
/// rule is the snapshot's to enforce (`BuildError::FamilyMismatch`); configuration validation
/// refuses mixed services before they get here.
pub fn build_v6(
    services: &[ServiceConfig],
    snat: &SnatConfig,
    verdicts: &Verdicts,
    view: &KernelView,
    nat64_prefix: dataplane::nat64::Pref64,
) -> SpecV6 {
    SpecV6 {
        services: services
            .iter()
            .filter(|s| s.vip.is_ipv6())
            .map(|s| ServiceSpecV6 {
                name: s.name.clone(),
                vip: s.vip,
                port: s.port,
                proto: match s.protocol {
                    // An IPv6 echo service: ICMPv6.
                    Protocol::Icmp => dataplane::wire::proto::ICMPV6,
                    p => p.number(),
                },
                scheduler: s.scheduler,
                persistence_ms: persistence_ms(s),
                backends: s
                    .backends
                    .iter()
                    .map(|b| BackendSpec {
                        addr: b.address,
                        port: backend_port(s, b),
                        weight: b.weight,
                        up: backend_up(b.check.as_deref(), verdicts),
                    })
                    .collect(),
                // A NAT64 service's pool is IPv4: an index among the IPv4 pools.
                pool: s
                    .pool
                    .as_ref()
                    .and_then(|name| pool_index(snat, name, !nat64(s))),
                direct: direct(s, |a| match a {
                    IpAddr::V6(a) => Some(a),
                    IpAddr::V4(_) => None,
                }),
                nat64: nat64(s),
            })
            .collect(),
        pools: pools_of(snat, true)
            .map(|p| PoolSpecV6 {
                name: p.name.clone(),
                addrs: p.addresses.clone(),
                ports: (p.ports.lo, p.ports.hi),
            })
            .collect(),
        routes: view.routes6.clone(),
        neighbours: view.neighbours6.clone(),
        locals: view.locals6.clone(),
        nat64_prefix,
    }
}

/// What the steering program must send to the data plane (IPv4; the IPv6 keys are
/// `owned_keys_v6`).
pub fn owned_keys(
    services: &[ServiceConfig],
    gw: (&GreConfig, &SnatConfig),
    locals: &[Ipv4Addr],
) -> BTreeSet<OwnedKey> {
    let mut keys = BTreeSet::new();
    for t in &gw.0.tunnel {
        keys.insert(OwnedKey::gre_remote(t.remote));
    }
    for p in &gw.1.pool {
        for a in p.v4() {
            keys.insert(OwnedKey::pool(a));
        }
    }
    for s in services {
        let IpAddr::V4(vip) = s.vip else {
            continue;
        };
        let p = s.protocol.number();
        keys.insert(OwnedKey::service(vip, s.port, p));
        // Backends of a direct-return service answer clients themselves, never through us.
        if s.mode.direct() {
            continue;
        }
        for b in &s.backends {
            let IpAddr::V4(addr) = b.address else {
                continue;
            };
            let port = if s.protocol == Protocol::Icmp {
                0
            } else {
                b.port
            };
            keys.insert(OwnedKey::backend(addr, port, p));
        }
    }
    for a in locals {
        keys.insert(OwnedKey::local(*a));
    }
    keys
}

/// What the steering program's IPv6 half must send to the data plane: the keys behind the
/// lookups of the snapshot's IPv6 half (`V6::is_vip`, `service_for`, `is_backend`,
/// `pool_of_addr`, `is_local`) that `dataplane::steering::v6` asks. Addresses of the wrong
/// family are left out: the snapshot refuses them (`FamilyMismatch`), so no frame can match.
pub fn owned_keys_v6(spec6: &SpecV6) -> BTreeSet<OwnedKeyV6> {
    let v6 = |a: IpAddr| match a {
        IpAddr::V6(a) => Some(a),
        IpAddr::V4(_) => None,
    };
    let mut keys = BTreeSet::new();
    for p in &spec6.pools {
        keys.extend(p.addrs.iter().filter_map(|a| v6(*a)).map(OwnedKeyV6::pool));
    }
    for s in &spec6.services {
        let Some(vip) = v6(s.vip) else { continue };
        keys.insert(OwnedKeyV6::vip(vip));
        keys.insert(OwnedKeyV6::service(vip, s.port, s.proto));
        // Backends of a direct-return service answer clients themselves, never through us.
        if s.direct.is_some() {
            continue;
        }
        for b in &s.backends {
            let Some(addr) = v6(b.addr) else { continue };
            let port = if s.proto == proto::ICMPV6 { 0 } else { b.port };
            keys.insert(OwnedKeyV6::backend(addr, port, s.proto));
        }
    }
    keys.extend(spec6.locals.iter().copied().map(OwnedKeyV6::local));
    keys
}

/// The inside prefixes, for the steering program's trie: the pools' `sources` and the site
/// tunnels' `inside` (traffic from either to elsewhere is the fast path's).
pub fn source_prefixes(gre: &GreConfig, snat: &SnatConfig) -> BTreeSet<(Ipv4Addr, u8)> {
    let sources = snat.pool.iter().flat_map(|p| &p.sources);
    let inside = gre.tunnel.iter().flat_map(|t| &t.inside);
    sources
        .chain(inside)
        .map(|n| (n.network(), n.prefix()))
        .collect()
}

/// The tunnels' IPv6 prefixes carried untranslated, with the tunnel's end (`true`: site), for
/// the steering program's IPv6 trie.
pub fn routed6_prefixes(gre: &GreConfig) -> BTreeSet<(Ipv6Addr, u8, bool)> {
    gre.tunnel
        .iter()
        .flat_map(|t| {
            let site = t.role == crate::config::gateway::TunnelRole::Site;
            t.ipv6_prefixes
                .iter()
                .map(move |n| (n.network(), n.prefix(), site))
        })
        .collect()
}

/// Addresses whose MAC the fast path needs but the kernel has not resolved: on-link backends,
/// on-link tunnel remotes and route gateways.
pub fn unresolved(spec: &Spec) -> Vec<Ipv4Addr> {
    let known: BTreeSet<Ipv4Addr> = spec.neighbours.iter().map(|(a, _)| *a).collect();
    let mut want = BTreeSet::new();
    for r in &spec.routes {
        if let Some(g) = r.gateway {
            want.insert(g);
        }
    }
    let targets = spec
        .services
        .iter()
        .flat_map(|s| s.backends.iter().map(|b| b.addr))
        .chain(spec.tunnels.iter().map(|t| t.remote));
    for addr in targets {
        let on_link = spec.routes.iter().any(|r| {
            r.gateway.is_none() && {
                let mask = if r.prefix_len == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(r.prefix_len.min(32)))
                };
                (u32::from(addr) ^ u32::from(r.net)) & mask == 0
            }
        });
        if on_link {
            want.insert(addr);
        }
    }
    want.difference(&known).copied().collect()
}

/// The IPv6 next hops the fast path needs but the kernel has not resolved: on-link backends
/// and route gateways (link-local ones included: the usual IPv6 default route).
pub fn unresolved_v6(spec: &SpecV6) -> Vec<Ipv6Addr> {
    let known: BTreeSet<Ipv6Addr> = spec.neighbours.iter().map(|(a, _)| *a).collect();
    let mut want: BTreeSet<Ipv6Addr> = spec.routes.iter().filter_map(|r| r.gateway).collect();
    for b in spec.services.iter().flat_map(|s| &s.backends) {
        let IpAddr::V6(addr) = b.addr else { continue };
        let on_link = spec.routes.iter().any(|r| {
            r.gateway.is_none() && {
                let mask = match r.prefix_len.min(128) {
                    0 => 0,
                    n => u128::MAX << (128 - u32::from(n)),
                };
                (u128::from(addr) ^ u128::from(r.net)) & mask == 0
            }
        });
        if on_link {
            want.insert(addr);
        }
    }
    want.difference(&known).copied().collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::config::dataplane::BackendConfig;
    use crate::verdicts::Verdict;
    use dataplane::neighbours::Route;
    use dataplane::snapshot::Scheduler;
    use dataplane::wire::MacAddr;

    fn services() -> Vec<ServiceConfig> {
        vec![ServiceConfig {
            name: "web".into(),
            vip: Ipv4Addr::new(198, 18, 1, 1).into(),
            port: 80,
            protocol: Protocol::Tcp,
            scheduler: Scheduler::Maglev,
            persistence: None,
            mode: crate::config::dataplane::Mode::Nat,
            pool: None,
            tunnel_source: None,
            backends: vec![
                BackendConfig {
                    address: Ipv4Addr::new(198, 18, 2, 1).into(),
                    port: 8080,
                    weight: 1,
                    check: None,
                },
                BackendConfig {
                    address: Ipv4Addr::new(198, 18, 2, 2).into(),
                    port: 8080,
                    weight: 1,
                    check: Some("b2".into()),
                },
            ],
        }]
    }

    #[test]
    fn checks_gate_backends() {
        let none: Verdicts = Arc::new(BTreeMap::new());
        let view = KernelView::default();
        let spec = build(
            &services(),
            (&GreConfig::default(), &SnatConfig::default()),
            &none,
            &[],
            &view,
            1,
            (0, 0),
        );
        let up: Vec<bool> = spec.services[0].backends.iter().map(|b| b.up).collect();
        assert_eq!(up, [true, false], "no verdict yet: down");
        let mut m = BTreeMap::new();
        m.insert(
            "b2".to_string(),
            Verdict {
                up: true,
                weight: None,
            },
        );
        let spec = build(
            &services(),
            (&GreConfig::default(), &SnatConfig::default()),
            &Arc::new(m),
            &[],
            &view,
            1,
            (0, 0),
        );
        assert!(spec.services[0].backends[1].up);
    }

    #[test]
    fn keys_and_unresolved_neighbours() {
        let keys = owned_keys(
            &services(),
            (&GreConfig::default(), &SnatConfig::default()),
            &[Ipv4Addr::new(198, 18, 2, 254)],
        );
        assert_eq!(keys.len(), 4);
        assert!(keys.contains(&OwnedKey::service(Ipv4Addr::new(198, 18, 1, 1), 80, 6)));
        let view = KernelView {
            routes: vec![Route {
                src: None,
                net: Ipv4Addr::new(198, 18, 2, 0),
                prefix_len: 24,
                gateway: None,
                iface: 0,
            }],
            neighbours: vec![(Ipv4Addr::new(198, 18, 2, 1), MacAddr([2, 0, 0, 0, 0, 1]))],
            locals: vec![],
            ..KernelView::default()
        };
        let spec = build(
            &services(),
            (&GreConfig::default(), &SnatConfig::default()),
            &Arc::new(BTreeMap::new()),
            &[],
            &view,
            1,
            (0, 0),
        );
        assert_eq!(unresolved(&spec), [Ipv4Addr::new(198, 18, 2, 2)]);
    }

    #[test]
    fn ipv6_services_pools_and_next_hops() {
        use dataplane::neighbours::v6::RouteV6;
        let text = "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n\
            [[snat.pool]]\nname = \"p4\"\naddresses = [\"198.19.0.9\"]\n\
            [[snat.pool]]\nname = \"p6\"\naddresses = [\"2001:db8:9::1\"]\nports = \"2000-2999\"\n\
            [[service]]\nname = \"web\"\nvip = \"198.18.1.1\"\nport = 80\nprotocol = \"tcp\"\n\
            mode = \"fullnat\"\npool = \"p4\"\nbackends = [{ address = \"198.18.2.1\", port = 80 }]\n\
            [[service]]\nname = \"web6\"\nvip = \"2001:db8:1::1\"\nport = 80\nprotocol = \"tcp\"\n\
            mode = \"fullnat\"\npool = \"p6\"\nbackends = [\
              { address = \"2001:db8:2::1\", port = 8080 },\
              { address = \"2001:db8:2::2\", port = 8080, check = \"b2\" }]\n\
            [[service]]\nname = \"ping6\"\nvip = \"2001:db8:1::1\"\nprotocol = \"icmp\"\n\
            backends = [{ address = \"2001:db8:3::1\" }]\n\
            [checks.b2]\ntype = \"tcp\"\ntarget = \"[2001:db8:2::2]:8080\"\n";
        let cfg = crate::config::parse_str(text, std::path::Path::new("t.toml")).unwrap();
        let gw: Ipv6Addr = "fe80::1".parse().unwrap();
        let view = KernelView {
            routes6: vec![
                RouteV6 {
                    net: "2001:db8:2::".parse().unwrap(),
                    prefix_len: 64,
                    gateway: None,
                    iface: 0,
                    src: None,
                },
                RouteV6 {
                    net: Ipv6Addr::UNSPECIFIED,
                    prefix_len: 0,
                    gateway: Some(gw),
                    iface: 0,
                    src: None,
                },
            ],
            neighbours6: vec![(
                "2001:db8:2::1".parse().unwrap(),
                MacAddr([2, 0, 0, 0, 0, 1]),
            )],
            locals6: vec!["2001:db8:2::fe".parse().unwrap()],
            ..KernelView::default()
        };
        let none: Verdicts = Arc::new(BTreeMap::new());
        let spec = build(
            &cfg.service,
            (&cfg.gre, &cfg.snat),
            &none,
            &[],
            &view,
            1,
            (0, 0),
        );
        let spec6 = build_v6(&cfg.service, &cfg.snat, &none, &view, Default::default());
        // Each family's pools are indexed apart.
        assert_eq!(spec.services.len(), 1);
        assert_eq!(spec.services[0].pool, Some(0));
        assert_eq!(spec.pools.len(), 1);
        assert_eq!(spec6.services.len(), 2);
        assert_eq!(spec6.services[0].pool, Some(0));
        assert_eq!(spec6.pools[0].ports, (2000, 2999));
        assert_eq!(spec6.services[1].proto, dataplane::wire::proto::ICMPV6);
        assert_eq!(spec6.services[1].backends[0].port, 0);
        // Health gates IPv6 backends as IPv4 ones.
        let up: Vec<bool> = spec6.services[0].backends.iter().map(|b| b.up).collect();
        assert_eq!(up, [true, false]);
        let mut m = BTreeMap::new();
        m.insert(
            "b2".to_string(),
            Verdict {
                up: true,
                weight: None,
            },
        );
        let spec6_up = build_v6(
            &cfg.service,
            &cfg.snat,
            &Arc::new(m),
            &view,
            Default::default(),
        );
        assert!(spec6_up.services[0].backends[1].up);
        assert_eq!(spec6.locals, view.locals6);
        // The on-link backend without an entry and the link-local gateway are wanted; the
        // backend behind the gateway is not (its next hop is the gateway).
        let missing = unresolved_v6(&spec6);
        assert_eq!(missing, ["2001:db8:2::2".parse().unwrap(), gw]);
        // The IPv4 steering keys leave IPv6 services out.
        let keys = owned_keys(&cfg.service, (&cfg.gre, &cfg.snat), &[]);
        assert!(keys.contains(&OwnedKey::pool(Ipv4Addr::new(198, 19, 0, 9))));
        assert_eq!(keys.len(), 3, "{keys:?}");
        dataplane::snapshot::Snapshot::build_with_v6(&spec, &spec6, None).unwrap();
    }

    #[test]
    fn ipv6_keys_mirror_the_snapshot() {
        use crate::dataplaned::xdp::steer::KeyKind;
        use dataplane::snapshot::v6::{PoolSpecV6, ServiceSpecV6};
        use dataplane::snapshot::Snapshot;
        use std::net::Ipv6Addr;
        let a6 = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        let (vip, full, dr) = (
            a6("2001:db8:1::80"),
            a6("2001:db8:1::81"),
            a6("2001:db8:1::82"),
        );
        let (b0, b1) = (a6("2001:db8:2::10"), a6("2001:db8:2::11"));
        let service = |vip: Ipv6Addr, port: u16, p: u8, bport: u16| ServiceSpecV6 {
            name: format!("{vip}-{port}-{p}"),
            vip: vip.into(),
            port,
            proto: p,
            scheduler: Scheduler::Maglev,
            persistence_ms: 0,
            backends: [b0, b1]
                .iter()
                .map(|b| BackendSpec {
                    addr: (*b).into(),
                    port: bport,
                    weight: 1,
                    up: false,
                })
                .collect(),
            pool: None,
            direct: None,
            nat64: false,
        };
        let mut fullnat = service(full, 443, proto::TCP, 8443);
        fullnat.pool = Some(0);
        let mut direct = service(dr, 80, proto::TCP, 9999);
        direct.direct = Some(Direct::Routing);
        let spec6 = SpecV6 {
            services: vec![
                service(vip, 80, proto::TCP, 8080),
                service(vip, 53, proto::UDP, 5353),
                // An echo service's backends have no port, whatever the configuration says.
                service(vip, 0, proto::ICMPV6, 7),
                fullnat,
                direct,
            ],
            pools: vec![PoolSpecV6 {
                name: "p6".into(),
                addrs: vec![a6("2001:db8:9::1").into()],
                ports: (1024, 65535),
            }],
            locals: vec![a6("2001:db8:2::1")],
            ..SpecV6::default()
        };
        let keys = owned_keys_v6(&spec6);
        let snap = Snapshot::build_with_v6(&Spec::default(), &spec6, None).unwrap();
        // Each key answers one of the snapshot's lookups, and each kind is all of them.
        let mut kinds = BTreeMap::new();
        for k in &keys {
            *kinds.entry(k.kind).or_insert(0) += 1;
            let yes = match k.kind {
                KeyKind::Vip => snap.v6.is_vip(k.addr),
                KeyKind::Service => snap.v6.service_for(k.addr, k.port, k.proto).is_some(),
                KeyKind::Backend => snap.v6.is_backend(k.addr, k.port, k.proto),
                KeyKind::Pool => snap.v6.pool_of_addr(k.addr).is_some(),
                KeyKind::Local => snap.v6.is_local(k.addr),
                KeyKind::GreRemote => false,
            };
            assert!(yes, "{k:?}");
        }
        assert!(keys.contains(&OwnedKeyV6::backend(b1, 0, proto::ICMPV6)));
        assert!(!keys.contains(&OwnedKeyV6::backend(b0, 9999, proto::TCP)));
        // 3 VIPs, 5 services, 2 backends of 4 services (the direct one's answer clients
        // themselves), 1 pool address, 1 local address.
        let want = [
            (KeyKind::Service, 5),
            (KeyKind::Backend, 8),
            (KeyKind::Local, 1),
            (KeyKind::Pool, 1),
            (KeyKind::Vip, 3),
        ];
        assert_eq!(kinds.into_iter().collect::<Vec<_>>(), want);
    }

    #[test]
    fn gateway_pools_and_tunnels_are_joined_by_index() {
        let text = "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\n\
            [[gre.tunnel]]\nname = \"a\"\nlocal = \"198.18.8.1\"\nremote = \"198.18.8.10\"\n\
            [[gre.tunnel]]\nname = \"b\"\nlocal = \"198.18.8.1\"\nremote = \"198.18.8.20\"\nkey = 5\n\
            [[gre.tunnel]]\nname = \"up\"\nrole = \"site\"\nlocal = \"198.18.8.1\"\n\
            remote = \"198.18.8.30\"\ninside = [\"198.18.64.0/24\"]\n\
            [[snat.pool]]\nname = \"lb\"\naddresses = [\"198.19.0.9\"]\n\
            [[snat.pool]]\nname = \"out\"\naddresses = [\"198.19.0.1\"]\ntunnels = [\"b\"]\n\
            sources = [\"198.18.96.0/24\"]\n\
            [[service]]\nname = \"web\"\nvip = \"198.18.1.1\"\nport = 80\nprotocol = \"tcp\"\n\
            mode = \"fullnat\"\npool = \"lb\"\nbackends = []\n";
        let cfg = crate::config::parse_str(text, std::path::Path::new("t.toml")).unwrap();
        let none: Verdicts = Arc::new(BTreeMap::new());
        let spec = build(
            &cfg.service,
            (&cfg.gre, &cfg.snat),
            &none,
            &[],
            &KernelView::default(),
            1,
            (0, 0),
        );
        assert_eq!(spec.services[0].pool, Some(0));
        let pools: Vec<Option<u16>> = spec.tunnels.iter().map(|t| t.pool).collect();
        assert_eq!(pools, [None, Some(1), None]);
        assert_eq!(spec.tunnels[1].mtu, 1472);
        let inside = [(Ipv4Addr::new(198, 18, 64, 0), 24)];
        assert_eq!(spec.tunnels[2].inside, inside);
        assert!(spec.tunnels[..2].iter().all(|t| t.inside.is_empty()));
        // The steering trie holds the pools' sources and the site tunnels' inside prefixes; the
        // site tunnel's remote is steered like any tunnel's.
        let trie: Vec<(Ipv4Addr, u8)> = source_prefixes(&cfg.gre, &cfg.snat).into_iter().collect();
        assert_eq!(trie, [inside[0], (Ipv4Addr::new(198, 18, 96, 0), 24)]);
        let keys = owned_keys(&cfg.service, (&cfg.gre, &cfg.snat), &[]);
        assert!(keys.contains(&OwnedKey::gre_remote(Ipv4Addr::new(198, 18, 8, 30))));
        assert_eq!(spec.pools[1].sources, [(Ipv4Addr::new(198, 18, 96, 0), 24)]);
        assert_eq!(spec.pools[1].ports, (1024, 65535));
        dataplane::snapshot::Snapshot::build(&spec, None).unwrap();
    }
}
