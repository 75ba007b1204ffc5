//! The GRE sites: per central `[[gre.tunnel]]`, the site's gateway at the tunnel's `remote` (a
//! third appliance with the site end of the tunnel, see [`crate::drill::site`]) and one user on
//! an inside network the drill picks, sending to the client through the pool that lists the
//! tunnel.

use std::net::{IpAddr, Ipv4Addr};

use ipnetwork::{IpNetwork, Ipv4Network};

use super::super::addr::emulable;
use super::{Host, HostLink, NodePlan, Planner, Role, Segment, Serve, SitePlan};
use crate::config::gateway::TunnelRole;
use crate::drill::site::SiteTunnel;

impl Planner {
    pub(super) fn sites(
        &mut self,
        nodes: &mut [NodePlan; 2],
        segments: &[Segment],
        hosts: &mut Vec<Host>,
    ) -> Vec<SitePlan> {
        let mut out: Vec<SitePlan> = Vec::new();
        let Some(c) = hosts.iter().position(|h| h.role == Role::Client) else {
            return out;
        };
        for k in 0..2 {
            let f = nodes[k].file.clone();
            for t in &f.config.gre.tunnel {
                let key = format!("gre.tunnel \"{}\"", t.name);
                if t.role == TunnelRole::Site {
                    self.refuse(
                        &f,
                        &key,
                        "role = \"site\": this pair is a site's gateway; the drill builds the \
                         sites of a central gateway, not a central gateway for a site",
                    );
                    continue;
                }
                if out.iter().any(|s| s.tunnel == t.name) {
                    continue;
                }
                let Some(pool) = f
                    .config
                    .snat
                    .pool
                    .iter()
                    .find(|p| p.tunnels.contains(&t.name))
                else {
                    self.refuse(
                        &f,
                        &key,
                        "no [[snat.pool]] lists the tunnel in `tunnels`: the site's traffic \
                         would have no way out, so there is nothing to rehearse through it; add \
                         the tunnel to a pool",
                    );
                    continue;
                };
                let (local, remote) = (IpAddr::V4(t.local), IpAddr::V4(t.remote));
                if !emulable(local) || !emulable(remote) {
                    // Refused already, for its range.
                    continue;
                }
                let is_vip = nodes.iter().any(|n| {
                    n.config()
                        .vrrp
                        .instance
                        .iter()
                        .any(|v| v.virtual_addresses.iter().any(|a| a.ip() == local))
                });
                if !is_vip && !nodes.iter().any(|n| n.owns(local)) {
                    self.refuse(
                        &f,
                        &format!("{key} local"),
                        format!(
                            "{local} is neither a VRRP virtual address nor an address of a \
                             node: the site's packets would reach no one"
                        ),
                    );
                    continue;
                }
                let Some(to) = hosts[c].first_v4() else {
                    continue;
                };
                let v4: Vec<_> = pool.v4().collect();
                if !self.route_back(&nodes[k], &pool.name, &v4, hosts, c) {
                    continue;
                }
                // The gateway: on the segment whose subnet holds `remote`, else on the one that
                // holds `local`, with `remote` alone on its link and a route each way.
                let g = if Self::locate(segments, remote).is_some() {
                    let h = self.host_at(
                        &f,
                        &format!("{key} remote"),
                        remote,
                        Role::SiteGateway,
                        nodes,
                        segments,
                        hosts,
                    );
                    let Some(h) = h else { continue };
                    h
                } else {
                    let Some((seg, _)) = Self::locate(segments, local) else {
                        self.refuse(
                            &f,
                            &format!("{key} local"),
                            format!(
                                "{local} is on no segment: no subnet of the interfaces holds it"
                            ),
                        );
                        continue;
                    };
                    if self.used_by_host(hosts, remote) {
                        self.refuse(
                            &f,
                            &format!("{key} remote"),
                            format!("{remote} is also another host of the drill"),
                        );
                        continue;
                    }
                    for n in nodes.iter_mut() {
                        let r = format!("{remote}/32 dev {}", seg.name);
                        if !n.routes.contains(&r) {
                            n.routes.push(r);
                        }
                    }
                    self.note(format!(
                        "{key}: the site gateway {remote} is on no segment's subnet: the drill \
                         puts it on segment {} with a route each way",
                        seg.name
                    ));
                    hosts.push(Host {
                        name: format!("g{}", out.len() + 1),
                        role: Role::SiteGateway,
                        links: vec![HostLink {
                            segment: seg.name.clone(),
                            addrs: vec![IpNetwork::new(remote, 32).expect("a host route")],
                        }],
                        gateways: Vec::new(),
                        routes: vec![format!("{local}/32 dev eth0")],
                        serve: Serve::default(),
                    });
                    hosts.len() - 1
                };
                let Some(inside) = self.free_inside(segments, nodes, &out) else {
                    self.refuse(
                        &f,
                        &key,
                        "no free /24 in 198.18.0.0/15 for the site's inside network",
                    );
                    continue;
                };
                let user_addr = inside.nth(5).expect("a /24 holds .5");
                self.used.insert(IpAddr::V4(user_addr));
                hosts.push(Host {
                    name: format!("u{}", out.len() + 1),
                    role: Role::SiteUser,
                    // Its link is the inside network, to the site gateway only (see the bed).
                    links: Vec::new(),
                    gateways: Vec::new(),
                    routes: Vec::new(),
                    serve: Serve::default(),
                });
                let user = hosts.len() - 1;
                hosts[c].serve.tcp.insert(super::OUTSIDE_TCP);
                hosts[c].serve.udp.insert(super::OUTSIDE_UDP);
                out.push(SitePlan {
                    tunnel: t.name.clone(),
                    pool: pool.name.clone(),
                    gateway: g,
                    user,
                    user_addr,
                    to,
                    site: SiteTunnel {
                        node: hosts[g].name.clone(),
                        tunnel: format!("to-{}", t.name),
                        local: t.remote,
                        remote: t.local,
                        key: t.key,
                        mtu: t.mtu,
                        inside,
                        workers: 1,
                    },
                });
            }
        }
        out
    }

    fn used_by_host(&self, hosts: &[Host], ip: IpAddr) -> bool {
        hosts
            .iter()
            .any(|h| h.links.iter().flat_map(|l| &l.addrs).any(|a| a.ip() == ip))
    }

    /// A /24 for a site's inside network, from the top of 198.19.0.0/16 down: no address of
    /// the files in it, overlapping no segment, pool `sources`, announced prefix or other site.
    fn free_inside(
        &self,
        segments: &[Segment],
        nodes: &[NodePlan; 2],
        sites: &[SitePlan],
    ) -> Option<Ipv4Network> {
        let used = self.used.addrs();
        let overlaps =
            |a: &IpNetwork, b: &IpNetwork| a.contains(b.network()) || b.contains(a.network());
        let candidates = [19u8, 18].into_iter().flat_map(|second| {
            (0..=255u8).rev().filter_map(move |third| {
                Ipv4Network::new(Ipv4Addr::new(198, second, third, 0), 24).ok()
            })
        });
        for net in candidates {
            let n = IpNetwork::V4(net);
            let clash = used.iter().any(|ip| n.contains(*ip))
                || segments
                    .iter()
                    .flat_map(|s| &s.subnets)
                    .any(|s| overlaps(s, &n))
                || nodes.iter().any(|nd| {
                    let c = nd.config();
                    c.snat
                        .pool
                        .iter()
                        .flat_map(|p| &p.sources)
                        .any(|s| overlaps(&IpNetwork::V4(*s), &n))
                        || c.bgp
                            .iter()
                            .flat_map(|b| &b.announce)
                            .any(|a| overlaps(&a.prefix, &n))
                })
                || sites.iter().any(|s| s.site.inside == net);
            if !clash {
                return Some(net);
            }
        }
        None
    }
}
