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
//! routable as they are: a unique local prefix (fc00::/7) needs translation, `nat64_sources`:
//!
//! ```toml
//! [[gre.tunnel]]
//! name = "site-b"
//! local = "198.18.8.1"
//! remote = "198.18.8.20"
//! nat64_sources = ["fd00:b::/48"]        # to [dataplane] nat64_prefix, through the pool
//! ```
//!
//! At the central end of a tunnel an IPv4 pool lists, IPv6 from those prefixes to addresses
//! under `nat64_prefix` is translated with NAT64 to the pool (`pipeline/gateway64.rs`).

use std::net::{IpAddr, Ipv6Addr};

use ipnetwork::Ipv6Network;

use super::dataplane::ServiceConfig;
use super::gateway::{GreConfig, SnatConfig, TunnelRole};
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

/// Why `net` cannot be a site's NAT64 source prefix, if it cannot (unique local is fine: that
/// is what translation is for).
fn not_a_source(net: &Ipv6Network) -> Option<&'static str> {
    match unroutable(net) {
        Some(why) if !why.starts_with("a unique local") => Some(why),
        _ => None,
    }
}

pub fn validate(
    gre: &GreConfig,
    snat: &SnatConfig,
    services: &[ServiceConfig],
    issues: &mut Issues,
) {
    let troot = KeyPath::root().key("gre").key("tunnel");
    for (i, t) in gre.tunnel.iter().enumerate() {
        let carries = !t.ipv6_prefixes.is_empty() || !t.nat64_sources.is_empty();
        if carries && t.mtu.is_some_and(|m| m < 1280) {
            issues.push(
                troot.index(i).key("mtu"),
                format!(
                    "a tunnel carrying IPv6 needs an MTU of 1280 or more, not {}",
                    t.mtu()
                ),
                Some("IPv6 requires 1280 on every link (RFC 8200 §5)".into()),
            );
        }
    }
    validate_routed(gre, snat, services, issues);
    validate_nat64(gre, snat, issues);
}

/// One prefix of a tunnel's list at `at`: host bits, `refused` (why it cannot be one, with
/// `hint`), an overlap with one of `seen` (another tunnel's, `why_one`). True when it is fine.
fn prefix_ok(
    issues: &mut Issues,
    at: KeyPath,
    net: &Ipv6Network,
    refused: Option<&str>,
    hint: &str,
    seen: &[(Ipv6Network, &str)],
    why_one: &str,
) -> bool {
    if net.network() != net.ip() {
        issues.push(
            at,
            format!("{net} has host bits set"),
            Some(format!("write {}/{}", net.network(), net.prefix())),
        );
    } else if let Some(why) = refused {
        issues.push(at, format!("{net} is {why}"), Some(hint.into()));
    } else if let Some((other, name)) = seen
        .iter()
        .find(|(o, _)| o.contains(net.network()) || net.contains(o.network()))
    {
        issues.push(
            at,
            format!("{net} overlaps {other} of tunnel `{name}`"),
            Some(why_one.into()),
        );
    } else {
        return true;
    }
    false
}

/// `nat64_sources`: the central end of a tunnel a pool of IPv4 addresses lists; prefixes that
/// overlap no other tunnel's (the source names the tunnel the replies go back into).
fn validate_nat64(gre: &GreConfig, snat: &SnatConfig, issues: &mut Issues) {
    let troot = KeyPath::root().key("gre").key("tunnel");
    let mut seen: Vec<(Ipv6Network, &str)> = Vec::new();
    for (i, t) in gre.tunnel.iter().enumerate() {
        if t.nat64_sources.is_empty() {
            continue;
        }
        let at = troot.index(i).key("nat64_sources");
        if t.role == TunnelRole::Site {
            issues.push(
                at,
                "only the central end of a tunnel translates with NAT64",
                Some("list the site's prefixes at the central gateway's end of the tunnel".into()),
            );
            continue;
        }
        let pool = snat.pool.iter().find(|p| p.tunnels.contains(&t.name));
        if pool.is_none_or(|p| p.is_v6()) {
            issues.push(
                at.clone(),
                format!("tunnel `{}` is in no IPv4 pool to translate to", t.name),
                Some("list the tunnel in the `tunnels` of an IPv4 [[snat.pool]]".into()),
            );
        }
        for (j, net) in t.nat64_sources.iter().enumerate() {
            if prefix_ok(
                issues,
                at.clone().index(j),
                net,
                not_a_source(net),
                "list the site's unicast IPv6 prefixes",
                &seen,
                "the source prefix names the tunnel the replies go back into",
            ) {
                seen.push((*net, t.name.as_str()));
            }
        }
    }
}

/// `ipv6_prefixes`: global, overlapping no other tunnel's, holding none of the appliance's own
/// addresses.
fn validate_routed(
    gre: &GreConfig,
    snat: &SnatConfig,
    services: &[ServiceConfig],
    issues: &mut Issues,
) {
    let troot = KeyPath::root().key("gre").key("tunnel");
    let mut seen: Vec<(Ipv6Network, &str)> = Vec::new();
    let ours: Vec<(Ipv6Addr, &str)> = services
        .iter()
        .map(|s| (s.vip, "a service VIP"))
        .chain(
            snat.pool
                .iter()
                .flat_map(|p| p.addresses.iter().map(|a| (*a, "a pool address"))),
        )
        .filter_map(|(a, what)| match a {
            IpAddr::V6(a) => Some((a, what)),
            IpAddr::V4(_) => None,
        })
        .collect();
    for (i, t) in gre.tunnel.iter().enumerate() {
        for (j, net) in t.ipv6_prefixes.iter().enumerate() {
            let at = troot.index(i).key("ipv6_prefixes").index(j);
            if !prefix_ok(
                issues,
                at.clone(),
                net,
                unroutable(net),
                "list the site's global unicast IPv6 prefixes",
                &seen,
                "an IPv6 prefix is reached through one tunnel",
            ) {
                continue;
            }
            if let Some((a, what)) = ours.iter().find(|(a, _)| net.contains(*a)) {
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
