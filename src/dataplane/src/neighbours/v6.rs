//! IPv6 next hops: the kernel's IPv6 routes (longest prefix first) and its neighbour cache (ND,
//! RFC 4861), copied into each snapshot as the IPv4 ones are. As there, the fast path never
//! resolves an address: a next hop without a MAC is counted and recorded for the shell.

use std::net::Ipv6Addr;

use crate::wire::MacAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteV6 {
    pub net: Ipv6Addr,
    pub prefix_len: u8,
    /// `None` for an on-link route. A link-local gateway (the usual IPv6 default route) is
    /// resolved on `iface` like any other.
    pub gateway: Option<Ipv6Addr>,
    /// Index into the snapshot's interfaces.
    pub iface: u16,
    /// The kernel's preferred source for this route.
    pub src: Option<Ipv6Addr>,
}

impl RouteV6 {
    fn contains(&self, a: u128) -> bool {
        let mask = match self.prefix_len.min(128) {
            0 => 0,
            n => u128::MAX << (128 - u32::from(n)),
        };
        (a ^ u128::from(self.net)) & mask == 0
    }
}

#[derive(Debug, Clone, Default)]
pub struct NextHopsV6 {
    routes: Box<[RouteV6]>,
    /// Sorted by address: a binary search (a few dozen entries at most in practice).
    neighbours: Box<[(Ipv6Addr, MacAddr)]>,
}

impl NextHopsV6 {
    pub fn new(
        mut routes: Vec<RouteV6>,
        neighbours: impl IntoIterator<Item = (Ipv6Addr, MacAddr)>,
    ) -> NextHopsV6 {
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix_len));
        let mut n: Vec<(Ipv6Addr, MacAddr)> = neighbours.into_iter().collect();
        // A later entry for the same address wins, as in the IPv4 table.
        n.reverse();
        n.sort_by_key(|e| e.0);
        n.dedup_by_key(|e| e.0);
        NextHopsV6 {
            routes: routes.into_boxed_slice(),
            neighbours: n.into_boxed_slice(),
        }
    }

    /// The interface and next-hop address towards `dst`.
    #[inline]
    pub fn route(&self, dst: Ipv6Addr) -> Option<(u16, Ipv6Addr)> {
        let d = u128::from(dst);
        self.routes
            .iter()
            .find(|r| r.contains(d))
            .map(|r| (r.iface, r.gateway.unwrap_or(dst)))
    }

    /// The preferred source of the route towards `dst`.
    #[inline]
    pub fn source(&self, dst: Ipv6Addr) -> Option<Ipv6Addr> {
        let d = u128::from(dst);
        self.routes
            .iter()
            .find(|r| r.contains(d))
            .and_then(|r| r.src)
    }

    #[inline]
    pub fn neighbour(&self, addr: Ipv6Addr) -> Option<MacAddr> {
        self.neighbours
            .binary_search_by_key(&addr, |e| e.0)
            .ok()
            .map(|i| self.neighbours[i].1)
    }

    pub fn routes(&self) -> &[RouteV6] {
        &self.routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_and_neighbours() {
        let a = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        let nh = NextHopsV6::new(
            vec![
                RouteV6 {
                    net: a("::"),
                    prefix_len: 0,
                    gateway: Some(a("fe80::1")),
                    iface: 0,
                    src: None,
                },
                RouteV6 {
                    net: a("2001:db8:2::"),
                    prefix_len: 64,
                    gateway: None,
                    iface: 1,
                    src: None,
                },
            ],
            [
                (a("2001:db8:2::5"), MacAddr([2, 0, 0, 0, 0, 4])),
                (a("2001:db8:2::5"), MacAddr([2, 0, 0, 0, 0, 5])),
            ],
        );
        assert_eq!(nh.route(a("2001:db8:2::5")), Some((1, a("2001:db8:2::5"))));
        assert_eq!(nh.route(a("2001:db8:3::1")), Some((0, a("fe80::1"))));
        assert_eq!(
            nh.neighbour(a("2001:db8:2::5")),
            Some(MacAddr([2, 0, 0, 0, 0, 5]))
        );
        assert_eq!(nh.neighbour(a("fe80::1")), None);
        assert_eq!(NextHopsV6::default().route(a("::1")), None);
    }
}
