//! What the drill refuses before it builds anything: what it cannot build yet, addresses
//! outside the ranges it may use, interfaces the two files do not share.

use std::net::IpAddr;

use ipnetwork::IpNetwork;

use super::super::addr::{emulable, emulable_net, parse_target};
use super::super::pair::NodeFile;
use super::Planner;
use crate::config::CheckType;

impl Planner {
    /// What the drill cannot build yet.
    pub(super) fn check_supported(&mut self, f: &NodeFile) {
        let c = &f.config;
        for s in &c.service {
            if s.mode.direct() {
                self.refuse(
                    f,
                    &format!("service \"{}\"", s.name),
                    format!(
                        "mode = \"{}\" (direct server return) is not rehearsed by this drill; \
                         `applianced drill --scenario ecmp-cluster` rehearses direct return",
                        s.mode.name()
                    ),
                );
            }
        }
        if c.vrrp.instance.is_empty() {
            self.refuse(
                f,
                "vrrp.instance",
                "no VRRP instance: nothing fails over between the two nodes; the drill \
                 rehearses HA pairs",
            );
        }
        // An https check that verifies against its own CAs: the drill has not their keys.
        for (name, ch) in &c.checks {
            let verifies = ch.kind == CheckType::Https && ch.tls_verify != Some(false);
            if let Some(ca) = ch.ca_file.as_ref().filter(|_| verifies) {
                self.refuse(
                    f,
                    &format!("checks.{name}.ca_file"),
                    format!(
                        "the check trusts only the CAs of {}: the drill cannot serve a \
                         certificate they sign (it has not their keys); rehearse a copy \
                         without ca_file (the drill's own CA stands in for the public roots) \
                         or with tls_verify = false",
                        ca.display()
                    ),
                );
            }
        }
    }

    /// Every address the file uses must be one the drill may build.
    pub(super) fn check_ranges(&mut self, f: &NodeFile) {
        let c = &f.config;
        for (ifname, i) in &c.interfaces {
            for (k, a) in i.static_addresses.iter().enumerate() {
                if !emulable_net(a) {
                    self.outside(f, &format!("interfaces.{ifname}.static_addresses[{k}]"), a);
                }
            }
        }
        for v in &c.vrrp.instance {
            for a in &v.virtual_addresses {
                if !emulable_net(a) {
                    self.outside(f, &format!("vrrp.instance \"{}\"", v.name), a);
                }
            }
            for a in &v.unicast_peers {
                if !emulable(*a) {
                    self.outside(f, &format!("vrrp.instance \"{}\" unicast_peers", v.name), a);
                }
            }
        }
        for s in &c.service {
            if s.vip.is_ipv6() {
                self.refuse(
                    f,
                    &format!("service \"{}\" vip", s.name),
                    "an IPv6 service: the drill does not rehearse IPv6 services yet; rehearse a \
                     copy of the file without it",
                );
            } else if !emulable(s.vip) {
                self.outside(f, &format!("service \"{}\" vip", s.name), s.vip);
            }
            for b in &s.backends {
                if !emulable(b.address) {
                    self.outside(f, &format!("service \"{}\" backend", s.name), b.address);
                }
            }
        }
        for (name, ch) in &c.checks {
            let Some(t) = &ch.target else { continue };
            match parse_target(t, 0) {
                Some((ip, _)) if !emulable(ip) => {
                    self.outside(f, &format!("checks.{name}.target"), ip)
                }
                Some(_) => {}
                None => self.refuse(
                    f,
                    &format!("checks.{name}.target"),
                    format!("`{t}` is a name; the drill has no DNS: write the address"),
                ),
            }
            if let Some(s) = ch.source.filter(|s| !emulable(*s)) {
                self.outside(f, &format!("checks.{name}.source"), s);
            }
        }
        if let Some(b) = &c.bgp {
            for n in &b.neighbor {
                if !emulable(n.address) {
                    self.outside(f, "bgp.neighbor", n.address);
                }
                if let Some(l) = n.local_address.filter(|l| !emulable(*l)) {
                    self.outside(f, &format!("bgp.neighbor {} local_address", n.address), l);
                }
            }
            for a in &b.announce {
                if !emulable_net(&a.prefix) {
                    self.outside(f, "bgp.announce", a.prefix);
                }
            }
        }
        for t in &c.gre.tunnel {
            for (what, a) in [("local", t.local), ("remote", t.remote)] {
                if !emulable(IpAddr::V4(a)) {
                    self.outside(f, &format!("gre.tunnel \"{}\" {what}", t.name), a);
                }
            }
        }
        for pool in &c.snat.pool {
            for a in &pool.addresses {
                if !emulable(*a) {
                    self.outside(f, &format!("snat.pool \"{}\"", pool.name), a);
                }
            }
            for s in &pool.sources {
                if !emulable_net(&IpNetwork::V4(*s)) {
                    self.outside(f, &format!("snat.pool \"{}\" sources", pool.name), s);
                }
            }
        }
    }

    pub(super) fn check_interfaces(&mut self, files: &[NodeFile; 2]) {
        for (k, f) in files.iter().enumerate() {
            let other = &files[1 - k];
            for name in f.config.interfaces.keys() {
                if name == "lo" {
                    self.refuse(
                        f,
                        "interfaces.lo",
                        "the loopback cannot be a segment shared by two nodes",
                    );
                }
                if !other.config.interfaces.contains_key(name) {
                    self.refuse(
                        f,
                        &format!("interfaces.{name}"),
                        format!(
                            "the other node ({}) does not declare it; the drill puts both nodes \
                             on one segment per interface, so both files must declare the same \
                             interfaces",
                            other.origin.describe()
                        ),
                    );
                }
            }
        }
    }
}
