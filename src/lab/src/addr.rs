//! The project's test address policy: only 198.18.0.0/15 and 2001:db8::/32.
//!
//! Every address or prefix the harness configures is checked here, so a typo
//! such as `203.0.113.1/24` fails the test instead of quietly using a range
//! that may exist on real networks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// True if `ip` lies in 198.18.0.0/15 (RFC 2544) or 2001:db8::/32 (RFC 3849).
pub fn is_test_addr(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => u32::from(v4) >> 17 == u32::from(Ipv4Addr::new(198, 18, 0, 0)) >> 17,
        IpAddr::V6(v6) => u128::from(v6) >> 96 == 0x2001_0db8,
    }
}

/// Panics unless `addr` ("198.18.0.1", "198.18.0.1/24", "2001:db8::1/64") is a
/// test address whose whole prefix also stays inside the allowed ranges.
///
/// The prefix matters: `198.18.0.1/8` would install a connected route for
/// 198.0.0.0/8, far outside the test range.
pub fn assert_test_addr(addr: &str) {
    let (ip, len) = parse_cidr(addr).unwrap_or_else(|e| panic!("netns-tests: {e}"));
    let min_len = if ip.is_ipv4() { 15 } else { 32 };
    if !is_test_addr(ip) || len < min_len {
        panic!(
            "netns-tests: address `{addr}` is outside the allowed test ranges \
             198.18.0.0/15 and 2001:db8::/32 (prefix must be /{min_len} or longer); \
             tests must use only those ranges"
        );
    }
}

/// Parses "ADDR" or "ADDR/LEN"; a bare address gets the full-length prefix.
pub(crate) fn parse_cidr(s: &str) -> Result<(IpAddr, u8), String> {
    let (ip_s, len_s) = match s.split_once('/') {
        Some((ip, len)) => (ip, Some(len)),
        None => (s, None),
    };
    let ip: IpAddr = ip_s
        .parse()
        .map_err(|_| format!("`{s}` is not an IP address or ADDR/PREFIX"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len_s {
        None => max,
        Some(l) => l
            .parse::<u8>()
            .ok()
            .filter(|&l| l <= max)
            .ok_or_else(|| format!("`{s}` has an invalid prefix length"))?,
    };
    Ok((ip, len))
}

/// True if the token looks like an address or prefix (used to check route specs).
pub(crate) fn looks_like_addr(tok: &str) -> bool {
    parse_cidr(tok).is_ok()
}

/// The `n`-th host (1-based: n=1 is .1) of network `net/len`; panics if it does
/// not fit (or would be the IPv4 broadcast address).
pub(crate) fn nth_host(net: IpAddr, len: u8, n: u32) -> IpAddr {
    match net {
        IpAddr::V4(v4) => {
            let host_bits = 32 - u32::from(len);
            let size: u64 = 1 << host_bits;
            assert!(
                u64::from(n) < size.saturating_sub(1),
                "netns-tests: host #{n} does not fit in {net}/{len}"
            );
            let base = u32::from(v4) & (u32::MAX.checked_shl(host_bits).unwrap_or(0));
            IpAddr::V4(Ipv4Addr::from(base + n))
        }
        IpAddr::V6(v6) => {
            let host_bits = 128 - u32::from(len);
            assert!(
                host_bits >= 32 || u128::from(n) < (1u128 << host_bits),
                "netns-tests: host #{n} does not fit in {net}/{len}"
            );
            let base = u128::from(v6) & (u128::MAX.checked_shl(host_bits).unwrap_or(0));
            IpAddr::V6(Ipv6Addr::from(base + u128::from(n)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        for ok in [
            "198.18.0.1",
            "198.19.255.254/24",
            "198.18.0.0/15",
            "2001:db8::1/64",
            "2001:db8:ffff::1",
        ] {
            assert_test_addr(ok);
        }
        for bad in [
            "198.17.255.255",
            "198.20.0.1",
            "203.0.113.1/24",
            "192.0.2.1",
            "198.18.0.1/8",
            "2001:db9::1",
            "2001:db8::1/16",
            "fe80::1/64",
        ] {
            let r = std::panic::catch_unwind(|| assert_test_addr(bad));
            assert!(r.is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn hosts() {
        let (net, len) = parse_cidr("198.18.7.0/24").unwrap();
        assert_eq!(nth_host(net, len, 1).to_string(), "198.18.7.1");
        assert_eq!(nth_host(net, len, 254).to_string(), "198.18.7.254");
        assert!(std::panic::catch_unwind(|| nth_host(net, len, 255)).is_err());
        let (net, len) = parse_cidr("2001:db8:7::/64").unwrap();
        assert_eq!(nth_host(net, len, 3).to_string(), "2001:db8:7::3");
        assert!(parse_cidr("198.18.0.1/33").is_err());
        assert!(parse_cidr("eth0").is_err());
    }
}
