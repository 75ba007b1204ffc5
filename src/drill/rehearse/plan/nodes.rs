//! The pair's side of the plan: the segments, the nodes' addresses, the timed instance and
//! the services.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnetwork::IpNetwork;

use super::super::addr::{is_subnet, subnet_of};
use super::super::pair::NodeFile;
use super::{Front, NodePlan, Planner, Segment, ServicePlan};
use crate::config::dataplane::Protocol;

impl Planner {
    /// One segment per interface, with the subnets of the nodes' static addresses and of the
    /// virtual addresses written with a prefix.
    pub(super) fn segments(&mut self, files: &[NodeFile; 2]) -> Vec<Segment> {
        let mut segs: Vec<Segment> = Vec::new();
        for name in files[0].config.interfaces.keys() {
            let mut subnets: Vec<IpNetwork> = Vec::new();
            let mut add = |n: IpNetwork| {
                if is_subnet(&n) && !subnets.contains(&subnet_of(&n)) {
                    subnets.push(subnet_of(&n));
                }
            };
            for f in files {
                let c = &f.config;
                c.interfaces[name]
                    .static_addresses
                    .iter()
                    .for_each(|a| add(*a));
                for v in c.vrrp.instance.iter().filter(|v| &v.interface == name) {
                    v.virtual_addresses.iter().for_each(|a| add(*a));
                }
            }
            segs.push(Segment {
                name: name.clone(),
                subnets,
            });
        }
        for f in files {
            for v in &f.config.vrrp.instance {
                let seg = segs.iter().find(|s| s.name == v.interface);
                let has_v4 = seg.is_some_and(|s| s.subnets.iter().any(|n| n.is_ipv4()));
                if !v.is_ipv6() && !has_v4 {
                    self.refuse(
                        f,
                        &format!("interfaces.{}", v.interface),
                        format!(
                            "no IPv4 address and no virtual address with a prefix length on \
                             it, so the drill cannot tell its subnet (VRRP instance \"{}\" \
                             needs an address to advertise from); give it a static address \
                             or write the virtual addresses as ADDRESS/PREFIX",
                            v.name
                        ),
                    );
                }
            }
        }
        segs
    }

    /// A node: its static addresses, and one the drill adds in each subnet of a segment the
    /// node has none in.
    pub(super) fn node(&mut self, name: String, file: NodeFile, segments: &[Segment]) -> NodePlan {
        let mut addrs: BTreeMap<String, Vec<IpNetwork>> = BTreeMap::new();
        let mut extra = Vec::new();
        for seg in segments {
            let statics = file.config.interfaces[&seg.name].static_addresses.clone();
            let mut list = statics.clone();
            for sub in &seg.subnets {
                if statics.iter().any(|a| sub.contains(a.ip())) {
                    continue;
                }
                match self.used.lowest(sub) {
                    Some(ip) => {
                        let a = IpNetwork::new(ip, sub.prefix()).expect("a host of the subnet");
                        list.push(a);
                        extra.push((seg.name.clone(), a));
                    }
                    None => self.refuse(
                        &file,
                        &format!("interfaces.{}", seg.name),
                        format!("no free address left in {sub} for the node"),
                    ),
                }
            }
            addrs.insert(seg.name.clone(), list);
        }
        NodePlan {
            name,
            file,
            addrs,
            extra,
            queues: BTreeMap::new(),
            routes: Vec::new(),
            drill_ca: Vec::new(),
        }
    }

    pub(super) fn front(&mut self, nodes: &[NodePlan; 2]) -> Option<Front> {
        let c = nodes[0].config();
        let by_vip = c.service.first().and_then(|s| {
            c.vrrp
                .instance
                .iter()
                .find(|v| v.virtual_addresses.iter().any(|a| a.ip() == s.vip))
        });
        let inst = by_vip
            .or_else(|| c.vrrp.instance.iter().find(|v| !v.is_ipv6()))
            .or_else(|| c.vrrp.instance.first())?;
        Some(Front {
            instance: inst.name.clone(),
            interface: inst.interface.clone(),
            vrid: inst.vrid,
            vip: inst.virtual_addresses.iter().find_map(|a| match a.ip() {
                IpAddr::V4(v) => Some(v),
                _ => None,
            }),
        })
    }

    /// The TCP and UDP services of the first file (both files' services are the pair's; a
    /// service only one node has is noted).
    pub(super) fn services(&mut self, nodes: &[NodePlan; 2]) -> Vec<ServicePlan> {
        let mut out: Vec<ServicePlan> = Vec::new();
        for n in nodes {
            for s in &n.config().service {
                // IPv6 services are refused (see `refuse`).
                let IpAddr::V4(vip) = s.vip else {
                    continue;
                };
                if s.protocol == Protocol::Icmp {
                    continue;
                }
                let sp = ServicePlan {
                    name: s.name.clone(),
                    vip,
                    port: s.port,
                    protocol: s.protocol,
                };
                if !out.contains(&sp) {
                    out.push(sp);
                }
            }
        }
        for s in &out {
            for n in nodes {
                if !n.config().service.iter().any(|x| {
                    x.vip == IpAddr::V4(s.vip) && x.port == s.port && x.protocol == s.protocol
                }) {
                    self.note(format!(
                        "service {} ({}:{}) is not in {}'s file: that node does not serve it",
                        s.name, s.vip, s.port, n.name
                    ));
                }
            }
        }
        out
    }
}
