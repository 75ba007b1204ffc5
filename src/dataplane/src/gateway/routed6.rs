//! IPv6 carried untranslated through a tunnel: IPv6 in GRE over the IPv4 underlay (RFC 2784
//! with protocol type 0x86DD, as RFC 7676 carries IPv6 in GRE), for a site whose IPv6 prefixes
//! are global. Nothing is tracked: like a kernel GRE device with a route, any worker carries
//! any packet.
//!
//! At the central end, a tunnel's `routed6` are the site's prefixes: an IPv6 packet to one of
//! them goes into the tunnel, and what comes out of it must be from one of them (anything else
//! would make us an open relay for whoever can spoof the remote's address). At the site end
//! (a tunnel with `inside` prefixes) they are the site's own: an IPv6 packet from one of them
//! to a destination in none goes into the tunnel, and what comes out must be to one of them.
//!
//! The prefixes never overlap, so the first match is the longest.

use std::net::Ipv6Addr;

use super::{Gateway, GatewayError, Tunnel, TunnelSpec, MAX_SOURCES};

fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

/// Whether a router may forward a packet to `addr`: not multicast, not link-local (RFC 4291
/// §2.5.6: never forwarded), not in ::/64 (the unspecified and loopback addresses, and the
/// IPv4-compatible and -mapped forms, which never appear on the wire). Three tests the
/// steering program makes as cheaply.
#[inline(always)]
pub fn forwardable6(addr: Ipv6Addr) -> bool {
    let first = u128::from(addr) >> 64;
    !(addr.is_multicast() || addr.is_unicast_link_local() || first == 0)
}

/// The (network, mask, tunnel index) list of the prefixes `of` each tunnel lists: never
/// overlapping, never link-local, multicast or `::/0`; with `global`, not unique local either.
pub(super) fn build(
    tunnels: &[TunnelSpec],
    of: impl Fn(&TunnelSpec) -> &Vec<(Ipv6Addr, u8)>,
    global: bool,
) -> Result<Vec<(u128, u128, u16)>, GatewayError> {
    let mut out: Vec<(u128, u128, u16)> = Vec::new();
    for (ti, t) in tunnels.iter().enumerate() {
        for &(net, len) in of(t) {
            let m = mask(len);
            let n = u128::from(net) & m;
            let overlaps = out.iter().any(|&(on, om, _)| n & om == on || on & m == n);
            let unique_local = u128::from(net) >> 121 == 0xfc >> 1;
            if overlaps || !forwardable6(net) || len == 0 || (global && unique_local) {
                return Err(GatewayError::BadRouted6(net, len, t.name.clone()));
            }
            out.push((n, m, ti as u16));
        }
    }
    if out.len() > MAX_SOURCES {
        return Err(GatewayError::TooManyPrefixes);
    }
    Ok(out)
}

impl Gateway {
    /// Whether any tunnel carries IPv6 (routed, or translated with NAT64).
    #[inline(always)]
    pub fn routes6(&self) -> bool {
        !self.routed6.is_empty() || !self.nat64.is_empty()
    }

    /// The index of the tunnel whose IPv6 prefix holds `addr`.
    #[inline(always)]
    fn routed6_of(&self, addr: Ipv6Addr) -> Option<u16> {
        let a = u128::from(addr);
        self.routed6
            .iter()
            .find(|(n, m, _)| a & m == *n)
            .map(|(_, _, t)| *t)
    }

    /// Whether `addr` is in a tunnel's IPv6 prefix, and that tunnel's end: `Some(true)` for a
    /// site end. The steering program's IPv6 trie holds the same.
    pub fn routed6_prefix(&self, addr: Ipv6Addr) -> Option<bool> {
        self.routed6_of(addr)
            .and_then(|t| self.tunnels.get(usize::from(t)))
            .map(|t| t.site)
    }

    /// The tunnel an IPv6 packet from `src` to `dst` enters: a central end's when `dst` is in
    /// its site's prefixes; a site end's when `src` is in the site's prefixes and `dst`, a
    /// forwardable address, in none. (Whether `dst` is the host's own is the caller's check.)
    #[inline(always)]
    pub fn routed6_egress(&self, src: Ipv6Addr, dst: Ipv6Addr) -> Option<&Tunnel> {
        if self.routed6.is_empty() {
            return None;
        }
        match self.routed6_prefix(dst) {
            Some(false) => return self.tunnels.get(usize::from(self.routed6_of(dst)?)),
            Some(true) => return None,
            None => {}
        }
        let t = self.tunnels.get(usize::from(self.routed6_of(src)?))?;
        (t.site && forwardable6(dst)).then_some(t)
    }

    /// Whether an IPv6 packet from `src` to `dst` may come out of tunnel `t`: from the site's
    /// prefixes at the central end, to them at the site end.
    #[inline(always)]
    pub fn routed6_delivers(&self, t: &Tunnel, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        let on = if t.site { dst } else { src };
        self.routed6_of(on)
            .and_then(|i| self.tunnels.get(usize::from(i)))
            .is_some_and(|o| o.zone == t.zone)
    }

    /// The tunnel translating IPv6 from `src` with NAT64 (`nat64_sources`).
    #[inline(always)]
    pub fn nat64_tunnel(&self, src: Ipv6Addr) -> Option<&Tunnel> {
        if self.nat64.is_empty() {
            return None;
        }
        let a = u128::from(src);
        let (_, _, t) = self.nat64.iter().find(|(n, m, _)| a & m == *n)?;
        self.tunnels.get(usize::from(*t))
    }

    /// The NAT64 sources of the tunnel with `zone`.
    pub fn nat64_sources_of(&self, zone: u16) -> impl Iterator<Item = (Ipv6Addr, u8)> + '_ {
        self.prefixes_of(&self.nat64, zone)
    }

    /// The IPv6 prefixes of the tunnel with `zone`.
    pub fn routed6_prefixes_of(&self, zone: u16) -> impl Iterator<Item = (Ipv6Addr, u8)> + '_ {
        self.prefixes_of(&self.routed6, zone)
    }

    /// The entries of `list` that belong to the tunnel with `zone`, as (network, length).
    fn prefixes_of<'a>(
        &'a self,
        list: &'a [(u128, u128, u16)],
        zone: u16,
    ) -> impl Iterator<Item = (Ipv6Addr, u8)> + 'a {
        list.iter()
            .filter(move |(_, _, t)| {
                self.tunnels
                    .get(usize::from(*t))
                    .is_some_and(|t| t.zone == zone)
            })
            .map(|&(n, m, _)| (Ipv6Addr::from(n), m.count_ones() as u8))
    }

    /// The IPv6 prefixes of every tunnel with its end (`true`: site), for the steering trie.
    pub fn routed6_prefixes(&self) -> impl Iterator<Item = (Ipv6Addr, u8, bool)> + '_ {
        self.routed6.iter().map(|&(n, m, t)| {
            let site = self.tunnels.get(usize::from(t)).is_some_and(|t| t.site);
            (Ipv6Addr::from(n), m.count_ones() as u8, site)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{PoolSpec, Timeouts};
    use super::*;
    use std::net::Ipv4Addr;

    fn spec(name: &str, remote: u8, routed6: &[&str], inside: bool) -> TunnelSpec {
        TunnelSpec {
            name: name.into(),
            local: Ipv4Addr::new(198, 18, 0, 1),
            remote: Ipv4Addr::new(198, 18, 9, remote),
            key: None,
            mtu: 1476,
            pool: None,
            inside: if inside {
                vec![(Ipv4Addr::new(198, 18, 64, 0), 24)]
            } else {
                vec![]
            },
            routed6: routed6
                .iter()
                .map(|p| {
                    let (a, l) = p.split_once('/').unwrap();
                    (a.parse().unwrap(), l.parse().unwrap())
                })
                .collect(),
            nat64_sources: vec![],
        }
    }

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn pool() -> PoolSpec {
        PoolSpec {
            name: "out".into(),
            addrs: vec![Ipv4Addr::new(198, 19, 0, 1)],
            ports: (1024, 65535),
            timeouts: Timeouts::default(),
            sources: vec![],
        }
    }

    #[test]
    fn central_end_tunnels_to_the_site_and_takes_only_its_sources() {
        let g = Gateway::build(
            &[
                spec("a", 1, &["2001:db8:64::/48"], false),
                spec("b", 2, &["2001:db8:65::/48", "2001:db8:66:1::/64"], false),
            ],
            &[pool()],
            None,
            0,
        )
        .unwrap();
        let out = a("2001:db8:70::2");
        assert_eq!(
            g.routed6_egress(out, a("2001:db8:64::5")).unwrap().name,
            "a"
        );
        assert_eq!(
            g.routed6_egress(out, a("2001:db8:66:1::9")).unwrap().name,
            "b"
        );
        assert!(g.routed6_egress(out, a("2001:db8:66:2::9")).is_none());
        // From a site to the Internet: not into a tunnel (it came out of one).
        assert!(g.routed6_egress(a("2001:db8:64::5"), out).is_none());
        let ta = g.tunnels.iter().find(|t| t.name == "a").unwrap();
        assert!(g.routed6_delivers(ta, a("2001:db8:64::5"), out));
        assert!(
            !g.routed6_delivers(ta, a("2001:db8:65::5"), out),
            "b's prefix"
        );
        assert!(
            !g.routed6_delivers(ta, out, a("2001:db8:64::5")),
            "spoofed source"
        );
        let prefixes: Vec<_> = g.routed6_prefixes().collect();
        assert_eq!(prefixes[0], (a("2001:db8:64::"), 48, false));
        assert_eq!(prefixes.len(), 3);
    }

    #[test]
    fn site_end_tunnels_what_leaves_the_site() {
        let g = Gateway::build(&[spec("c", 1, &["2001:db8:64::/48"], true)], &[], None, 0).unwrap();
        let (inside, out) = (a("2001:db8:64::5"), a("2001:db8:70::2"));
        assert_eq!(g.routed6_egress(inside, out).unwrap().name, "c");
        assert!(g.routed6_egress(inside, a("2001:db8:64::6")).is_none());
        assert!(g.routed6_egress(inside, a("fe80::1")).is_none());
        assert!(g.routed6_egress(inside, a("ff02::1")).is_none());
        assert!(g.routed6_egress(out, inside).is_none());
        let t = &g.tunnels[0];
        assert!(g.routed6_delivers(t, out, inside));
        assert!(!g.routed6_delivers(t, inside, out));
        assert_eq!(g.routed6_prefix(inside), Some(true));
    }

    #[test]
    fn overlapping_or_unroutable_prefixes_are_refused() {
        for bad in [
            vec![
                spec("a", 1, &["2001:db8::/32"], false),
                spec("b", 2, &["2001:db8:1::/48"], false),
            ],
            vec![spec("a", 1, &["2001:db8:1::/48", "2001:db8::/32"], false)],
            vec![spec("a", 1, &["fe80::/64"], false)],
            vec![spec("a", 1, &["ff00::/8"], false)],
            vec![spec("a", 1, &["::/0"], false)],
        ] {
            assert!(
                matches!(
                    Gateway::build(&bad, &[], None, 0),
                    Err(GatewayError::BadRouted6(..))
                ),
                "{bad:?}"
            );
        }
    }
}
