//! `ipv6_prefixes` of a `[[gre.tunnel]]`: IPv6 carried through the tunnel untranslated, in GRE
//! over the IPv4 underlay.
//!
//! ```toml
//! [[gre.tunnel]]
//! name = "site-a"
//! local = "198.18.8.1"
//! remote = "198.18.8.10"
//! ipv6_prefixes = ["2001:db8:64::/48"]   # the site's global IPv6 prefixes
//! ```
//!
//! At the central end they are the site's prefixes: IPv6 packets to them go into the tunnel,
//! and IPv6 from the tunnel must come from them; at the site end (`role = "site"`) they are the
//! site's own, whose traffic to anywhere else goes into the tunnel. The prefixes must be
//! routable as they are: a unique local prefix (fc00::/7) would need translation, which the
//! tunnel does not do.

use std::net::{IpAddr, Ipv6Addr};

use ipnetwork::Ipv6Network;

use super::dataplane::ServiceConfig;
use super::gateway::{GreConfig, SnatConfig};
use super::locate::KeyPath;
use super::validate::Issues;

/// Why `net` cannot be carried untranslated, if it cannot.
fn unroutable(net: &Ipv6Network) -> Option<&'static str> {
    let a = net.network();
    let first = a.segments()[0];
    if net.prefix() == 0 {
        Some("the whole address space")
    } else if a.is_multicast() {
        Some("multicast")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a unique local prefix (fc00::/7), not routable untranslated")
    } else if net.contains(Ipv6Addr::LOCALHOST) || net.contains(Ipv6Addr::UNSPECIFIED) {
        Some("reserved (::/128, ::1)")
    } else {
        None
    }
}

pub fn validate(
    gre: &GreConfig,
    snat: &SnatConfig,
    services: &[ServiceConfig],
    issues: &mut Issues,
) {
    let troot = KeyPath::root().key("gre").key("tunnel");
    let mut seen: Vec<(Ipv6Network, &str)> = Vec::new();
    for (i, t) in gre.tunnel.iter().enumerate() {
        if !t.ipv6_prefixes.is_empty() && t.mtu.is_some_and(|m| m < 1280) {
            issues.push(
                troot.index(i).key("mtu"),
                format!(
                    "a tunnel carrying IPv6 needs an MTU of 1280 or more, not {}",
                    t.mtu()
                ),
                Some("IPv6 requires 1280 on every link (RFC 8200 §5)".into()),
            );
        }
        for (j, net) in t.ipv6_prefixes.iter().enumerate() {
            let at = troot.index(i).key("ipv6_prefixes").index(j);
            if net.network() != net.ip() {
                issues.push(
                    at,
                    format!("{net} has host bits set"),
                    Some(format!("write {}/{}", net.network(), net.prefix())),
                );
                continue;
            }
            if let Some(why) = unroutable(net) {
                issues.push(
                    at,
                    format!("{net} is {why}"),
                    Some("list the site's global unicast IPv6 prefixes".into()),
                );
                continue;
            }
            if let Some((other, name)) = seen
                .iter()
                .find(|(o, _)| o.contains(net.network()) || net.contains(o.network()))
            {
                issues.push(
                    at,
                    format!("{net} overlaps {other} of tunnel `{name}`"),
                    Some("an IPv6 prefix is reached through one tunnel".into()),
                );
                continue;
            }
            let ours = services
                .iter()
                .map(|s| (s.vip, "a service VIP"))
                .chain(
                    snat.pool
                        .iter()
                        .flat_map(|p| p.addresses.iter().map(|a| (*a, "a pool address"))),
                )
                .find_map(|(a, what)| match a {
                    IpAddr::V6(a) if net.contains(a) => Some((a, what)),
                    _ => None,
                });
            if let Some((a, what)) = ours {
                issues.push(
                    at,
                    format!("{net} holds {a}, {what}"),
                    Some("the tunnel's prefixes are the site's, not the appliance's".into()),
                );
                continue;
            }
            seen.push((*net, t.name.as_str()));
        }
    }
}
