//! What a rehearsal builds, worked out from the two files before anything is built: one
//! segment per `[interfaces.X]`, the nodes' addresses on them, and the hosts around the pair
//! (the client on the VIPs' segment, the backends, the checks' targets, a BGP router per
//! neighbour address). Pure: a file the drill cannot rehearse gets one line per reason, and
//! nothing is touched.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use ipnetwork::IpNetwork;

mod hosts;
mod nodes;
mod refuse;
mod sites;

use super::addr::Used;
use super::pair::{used_addresses, NodeFile};
use crate::config::dataplane::Protocol;
use crate::config::{CheckType, Config};

/// One node of the pair.
#[derive(Debug, Clone)]
pub struct NodePlan {
    /// The node's name (its `node_name`), also its namespace's.
    pub name: String,
    pub file: NodeFile,
    /// Per interface, every address the node has on it: its static addresses (the daemon adds
    /// them) and those the drill adds for it (`extra`).
    pub addrs: BTreeMap<String, Vec<IpNetwork>>,
    /// Addresses the drill adds, as the operating system would: interfaces the file gives no
    /// static address in a subnet of their segment.
    pub extra: Vec<(String, IpNetwork)>,
    /// Queues of each interface's veth (the data plane's `queues` on its interfaces).
    pub queues: BTreeMap<String, u32>,
    /// Routes the drill adds, as `ip route add` takes them (to a site gateway on no segment's
    /// subnet).
    pub routes: Vec<String>,
    /// `https` checks that verify against the public roots: rehearsed with the drill's own
    /// authority as their `ca_file`.
    pub drill_ca: Vec<String>,
}

impl NodePlan {
    /// The node's address in `subnet` (on any interface).
    pub fn addr_in(&self, subnet: &IpNetwork) -> Option<IpAddr> {
        self.addrs
            .values()
            .flatten()
            .map(|a| a.ip())
            .find(|ip| subnet.contains(*ip))
    }

    pub fn owns(&self, ip: IpAddr) -> bool {
        self.addrs.values().flatten().any(|a| a.ip() == ip)
    }

    pub fn config(&self) -> &Config {
        &self.file.config
    }
}

/// A shared segment: a bridge both nodes (and the hosts on it) plug into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The interface name of the files.
    pub name: String,
    pub subnets: Vec<IpNetwork>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Backend,
    /// Where a health check points that is no backend.
    CheckTarget,
    Router,
    /// A host of a SNAT pool's `sources`, whose traffic leaves through the gateway.
    Inside,
    /// A GRE site's gateway at a tunnel's `remote`: a third appliance.
    SiteGateway,
    /// A host of a GRE site's inside network, whose traffic leaves through the tunnel.
    SiteUser,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Backend => "backend",
            Role::CheckTarget => "check target",
            Role::Router => "BGP router",
            Role::Inside => "SNAT user",
            Role::SiteGateway => "site gateway",
            Role::SiteUser => "site user",
        }
    }
}

/// One interface of a host: `eth<i>` on segment `segment`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLink {
    pub segment: String,
    pub addrs: Vec<IpNetwork>,
}

/// The services a host answers (backends, check targets) or a router.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Serve {
    pub tcp: BTreeSet<u16>,
    /// HTTPS (an `https` check's port): the same answers as on `tcp`, over TLS with a
    /// certificate of the drill's own authority for `tls_names`.
    pub https: BTreeSet<u16>,
    /// The host's addresses the checks connect to, and the names they verify (`sni`, `host`).
    pub tls_names: BTreeSet<String>,
    pub udp: BTreeSet<u16>,
    /// A UDP check's `expect`: what the port answers instead of an echo.
    pub udp_reply: BTreeMap<u16, String>,
    /// Per UDP port, the questions `dns` checks ask there and their answers (a DNS responder;
    /// what is no query gets the port's echo, if it has one).
    pub dns: BTreeMap<u16, Vec<super::dns::DnsAnswer>>,
    /// What an HTTP check asks for, by path: the first status its `expect_status` accepts and
    /// its `expect_body`; other paths are answered 200 with the host's name.
    pub http_paths: BTreeMap<String, (u16, String)>,
}

#[derive(Debug, Clone)]
pub struct Host {
    /// Namespace short name (`client`, `b1`, `t1`, `r1`).
    pub name: String,
    pub role: Role,
    /// `eth0`, `eth1`, ... in order.
    pub links: Vec<HostLink>,
    /// Default routes (one per family at most).
    pub gateways: Vec<IpAddr>,
    /// Further routes, as `ip route add` takes them (`198.18.9.1/32 dev eth0`).
    pub routes: Vec<String>,
    pub serve: Serve,
}

impl Host {
    pub fn first_v4(&self) -> Option<Ipv4Addr> {
        self.links
            .iter()
            .flat_map(|l| &l.addrs)
            .find_map(|a| match a.ip() {
                IpAddr::V4(v) => Some(v),
                _ => None,
            })
    }
}

/// One BGP session of a router: to `node`, from the router's address to `node_addr`.
#[derive(Debug, Clone)]
pub struct Session {
    pub node: usize,
    pub node_addr: IpAddr,
    pub node_as: u32,
    pub md5: Option<String>,
    pub gtsm: bool,
    pub multihop: Option<u8>,
    pub ipv4: bool,
    pub ipv6: bool,
}

#[derive(Debug, Clone)]
pub struct RouterPlan {
    /// Index into [`Plan::hosts`].
    pub host: usize,
    pub addr: IpAddr,
    pub local_as: u32,
    pub sessions: Vec<Session>,
}

/// A service the client sends traffic to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlan {
    pub name: String,
    pub vip: Ipv4Addr,
    pub port: u16,
    pub protocol: Protocol,
}

/// Where the SNAT gateway's users send: the client serves these ports too.
pub const OUTSIDE_TCP: u16 = 8080;
pub const OUTSIDE_UDP: u16 = 5353;

/// Traffic through the SNAT gateway: from a host in a pool's `sources` to the client (the
/// outside), which routes the pool's addresses back through the VRRP address of its segment.
#[derive(Debug, Clone)]
pub struct SnatPlan {
    pub pool: String,
    /// Index into [`Plan::hosts`]: the inside host.
    pub host: usize,
    pub addrs: Vec<Ipv4Addr>,
    /// The client's address the inside host sends to.
    pub to: Ipv4Addr,
}

/// A GRE site of a central `[[gre.tunnel]]`: its gateway (a third appliance at the tunnel's
/// `remote`) and a user on the inside network behind it, sending to the client through the
/// tunnel and the pool that lists it.
#[derive(Debug, Clone)]
pub struct SitePlan {
    /// The central tunnel's name.
    pub tunnel: String,
    pub pool: String,
    /// Indices into [`Plan::hosts`].
    pub gateway: usize,
    pub user: usize,
    pub user_addr: Ipv4Addr,
    /// The client's address the user sends to.
    pub to: Ipv4Addr,
    /// The site end of the tunnel, as the gateway's file says it.
    pub site: crate::drill::site::SiteTunnel,
}

/// The VRRP instance whose failover is timed: the one holding the first service's VIP (or the
/// first IPv4 instance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Front {
    pub instance: String,
    pub interface: String,
    pub vrid: u8,
    /// Its first IPv4 virtual address, if any (the capture times the gratuitous ARP for it).
    pub vip: Option<Ipv4Addr>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub nodes: [NodePlan; 2],
    pub segments: Vec<Segment>,
    pub hosts: Vec<Host>,
    pub routers: Vec<RouterPlan>,
    pub services: Vec<ServicePlan>,
    /// The prefixes the nodes announce (both files' together).
    pub prefixes: Vec<IpNetwork>,
    pub front: Front,
    pub snat: Vec<SnatPlan>,
    pub sites: Vec<SitePlan>,
    /// Per node, the ports a check of its own address needs served in its namespace.
    pub node_serve: [Serve; 2],
    /// What is rehearsed differently from production, or not at all.
    pub notes: Vec<String>,
}

impl Serve {
    pub fn is_empty(&self) -> bool {
        self.tcp.is_empty() && self.udp.is_empty() && self.https.is_empty() && self.dns.is_empty()
    }
}

impl Plan {
    /// Whether a host or a node serves HTTPS, or a check trusts the drill's authority.
    pub fn needs_tls(&self) -> bool {
        self.hosts.iter().any(|h| !h.serve.https.is_empty())
            || self.node_serve.iter().any(|s| !s.https.is_empty())
            || self.nodes.iter().any(|n| !n.drill_ca.is_empty())
    }

    pub fn client(&self) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.role == Role::Client)
            .expect("a plan always has a client")
    }

    pub fn has_bgp(&self) -> bool {
        !self.routers.is_empty()
    }

    /// The segments' and hosts' lines of the text report.
    pub fn describe(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        for n in &self.nodes {
            let _ = writeln!(s, "  node {:<10} {}", n.name, n.file.origin.describe());
            for c in &n.file.changes {
                let _ = writeln!(s, "      {c}");
            }
            for c in &n.drill_ca {
                let _ = writeln!(
                    s,
                    "      checks.{c}: verified against the drill's own CA (ca_file), not the \
                     public roots"
                );
            }
            for (i, a) in &n.extra {
                let _ = writeln!(
                    s,
                    "      {i}: {a} added by the drill (no static address there)"
                );
            }
        }
        for seg in &self.segments {
            let subnets: Vec<String> = seg.subnets.iter().map(|n| n.to_string()).collect();
            let _ = writeln!(
                s,
                "  segment {:<8} {}",
                seg.name,
                if subnets.is_empty() {
                    "(no subnet)".to_string()
                } else {
                    subnets.join(", ")
                }
            );
        }
        // A site's user is on the site's line below.
        for h in self.hosts.iter().filter(|h| h.role != Role::SiteUser) {
            let addrs: Vec<String> = h
                .links
                .iter()
                .flat_map(|l| {
                    l.addrs
                        .iter()
                        .map(move |a| format!("{} on {}", a.ip(), l.segment))
                })
                .collect();
            let mut ports: Vec<String> = h.serve.tcp.iter().map(|p| format!("tcp/{p}")).collect();
            ports.extend(h.serve.https.iter().map(|p| format!("https/{p}")));
            ports.extend(h.serve.udp.iter().map(|p| format!("udp/{p}")));
            ports.extend(h.serve.dns.keys().map(|p| format!("dns/{p}")));
            let _ = writeln!(
                s,
                "  {:<12} {:<4} {}{}",
                h.role.name(),
                h.name,
                addrs.join(", "),
                if ports.is_empty() {
                    String::new()
                } else {
                    format!(", serving {}", ports.join(" "))
                }
            );
        }
        for site in &self.sites {
            let _ = writeln!(
                s,
                "  GRE site     {:<4} tunnel {} ({} to {}), inside {}, user {} ({}), out through \
                 pool {}",
                self.hosts[site.gateway].name,
                site.tunnel,
                site.site.local,
                site.site.remote,
                site.site.inside,
                site.user_addr,
                self.hosts[site.user].name,
                site.pool
            );
        }
        s
    }
}

/// Works out the plan, or every reason the pair cannot be rehearsed (one line each).
pub fn plan(files: [NodeFile; 2]) -> Result<Plan, Vec<String>> {
    let mut p = Planner::default();
    p.run(files)
}

#[derive(Default)]
pub(super) struct Planner {
    /// `(files, what is refused)`: one reason found in both files is one line naming both.
    refusals: Vec<(Vec<String>, String)>,
    notes: Vec<String>,
    used: Used,
}

fn node_names(files: &[NodeFile; 2]) -> [String; 2] {
    let base = |i: usize| {
        files[i]
            .config
            .daemon
            .node_name
            .clone()
            .unwrap_or_else(|| ["a", "b"][i].into())
    };
    let (a, b) = (base(0), base(1));
    if a == b {
        [format!("{a}-a"), format!("{b}-b")]
    } else {
        [a, b]
    }
}

impl Planner {
    pub(super) fn refuse(&mut self, f: &NodeFile, key: &str, why: impl std::fmt::Display) {
        let origin = f.origin.describe();
        let what = format!("{key}: {why}");
        match self.refusals.iter_mut().find(|(_, w)| *w == what) {
            Some((files, _)) if !files.contains(&origin) => files.push(origin),
            Some(_) => {}
            None => self.refusals.push((vec![origin], what)),
        }
    }

    /// The refusals as lines, emptied.
    fn take_refusals(&mut self) -> Vec<String> {
        std::mem::take(&mut self.refusals)
            .into_iter()
            .map(|(files, what)| format!("{}: {what}", files.join(" and ")))
            .collect()
    }

    pub(super) fn note(&mut self, s: String) {
        if !self.notes.contains(&s) {
            self.notes.push(s);
        }
    }

    pub(super) fn outside(&mut self, f: &NodeFile, key: &str, what: impl std::fmt::Display) {
        self.refuse(
            f,
            key,
            format!(
                "{what} is outside what the drill emulates: it builds only 198.18.0.0/15 and \
                 2001:db8::/32 (prefixes /15 and /32 or longer), so nothing it makes can shadow \
                 a real network; rehearse a copy of the file with its addresses moved there"
            ),
        );
    }

    fn run(&mut self, files: [NodeFile; 2]) -> Result<Plan, Vec<String>> {
        for f in &files {
            self.check_supported(f);
            self.check_ranges(f);
            for ip in used_addresses(&f.config).addrs() {
                self.used.insert(ip);
            }
        }
        // Files that do not declare the same interfaces cannot be planned further; every
        // other reason is gathered with what the placing of the hosts finds.
        let before = self.refusals.len();
        self.check_interfaces(&files);
        if self.refusals.len() > before {
            return Err(self.take_refusals());
        }

        let names = node_names(&files);
        let segments = self.segments(&files);
        let [fa, fb] = files;
        let mut nodes = [
            self.node(names[0].clone(), fa, &segments),
            self.node(names[1].clone(), fb, &segments),
        ];
        let front = self.front(&nodes);
        let services = self.services(&nodes);
        let mut hosts = Vec::new();
        self.client(&nodes, &segments, &services, &mut hosts);
        self.backends(&nodes, &segments, &mut hosts);
        let mut node_serve = [Serve::default(), Serve::default()];
        for k in 0..2 {
            self.checks(k, &nodes, &segments, &mut hosts, &mut node_serve);
        }
        let routers = self.routers(&nodes, &segments, &mut hosts);
        let snat = self.snat(&nodes, &segments, &mut hosts);
        let sites = self.sites(&mut nodes, &segments, &mut hosts);
        let mut prefixes: Vec<IpNetwork> = Vec::new();
        for n in &nodes {
            for a in n.config().bgp.iter().flat_map(|b| &b.announce) {
                if !prefixes.contains(&a.prefix) {
                    prefixes.push(a.prefix);
                }
            }
        }
        for n in &mut nodes {
            n.queues = queues(n.config());
            n.drill_ca = n
                .config()
                .checks
                .iter()
                .filter(|(_, ch)| {
                    ch.kind == CheckType::Https
                        && ch.tls_verify != Some(false)
                        && ch.ca_file.is_none()
                })
                .map(|(name, _)| name.clone())
                .collect();
        }
        for n in &nodes {
            let c = n.config();
            if c.vrrp.instance.iter().any(|v| v.notify.is_some()) {
                self.note(format!(
                    "{}: VRRP notify commands are left out (they would run on this host)",
                    n.name
                ));
            }
            if c.metrics.listen.is_some() {
                self.note(format!("{}: [metrics] is left out", n.name));
            }
            for (name, ch) in &c.checks {
                if matches!(ch.kind, CheckType::Exec | CheckType::File) {
                    self.note(format!(
                        "{}: check {name} ({}) runs as written, in the node's namespace but \
                         with this host's files and commands",
                        n.name,
                        ch.kind.as_str()
                    ));
                }
            }
            for s in &c.service {
                if s.protocol == Protocol::Icmp {
                    self.note(format!(
                        "{}: service {} (icmp) gets no traffic from the drill",
                        n.name, s.name
                    ));
                }
            }
        }
        if !self.refusals.is_empty() {
            return Err(self.take_refusals());
        }
        let front = front.expect("refused above when missing");
        Ok(Plan {
            nodes,
            segments,
            hosts,
            routers,
            services,
            prefixes,
            front,
            snat,
            sites,
            node_serve,
            notes: std::mem::take(&mut self.notes),
        })
    }
}

/// Each interface's veth queues: the data plane's `queues` on its interfaces, 1 elsewhere.
fn queues(c: &Config) -> BTreeMap<String, u32> {
    c.interfaces
        .keys()
        .map(|name| {
            let q = c
                .dataplane
                .as_ref()
                .filter(|d| d.interfaces.contains(name))
                .map_or(1, |d| d.queues.max(1));
            (name.clone(), q)
        })
        .collect()
}

#[cfg(test)]
mod tests;
