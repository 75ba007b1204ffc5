//! `[dataplane]` and `[[service]]`: the AF_XDP fast path and the services it balances.
//!
//! ```toml
//! [dataplane]
//! interfaces = ["eth0", "eth1"]   # data interfaces, declared under [interfaces]
//! workers = 2                     # worker threads, one per core
//! queues = 2                      # queues per interface; queue q belongs to worker q % workers
//!
//! [[service]]
//! name = "web"
//! vip = "198.18.1.1"
//! port = 80
//! protocol = "tcp"                # tcp, udp or icmp (echo; port 0)
//! scheduler = "maglev"            # maglev, round_robin or least_conn
//! persistence = "0s"              # source-address persistence timeout
//! mode = "nat"                    # nat, fullnat (with `pool`: see gateway.rs), dr or tunnel
//! tunnel_source = "198.18.2.254"  # tunnel mode: outer source (default: the route's source)
//! backends = [
//!   { address = "198.18.2.1", port = 8080, weight = 1, check = "web1" },
//! ]
//! ```
//!
//! A service is IPv4 or IPv6 by its VIP; its backends and FullNAT pool are of the same family,
//! except NAT64: an IPv6 VIP with IPv4 backends only, `mode = "fullnat"` and an IPv4 pool
//! (`[dataplane] nat64_prefix`, RFC 6052, writes routers' IPv4 addresses in IPv6). An IPv6
//! service cannot use tunnel mode (IPv6 in IPv6, RFC 2473, not built).
//!
//! ```toml
//! [dataplane]
//! nat64_prefix = "64:ff9b::/96"   # the default (the Well-Known Prefix)
//!
//! [[service]]
//! name = "web64"
//! vip = "2001:db8:1::64"
//! port = 80
//! protocol = "tcp"
//! mode = "fullnat"
//! pool = "v4pool"                 # an IPv4 [[snat.pool]]
//! backends = [{ address = "198.18.2.1", port = 8080 }]
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::interfaces::{check_ref, InterfaceConfig};
use super::locate::KeyPath;
use super::types::ConfigDuration;
use super::validate::Issues;
use dataplane::nat64::Pref64;
use dataplane::snapshot::Scheduler;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataplaneConfig {
    pub interfaces: Vec<String>,
    #[serde(default = "one")]
    pub workers: u16,
    /// Queues of each data interface; at least `workers`, so every worker can transmit on every
    /// interface through a socket of its own.
    #[serde(default = "one_u32")]
    pub queues: u32,
    /// Conntrack entries per worker, allocated at start.
    #[serde(default = "default_conntrack")]
    pub conntrack_per_worker: u32,
    /// IPv6 conntrack entries per worker (a table of their own), allocated at start.
    #[serde(default = "default_conntrack_v6")]
    pub conntrack_v6_per_worker: u32,
    /// Attach in generic (skb) mode even where the driver has native XDP.
    #[serde(default)]
    pub generic_xdp: bool,
    /// Seed of Maglev's tables and client hash. Nodes with the same seed and services send a
    /// flow to the same backend, whatever their start order or worker count: what an ECMP
    /// cluster of direct-return nodes needs. Change it only on every node at once.
    #[serde(default)]
    pub cluster_seed: u64,
    /// Established-flow offload: `xdp` (the default) forwards established flows inside the XDP
    /// program, `off` leaves every packet to the workers.
    #[serde(default)]
    pub offload: Offload,
    /// Rules the offload's table may hold (each flow direction is one); by default two per
    /// conntrack entry of every worker. Memory is taken as rules are added.
    #[serde(default)]
    pub offload_entries: Option<u32>,
    /// NAT64 (RFC 6052 Pref64::/n): where routers' IPv4 addresses are written when their ICMP
    /// errors about a NAT64 flow go to an IPv6 client. By default the Well-Known Prefix.
    #[serde(default)]
    pub nat64_prefix: Nat64Prefix,
}

/// `[dataplane] nat64_prefix`, as `"64:ff9b::/96"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Nat64Prefix(pub Pref64);

impl Serialize for Nat64Prefix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Nat64Prefix {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<Pref64>().map(Nat64Prefix).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{s}` is not a NAT64 prefix: {e} (e.g. \"64:ff9b::/96\" or \"2001:db8:64::/96\")"
            ))
        })
    }
}

/// The NAT64 prefix of a configuration (the Well-Known Prefix without a data plane).
pub fn nat64_prefix(cfg: &super::Config) -> Pref64 {
    cfg.dataplane
        .as_ref()
        .map_or(Pref64::WELL_KNOWN, |d| d.nat64_prefix.0)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Offload {
    #[default]
    Xdp,
    Off,
}

impl DataplaneConfig {
    /// The offload table's size: as configured, else two rules per conntrack entry.
    pub fn offload_entries(&self) -> u32 {
        self.offload_entries.unwrap_or_else(|| {
            (u64::from(self.conntrack_per_worker) * u64::from(self.workers) * 2)
                .min(u64::from(u32::MAX)) as u32
        })
    }

    /// Whether `other` differs only in what a reload applies in place (`cluster_seed` and
    /// `nat64_prefix`, which live in the snapshot); the rest is what the workers and programs
    /// were built from.
    pub fn same_at_start(&self, other: &DataplaneConfig) -> bool {
        DataplaneConfig {
            cluster_seed: other.cluster_seed,
            nat64_prefix: other.nat64_prefix,
            ..self.clone()
        } == *other
    }
}

fn one() -> u16 {
    1
}

fn one_u32() -> u32 {
    1
}

fn default_conntrack() -> u32 {
    1 << 18
}

/// As the pure core's default: IPv6 tables start smaller, as IPv6 traffic usually is.
fn default_conntrack_v6() -> u32 {
    dataplane::pipeline::PipelineConfig::default().conntrack_v6_capacity
}

/// The pipeline configuration whose tables `dp` asks for (the start allocates them).
pub fn table_config(dp: &DataplaneConfig) -> dataplane::pipeline::PipelineConfig {
    dataplane::pipeline::PipelineConfig {
        conntrack_capacity: dp.conntrack_per_worker,
        conntrack_v6_capacity: dp.conntrack_v6_per_worker,
        ..Default::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
        }
    }

    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Icmp => 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub name: String,
    /// IPv4 or IPv6: the service's family.
    pub vip: IpAddr,
    #[serde(default)]
    pub port: u16,
    pub protocol: Protocol,
    #[serde(default = "default_scheduler")]
    pub scheduler: Scheduler,
    #[serde(default)]
    pub persistence: Option<ConfigDuration>,
    /// NAT mode (backends route replies through us) or FullNAT (the source becomes an address
    /// of `pool`, so backends need no route back to clients).
    #[serde(default)]
    pub mode: Mode,
    /// The `[[snat.pool]]` of a FullNAT service.
    #[serde(default)]
    pub pool: Option<String>,
    /// Tunnel mode: the outer source address; by default the preferred source of the kernel's
    /// route towards each backend.
    #[serde(default)]
    pub tunnel_source: Option<IpAddr>,
    pub backends: Vec<BackendConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Nat,
    Fullnat,
    /// Direct routing: only the MACs change; backends on a connected segment hold the VIP.
    Dr,
    /// IP in IP (RFC 2003) to backends that hold the VIP and decapsulate.
    Tunnel,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Nat => "nat",
            Mode::Fullnat => "fullnat",
            Mode::Dr => "dr",
            Mode::Tunnel => "tunnel",
        }
    }

    /// Whether backends answer clients themselves (direct server return).
    pub fn direct(self) -> bool {
        matches!(self, Mode::Dr | Mode::Tunnel)
    }
}

fn default_scheduler() -> Scheduler {
    Scheduler::Maglev
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// Of the VIP's family.
    pub address: IpAddr,
    #[serde(default)]
    pub port: u16,
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// A health check's name; the backend gets new flows only while that check says up.
    #[serde(default)]
    pub check: Option<String>,
}

fn default_weight() -> u32 {
    1
}

/// Largest weight: keeps Maglev and WRR arithmetic far from overflow.
pub const MAX_WEIGHT: u32 = 10_000;
/// Largest number of workers (the conntrack and counters are per worker).
pub const MAX_WORKERS: u16 = 64;

/// The machine's memory, from `/proc/meminfo`, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct HostMemory {
    pub total: u64,
    pub available: u64,
}

/// `None` where `/proc/meminfo` cannot be read or lacks the fields.
pub fn host_memory() -> Option<HostMemory> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    };
    Some(HostMemory {
        total: field("MemTotal:")?,
        available: field("MemAvailable:")?,
    })
}

/// The workers' tables must fit in the machine's memory (`total` bytes): they are allocated
/// and filled at start, and more than the machine has can never start. (Whether they fit in
/// what is free is for the start to say: a running data plane's own tables are not free.)
fn check_table_memory(dp: &DataplaneConfig, total: u64, issues: &mut Issues) {
    let need =
        dataplane::pipeline::Pipeline::table_bytes(&table_config(dp)) * u64::from(dp.workers);
    if need > total {
        issues.push(
            KeyPath::root().key("dataplane").key("conntrack_per_worker"),
            format!(
                "{} IPv4 and {} IPv6 flows per worker for {} worker(s) need {} MiB of tables, \
                 more than this machine's {} MiB of memory",
                dp.conntrack_per_worker,
                dp.conntrack_v6_per_worker,
                dp.workers,
                need >> 20,
                total >> 20
            ),
            Some(format!(
                "at most about {} flows per worker fit",
                max_flows_within(total / u64::from(dp.workers.max(1)))
            )),
        );
    }
}

/// The largest power of two of flows whose tables take at most `bytes`.
fn max_flows_within(bytes: u64) -> u32 {
    let mut n: u32 = 16;
    while n < (1 << 26) {
        // The IPv6 table at its smallest: the hint is about the IPv4 one.
        let cfg = dataplane::pipeline::PipelineConfig {
            conntrack_capacity: n * 2,
            conntrack_v6_capacity: 16,
            ..Default::default()
        };
        if dataplane::pipeline::Pipeline::table_bytes(&cfg) > bytes {
            break;
        }
        n *= 2;
    }
    n
}

pub fn validate(
    dp: Option<&DataplaneConfig>,
    services: &[ServiceConfig],
    ifaces: &BTreeMap<String, InterfaceConfig>,
    issues: &mut Issues,
) {
    if let Some(dp) = dp {
        let root = KeyPath::root().key("dataplane");
        if dp.interfaces.is_empty() {
            issues.push(
                root.key("interfaces"),
                "the data plane needs at least one interface",
                Some("list interfaces declared under [interfaces]".into()),
            );
        }
        let mut seen = BTreeSet::new();
        for (i, name) in dp.interfaces.iter().enumerate() {
            let path = root.key("interfaces").index(i);
            check_ref(ifaces, name, path.clone(), issues);
            if !seen.insert(name) {
                issues.push(path, format!("interface `{name}` is listed twice"), None);
            }
        }
        if dp.workers == 0 || dp.workers > MAX_WORKERS {
            issues.push(
                root.key("workers"),
                format!("workers must be 1 to {MAX_WORKERS}"),
                None,
            );
        }
        if dp.queues < u32::from(dp.workers) || dp.queues > 256 {
            issues.push(
                root.key("queues"),
                format!(
                    "{} queue(s) for {} worker(s): each worker needs a queue of its own on every interface",
                    dp.queues, dp.workers
                ),
                Some(format!(
                    "set queues to at least {} (and give the interfaces that many queues)",
                    dp.workers
                )),
            );
        }
        if dp.conntrack_per_worker < 16 || dp.conntrack_per_worker > (1 << 26) {
            issues.push(
                root.key("conntrack_per_worker"),
                "conntrack_per_worker must be 16 to 67108864",
                None,
            );
        } else if dp.conntrack_v6_per_worker < 16 || dp.conntrack_v6_per_worker > (1 << 24) {
            issues.push(
                root.key("conntrack_v6_per_worker"),
                "conntrack_v6_per_worker must be 16 to 16777216",
                None,
            );
        } else if let Some(mem) = host_memory() {
            check_table_memory(dp, mem.total, issues);
        }
        if let Some(n) = dp.offload_entries {
            if !(1024..=(1 << 28)).contains(&n) {
                issues.push(
                    root.key("offload_entries"),
                    "offload_entries must be 1024 to 268435456",
                    Some(format!(
                        "leave it out for two rules per conntrack entry ({})",
                        DataplaneConfig {
                            offload_entries: None,
                            ..dp.clone()
                        }
                        .offload_entries()
                    )),
                );
            }
        }
    } else if !services.is_empty() {
        issues.push(
            KeyPath::root().key("service").index(0),
            "services need the data plane",
            Some("add a [dataplane] section naming the data interfaces".into()),
        );
    }
    let mut names = BTreeSet::new();
    let mut endpoints = BTreeMap::new();
    for (si, s) in services.iter().enumerate() {
        let root = KeyPath::root().key("service").index(si);
        if !names.insert(s.name.as_str()) {
            issues.push(
                root.key("name"),
                format!("service name `{}` is used twice", s.name),
                None,
            );
        }
        if s.protocol == Protocol::Icmp && s.port != 0 {
            issues.push(
                root.key("port"),
                "an ICMP service has no port",
                Some("remove `port` or set it to 0".into()),
            );
        }
        if s.protocol != Protocol::Icmp && s.port == 0 {
            issues.push(root.key("port"), "a TCP or UDP service needs a port", None);
        }
        if let Some(other) = endpoints.insert((s.vip, s.port, s.protocol.number()), &s.name) {
            issues.push(
                root.key("vip"),
                format!(
                    "{}:{}/{:?} is already service `{other}`",
                    s.vip, s.port, s.protocol
                ),
                None,
            );
        }
        if !unicast(s.vip) {
            issues.push(root.key("vip"), format!("{} cannot be a VIP", s.vip), None);
        }
        if let Some(t) = s.tunnel_source.filter(|t| t.is_ipv6() != s.vip.is_ipv6()) {
            issues.push(
                root.key("tunnel_source"),
                format!(
                    "tunnel source {t} is {} but the VIP {} is {}",
                    family(t),
                    s.vip,
                    family(s.vip)
                ),
                Some(
                    "the outer header is of the VIP's family: IP in IP (RFC 2003) for IPv4, \
                     IPv6 in IPv6 (RFC 2473) for IPv6"
                        .into(),
                ),
            );
        }
        if s.persistence
            .is_some_and(|p| p.get().as_millis() > u128::from(u32::MAX / 2))
        {
            issues.push(
                root.key("persistence"),
                "persistence must be under 24 days",
                None,
            );
        }
        if s.tunnel_source.is_some() && s.mode != Mode::Tunnel {
            issues.push(
                root.key("tunnel_source"),
                "only a tunnel-mode service has a tunnel source",
                Some("add `mode = \"tunnel\"` or remove `tunnel_source`".into()),
            );
        }
        if s.tunnel_source
            .is_some_and(|a| !unicast(a) || a.is_loopback())
        {
            issues.push(
                root.key("tunnel_source"),
                "the tunnel source must be a unicast address of this host",
                None,
            );
        }
        let nat64 = is_nat64(s);
        if nat64 && s.mode != Mode::Fullnat {
            issues.push(
                root.key("mode"),
                format!(
                    "an IPv6 VIP with IPv4 backends is NAT64, which a {} service cannot do",
                    s.mode.name()
                ),
                Some(NAT64_HINT.into()),
            );
        }
        let mut seen = BTreeSet::new();
        for (bi, b) in s.backends.iter().enumerate() {
            let path = root.key("backends").index(bi);
            if !seen.insert((b.address, b.port)) {
                issues.push(
                    path.clone(),
                    format!("backend {}:{} is listed twice", b.address, b.port),
                    None,
                );
            }
            if b.weight > MAX_WEIGHT {
                issues.push(
                    path.key("weight"),
                    format!("weight must be 0 to {MAX_WEIGHT}"),
                    None,
                );
            }
            if s.protocol == Protocol::Icmp && b.port != 0 {
                issues.push(path.key("port"), "an ICMP backend has no port", None);
            }
            if s.mode.direct() {
                if b.port != 0 && b.port != s.port {
                    issues.push(
                        path.key("port"),
                        format!(
                            "a {} backend receives the packet unchanged, on the service's port {}",
                            s.mode.name(),
                            s.port
                        ),
                        Some(format!("remove `port` or set it to {}", s.port)),
                    );
                }
            } else if s.protocol != Protocol::Icmp && b.port == 0 {
                issues.push(path.key("port"), "a TCP or UDP backend needs a port", None);
            }
            if !unicast(b.address) {
                issues.push(
                    path.key("address"),
                    format!("{} cannot be a backend", b.address),
                    None,
                );
            } else if nat64 && b.address.is_ipv6() {
                issues.push(
                    path.key("address"),
                    format!(
                        "backend {} is IPv6 but backend {} of this NAT64 service is IPv4: a \
                         service's backends are of one family",
                        b.address, s.backends[0].address
                    ),
                    Some(
                        "use IPv4 backends only (NAT64), or IPv6 backends only (a plain IPv6 \
                         service): make two services"
                            .into(),
                    ),
                );
            } else if !nat64 && b.address.is_ipv6() != s.vip.is_ipv6() {
                issues.push(
                    path.key("address"),
                    format!(
                        "backend {} is {} but the VIP {} is {}",
                        b.address,
                        family(b.address),
                        s.vip,
                        family(s.vip)
                    ),
                    Some(family_hint(s.vip)),
                );
            }
            if b.check.as_deref().is_some_and(str::is_empty) {
                issues.push(path.key("check"), "empty check name", None);
            }
        }
    }
}

/// Whether `a` can be a VIP or a backend's address.
pub fn unicast(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => !(a.is_unspecified() || a.is_multicast() || a.is_broadcast()),
        IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast()),
    }
}

pub fn family(a: IpAddr) -> &'static str {
    if a.is_ipv6() {
        "IPv6"
    } else {
        "IPv4"
    }
}

/// The hint for an address of the other family than the VIP `vip`.
pub fn family_hint(vip: IpAddr) -> String {
    if vip.is_ipv6() {
        format!("{NAT64_HINT}; otherwise use IPv6 addresses")
    } else {
        "an IPv4 service's backends and pool are IPv4 (IPv4 clients to IPv6 backends, NAT46, is \
         not supported): use IPv4 addresses, or a service with an IPv6 VIP"
            .into()
    }
}

/// How a NAT64 service is written.
pub const NAT64_HINT: &str = "NAT64 (an IPv6 VIP with IPv4 backends) is a service with \
    mode = \"fullnat\" and pool = \"NAME\" naming an IPv4 [[snat.pool]], and IPv4 backends only";

/// Whether a service is NAT64: an IPv6 VIP whose (first) backend is IPv4. Validation holds it
/// to FullNAT with an IPv4 pool and IPv4 backends only.
pub fn is_nat64(s: &ServiceConfig) -> bool {
    s.vip.is_ipv6() && s.backends.first().is_some_and(|b| b.address.is_ipv4())
}

/// A NAT or FullNAT service whose VIP is announced over BGP without a VRRP gate is refused.
/// Without the gate every node with this configuration announces the VIP and takes a share of
/// the flows (ECMP, anycast), and a router re-hashes flows whenever a node comes or goes; a NAT
/// flow's state (its backend, a FullNAT pool port) lives on the node that opened it, so each
/// re-hash would break the connections that moved, silently. Direct-return services carry on
/// (Maglev from `cluster_seed`); active/standby pairs gate the announcement on VRRP.
pub fn check_anycast_state(
    services: &[ServiceConfig],
    announce: &[super::bgp::AnnounceConfig],
    issues: &mut Issues,
) {
    for (si, s) in services.iter().enumerate() {
        if s.mode.direct() {
            continue;
        }
        let vip = s.vip;
        let Some((ai, a)) = announce
            .iter()
            .enumerate()
            .find(|(_, a)| a.vrrp_instance.is_none() && a.prefix.contains(vip))
        else {
            continue;
        };
        issues.push(
            KeyPath::root().key("service").index(si).key("mode"),
            format!(
                "a {} service's flows live on one node, but its VIP {} is announced by \
                 bgp.announce[{ai}] ({}) without a vrrp_instance, so every node with this \
                 configuration takes a share of them and a router's re-hash breaks those that move",
                s.mode.name(),
                s.vip,
                a.prefix
            ),
            Some(
                "use mode = \"dr\" or \"tunnel\" with scheduler = \"maglev\" for an ECMP \
                 cluster, or gate the announcement on VRRP (vrrp_instance) for an active/standby pair"
                    .into(),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse_str;
    use std::path::Path;

    const BASE: &str = "[interfaces.eth0]\n[interfaces.eth1]\n\n[dataplane]\ninterfaces = [\"eth0\", \"eth1\"]\nworkers = 2\nqueues = 2\n\n";

    fn errors(text: &str) -> Vec<(String, String)> {
        match parse_str(text, Path::new("t.toml")) {
            Ok(_) => vec![],
            Err(e) => e.0.into_iter().map(|e| (e.key, e.message)).collect(),
        }
    }

    #[test]
    fn a_valid_service() {
        let text = format!(
            "{BASE}[[service]]\nname = \"web\"\nvip = \"198.18.1.1\"\nport = 80\nprotocol = \"tcp\"\n\
             scheduler = \"round_robin\"\npersistence = \"30s\"\n\
             backends = [{{ address = \"198.18.2.1\", port = 8080, weight = 2, check = \"web1\" }}]\n\
             [checks.web1]\ntype = \"tcp\"\ntarget = \"198.18.2.1:8080\"\n"
        );
        let cfg = parse_str(&text, Path::new("t.toml")).unwrap();
        assert_eq!(cfg.service[0].backends[0].weight, 2);
        assert_eq!(cfg.dataplane.unwrap().workers, 2);
    }

    #[test]
    fn problems_are_reported_with_their_keys() {
        let text = format!(
            "{BASE}[[service]]\nname = \"web\"\nvip = \"198.18.1.1\"\nport = 0\nprotocol = \"tcp\"\n\
             backends = [{{ address = \"198.18.2.1\", port = 8080, weight = 20000 }},\n\
                         {{ address = \"198.18.2.1\", port = 8080 }}]\n\
             [[service]]\nname = \"web\"\nvip = \"198.18.1.1\"\nport = 7\nprotocol = \"icmp\"\nbackends = []\n"
        );
        let e = errors(&text);
        let keys: Vec<&str> = e.iter().map(|(k, _)| k.as_str()).collect();
        for want in [
            "service[0].port",
            "service[0].backends[0].weight",
            "service[0].backends[1]",
            "service[1].name",
            "service[1].port",
        ] {
            assert!(keys.contains(&want), "{want} not in {e:?}");
        }
    }

    #[test]
    fn the_offload_and_its_table_size() {
        let cfg = parse_str(BASE, Path::new("t.toml")).unwrap();
        let dp = cfg.dataplane.unwrap();
        assert_eq!(dp.offload, super::Offload::Xdp);
        assert_eq!(dp.offload_entries(), 2 * 2 * (1 << 18));
        let off = parse_str(&format!("{BASE}offload = \"off\"\n"), Path::new("t.toml")).unwrap();
        assert_eq!(off.dataplane.unwrap().offload, super::Offload::Off);
        let text = BASE.replace("queues = 2\n", "queues = 2\noffload = \"xpd\"\n");
        let e = errors(&text);
        assert_eq!(e[0].0, "dataplane.offload", "{e:?}");
        let text = BASE.replace("queues = 2\n", "queues = 2\noffload_entries = 10\n");
        let e = errors(&text);
        assert_eq!(e[0].0, "dataplane.offload_entries", "{e:?}");
        assert!(e[0].1.contains("1024 to 268435456"), "{e:?}");
    }

    #[test]
    fn tables_larger_than_the_machine_are_refused() {
        let cfg = parse_str(BASE, Path::new("t.toml")).unwrap();
        let mut dp = cfg.dataplane.unwrap();
        dp.conntrack_per_worker = 1 << 26;
        let mut issues = super::Issues::default();
        // Two workers of 2^26 flows: several GiB each.
        super::check_table_memory(&dp, 4 << 30, &mut issues);
        let e = &issues.0;
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].path.to_string(), "dataplane.conntrack_per_worker");
        assert!(
            e[0].message.contains("more than this machine's 4096 MiB"),
            "{e:?}"
        );
        let mut issues = super::Issues::default();
        dp.conntrack_per_worker = 1 << 18;
        super::check_table_memory(&dp, 4 << 30, &mut issues);
        assert!(issues.0.is_empty(), "{:?}", issues.0);
    }

    #[test]
    fn dataplane_references_and_queue_rule() {
        let e = errors(
            "[interfaces.eth0]\n[dataplane]\ninterfaces = [\"eth9\"]\nworkers = 2\nqueues = 1\n",
        );
        let keys: Vec<&str> = e.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys.contains(&"dataplane.interfaces[0]"), "{e:?}");
        assert!(keys.contains(&"dataplane.queues"), "{e:?}");
        let e = errors(
            "[[service]]\nname = \"s\"\nvip = \"198.18.1.1\"\nport = 1\nprotocol = \"udp\"\nbackends = []\n",
        );
        assert_eq!(e[0].0, "service[0]");
        let e = errors("[dataplane]\ninterfaces = []\nbogus = 1\n");
        assert!(e[0].1.contains("unknown key `bogus`"), "{e:?}");
    }

    #[test]
    fn nat_state_cannot_be_announced_from_every_node() {
        let text = |mode: &str, gate: &str| {
            format!(
                "{BASE}[[service]]\nname = \"web\"\nvip = \"198.18.1.1\"\nport = 80\nprotocol = \"tcp\"\n\
                 mode = \"{mode}\"\nbackends = [{{ address = \"198.18.2.1\", port = 80 }}]\n\
                 [[vrrp.instance]]\nname = \"v\"\ninterface = \"eth0\"\nvrid = 1\npriority = 100\n\
                 virtual_addresses = [\"198.18.0.100/24\"]\n\
                 [bgp]\nlocal_as = 65001\nrouter_id = \"198.18.0.1\"\n\
                 [[bgp.neighbor]]\naddress = \"198.18.0.254\"\nremote_as = 65000\n\
                 [[bgp.announce]]\nprefix = \"198.18.1.0/24\"\n{gate}"
            )
        };
        let e = errors(&text("nat", ""));
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, "service[0].mode");
        assert!(e[0].1.contains("bgp.announce[0]"), "{e:?}");
        assert!(errors(&text("dr", "")).is_empty());
        assert!(errors(&text("nat", "vrrp_instance = \"v\"\n")).is_empty());
    }

    #[test]
    fn ipv6_services_and_pools() {
        let text = format!(
            "{BASE}conntrack_v6_per_worker = 4096\n\
             [[snat.pool]]\nname = \"p6\"\naddresses = [\"2001:db8:9::1\", \"2001:db8:9::2\"]\n\
             [[service]]\nname = \"web6\"\nvip = \"2001:db8:1::1\"\nport = 80\nprotocol = \"tcp\"\n\
             mode = \"fullnat\"\npool = \"p6\"\nscheduler = \"round_robin\"\n\
             backends = [{{ address = \"2001:db8:2::1\", port = 8080 }}, {{ address = \"2001:db8:2::2\", port = 8080 }}]\n\
             [[service]]\nname = \"dr6\"\nvip = \"2001:db8:1::2\"\nport = 53\nprotocol = \"udp\"\n\
             mode = \"dr\"\nbackends = [{{ address = \"2001:db8:2::3\" }}]\n\
             [[service]]\nname = \"ping6\"\nvip = \"2001:db8:1::3\"\nprotocol = \"icmp\"\n\
             backends = [{{ address = \"2001:db8:2::4\" }}]\n"
        );
        let cfg = parse_str(&text, Path::new("t.toml")).unwrap();
        assert!(cfg.service[0].vip.is_ipv6());
        assert!(cfg.snat.pool[0].is_v6());
        assert_eq!(
            cfg.dataplane.as_ref().unwrap().conntrack_v6_per_worker,
            4096
        );
        let summary = crate::config::summary::summary(&cfg);
        assert!(
            summary.contains("web6         [2001:db8:1::1]:80/tcp"),
            "{summary}"
        );
        // The default IPv6 table is the core's.
        let dp = parse_str(BASE, Path::new("t.toml"))
            .unwrap()
            .dataplane
            .unwrap();
        assert_eq!(
            dp.conntrack_v6_per_worker,
            dataplane::pipeline::PipelineConfig::default().conntrack_v6_capacity
        );
        let e = errors(&format!(
            "{BASE}[[service]]\nname = \"web6\"\nvip = \"2001:db8:1::1\"\nport = 80\nprotocol = \"tcp\"\n\
             backends = [{{ address = \"198.18.2.1\", port = 80 }}, {{ address = \"198.18.2.2\", port = 80 }}]\n"
        ));
        // An IPv6 VIP with IPv4 backends is NAT64: refused in nat mode, at its `mode`.
        let keys: Vec<&str> = e.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["service[0].mode"]);
        assert!(e[0].1.contains("NAT64"), "{e:?}");
    }

    #[test]
    fn nat64_services() {
        let text = format!(
            "{BASE}nat64_prefix = \"2001:db8:64::/96\"\n\
             [[snat.pool]]\nname = \"v4\"\naddresses = [\"198.19.0.1\"]\n\
             [[service]]\nname = \"web64\"\nvip = \"2001:db8:1::64\"\nport = 80\nprotocol = \"tcp\"\n\
             mode = \"fullnat\"\npool = \"v4\"\n\
             backends = [{{ address = \"198.18.2.1\", port = 8080 }}, {{ address = \"198.18.2.2\", port = 8080 }}]\n\
             [[service]]\nname = \"ping64\"\nvip = \"2001:db8:1::64\"\nprotocol = \"icmp\"\n\
             mode = \"fullnat\"\npool = \"v4\"\nbackends = [{{ address = \"198.18.2.1\" }}]\n"
        );
        let cfg = parse_str(&text, Path::new("t.toml")).unwrap();
        assert!(cfg.service.iter().all(super::is_nat64));
        assert_eq!(
            cfg.dataplane.as_ref().unwrap().nat64_prefix.0.to_string(),
            "2001:db8:64::/96"
        );
        assert_eq!(
            parse_str(BASE, Path::new("t.toml"))
                .unwrap()
                .dataplane
                .unwrap()
                .nat64_prefix
                .0,
            dataplane::nat64::Pref64::WELL_KNOWN
        );
        // IPv4 VIP, IPv6 backends (NAT46) stays refused, with its hint.
        let e = errors(&format!(
            "{BASE}[[service]]\nname = \"web46\"\nvip = \"198.18.1.1\"\nport = 80\nprotocol = \"tcp\"\n\
             backends = [{{ address = \"2001:db8:2::1\", port = 80 }}]\n"
        ));
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, "service[0].backends[0].address");
    }

    #[test]
    fn ipv6_tables_count_in_the_memory_check() {
        let cfg = parse_str(BASE, Path::new("t.toml")).unwrap();
        let mut dp = cfg.dataplane.unwrap();
        dp.conntrack_per_worker = 1 << 10;
        dp.conntrack_v6_per_worker = 1 << 24;
        let mut issues = super::Issues::default();
        // Two workers of 2^24 IPv6 flows: about 2 GiB each, though the IPv4 table is small.
        super::check_table_memory(&dp, 2 << 30, &mut issues);
        assert_eq!(issues.0.len(), 1, "{:?}", issues.0);
        assert!(
            issues.0[0].message.contains("16777216 IPv6 flows"),
            "{:?}",
            issues.0
        );
    }

    #[test]
    fn direct_return_services() {
        let svc = |mode: &str, extra: &str, backend: &str| {
            format!(
                "{BASE}cluster_seed = 7\n[[service]]\nname = \"web\"\nvip = \"198.18.1.1\"\nport = 80\n\
                 protocol = \"tcp\"\nmode = \"{mode}\"\n{extra}backends = [{backend}]\n"
            )
        };
        let ok = svc(
            "dr",
            "",
            "{ address = \"198.18.2.1\" }, { address = \"198.18.2.2\", port = 80 }",
        );
        let cfg = parse_str(&ok, Path::new("t.toml")).unwrap();
        assert_eq!(cfg.service[0].mode, super::Mode::Dr);
        assert_eq!(cfg.dataplane.unwrap().cluster_seed, 7);
        let ok = svc(
            "tunnel",
            "tunnel_source = \"198.18.2.254\"\n",
            "{ address = \"198.19.2.1\" }",
        );
        assert!(parse_str(&ok, Path::new("t.toml")).is_ok());
        let e = errors(&svc("dr", "", "{ address = \"198.18.2.1\", port = 8080 }"));
        assert_eq!(e[0].0, "service[0].backends[0].port", "{e:?}");
        assert!(e[0].1.contains("unchanged"), "{e:?}");
        let e = errors(&svc(
            "nat",
            "tunnel_source = \"198.18.2.254\"\n",
            "{ address = \"198.18.2.1\", port = 80 }",
        ));
        assert_eq!(e[0].0, "service[0].tunnel_source", "{e:?}");
        let e = errors(&svc("dr", "pool = \"p\"\n", "{ address = \"198.18.2.1\" }"));
        assert!(e.iter().any(|(k, _)| k == "service[0].pool"), "{e:?}");
        let e = errors(&svc(
            "tunnel",
            "tunnel_source = \"224.0.0.1\"\n",
            "{ address = \"198.18.2.1\" }",
        ));
        assert_eq!(e[0].0, "service[0].tunnel_source", "{e:?}");
    }
}
