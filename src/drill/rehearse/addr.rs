//! Addresses of a rehearsal: which the configurations already use, and free ones for what the
//! drill adds (the derived node, the client, nodes without a static address).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnetwork::IpNetwork;

/// The network `net` lies in, as a prefix (host bits cleared).
pub fn subnet_of(net: &IpNetwork) -> IpNetwork {
    IpNetwork::new(net.network(), net.prefix()).unwrap_or(*net)
}

/// Whether `net` is a subnet a segment can be numbered in: shorter than a host route.
pub fn is_subnet(net: &IpNetwork) -> bool {
    match net {
        IpNetwork::V4(n) => n.prefix() < 31,
        IpNetwork::V6(n) => n.prefix() < 127,
    }
}

/// Whether `ip` may be used by the drill: 198.18.0.0/15 and 2001:db8::/32, the benchmarking and
/// documentation ranges, so that nothing a rehearsal builds can collide with a real network.
pub fn emulable(ip: IpAddr) -> bool {
    lab::is_test_addr(ip)
}

/// Whether a whole prefix lies inside the ranges of [`emulable`].
pub fn emulable_net(net: &IpNetwork) -> bool {
    let min = if net.is_ipv4() { 15 } else { 32 };
    emulable(net.ip()) && net.prefix() >= min
}

/// The addresses in use, and a picker of free ones.
#[derive(Debug, Clone, Default)]
pub struct Used(BTreeSet<IpAddr>);

impl Used {
    pub fn insert(&mut self, ip: IpAddr) {
        self.0.insert(ip);
    }

    pub fn addrs(&self) -> Vec<IpAddr> {
        self.0.iter().copied().collect()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip)
    }

    /// The first free host of `subnet` after `after` (wrapping round), taken.
    pub fn next_after(&mut self, subnet: &IpNetwork, after: IpAddr) -> Option<IpAddr> {
        let hosts = hosts(subnet);
        let start = hosts.iter().position(|&h| h == after).map_or(0, |i| i + 1);
        let n = hosts.len();
        let pick = (0..n)
            .map(|k| hosts[(start + k) % n])
            .find(|h| !self.contains(*h))?;
        self.insert(pick);
        Some(pick)
    }

    /// The highest free host of `subnet`, taken: what the drill's own hosts use, away from the
    /// low addresses operators give their nodes.
    pub fn highest(&mut self, subnet: &IpNetwork) -> Option<IpAddr> {
        let pick = hosts(subnet)
            .into_iter()
            .rev()
            .find(|h| !self.contains(*h))?;
        self.insert(pick);
        Some(pick)
    }

    /// The lowest free host of `subnet`, taken.
    pub fn lowest(&mut self, subnet: &IpNetwork) -> Option<IpAddr> {
        let pick = hosts(subnet).into_iter().find(|h| !self.contains(*h))?;
        self.insert(pick);
        Some(pick)
    }
}

/// Largest number of hosts of a subnet the pickers look at: a /16 or a /64 has more than any
/// rehearsal needs, and the first and last ones are enough.
const HOST_WINDOW: u128 = 1024;

/// The usable hosts of `subnet` (IPv4: not the network or broadcast address), at most
/// [`HOST_WINDOW`] from each end.
fn hosts(subnet: &IpNetwork) -> Vec<IpAddr> {
    let (base, count): (u128, u128) = match subnet {
        IpNetwork::V4(n) => {
            let size = 1u128 << (32 - u32::from(n.prefix()));
            (u128::from(u32::from(n.network())), size)
        }
        IpNetwork::V6(n) => {
            let bits = 128 - u32::from(n.prefix());
            let size = if bits >= 127 {
                u128::MAX
            } else {
                1u128 << bits
            };
            (u128::from(n.network()), size)
        }
    };
    let v4 = subnet.is_ipv4();
    // IPv4: hosts 1 ..= size-2; IPv6: 1 ..= size-1 (the subnet-router anycast is host 0).
    let last = if v4 {
        count.saturating_sub(2)
    } else {
        count.saturating_sub(1)
    };
    let mut idx: Vec<u128> = (1..=last.min(HOST_WINDOW)).collect();
    let tail_from = last.saturating_sub(HOST_WINDOW).max(HOST_WINDOW + 1);
    idx.extend(tail_from..=last);
    idx.into_iter()
        .map(|i| {
            if v4 {
                IpAddr::V4(Ipv4Addr::from((base + i) as u32))
            } else {
                IpAddr::V6(Ipv6Addr::from(base + i))
            }
        })
        .collect()
}

/// `"198.18.0.1:80"`, `"[2001:db8::1]:80"`, `"198.18.0.1"` or `"2001:db8::1"` as address and
/// port (`default` when none is written); `None` for a name.
pub fn parse_target(s: &str, default: u16) -> Option<(IpAddr, u16)> {
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some((sa.ip(), sa.port()));
    }
    s.parse::<IpAddr>().ok().map(|ip| (ip, default))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNetwork {
        s.parse().unwrap()
    }

    #[test]
    fn picks_free_hosts() {
        let mut used = Used::default();
        used.insert("198.18.0.2".parse().unwrap());
        used.insert("198.18.0.3".parse().unwrap());
        let s = net("198.18.0.0/24");
        assert_eq!(
            used.next_after(&s, "198.18.0.2".parse().unwrap()),
            Some("198.18.0.4".parse().unwrap())
        );
        assert_eq!(used.highest(&s), Some("198.18.0.254".parse().unwrap()));
        assert_eq!(used.highest(&s), Some("198.18.0.253".parse().unwrap()));
        assert_eq!(used.lowest(&s), Some("198.18.0.1".parse().unwrap()));
        let tiny = net("198.18.9.0/30");
        let mut u = Used::default();
        assert!(u.lowest(&tiny).is_some() && u.lowest(&tiny).is_some());
        assert_eq!(u.lowest(&tiny), None);
        let v6 = net("2001:db8:1::/64");
        assert_eq!(
            Used::default().highest(&v6),
            Some("2001:db8:1::ffff:ffff:ffff:ffff".parse().unwrap())
        );
    }

    #[test]
    fn ranges_and_targets() {
        assert!(emulable_net(&net("198.18.0.0/24")));
        assert!(!emulable_net(&net("10.0.0.0/24")));
        assert!(!emulable_net(&net("198.18.0.0/8")));
        assert_eq!(
            parse_target("198.18.2.1:8080", 80),
            Some(("198.18.2.1".parse().unwrap(), 8080))
        );
        assert_eq!(
            parse_target("198.18.2.1", 80),
            Some(("198.18.2.1".parse().unwrap(), 80))
        );
        assert_eq!(
            parse_target("[2001:db8::1]:53", 0),
            Some(("2001:db8::1".parse().unwrap(), 53))
        );
        assert_eq!(parse_target("backend.example", 80), None);
        assert_eq!(subnet_of(&net("198.18.0.7/24")), net("198.18.0.0/24"));
    }
}
