//! `[[gre.tunnel]]` and `[[snat.pool]]`: the SNAT gateway for remote sites that reach the
//! Internet through GRE tunnels to the appliance, and the pools FullNAT services take their
//! source addresses from.
//!
//! ```toml
//! [[gre.tunnel]]
//! name = "site-a"
//! local = "198.18.8.1"          # our endpoint (an address of a data interface)
//! remote = "198.18.8.10"        # the site gateway
//! key = 100                     # RFC 2890 key (optional)
//! mtu = 1400                    # largest inner packet (default: 1476, 1472 with a key)
//!
//! [[snat.pool]]
//! name = "internet"
//! addresses = ["198.19.0.1", "198.19.0.2"]
//! ports = "1024-65535"          # divided among the workers
//! tunnels = ["site-a"]          # tunnels whose users leave through this pool
//! sources = ["198.18.96.0/24"]  # untunnelled inside prefixes, too
//! timeouts = { tcp_established = "2h 4m", udp = "5m", icmp = "1m" }
//! ```
//!
//! A pool is IPv4 or IPv6 by its addresses (never both). An IPv6 pool serves IPv6 FullNAT
//! services only: the pools' inside prefixes are IPv4. A tunnel also carries IPv6 for the
//! global prefixes in its `ipv6_prefixes`, untranslated (`gateway6`).
//!
//! The other end, when the appliance is the site's gateway: the site's inside prefixes reach
//! everything outside them through the tunnel, and no pool names it.
//!
//! ```toml
//! [[gre.tunnel]]
//! name = "to-central"
//! role = "site"
//! local = "198.18.8.10"
//! remote = "198.18.8.1"         # the central SNAT gateway
//! key = 100
//! inside = ["198.18.64.0/24"]   # whose traffic to anywhere else goes into the tunnel
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use ipnetwork::Ipv4Network;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::dataplane::ServiceConfig;
use super::locate::KeyPath;
use super::types::ConfigDuration;
use super::validate::Issues;
use dataplane::conntrack::{Class, Timeouts};
use dataplane::gateway::{GRE_OVERHEAD, MAX_POOLS, MAX_SOURCES, MAX_TUNNELS};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GreConfig {
    #[serde(default)]
    pub tunnel: Vec<TunnelConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelConfig {
    pub name: String,
    pub local: Ipv4Addr,
    pub remote: Ipv4Addr,
    #[serde(default)]
    pub key: Option<u32>,
    #[serde(default)]
    pub mtu: Option<u16>,
    #[serde(default)]
    pub role: TunnelRole,
    /// A site tunnel's inside prefixes.
    #[serde(default)]
    pub inside: Vec<Ipv4Network>,
    /// Global IPv6 prefixes carried untranslated (see `gateway6`).
    #[serde(default)]
    pub ipv6_prefixes: Vec<ipnetwork::Ipv6Network>,
    /// The site's IPv6 prefixes translated with NAT64 to the tunnel's pool (see `gateway6`).
    #[serde(default)]
    pub nat64_sources: Vec<ipnetwork::Ipv6Network>,
}

/// Which end of the tunnel this appliance is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelRole {
    /// The SNAT gateway the sites reach the Internet through (a pool names the tunnel).
    #[default]
    Central,
    /// A site's gateway: its `inside` prefixes' traffic to anywhere else goes to `remote`.
    Site,
}

impl TunnelConfig {
    /// The MTU, by default what a 1500-byte underlay leaves after the outer headers.
    pub fn mtu(&self) -> u16 {
        self.mtu
            .unwrap_or_else(|| 1500 - GRE_OVERHEAD as u16 - if self.key.is_some() { 4 } else { 0 })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnatConfig {
    #[serde(default)]
    pub pool: Vec<PoolConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    pub name: String,
    /// All IPv4 or all IPv6.
    pub addresses: Vec<IpAddr>,
    #[serde(default)]
    pub ports: PortRange,
    #[serde(default)]
    pub tunnels: Vec<String>,
    #[serde(default)]
    pub sources: Vec<Ipv4Network>,
    #[serde(default)]
    pub timeouts: PoolTimeouts,
}

impl PoolConfig {
    /// Whether this is an IPv6 pool (its first address is; validation keeps them all alike).
    pub fn is_v6(&self) -> bool {
        self.addresses.first().is_some_and(IpAddr::is_ipv6)
    }

    /// The IPv4 addresses (all of them, in an IPv4 pool).
    pub fn v4(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.addresses.iter().filter_map(|a| match a {
            IpAddr::V4(a) => Some(*a),
            IpAddr::V6(_) => None,
        })
    }
}

/// A pool's flow timeouts. The defaults are the minimums of RFC 5382 (TCP: established 2 h
/// 4 min, transitory 4 min), RFC 4787 (UDP: 5 min recommended) and RFC 5508 (ICMP: 60 s).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolTimeouts {
    #[serde(default = "transitory")]
    pub tcp_syn: ConfigDuration,
    #[serde(default = "established")]
    pub tcp_established: ConfigDuration,
    #[serde(default = "transitory")]
    pub tcp_fin: ConfigDuration,
    #[serde(default = "transitory")]
    pub tcp_time_wait: ConfigDuration,
    #[serde(default = "udp")]
    pub udp: ConfigDuration,
    #[serde(default = "icmp")]
    pub icmp: ConfigDuration,
}

fn transitory() -> ConfigDuration {
    ConfigDuration::from_secs(240)
}

fn established() -> ConfigDuration {
    ConfigDuration::from_secs(7440)
}

fn udp() -> ConfigDuration {
    ConfigDuration::from_secs(300)
}

fn icmp() -> ConfigDuration {
    ConfigDuration::from_secs(60)
}

impl Default for PoolTimeouts {
    fn default() -> Self {
        PoolTimeouts {
            tcp_syn: transitory(),
            tcp_established: established(),
            tcp_fin: transitory(),
            tcp_time_wait: transitory(),
            udp: udp(),
            icmp: icmp(),
        }
    }
}

/// Longest timeout: the conntrack clock is milliseconds on a wrapping 32-bit counter.
const MAX_TIMEOUT_MS: u128 = (u32::MAX / 2) as u128;

impl PoolTimeouts {
    fn named(&self) -> [(&'static str, ConfigDuration, Class); 6] {
        [
            ("tcp_syn", self.tcp_syn, Class::TcpSyn),
            (
                "tcp_established",
                self.tcp_established,
                Class::TcpEstablished,
            ),
            ("tcp_fin", self.tcp_fin, Class::TcpFin),
            ("tcp_time_wait", self.tcp_time_wait, Class::TcpTimeWait),
            ("udp", self.udp, Class::Udp),
            ("icmp", self.icmp, Class::Icmp),
        ]
    }

    /// The conntrack's form (milliseconds per class).
    pub fn to_timeouts(self) -> Timeouts {
        let mut t = Timeouts::default();
        for (_, d, class) in self.named() {
            t.ms[class as usize] = d.get().as_millis().min(MAX_TIMEOUT_MS) as u32;
        }
        t
    }
}

/// `"lo-hi"`: the ports a pool hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl Default for PortRange {
    /// Above the well-known ports, which some servers treat specially as a source.
    fn default() -> Self {
        PortRange {
            lo: 1024,
            hi: 65535,
        }
    }
}

impl PortRange {
    pub fn len(&self) -> u32 {
        u32::from(self.hi).saturating_sub(u32::from(self.lo)) + 1
    }

    pub fn is_empty(&self) -> bool {
        self.hi < self.lo
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.lo, self.hi)
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = PortRange;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port range such as \"1024-65535\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortRange, E> {
                let bad = || {
                    E::custom(format!(
                        "invalid port range \"{v}\"; write it as \"LOW-HIGH\", e.g. \"1024-65535\""
                    ))
                };
                let (lo, hi) = v.split_once('-').ok_or_else(bad)?;
                let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
                let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
                Ok(PortRange { lo, hi })
            }
        }
        d.deserialize_str(V)
    }
}

impl Serialize for PortRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Lines of `applianced check`'s summary.
pub fn summary(s: &mut String, gre: &GreConfig, snat: &SnatConfig) {
    use std::fmt::Write;
    if !gre.tunnel.is_empty() {
        let _ = writeln!(s, "gre         {} tunnel(s)", gre.tunnel.len());
        for t in &gre.tunnel {
            let inside: Vec<String> = t.inside.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                s,
                "  {:<12} {} -> {}{}, mtu {}{}",
                t.name,
                t.remote,
                t.local,
                t.key.map(|k| format!(" key {k}")).unwrap_or_default(),
                t.mtu(),
                match t.role {
                    TunnelRole::Central => String::new(),
                    TunnelRole::Site => format!(", site for {}", inside.join(" ")),
                }
            );
            if !t.ipv6_prefixes.is_empty() {
                let v6: Vec<String> = t.ipv6_prefixes.iter().map(ToString::to_string).collect();
                let _ = writeln!(s, "  {:<12} IPv6 routed: {}", "", v6.join(" "));
            }
        }
    }
    if !snat.pool.is_empty() {
        let _ = writeln!(s, "snat        {} pool(s)", snat.pool.len());
        for p in &snat.pool {
            let _ = writeln!(
                s,
                "  {:<12} {} address(es), ports {}, {} tunnel(s), {} source prefix(es)",
                p.name,
                p.addresses.len(),
                p.ports,
                p.tunnels.len(),
                p.sources.len()
            );
        }
    }
}

fn unicast(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_loopback())
}

fn unicast_ip(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => unicast(a),
        IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast() || a.is_loopback()),
    }
}

fn host_bits(issues: &mut Issues, at: KeyPath, net: &Ipv4Network) {
    if net.network() != net.ip() {
        issues.push(
            at,
            format!("{net} has host bits set"),
            Some(format!("write {}/{}", net.network(), net.prefix())),
        );
    }
}

/// A site tunnel's inside prefixes may overlap nothing else inside: which tunnel (or pool)
/// takes an inside host's traffic must not depend on the order of the file.
fn inside_overlaps(gre: &GreConfig, snat: &SnatConfig, issues: &mut Issues) {
    let mut seen: Vec<(Ipv4Network, String)> = Vec::new();
    for pool in &snat.pool {
        for net in &pool.sources {
            seen.push((*net, format!("a source of pool `{}`", pool.name)));
        }
    }
    let troot = KeyPath::root().key("gre").key("tunnel");
    for (i, t) in gre.tunnel.iter().enumerate() {
        for (j, net) in t.inside.iter().enumerate() {
            if let Some((other, what)) = seen
                .iter()
                .find(|(o, _)| o.contains(net.network()) || net.contains(o.network()))
            {
                issues.push(
                    troot.index(i).key("inside").index(j),
                    format!("{net} overlaps {other}, {what}"),
                    Some("an inside host leaves through one tunnel or pool".into()),
                );
            }
            seen.push((*net, format!("an inside prefix of tunnel `{}`", t.name)));
        }
    }
}

pub fn validate(
    gre: &GreConfig,
    snat: &SnatConfig,
    services: &[ServiceConfig],
    have_dataplane: bool,
    workers: u16,
    issues: &mut Issues,
) {
    let troot = KeyPath::root().key("gre").key("tunnel");
    let proot = KeyPath::root().key("snat").key("pool");
    if !have_dataplane {
        if !gre.tunnel.is_empty() {
            issues.push(
                troot.index(0),
                "GRE tunnels need the data plane",
                Some("add a [dataplane] section naming the data interfaces".into()),
            );
        }
        if !snat.pool.is_empty() {
            issues.push(
                proot.index(0),
                "SNAT pools need the data plane",
                Some("add a [dataplane] section naming the data interfaces".into()),
            );
        }
    }
    if gre.tunnel.len() > MAX_TUNNELS {
        issues.push(
            troot.index(MAX_TUNNELS),
            format!("at most {MAX_TUNNELS} tunnels"),
            None,
        );
    }
    let mut names = BTreeSet::new();
    let mut endpoints = BTreeMap::new();
    for (i, t) in gre.tunnel.iter().enumerate() {
        let p = troot.index(i);
        if t.name.is_empty() || t.name.chars().any(char::is_whitespace) {
            issues.push(
                p.key("name"),
                "a tunnel name is a word without spaces",
                None,
            );
        } else if !names.insert(t.name.as_str()) {
            issues.push(
                p.key("name"),
                format!("tunnel name `{}` is used twice", t.name),
                None,
            );
        }
        for (k, a) in [("local", t.local), ("remote", t.remote)] {
            if !unicast(a) {
                issues.push(p.key(k), format!("{a} cannot be a tunnel endpoint"), None);
            }
        }
        if let Some(other) = endpoints.insert((t.remote, t.key), &t.name) {
            issues.push(
                p.key("remote"),
                format!(
                    "tunnel `{other}` already has remote {} and {}",
                    t.remote,
                    t.key.map_or("no key".to_string(), |k| format!("key {k}"))
                ),
                Some("give one of them a different key".into()),
            );
        }
        if t.mtu.is_some_and(|m| !(576..=9000).contains(&m)) {
            issues.push(
                p.key("mtu"),
                "mtu must be 576 to 9000",
                Some("the largest inner packet: the underlay's MTU less 24 (28 with a key)".into()),
            );
        }
        match (t.role, t.inside.is_empty()) {
            (TunnelRole::Site, true) => issues.push(
                p.key("role"),
                "a site tunnel needs the inside prefixes it carries",
                Some("add `inside = [\"PREFIX\", ...]`".into()),
            ),
            (TunnelRole::Central, false) => issues.push(
                p.key("inside"),
                "only a site tunnel carries inside prefixes",
                Some("add `role = \"site\"` if this appliance is the site's gateway".into()),
            ),
            _ => {}
        }
        for (j, net) in t.inside.iter().enumerate() {
            host_bits(issues, p.key("inside").index(j), net);
        }
    }
    inside_overlaps(gre, snat, issues);
    super::gateway6::validate(gre, snat, services, issues);

    if snat.pool.len() > MAX_POOLS {
        issues.push(
            proot.index(MAX_POOLS),
            format!("at most {MAX_POOLS} pools"),
            None,
        );
    }
    let tunnel_names: Vec<&str> = gre.tunnel.iter().map(|t| t.name.as_str()).collect();
    let site_tunnels: Vec<&str> = gre
        .tunnel
        .iter()
        .filter(|t| t.role == TunnelRole::Site)
        .map(|t| t.name.as_str())
        .collect();
    let vips: BTreeSet<IpAddr> = services.iter().map(|s| s.vip).collect();
    let mut pool_names = BTreeSet::new();
    let mut addr_owner: BTreeMap<IpAddr, &str> = BTreeMap::new();
    let mut tunnel_owner: BTreeMap<&str, &str> = BTreeMap::new();
    for (i, pool) in snat.pool.iter().enumerate() {
        let p = proot.index(i);
        if pool.name.is_empty() || pool.name.chars().any(char::is_whitespace) {
            issues.push(p.key("name"), "a pool name is a word without spaces", None);
        } else if !pool_names.insert(pool.name.as_str()) {
            issues.push(
                p.key("name"),
                format!("pool name `{}` is used twice", pool.name),
                None,
            );
        }
        if pool.addresses.is_empty() {
            issues.push(
                p.key("addresses"),
                "a pool needs at least one address",
                None,
            );
        }
        let v6 = pool.is_v6();
        for (j, a) in pool.addresses.iter().enumerate() {
            let ap = p.key("addresses").index(j);
            if a.is_ipv6() != v6 {
                issues.push(
                    ap,
                    format!(
                        "{a} is {} but the pool's first address {} is {}",
                        super::dataplane::family(*a),
                        pool.addresses[0],
                        super::dataplane::family(pool.addresses[0])
                    ),
                    Some("a pool is of one family: make two pools".into()),
                );
            } else if !unicast_ip(*a) {
                issues.push(ap, format!("{a} cannot be a pool address"), None);
            } else if let Some(other) = addr_owner.insert(*a, &pool.name) {
                issues.push(
                    ap,
                    format!("{a} is already an address of pool `{other}`"),
                    None,
                );
            } else if vips.contains(a) {
                issues.push(
                    ap,
                    format!("{a} is a service VIP"),
                    Some("a pool address must be only the pool's: replies to it are looked up by port".into()),
                );
            }
        }
        let r = pool.ports;
        if r.lo == 0 || r.is_empty() || r.len() < u32::from(workers.max(1)) {
            issues.push(
                p.key("ports"),
                format!(
                    "port range {r} must be 1 to 65535, low before high, with a port for each of the {} worker(s)",
                    workers.max(1)
                ),
                Some("the default is \"1024-65535\"".into()),
            );
        }
        if v6 && !pool.tunnels.is_empty() {
            issues.push(
                p.key("tunnels"),
                "an IPv6 pool cannot serve GRE tunnels",
                Some(
                    "the SNAT gateway (GRE tunnels, inside prefixes) is IPv4 for now; an IPv6 \
                     pool serves IPv6 fullnat services: remove `tunnels` or use an IPv4 pool"
                        .into(),
                ),
            );
        }
        if v6 && !pool.sources.is_empty() {
            issues.push(
                p.key("sources"),
                "an IPv6 pool cannot translate IPv4 inside prefixes",
                Some(
                    "the SNAT gateway is IPv4 for now; an IPv6 pool serves IPv6 fullnat \
                     services: remove `sources` or use an IPv4 pool"
                        .into(),
                ),
            );
        }
        for (j, name) in pool.tunnels.iter().enumerate() {
            let tp = p.key("tunnels").index(j);
            if v6 {
                // Said once above.
            } else if site_tunnels.contains(&name.as_str()) {
                issues.push(
                    tp,
                    format!("tunnel `{name}` is a site tunnel"),
                    Some("its traffic is translated at the central end; remove it here".into()),
                );
            } else if !tunnel_names.contains(&name.as_str()) {
                let hint = super::suggest::closest(name, tunnel_names.iter().copied())
                    .map(|c| format!("did you mean `{c}`?"))
                    .unwrap_or_else(|| "declare it as a [[gre.tunnel]]".into());
                issues.push(tp, format!("unknown tunnel `{name}`"), Some(hint));
            } else if let Some(other) = tunnel_owner.insert(name, &pool.name) {
                issues.push(
                    tp,
                    format!("tunnel `{name}` already uses pool `{other}`"),
                    Some("a tunnel's users leave through one pool".into()),
                );
            }
        }
        for (j, net) in pool.sources.iter().enumerate() {
            host_bits(issues, p.key("sources").index(j), net);
        }
        for (k, d, _) in pool.timeouts.named() {
            let ms = d.get().as_millis();
            if !(1000..=MAX_TIMEOUT_MS).contains(&ms) {
                issues.push(
                    p.key("timeouts").key(k),
                    "a timeout must be 1s to 24 days",
                    None,
                );
            }
        }
    }

    let sources: usize = snat.pool.iter().map(|p| p.sources.len()).sum::<usize>()
        + gre.tunnel.iter().map(|t| t.inside.len()).sum::<usize>();
    if sources > MAX_SOURCES {
        issues.push(
            proot,
            format!(
                "{sources} inside prefixes; at most {MAX_SOURCES} in all pools' sources and \
                 site tunnels together"
            ),
            None,
        );
    }
    let pools: Vec<&str> = snat.pool.iter().map(|p| p.name.as_str()).collect();
    for (si, s) in services.iter().enumerate() {
        let sp = KeyPath::root().key("service").index(si);
        match (s.mode, s.pool.as_deref()) {
            (super::dataplane::Mode::Fullnat, None) => issues.push(
                sp.key("mode"),
                "a fullnat service needs a pool",
                Some(if super::dataplane::is_nat64(s) {
                    super::dataplane::NAT64_HINT.into()
                } else {
                    "add `pool = \"NAME\"` naming a [[snat.pool]]".into()
                }),
            ),
            (m, Some(_)) if m != super::dataplane::Mode::Fullnat => issues.push(
                sp.key("pool"),
                "only a fullnat service takes a pool",
                Some("add `mode = \"fullnat\"` or remove `pool`".into()),
            ),
            (_, Some(name)) if !pools.contains(&name) => {
                let hint = super::suggest::closest(name, pools.iter().copied())
                    .map(|c| format!("did you mean `{c}`?"))
                    .unwrap_or_else(|| "declare it as a [[snat.pool]]".into());
                issues.push(sp.key("pool"), format!("unknown pool `{name}`"), Some(hint));
            }
            (_, Some(name)) => {
                let pool = snat.pool.iter().find(|p| p.name == name);
                if let Some(pool) = pool.filter(|p| !p.addresses.is_empty()) {
                    let nat64 = super::dataplane::is_nat64(s);
                    if nat64 && pool.is_v6() {
                        issues.push(
                            sp.key("pool"),
                            format!(
                                "pool `{name}` is IPv6 but this NAT64 service (IPv6 VIP, IPv4 \
                                 backends) sends from IPv4 pool addresses"
                            ),
                            Some(super::dataplane::NAT64_HINT.into()),
                        );
                    } else if !nat64 && pool.is_v6() != s.vip.is_ipv6() {
                        issues.push(
                            sp.key("pool"),
                            format!(
                                "pool `{name}` is {} but the VIP {} is {}",
                                super::dataplane::family(pool.addresses[0]),
                                s.vip,
                                super::dataplane::family(s.vip)
                            ),
                            Some(super::dataplane::family_hint(s.vip)),
                        );
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse_str;
    use std::path::Path;

    const BASE: &str =
        "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth0\"]\nworkers = 2\nqueues = 2\n\n";

    #[test]
    fn a_valid_gateway() {
        let text = format!(
            "{BASE}[[gre.tunnel]]\nname = \"a\"\nlocal = \"198.18.8.1\"\nremote = \"198.18.8.10\"\nkey = 7\n\
             [[gre.tunnel]]\nname = \"b\"\nlocal = \"198.18.8.1\"\nremote = \"198.18.8.20\"\nmtu = 1400\n\
             [[snat.pool]]\nname = \"out\"\naddresses = [\"198.19.0.1\"]\nports = \"2000-2999\"\n\
             tunnels = [\"a\", \"b\"]\nsources = [\"198.18.96.0/24\"]\ntimeouts = {{ udp = \"2m\" }}\n\
             [[snat.pool]]\nname = \"lb\"\naddresses = [\"198.19.0.9\"]\n\
             [[service]]\nname = \"web\"\nvip = \"198.18.1.1\"\nport = 80\nprotocol = \"tcp\"\n\
             mode = \"fullnat\"\npool = \"lb\"\nbackends = [{{ address = \"198.18.2.1\", port = 8080 }}]\n"
        );
        let cfg = parse_str(&text, Path::new("t.toml")).unwrap();
        assert_eq!(cfg.gre.tunnel[0].mtu(), 1472);
        assert_eq!(cfg.gre.tunnel[1].mtu(), 1400);
        let p = &cfg.snat.pool[0];
        assert_eq!((p.ports.lo, p.ports.hi), (2000, 2999));
        let t = p.timeouts.to_timeouts();
        assert_eq!(
            t.ms,
            [240_000, 7_440_000, 240_000, 240_000, 120_000, 60_000]
        );
        assert_eq!(cfg.snat.pool[1].ports.len(), 64512);
    }

    #[test]
    fn a_site_gateway() {
        let text = format!(
            "{BASE}[[gre.tunnel]]\nname = \"to-central\"\nrole = \"site\"\nlocal = \"198.18.8.10\"\n\
             remote = \"198.18.8.1\"\nkey = 100\ninside = [\"198.18.64.0/24\", \"198.18.65.0/24\"]\n\
             [[gre.tunnel]]\nname = \"site-b\"\nlocal = \"198.18.8.10\"\nremote = \"198.18.8.20\"\n\
             [[snat.pool]]\nname = \"out\"\naddresses = [\"198.19.0.1\"]\ntunnels = [\"site-b\"]\n"
        );
        let cfg = parse_str(&text, Path::new("t.toml")).unwrap();
        let t = &cfg.gre.tunnel[0];
        assert_eq!(t.role, super::TunnelRole::Site);
        assert_eq!(t.inside.len(), 2);
        assert_eq!(cfg.gre.tunnel[1].role, super::TunnelRole::Central);
        let mut s = String::new();
        super::summary(&mut s, &cfg.gre, &cfg.snat);
        assert!(
            s.contains("to-central   198.18.8.1 -> 198.18.8.10 key 100, mtu 1472, site for 198.18.64.0/24 198.18.65.0/24"),
            "{s}"
        );
    }
}
