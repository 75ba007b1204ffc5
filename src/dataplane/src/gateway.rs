//! The SNAT gateway's part of a snapshot: GRE tunnels from remote sites and the SNAT pools their
//! users (and FullNAT services) take external addresses and ports from, with the lookups the
//! pipeline makes on a conntrack miss.
//!
//! A tunnel's *zone* is part of every flow key of the traffic it carries, so two sites using the
//! same private addresses never share a flow. Zone 0 is "not tunnelled"; a tunnel keeps its zone
//! across reloads (by name), because live flows carry it.
//!
//! A tunnel is either the *central* end (the default: the site's traffic is translated through
//! a pool) or the *site* end, when this appliance is a site's gateway: its inside prefixes'
//! traffic to anywhere else goes into the tunnel as it is, and what comes out of the tunnel is
//! delivered to them. The site end keeps no state (like a kernel GRE device with a route), so
//! any worker can carry any packet and nothing is handed off.

mod routed6;

pub use routed6::forwardable6;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::conntrack::Timeouts;
use super::lookup::StaticMap;

/// Most tunnels a configuration may have (zones are `1..=MAX_TUNNELS`).
pub const MAX_TUNNELS: usize = 1024;
/// Most pools; each has its own conntrack timeout profile (profile 0 is the load balancer's).
pub const MAX_POOLS: usize = 15;
/// Most inside prefixes of all pools' `sources` and site tunnels together (the steering
/// program's trie is this large).
pub const MAX_SOURCES: usize = 1024;
/// GRE over IPv4: outer header plus base GRE header.
pub const GRE_OVERHEAD: usize = 24;

#[derive(Debug, Clone, PartialEq)]
pub struct TunnelSpec {
    pub name: String,
    /// Our endpoint (outer destination of what the site sends).
    pub local: Ipv4Addr,
    /// The site gateway.
    pub remote: Ipv4Addr,
    /// RFC 2890 key, when the tunnel uses one.
    pub key: Option<u32>,
    /// Largest inner packet the tunnel carries.
    pub mtu: u16,
    /// Index into the pools of the spec: where this tunnel's users get their source.
    pub pool: Option<u16>,
    /// The site end: the inside prefixes whose traffic to the rest of the world this tunnel
    /// carries to `remote`. Empty: the central end.
    pub inside: Vec<(Ipv4Addr, u8)>,
    /// Global IPv6 prefixes the tunnel carries untranslated (IPv6 in GRE over the IPv4
    /// underlay): at the central end the site's, whose traffic is decapsulated and routed and
    /// to which IPv6 packets are tunnelled; at the site end its own inside IPv6 prefixes.
    pub routed6: Vec<(Ipv6Addr, u8)>,
    /// IPv6 prefixes of the site (central end only) whose traffic to the NAT64 prefix is
    /// translated to the tunnel's IPv4 pool (`pipeline/gateway64.rs`).
    pub nat64_sources: Vec<(Ipv6Addr, u8)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PoolSpec {
    pub name: String,
    pub addrs: Vec<Ipv4Addr>,
    /// Ports handed out, `lo..=hi`, divided among the workers (see `snat::ports`).
    pub ports: (u16, u16),
    pub timeouts: Timeouts,
    /// Untunnelled inside prefixes whose traffic this pool translates.
    pub sources: Vec<(Ipv4Addr, u8)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tunnel {
    pub name: String,
    pub zone: u16,
    pub local: Ipv4Addr,
    pub remote: Ipv4Addr,
    pub key: Option<u32>,
    pub mtu: u16,
    pub pool: Option<u16>,
    /// The site end of the tunnel (see the module's documentation).
    pub site: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub name: String,
    pub addrs: Vec<u32>,
    pub ports: (u16, u16),
    pub timeouts: Timeouts,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GatewayError {
    #[error("more than {MAX_TUNNELS} tunnels")]
    TooManyTunnels,
    #[error("more than {MAX_POOLS} pools")]
    TooManyPools,
    #[error("tunnels {0} and {1} have the same remote endpoint and key")]
    DuplicateTunnel(String, String),
    #[error("address {0} is in two pools")]
    SharedAddress(Ipv4Addr),
    #[error("{0} refers to a pool that does not exist")]
    NoSuchPool(String),
    #[error("site tunnel {0} cannot take a pool: its traffic is translated at the central end")]
    SitePool(String),
    #[error("more than {MAX_SOURCES} inside prefixes")]
    TooManyPrefixes,
    #[error(
        "IPv6 prefix {0}/{1} of tunnel {2} overlaps another tunnel's or is not global unicast"
    )]
    BadRouted6(Ipv6Addr, u8, String),
    #[error("tunnel {0} translates IPv6 with NAT64 but is not the central end of a pool's tunnel")]
    Nat64WithoutPool(String),
}

/// Tunnels and pools with their lookup maps.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub tunnels: Vec<Tunnel>,
    pub pools: Vec<Pool>,
    /// zone → index into `tunnels` (`u16::MAX`: none).
    by_zone: Box<[u16]>,
    /// (remote, key) of keyed tunnels, and remote of unkeyed ones → index into `tunnels`.
    keyed: StaticMap<u16>,
    unkeyed: StaticMap<u16>,
    /// External address → pool index + 1 (0: none, the map's default).
    pool_addrs: StaticMap<u16>,
    /// (network, mask, pool) of untunnelled sources.
    sources: Vec<(u32, u32, u16)>,
    /// (network, mask, index into `tunnels`) of the site tunnels' inside prefixes.
    site_inside: Vec<(u32, u32, u16)>,
    /// (network, mask, index into `tunnels`) of the tunnels' IPv6 prefixes (`routed6`).
    routed6: Vec<(u128, u128, u16)>,
    /// The same for the sites' NAT64 sources.
    nat64: Vec<(u128, u128, u16)>,
}

impl Default for Gateway {
    fn default() -> Self {
        Gateway::build(&[], &[], None, 0).expect("empty gateway")
    }
}

/// Whether a router may forward a packet to `addr` (RFC 1812 §5.3.7, RFC 3927 §7): not
/// multicast, class E or the limited broadcast (224/3), "this network" (0/8), loopback (127/8)
/// or link-local (169.254/16). Inside traffic to those is for the link or the host, never for
/// a tunnel or a pool.
#[inline(always)]
pub fn forwardable(addr: Ipv4Addr) -> bool {
    !martian_source(addr) && !addr.is_link_local()
}

/// A source address a router must not forward from (RFC 1812 §5.3.7): "this network" (0/8),
/// loopback (127/8), multicast, class E and the limited broadcast (224/3). Link-local sources
/// are left to the destination check (a host may answer one on its own link).
#[inline(always)]
pub fn martian_source(addr: Ipv4Addr) -> bool {
    let first = u32::from(addr) >> 24;
    first >= 224 || first == 0 || first == 127
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

impl Gateway {
    pub fn build(
        tunnels: &[TunnelSpec],
        pools: &[PoolSpec],
        previous: Option<&Gateway>,
        seed: u64,
    ) -> Result<Gateway, GatewayError> {
        if tunnels.len() > MAX_TUNNELS {
            return Err(GatewayError::TooManyTunnels);
        }
        if pools.len() > MAX_POOLS {
            return Err(GatewayError::TooManyPools);
        }
        // Zones stay with their tunnel's name; new tunnels take the lowest free zones, avoiding
        // those the previous snapshot used (its flows may still be ending).
        let old: BTreeMap<&str, u16> = previous
            .map(|g| {
                g.tunnels
                    .iter()
                    .map(|t| (t.name.as_str(), t.zone))
                    .collect()
            })
            .unwrap_or_default();
        let mut taken = vec![false; MAX_TUNNELS + 1];
        taken[0] = true;
        for t in tunnels {
            if let Some(&z) = old.get(t.name.as_str()) {
                taken[usize::from(z)] = true;
            }
        }
        let was_used: Vec<bool> = (0..=MAX_TUNNELS)
            .map(|z| old.values().any(|&o| usize::from(o) == z))
            .collect();
        let mut fresh = (1..=MAX_TUNNELS)
            .filter(|&z| !taken[z] && !was_used[z])
            .chain((1..=MAX_TUNNELS).filter(|&z| !taken[z] && was_used[z]));
        let mut out = Vec::with_capacity(tunnels.len());
        for t in tunnels {
            let zone = match old.get(t.name.as_str()) {
                Some(&z) => z,
                None => fresh.next().ok_or(GatewayError::TooManyTunnels)? as u16,
            };
            if let Some(p) = t.pool {
                if usize::from(p) >= pools.len() {
                    return Err(GatewayError::NoSuchPool(t.name.clone()));
                }
                if !t.inside.is_empty() {
                    return Err(GatewayError::SitePool(t.name.clone()));
                }
            }
            out.push(Tunnel {
                name: t.name.clone(),
                zone,
                local: t.local,
                remote: t.remote,
                key: t.key,
                mtu: t.mtu,
                pool: t.pool,
                site: !t.inside.is_empty(),
            });
        }
        let mut by_zone = vec![u16::MAX; MAX_TUNNELS + 1].into_boxed_slice();
        let mut seen: BTreeMap<(Ipv4Addr, Option<u32>), usize> = BTreeMap::new();
        for (i, t) in out.iter().enumerate() {
            by_zone[usize::from(t.zone)] = i as u16;
            if let Some(j) = seen.insert((t.remote, t.key), i) {
                return Err(GatewayError::DuplicateTunnel(
                    out[j].name.clone(),
                    t.name.clone(),
                ));
            }
        }
        let keyed = StaticMap::build(
            out.iter().enumerate().filter_map(|(i, t)| {
                t.key.map(|k| {
                    (
                        u64::from(u32::from(t.remote)) << 32 | u64::from(k),
                        i as u16,
                    )
                })
            }),
            seed,
        );
        let unkeyed = StaticMap::build(
            out.iter()
                .enumerate()
                .filter(|(_, t)| t.key.is_none())
                .map(|(i, t)| (u64::from(u32::from(t.remote)), i as u16)),
            seed,
        );
        let mut addr_pool = BTreeMap::new();
        for (pi, p) in pools.iter().enumerate() {
            for a in &p.addrs {
                if addr_pool.insert(u32::from(*a), pi as u16 + 1).is_some() {
                    return Err(GatewayError::SharedAddress(*a));
                }
            }
        }
        let pool_addrs = StaticMap::build(addr_pool.iter().map(|(a, p)| (u64::from(*a), *p)), seed);
        let sources = pools
            .iter()
            .enumerate()
            .flat_map(|(pi, p)| {
                p.sources
                    .iter()
                    .map(move |(net, len)| (u32::from(*net) & mask(*len), mask(*len), pi as u16))
            })
            .collect::<Vec<_>>();
        let site_inside: Vec<(u32, u32, u16)> = tunnels
            .iter()
            .enumerate()
            .flat_map(|(ti, t)| {
                t.inside
                    .iter()
                    .map(move |(net, len)| (u32::from(*net) & mask(*len), mask(*len), ti as u16))
            })
            .collect();
        if sources.len() + site_inside.len() > MAX_SOURCES {
            return Err(GatewayError::TooManyPrefixes);
        }
        let routed6 = routed6::build(tunnels, |t| &t.routed6, true)?;
        let nat64 = routed6::build(tunnels, |t| &t.nat64_sources, false)?;
        if let Some(t) = tunnels
            .iter()
            .find(|t| !t.nat64_sources.is_empty() && (t.pool.is_none() || !t.inside.is_empty()))
        {
            return Err(GatewayError::Nat64WithoutPool(t.name.clone()));
        }
        Ok(Gateway {
            tunnels: out,
            pools: pools
                .iter()
                .map(|p| Pool {
                    name: p.name.clone(),
                    addrs: p.addrs.iter().map(|&a| a.into()).collect(),
                    ports: p.ports,
                    timeouts: p.timeouts,
                })
                .collect(),
            by_zone,
            keyed,
            unkeyed,
            pool_addrs,
            sources,
            site_inside,
            routed6,
            nat64,
        })
    }

    /// The tunnel a GRE packet from `remote` to `local` with `key` arrived on.
    #[inline(always)]
    pub fn tunnel_for(
        &self,
        remote: Ipv4Addr,
        local: Ipv4Addr,
        key: Option<u32>,
    ) -> Option<&Tunnel> {
        let remote = u32::from(remote);
        let i = match key {
            Some(k) => self.keyed.get(u64::from(remote) << 32 | u64::from(k)),
            None => self.unkeyed.get(u64::from(remote)),
        }?;
        let t = &self.tunnels[usize::from(i)];
        (t.local == local).then_some(t)
    }

    /// Any tunnel from `remote`: to count a packet whose header we refused to read further.
    pub fn tunnel_from(&self, remote: Ipv4Addr) -> Option<&Tunnel> {
        self.tunnels.iter().find(|t| t.remote == remote)
    }

    #[inline(always)]
    pub fn tunnel(&self, zone: u16) -> Option<&Tunnel> {
        let i = *self.by_zone.get(usize::from(zone))?;
        self.tunnels.get(usize::from(i))
    }

    /// The pool `addr` belongs to.
    #[inline(always)]
    pub fn pool_of_addr(&self, addr: Ipv4Addr) -> Option<u16> {
        if self.pools.is_empty() {
            return None;
        }
        match self.pool_addrs.get(u64::from(u32::from(addr))) {
            Some(p) if p > 0 => Some(p - 1),
            _ => None,
        }
    }

    /// The pool translating untunnelled traffic from `src` (first match in file order).
    #[inline(always)]
    pub fn pool_for_source(&self, src: Ipv4Addr) -> Option<u16> {
        let src = u32::from(src);
        self.sources
            .iter()
            .find(|(net, m, _)| src & m == *net)
            .map(|(_, _, p)| *p)
    }

    /// Whether `addr` is in an inside prefix: a pool's `sources` or a site tunnel's `inside`
    /// (the steering program's trie).
    #[inline]
    pub fn is_inside(&self, addr: Ipv4Addr) -> bool {
        let a = u32::from(addr);
        self.pool_for_source(addr).is_some()
            || self.site_inside.iter().any(|(net, m, _)| a & m == *net)
    }

    /// The site tunnel that carries a packet from `src` to `dst`: `src` is in its inside
    /// prefixes (first match in file order) and `dst` is in no inside prefix at all, of a site
    /// tunnel or of a pool (inside-to-inside traffic is the kernel's to route).
    #[inline(always)]
    pub fn site_egress(&self, src: Ipv4Addr, dst: Ipv4Addr) -> Option<&Tunnel> {
        if self.site_inside.is_empty() {
            return None;
        }
        let src = u32::from(src);
        let (_, _, ti) = self
            .site_inside
            .iter()
            .find(|(net, m, _)| src & m == *net)?;
        let inside = |a: u32| self.site_inside.iter().any(|(net, m, _)| a & m == *net);
        if inside(dst.into()) || self.pool_for_source(dst).is_some() || !forwardable(dst) {
            return None;
        }
        self.tunnels.get(usize::from(*ti))
    }

    /// Whether `addr` is in an inside prefix of the site tunnel with `zone`: what comes out of
    /// a site tunnel may only go there (anything else would make us an open relay for
    /// whoever can spoof the remote's address).
    #[inline(always)]
    pub fn site_delivers(&self, zone: u16, addr: Ipv4Addr) -> bool {
        let Some(&ti) = self.by_zone.get(usize::from(zone)) else {
            return false;
        };
        let addr = u32::from(addr);
        self.site_inside
            .iter()
            .any(|(net, m, t)| *t == ti && addr & m == *net)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tunnel(name: &str, remote: u8, key: Option<u32>) -> TunnelSpec {
        TunnelSpec {
            name: name.into(),
            local: Ipv4Addr::new(198, 18, 0, 1),
            remote: Ipv4Addr::new(198, 18, 9, remote),
            key,
            mtu: 1476,
            pool: Some(0),
            inside: vec![],
            routed6: vec![],
            nat64_sources: vec![],
        }
    }

    fn site_tunnel(name: &str, remote: u8, inside: &[(u8, u8)]) -> TunnelSpec {
        TunnelSpec {
            pool: None,
            inside: inside
                .iter()
                .map(|&(third, len)| (Ipv4Addr::new(198, 18, third, 0), len))
                .collect(),
            ..tunnel(name, remote, None)
        }
    }

    fn pool() -> PoolSpec {
        PoolSpec {
            name: "out".into(),
            addrs: vec![Ipv4Addr::new(198, 19, 0, 1), Ipv4Addr::new(198, 19, 0, 2)],
            ports: (1024, 65535),
            timeouts: Timeouts::default(),
            sources: vec![(Ipv4Addr::new(198, 18, 64, 0), 18)],
        }
    }

    #[test]
    fn lookups() {
        let g = Gateway::build(
            &[
                tunnel("a", 1, Some(7)),
                tunnel("b", 1, None),
                tunnel("c", 2, Some(7)),
            ],
            &[pool()],
            None,
            1,
        )
        .unwrap();
        let (local, r1) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 9, 1));
        assert_eq!(g.tunnel_for(r1, local, Some(7)).unwrap().name, "a");
        assert_eq!(g.tunnel_for(r1, local, None).unwrap().name, "b");
        assert!(g.tunnel_for(r1, local, Some(8)).is_none());
        assert!(
            g.tunnel_for(r1, Ipv4Addr::new(198, 18, 0, 2), Some(7))
                .is_none(),
            "other local address"
        );
        let zones: Vec<u16> = g.tunnels.iter().map(|t| t.zone).collect();
        assert_eq!(zones, [1, 2, 3]);
        assert_eq!(g.tunnel(2).unwrap().name, "b");
        assert!(g.tunnel(0).is_none());
        assert_eq!(g.pool_of_addr(Ipv4Addr::new(198, 19, 0, 2)), Some(0));
        assert_eq!(g.pool_of_addr(Ipv4Addr::new(198, 19, 0, 3)), None);
        assert_eq!(g.pool_for_source(Ipv4Addr::new(198, 18, 100, 1)), Some(0));
        assert_eq!(g.pool_for_source(Ipv4Addr::new(198, 18, 128, 1)), None);
    }

    #[test]
    fn zones_follow_names_across_reloads() {
        let g1 = Gateway::build(
            &[tunnel("a", 1, None), tunnel("b", 2, None)],
            &[pool()],
            None,
            1,
        )
        .unwrap();
        // "a" removed, "c" added before "b": "b" keeps zone 2, "c" does not reuse zone 1.
        let g2 = Gateway::build(
            &[tunnel("c", 3, None), tunnel("b", 2, None)],
            &[pool()],
            Some(&g1),
            1,
        )
        .unwrap();
        assert_eq!(g2.tunnels[1].zone, 2);
        assert_eq!(g2.tunnels[0].zone, 3);
    }

    #[test]
    fn conflicts_are_refused() {
        assert!(matches!(
            Gateway::build(
                &[tunnel("a", 1, Some(7)), tunnel("b", 1, Some(7))],
                &[pool()],
                None,
                1
            ),
            Err(GatewayError::DuplicateTunnel(..))
        ));
        assert!(matches!(
            Gateway::build(&[], &[pool(), pool()], None, 1),
            Err(GatewayError::SharedAddress(_))
        ));
        assert!(matches!(
            Gateway::build(&[tunnel("a", 1, None)], &[], None, 1),
            Err(GatewayError::NoSuchPool(_))
        ));
    }

    #[test]
    fn site_tunnels_carry_inside_to_anywhere_else_and_deliver_only_inside() {
        let g = Gateway::build(
            &[
                tunnel("central", 1, None),
                site_tunnel("s1", 2, &[(10, 24)]),
                site_tunnel("s2", 3, &[(11, 24), (12, 24)]),
            ],
            &[pool()],
            None,
            1,
        )
        .unwrap();
        let a = |c: u8, d: u8| Ipv4Addr::new(198, 18, c, d);
        let internet = Ipv4Addr::new(198, 19, 5, 5);
        assert!(!g.tunnels[0].site && g.tunnels[1].site);
        assert_eq!(g.site_egress(a(10, 5), internet).unwrap().name, "s1");
        assert_eq!(g.site_egress(a(12, 5), internet).unwrap().name, "s2");
        assert!(g.site_egress(a(13, 5), internet).is_none(), "not inside");
        assert!(
            g.site_egress(a(10, 5), a(11, 1)).is_none(),
            "inside to inside"
        );
        assert!(
            g.site_egress(a(10, 5), a(100, 1)).is_none(),
            "to a pool source"
        );
        for never in [
            Ipv4Addr::new(224, 0, 0, 251),
            Ipv4Addr::new(239, 255, 255, 250),
            Ipv4Addr::BROADCAST,
            Ipv4Addr::new(240, 0, 0, 1),
            Ipv4Addr::new(127, 0, 0, 1),
            Ipv4Addr::new(0, 1, 2, 3),
            Ipv4Addr::new(169, 254, 1, 1),
        ] {
            assert!(g.site_egress(a(10, 5), never).is_none(), "{never}");
        }
        assert!(forwardable(Ipv4Addr::new(169, 253, 1, 1)));
        assert!(forwardable(Ipv4Addr::new(223, 255, 255, 255)));
        let (z1, z2) = (g.tunnels[1].zone, g.tunnels[2].zone);
        assert!(g.site_delivers(z1, a(10, 9)));
        assert!(!g.site_delivers(z1, a(11, 9)), "the other site's prefix");
        assert!(g.site_delivers(z2, a(12, 9)));
        assert!(!g.site_delivers(g.tunnels[0].zone, a(10, 9)), "central end");
        assert!(!g.site_delivers(999, a(10, 9)));
        // Without site tunnels nothing is egress.
        let plain = Gateway::build(&[tunnel("c", 1, None)], &[pool()], None, 1).unwrap();
        assert!(plain.site_egress(a(10, 5), internet).is_none());
        // A site tunnel takes no pool.
        let mut bad = site_tunnel("s", 2, &[(10, 24)]);
        bad.pool = Some(0);
        assert_eq!(
            Gateway::build(&[bad], &[pool()], None, 1).unwrap_err(),
            GatewayError::SitePool("s".into())
        );
    }
}
