//! The hosts around the pair: the client, the backends, the checks' targets and the BGP
//! routers, each at the address the files give it, on the segment whose subnet holds it.

use std::net::{IpAddr, Ipv4Addr};

use ipnetwork::IpNetwork;

use super::super::addr::{emulable, parse_target};
use super::super::dns::DnsAnswer;
use super::super::pair::NodeFile;
use super::{
    Host, HostLink, NodePlan, Planner, Role, RouterPlan, Segment, Serve, ServicePlan, Session,
    SnatPlan, OUTSIDE_TCP, OUTSIDE_UDP,
};
use crate::config::dataplane::{Mode, Protocol};
use crate::config::CheckType;

impl Planner {
    /// The client: on every segment holding a service VIP (or the timed instance's segment).
    pub(super) fn client(
        &mut self,
        nodes: &[NodePlan; 2],
        segments: &[Segment],
        services: &[ServicePlan],
        hosts: &mut Vec<Host>,
    ) {
        let mut segs: Vec<String> = Vec::new();
        let mut vips: Vec<(Ipv4Addr, String)> = Vec::new();
        for s in services {
            let holder = nodes.iter().find_map(|n| {
                n.config().vrrp.instance.iter().find(|v| {
                    v.virtual_addresses
                        .iter()
                        .any(|a| a.ip() == IpAddr::V4(s.vip))
                })
            });
            match holder {
                Some(v) => {
                    if !segs.contains(&v.interface) {
                        segs.push(v.interface.clone());
                    }
                    vips.push((s.vip, v.interface.clone()));
                }
                None => {
                    let f = nodes[0].file.clone();
                    self.refuse(
                        &f,
                        &format!("service \"{}\" vip", s.name),
                        format!(
                            "{} is no VRRP virtual address of either node: the drill rehearses \
                             VIPs that move between the nodes with VRRP",
                            s.vip
                        ),
                    );
                }
            }
        }
        if segs.is_empty() {
            if let Some(v) = nodes[0]
                .config()
                .vrrp
                .instance
                .iter()
                .find(|v| !v.is_ipv6())
                .or_else(|| nodes[0].config().vrrp.instance.first())
            {
                segs.push(v.interface.clone());
            }
        }
        let mut links = Vec::new();
        let mut routes = Vec::new();
        for (i, name) in segs.iter().enumerate() {
            let Some(seg) = segments.iter().find(|s| &s.name == name) else {
                continue;
            };
            let mut addrs = Vec::new();
            for sub in &seg.subnets {
                if let Some(ip) = self.used.highest(sub) {
                    addrs.push(IpNetwork::new(ip, sub.prefix()).expect("host of the subnet"));
                }
            }
            if !addrs.iter().any(|a| a.is_ipv4()) {
                let f = nodes[0].file.clone();
                self.refuse(
                    &f,
                    &format!("interfaces.{name}"),
                    "the VIPs' segment has no IPv4 subnet for the client: give the interface \
                     an IPv4 address or the virtual addresses a prefix length",
                );
            }
            for (vip, _) in vips.iter().filter(|(_, s)| s == name) {
                if !seg.subnets.iter().any(|n| n.contains(IpAddr::V4(*vip))) {
                    let r = format!("{vip}/32 dev eth{i}");
                    if !routes.contains(&r) {
                        routes.push(r);
                    }
                }
            }
            links.push(HostLink {
                segment: name.clone(),
                addrs,
            });
        }
        hosts.push(Host {
            name: "client".into(),
            role: Role::Client,
            links,
            gateways: Vec::new(),
            routes,
            serve: Serve::default(),
        });
    }

    /// The segment whose subnet holds `ip`, and that subnet.
    pub(super) fn locate(segments: &[Segment], ip: IpAddr) -> Option<(&Segment, IpNetwork)> {
        segments
            .iter()
            .find_map(|s| s.subnets.iter().find(|n| n.contains(ip)).map(|n| (s, *n)))
    }

    /// The index of the host at `ip`, made with `role` on the segment holding it if new.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn host_at(
        &mut self,
        f: &NodeFile,
        key: &str,
        ip: IpAddr,
        role: Role,
        nodes: &[NodePlan; 2],
        segments: &[Segment],
        hosts: &mut Vec<Host>,
    ) -> Option<usize> {
        if !emulable(ip) {
            // Refused already, for its range.
            return None;
        }
        if let Some(i) = hosts
            .iter()
            .position(|h| h.links.iter().flat_map(|l| &l.addrs).any(|a| a.ip() == ip))
        {
            if hosts[i].role == Role::Client
                || (hosts[i].role == Role::Router) != (role == Role::Router)
            {
                self.refuse(
                    f,
                    key,
                    format!(
                        "{ip} is also the drill's {} ({})",
                        hosts[i].role.name(),
                        hosts[i].name
                    ),
                );
                return None;
            }
            return Some(i);
        }
        if let Some(n) = nodes.iter().find(|n| n.owns(ip)) {
            self.refuse(f, key, format!("{ip} is an address of node {}", n.name));
            return None;
        }
        let Some((seg, sub)) = Self::locate(segments, ip) else {
            self.refuse(
                f,
                key,
                format!(
                    "{ip} is on no segment: no subnet of the interfaces holds it, and the drill \
                     adds no routes; give one of the interfaces an address in its subnet"
                ),
            );
            return None;
        };
        let vip_here = nodes.iter().any(|n| {
            n.config()
                .vrrp
                .instance
                .iter()
                .any(|v| v.virtual_addresses.iter().any(|a| a.ip() == ip))
        });
        if vip_here {
            self.refuse(f, key, format!("{ip} is a VRRP virtual address"));
            return None;
        }
        self.used.insert(ip);
        let prefix = sub.prefix();
        let count = hosts.iter().filter(|h| h.role == role).count() + 1;
        let tag = match role {
            Role::Backend => "b",
            Role::CheckTarget => "t",
            Role::Router => "r",
            Role::Client => "c",
            Role::Inside => "s",
            Role::SiteGateway => "g",
            Role::SiteUser => "u",
        };
        // The default route: a VRRP address of the segment, else the first node's address.
        let gateway = if role == Role::Router {
            None
        } else {
            let vip = nodes[0].config().vrrp.instance.iter().find_map(|v| {
                v.virtual_addresses
                    .iter()
                    .map(|a| a.ip())
                    .find(|a| sub.contains(*a) && a.is_ipv4() == ip.is_ipv4())
            });
            match vip {
                Some(v) => Some(v),
                None => {
                    let own = nodes[0].addr_in(&sub);
                    if let Some(o) = own {
                        self.note(format!(
                            "{} at {ip} routes through {} ({o}): no VRRP address on segment \
                             {}, so its replies stop when that node fails",
                            role.name(),
                            nodes[0].name,
                            seg.name
                        ));
                    }
                    own
                }
            }
        };
        hosts.push(Host {
            name: format!("{tag}{count}"),
            role,
            links: vec![HostLink {
                segment: seg.name.clone(),
                addrs: vec![IpNetwork::new(ip, prefix).expect("host of the subnet")],
            }],
            gateways: gateway.into_iter().collect(),
            routes: Vec::new(),
            serve: Serve::default(),
        });
        Some(hosts.len() - 1)
    }

    pub(super) fn backends(
        &mut self,
        nodes: &[NodePlan; 2],
        segments: &[Segment],
        hosts: &mut Vec<Host>,
    ) {
        for n in nodes {
            let f = n.file.clone();
            for s in &n.config().service {
                if s.mode == Mode::Dr || s.mode == Mode::Tunnel {
                    continue;
                }
                for b in &s.backends {
                    let key = format!("service \"{}\" backend {}", s.name, b.address);
                    let ip = b.address;
                    let Some(h) = self.host_at(&f, &key, ip, Role::Backend, nodes, segments, hosts)
                    else {
                        continue;
                    };
                    let port = if b.port == 0 { s.port } else { b.port };
                    match s.protocol {
                        Protocol::Tcp => {
                            hosts[h].serve.tcp.insert(port);
                        }
                        Protocol::Udp => {
                            hosts[h].serve.udp.insert(port);
                        }
                        Protocol::Icmp => {}
                    }
                }
            }
        }
    }

    /// Node `k`'s health checks: their targets are served where they point.
    pub(super) fn checks(
        &mut self,
        k: usize,
        nodes: &[NodePlan; 2],
        segments: &[Segment],
        hosts: &mut Vec<Host>,
        node_serve: &mut [Serve; 2],
    ) {
        let f = nodes[k].file.clone();
        for (name, ch) in &nodes[k].config().checks {
            let default_port = match ch.kind {
                CheckType::Http => 80,
                CheckType::Https => 443,
                CheckType::Dns => 53,
                _ => 0,
            };
            let Some((ip, port)) = ch
                .target
                .as_deref()
                .and_then(|t| parse_target(t, default_port))
            else {
                continue;
            };
            let key = format!("checks.{name}.target");
            let serve = if let Some(owner) = nodes.iter().position(|n| n.owns(ip)) {
                &mut node_serve[owner]
            } else {
                // A backend's address finds the backend; anything else gets a host of its own.
                let role = Role::CheckTarget;
                let Some(h) = self.host_at(&f, &key, ip, role, nodes, segments, hosts) else {
                    continue;
                };
                &mut hosts[h].serve
            };
            match ch.kind {
                CheckType::Tcp | CheckType::Http => {
                    serve.tcp.insert(port);
                }
                CheckType::Dns => {
                    // The question as the check's own probe asks it (config validated it).
                    if let Ok(spec) = ch.to_spec(name) {
                        if let health::spec::CheckKind::Dns(d) = spec.kind {
                            let a = DnsAnswer::new(
                                &d.name,
                                d.qtype.0,
                                d.expect_rcode.0,
                                d.expect_address.into_iter().collect(),
                            );
                            let list = serve.dns.entry(port).or_default();
                            if !list.iter().any(|x| x.name == a.name && x.qtype == a.qtype) {
                                list.push(a);
                            }
                        }
                    }
                }
                CheckType::Https => {
                    serve.https.insert(port);
                    serve.tls_names.insert(ip.to_string());
                    // The name the check verifies: `sni`, else the Host header's (as health's
                    // client picks it).
                    let name = ch.sni.clone().or_else(|| {
                        ch.host
                            .as_deref()
                            .map(|h| h.rsplit_once(':').map_or(h, |(n, _)| n).to_string())
                    });
                    serve.tls_names.extend(name);
                }
                CheckType::Udp => {
                    serve.udp.insert(port);
                    if let Some(e) = &ch.expect {
                        serve.udp_reply.insert(port, e.clone());
                    }
                }
                _ => {}
            }
            if matches!(ch.kind, CheckType::Http | CheckType::Https) {
                let status = ch
                    .expect_status
                    .as_deref()
                    .and_then(first_status)
                    .unwrap_or(200);
                let path = ch.path.clone().unwrap_or_else(|| "/".into());
                let body = ch.expect_body.clone().unwrap_or_default();
                serve.http_paths.insert(path, (status, body));
                if ch.expect_sha256.is_some() {
                    self.note(format!(
                        "check {name}: the drill cannot serve a body of the expected \
                         expect_sha256, so the check stays down"
                    ));
                }
            }
        }
    }

    pub(super) fn routers(
        &mut self,
        nodes: &[NodePlan; 2],
        segments: &[Segment],
        hosts: &mut Vec<Host>,
    ) -> Vec<RouterPlan> {
        let mut routers: Vec<RouterPlan> = Vec::new();
        for (k, n) in nodes.iter().enumerate() {
            let f = n.file.clone();
            let Some(bgp) = &n.config().bgp else { continue };
            for nb in &bgp.neighbor {
                let key = format!("bgp.neighbor {}", nb.address);
                let existing = routers.iter().position(|r| r.addr == nb.address);
                let r = match existing {
                    Some(r) => r,
                    None => {
                        let Some(h) = self.host_at(
                            &f,
                            &key,
                            nb.address,
                            Role::Router,
                            nodes,
                            segments,
                            hosts,
                        ) else {
                            continue;
                        };
                        routers.push(RouterPlan {
                            host: h,
                            addr: nb.address,
                            local_as: nb.remote_as,
                            sessions: Vec::new(),
                        });
                        routers.len() - 1
                    }
                };
                if routers[r].local_as != nb.remote_as {
                    self.note(format!(
                        "{}: neighbor {} remote_as {} differs from the other node's {}; the \
                         router uses AS {}",
                        n.name, nb.address, nb.remote_as, routers[r].local_as, routers[r].local_as
                    ));
                }
                let sub = Self::locate(segments, nb.address).map(|(_, s)| s);
                let node_addr = nb.local_address.or_else(|| sub.and_then(|s| n.addr_in(&s)));
                let Some(node_addr) = node_addr else {
                    self.refuse(
                        &f,
                        &key,
                        "the node has no address on the neighbor's segment to hold the session",
                    );
                    continue;
                };
                let fams = nb.families();
                use crate::config::bgp::FamilyName;
                routers[r].sessions.push(Session {
                    node: k,
                    node_addr,
                    node_as: bgp.local_as,
                    md5: nb
                        .md5_password
                        .as_ref()
                        .map(|s| String::from_utf8_lossy(s.expose()).into_owned()),
                    gtsm: nb.gtsm,
                    multihop: nb.multihop,
                    ipv4: fams.contains(&FamilyName::Ipv4Unicast),
                    ipv6: fams.contains(&FamilyName::Ipv6Unicast),
                });
            }
        }
        routers
    }

    /// The client's routes for `pool`'s addresses, through a VRRP address of node `n` in one of
    /// the client's subnets (the way back of what leaves through the pool); false, with a note,
    /// when there is none.
    pub(super) fn route_back(
        &mut self,
        n: &NodePlan,
        pool: &str,
        addresses: &[Ipv4Addr],
        hosts: &mut [Host],
        c: usize,
    ) -> bool {
        let via = hosts[c].links.iter().flat_map(|l| &l.addrs).find_map(|a| {
            n.config().vrrp.instance.iter().find_map(|v| {
                v.virtual_addresses
                    .iter()
                    .map(|x| x.ip())
                    .find(|x| x.is_ipv4() && a.contains(*x))
            })
        });
        let Some(via) = via else {
            self.note(format!(
                "snat.pool {pool}: no VRRP address on the client's segment to route the \
                 pool's addresses back through: no traffic through it"
            ));
            return false;
        };
        for a in addresses {
            let r = format!("{a}/32 via {via}");
            if !hosts[c].routes.contains(&r) {
                hosts[c].routes.push(r);
            }
        }
        true
    }

    /// Per SNAT pool with `sources`, an inside host on the segment holding them, sending to the
    /// client; the client routes the pool's addresses through its segment's VRRP address.
    pub(super) fn snat(
        &mut self,
        nodes: &[NodePlan; 2],
        segments: &[Segment],
        hosts: &mut Vec<Host>,
    ) -> Vec<SnatPlan> {
        let mut out: Vec<SnatPlan> = Vec::new();
        let Some(c) = hosts.iter().position(|h| h.role == Role::Client) else {
            return out;
        };
        for n in nodes {
            let f = n.file.clone();
            for pool in &n.config().snat.pool {
                if pool.sources.is_empty() || out.iter().any(|s| s.pool == pool.name) {
                    continue;
                }
                let Some(to) = hosts[c].first_v4() else {
                    continue;
                };
                let v4: Vec<_> = pool.v4().collect();
                if !self.route_back(n, &pool.name, &v4, hosts, c) {
                    continue;
                }
                let src = IpNetwork::V4(pool.sources[0]);
                let place = segments.iter().find_map(|s| {
                    s.subnets
                        .iter()
                        .find(|sub| sub.contains(src.network()) || src.contains(sub.network()))
                        .map(|sub| {
                            if sub.prefix() >= src.prefix() {
                                *sub
                            } else {
                                src
                            }
                        })
                });
                let Some(within) = place else {
                    self.note(format!(
                        "snat.pool {}: no segment holds its sources {src}: no traffic through it",
                        pool.name
                    ));
                    continue;
                };
                let Some(ip) = self.used.highest(&within) else {
                    continue;
                };
                let key = format!("snat.pool \"{}\" sources", pool.name);
                let Some(h) = self.host_at(&f, &key, ip, Role::Inside, nodes, segments, hosts)
                else {
                    continue;
                };
                hosts[c].serve.tcp.insert(OUTSIDE_TCP);
                hosts[c].serve.udp.insert(OUTSIDE_UDP);
                out.push(SnatPlan {
                    pool: pool.name.clone(),
                    host: h,
                    addrs: v4,
                    to,
                });
            }
        }
        out
    }
}

/// The first status of an `expect_status` set (`"200-299,304"` → 200).
fn first_status(set: &str) -> Option<u16> {
    set.split(',')
        .next()?
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}
