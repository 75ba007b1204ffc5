//! Links between namespaces: veth pairs, bridges, and whole switched LANs.
//!
//! Links are always created *inside* lab namespaces (`ip -n A link add ...
//! peer ... netns B`), never in the root namespace, so tests cannot disturb
//! the host's interfaces and everything vanishes with the namespaces.

use std::net::IpAddr;

use crate::addr::{assert_test_addr, nth_host, parse_cidr};
use crate::lab::Lab;
use crate::netns::{check_ifname, Netns};
use crate::tools::require_tool;

/// An interface inside a lab namespace.
#[derive(Clone, Debug)]
pub struct Link {
    ns: Netns,
    name: String,
}

impl Link {
    /// The namespace holding the interface.
    pub fn ns(&self) -> &Netns {
        &self.ns
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip link set up`.
    pub fn set_up(&self) {
        self.ns.set_up(&self.name);
    }

    /// `ip link set down`.
    pub fn set_down(&self) {
        self.ns.set_down(&self.name);
    }

    /// Adds a test address (see [`Netns::add_addr`]).
    pub fn add_addr(&self, cidr: &str) {
        self.ns.add_addr(&self.name, cidr);
    }

    /// The interface's MAC address.
    pub fn mac(&self) -> String {
        self.ns.mac(&self.name)
    }
}

/// Both ends of a veth pair.
#[derive(Clone, Debug)]
pub struct Veth {
    /// The end in the first namespace given.
    pub a: Link,
    /// The end in the second namespace given.
    pub b: Link,
}

/// Options for a veth pair; from [`Lab::veth_builder`], finished by [`VethBuilder::create`].
#[must_use = "call .create() to make the veth pair"]
pub struct VethBuilder<'l> {
    lab: &'l Lab,
    a: Netns,
    a_name: String,
    b: Netns,
    b_name: String,
    queues: Option<u32>,
    mac_a: Option<String>,
    mac_b: Option<String>,
    mtu: Option<u32>,
    up: bool,
}

impl VethBuilder<'_> {
    /// `numtxqueues N numrxqueues N` on both ends, and the active channel
    /// count set with `ethtool -L IF rx N tx N` (what AF_XDP binds queues to).
    pub fn queues(mut self, n: u32) -> Self {
        assert!(n >= 1, "netns-tests: queue count must be >= 1");
        self.queues = Some(n);
        self
    }

    /// MAC address of the `a` end.
    pub fn mac_a(mut self, mac: &str) -> Self {
        self.mac_a = Some(check_mac(mac));
        self
    }

    /// MAC address of the `b` end.
    pub fn mac_b(mut self, mac: &str) -> Self {
        self.mac_b = Some(check_mac(mac));
        self
    }

    /// MTU of both ends.
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }

    /// Whether to bring both ends up after creating them (default: true).
    pub fn up(mut self, up: bool) -> Self {
        self.up = up;
        self
    }

    /// Creates the pair; panics (with the failing command) on error.
    pub fn create(self) -> Veth {
        check_ifname(&self.a_name);
        check_ifname(&self.b_name);
        if self.queues.is_some() {
            require_tool("ethtool");
        }
        let q = self.queues.map(|n| n.to_string());
        let mtu = self.mtu.map(|m| m.to_string());
        fn end_opts<'s>(
            q: &'s Option<String>,
            mac: &'s Option<String>,
            mtu: &'s Option<String>,
        ) -> Vec<&'s str> {
            let mut v: Vec<&str> = Vec::new();
            if let Some(q) = &q {
                v.extend(["numtxqueues", q, "numrxqueues", q]);
            }
            if let Some(mac) = mac {
                v.extend(["address", mac]);
            }
            if let Some(mtu) = &mtu {
                v.extend(["mtu", mtu]);
            }
            v
        }
        let mut args = vec!["link", "add", self.a_name.as_str()];
        args.extend(end_opts(&q, &self.mac_a, &mtu));
        args.extend([
            "type",
            "veth",
            "peer",
            "name",
            &self.b_name,
            "netns",
            self.b.name(),
        ]);
        args.extend(end_opts(&q, &self.mac_b, &mtu));

        let inner = self.lab.inner();
        inner.register_link(self.a.name(), &self.a_name);
        inner.register_link(self.b.name(), &self.b_name);
        self.a.ip_ok(&args);

        let veth = Veth {
            a: Link {
                ns: self.a.clone(),
                name: self.a_name.clone(),
            },
            b: Link {
                ns: self.b.clone(),
                name: self.b_name.clone(),
            },
        };
        for end in [&veth.a, &veth.b] {
            if let Some(q) = &q {
                end.ns
                    .run_ok(&["ethtool", "-L", &end.name, "rx", q, "tx", q]);
            }
            if self.up {
                end.set_up();
            }
        }
        veth
    }
}

fn check_mac(mac: &str) -> String {
    let ok = mac.split(':').count() == 6
        && mac
            .split(':')
            .all(|b| b.len() == 2 && b.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(
        ok,
        "netns-tests: invalid MAC address {mac:?} (want aa:bb:cc:dd:ee:ff)"
    );
    mac.to_ascii_lowercase()
}

/// A switched LAN made by [`Lab::lan`]: a switch namespace with a bridge and
/// one veth per host.
#[derive(Clone, Debug)]
pub struct Lan {
    /// The namespace holding the bridge.
    pub switch: Netns,
    /// The bridge (`br0` in `switch`).
    pub bridge: Link,
    /// The host namespaces, in the order given.
    pub hosts: Vec<Netns>,
    /// The hosts' interface name (`eth0` unless chosen otherwise).
    pub ifname: String,
    addrs: Vec<IpAddr>,
    prefix_len: u8,
}

impl Lan {
    /// Host addresses of the first subnet: `addrs()[i]` is host `i`'s (.1, .2, ...).
    pub fn addrs(&self) -> &[IpAddr] {
        &self.addrs
    }

    /// Address of host `i` as a string, e.g. "198.18.5.2".
    pub fn addr(&self, i: usize) -> String {
        self.addrs[i].to_string()
    }

    /// Address of host `i` with prefix length, e.g. "198.18.5.2/24".
    pub fn cidr(&self, i: usize) -> String {
        format!("{}/{}", self.addrs[i], self.prefix_len)
    }

    /// The first subnet's prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Numbers the hosts in another subnet too (e.g. IPv6 on an IPv4 LAN);
    /// returns the new per-host addresses. `first` is the host number of
    /// host 0 (1 for .1).
    pub fn add_subnet(&self, subnet: &str, first: u32) -> Vec<IpAddr> {
        number_hosts(&self.hosts, &self.ifname, subnet, first)
    }
}

fn number_hosts(hosts: &[Netns], ifname: &str, subnet: &str, first: u32) -> Vec<IpAddr> {
    assert_test_addr(subnet);
    let (net, len) = parse_cidr(subnet).unwrap_or_else(|e| panic!("netns-tests: {e}"));
    hosts
        .iter()
        .zip(first..)
        .map(|(h, n)| {
            let ip = nth_host(net, len, n);
            h.add_addr(ifname, &format!("{ip}/{len}"));
            ip
        })
        .collect()
}

impl Lab {
    /// A veth pair `a_if` (in `a`) <-> `b_if` (in `b`), both ends up.
    pub fn veth(&self, a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> Veth {
        self.veth_builder(a, a_if, b, b_if).create()
    }

    /// A veth pair with options:
    /// `lab.veth_builder(&a, "eth0", &b, "eth0").queues(2).mtu(9000).create()`.
    pub fn veth_builder(&self, a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> VethBuilder<'_> {
        VethBuilder {
            lab: self,
            a: a.clone(),
            a_name: a_if.to_string(),
            b: b.clone(),
            b_name: b_if.to_string(),
            queues: None,
            mac_a: None,
            mac_b: None,
            mtu: None,
            up: true,
        }
    }

    /// A bridge `name` in `ns`, up, with multicast snooping off so VRRP and
    /// other multicast reach every port without an MLD/IGMP querier.
    pub fn bridge(&self, ns: &Netns, name: &str) -> Link {
        check_ifname(name);
        self.inner().register_link(ns.name(), name);
        ns.ip_ok(&[
            "link",
            "add",
            name,
            "type",
            "bridge",
            "stp_state",
            "0",
            "mcast_snooping",
            "0",
        ]);
        ns.set_up(name);
        Link {
            ns: ns.clone(),
            name: name.to_string(),
        }
    }

    /// Connects `hosts` through a new switch namespace (bridge `br0`), each
    /// by a veth `eth0` (host side) <-> `pN` (switch side), and numbers them
    /// .1, .2, ... in `subnet` ("198.18.5.0/24" or "2001:db8:5::/64").
    pub fn lan(&self, hosts: &[&Netns], subnet: &str) -> Lan {
        self.lan_on(hosts, subnet, "eth0")
    }

    /// Like [`Lab::lan`] with the host-side interface named `ifname`
    /// (for hosts on several LANs).
    pub fn lan_on(&self, hosts: &[&Netns], subnet: &str, ifname: &str) -> Lan {
        self.lan_with_queues(hosts, subnet, ifname, 1)
    }

    /// Like [`Lab::lan_on`] with `queues` queues on every veth (for multi-worker data planes).
    pub fn lan_with_queues(
        &self,
        hosts: &[&Netns],
        subnet: &str,
        ifname: &str,
        queues: u32,
    ) -> Lan {
        assert_test_addr(subnet);
        let switch = self.netns("sw");
        let bridge = self.bridge(&switch, "br0");
        for (i, h) in hosts.iter().enumerate() {
            let port = format!("p{i}");
            self.veth_builder(h, ifname, &switch, &port)
                .queues(queues)
                .create();
            switch.attach(&port, "br0");
        }
        let hosts: Vec<Netns> = hosts.iter().map(|h| (*h).clone()).collect();
        let (_, prefix_len) = parse_cidr(subnet).unwrap_or_else(|e| panic!("netns-tests: {e}"));
        let addrs = number_hosts(&hosts, ifname, subnet, 1);
        Lan {
            switch,
            bridge,
            hosts,
            ifname: ifname.to_string(),
            addrs,
            prefix_len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        assert_eq!(check_mac("02:AA:00:00:00:01"), "02:aa:00:00:00:01");
        for bad in ["02:aa:00:00:00", "02-aa-00-00-00-01", "zz:aa:00:00:00:01"] {
            assert!(
                std::panic::catch_unwind(|| check_mac(bad)).is_err(),
                "{bad}"
            );
        }
    }
}
