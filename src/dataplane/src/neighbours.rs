//! Next hops: a small route table (longest prefix first) and the neighbour table the kernel
//! resolved, both copied into each snapshot from rtnetlink dumps and monitors. The fast path
//! never resolves addresses itself; a missing neighbour is counted, the frame dropped, and the
//! next hop recorded so the worker's shell asks the kernel to resolve it at once.

pub mod v6;

use std::net::Ipv4Addr;

use super::lookup::StaticMap;
use super::wire::MacAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub net: Ipv4Addr,
    pub prefix_len: u8,
    /// `None` for an on-link route: the destination itself is the next hop.
    pub gateway: Option<Ipv4Addr>,
    /// Index into the snapshot's interfaces.
    pub iface: u16,
    /// The kernel's preferred source for this route (`src` in `ip route`): the outer source of
    /// what the fast path tunnels along it.
    pub src: Option<Ipv4Addr>,
}

impl Route {
    fn mask(&self) -> u32 {
        if self.prefix_len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix_len.min(32)))
        }
    }

    fn contains(&self, a: u32) -> bool {
        (a ^ u32::from(self.net)) & self.mask() == 0
    }
}

#[derive(Debug, Clone)]
pub struct NextHops {
    routes: Box<[Route]>,
    neighbours: StaticMap<MacAddr>,
}

impl NextHops {
    pub fn new(
        mut routes: Vec<Route>,
        neighbours: impl IntoIterator<Item = (Ipv4Addr, MacAddr)>,
        seed: u64,
    ) -> NextHops {
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix_len));
        NextHops {
            routes: routes.into_boxed_slice(),
            neighbours: StaticMap::build(
                neighbours
                    .into_iter()
                    .map(|(a, m)| (u64::from(u32::from(a)), m)),
                seed,
            ),
        }
    }

    /// The interface and next-hop address towards `dst`.
    #[inline(always)]
    pub fn route(&self, dst: Ipv4Addr) -> Option<(u16, Ipv4Addr)> {
        let d = u32::from(dst);
        self.routes
            .iter()
            .find(|r| r.contains(d))
            .map(|r| (r.iface, r.gateway.unwrap_or(dst)))
    }

    /// The preferred source of the route towards `dst`.
    #[inline]
    pub fn source(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        let d = u32::from(dst);
        self.routes
            .iter()
            .find(|r| r.contains(d))
            .and_then(|r| r.src)
    }

    #[inline(always)]
    pub fn neighbour(&self, addr: Ipv4Addr) -> Option<MacAddr> {
        self.neighbours.get(u64::from(u32::from(addr)))
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_gateways_are_next_hops() {
        let a = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let nh = NextHops::new(
            vec![
                Route {
                    net: a("0.0.0.0"),
                    prefix_len: 0,
                    gateway: Some(a("198.18.0.254")),
                    iface: 0,
                    src: None,
                },
                Route {
                    net: a("198.18.2.0"),
                    prefix_len: 24,
                    gateway: None,
                    iface: 1,
                    src: Some(a("198.18.2.1")),
                },
            ],
            [(a("198.18.2.5"), MacAddr([2, 0, 0, 0, 0, 5]))],
            1,
        );
        assert_eq!(nh.route(a("198.18.2.5")), Some((1, a("198.18.2.5"))));
        assert_eq!(nh.route(a("198.19.0.1")), Some((0, a("198.18.0.254"))));
        assert_eq!(
            nh.neighbour(a("198.18.2.5")),
            Some(MacAddr([2, 0, 0, 0, 0, 5]))
        );
        assert_eq!(nh.neighbour(a("198.18.2.6")), None);
        assert_eq!(nh.source(a("198.18.2.9")), Some(a("198.18.2.1")));
        assert_eq!(nh.source(a("198.19.0.1")), None);
        let none = NextHops::new(vec![], [], 1);
        assert_eq!(none.route(Ipv4Addr::new(0, 0, 0, 1)), None);
    }
}
