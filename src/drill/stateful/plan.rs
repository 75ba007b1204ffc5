//! What the stateful-failover drill is made of: its addresses, its traffic classes and the three
//! nodes' configuration files (pure, so they are tested without namespaces).
//!
//! ```text
//!             routed client 198.18.81.2 ── router .81.1 / .80.254
//!                                                     │
//!  front 198.18.80.0/24 ─ lan client .20 ─ site gateway .30 (applianced, role = "site")
//!        VIP .10 (VRRP "front")    │                      ╘═ GRE key 100 to the VIP
//!                           a .2 ──┴── b .3                user 198.18.85.5 behind .85.1
//!        sync link 198.18.86.0/24 (a .2, b .3)
//!  back  198.18.82.0/24 ─ backends .11 .12 ─ outside server .50
//!        VIP .1 (VRRP "back"): the backends' and the server's default gateway;
//!        .100 (VRRP "back" too): the FullNAT pool
//! ```
//!
//! `a` (priority 200, preempt) and `b` (100) hold both VIPs as one sync group. The client-side
//! VIP is the NAT and FullNAT services' address and the GRE tunnel's central end, so the tunnel
//! follows the master; the back VIP is the way back for the backends' NAT replies and the
//! server's (to the SNAT pool 198.19.0.1, routed by that default route); the FullNAT pool is an
//! address of the back instance on the backends' own segment.

use std::net::{Ipv4Addr, SocketAddrV4};

use lab::DataplaneHeader;

use crate::drill::site::SiteTunnel;

pub const FRONT: &str = "198.18.80";
pub const BACK: &str = "198.18.82";
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 80, 10);
pub const BACK_VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 82, 1);
pub const ROUTER_FRONT: Ipv4Addr = Ipv4Addr::new(198, 18, 80, 254);
pub const ROUTER_CLIENT_SIDE: Ipv4Addr = Ipv4Addr::new(198, 18, 81, 1);
pub const ROUTED_NET: &str = "198.18.81.0/24";
pub const LAN_CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 80, 20);
pub const ROUTED_CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 81, 2);
pub const SITE_UNDERLAY: Ipv4Addr = Ipv4Addr::new(198, 18, 80, 30);
pub const SITE_INSIDE: Ipv4Addr = Ipv4Addr::new(198, 18, 85, 1);
pub const SITE_NET: &str = "198.18.85.0/24";
pub const SITE_USER: Ipv4Addr = Ipv4Addr::new(198, 18, 85, 5);
pub const BACKENDS: [Ipv4Addr; 2] = [
    Ipv4Addr::new(198, 18, 82, 11),
    Ipv4Addr::new(198, 18, 82, 12),
];
pub const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 82, 50);
pub const SNAT_POOL: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
/// On the backends' segment, a second address of the back instance: the backends reach it
/// without a route, and it moves with the master.
pub const FULLNAT_POOL: Ipv4Addr = Ipv4Addr::new(198, 18, 82, 100);
pub const SYNC_NET: &str = "198.18.86";
pub const SYNC_PORT: u16 = 7531;
pub const SYNC_KEY: &str = "stateful-failover drill shared key";
/// The NAT services (TCP and UDP) and the FullNAT one, on the VIP and on the backends.
pub const NAT_PORT: u16 = 8080;
pub const FULLNAT_PORT: u16 = 9090;
/// The outside server's TCP port (through the SNAT gateway).
pub const SERVER_PORT: u16 = 7000;
pub const CLUSTER_SEED: u64 = 13;
pub const GRE_KEY: u32 = 100;
/// VRRP's advertisement interval on both instances.
pub const ADVERT_MS: u64 = 100;
/// The longest a returning master waits for its bulk resynchronisation before preempting.
pub const PREEMPT_HOLD_S: u64 = 10;

/// The HA pair's nodes: `a` (priority 200) and `b` (100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    A,
    B,
}

impl Node {
    pub const BOTH: [Node; 2] = [Node::A, Node::B];

    pub fn name(self) -> &'static str {
        match self {
            Node::A => "a",
            Node::B => "b",
        }
    }

    pub fn index(self) -> usize {
        match self {
            Node::A => 0,
            Node::B => 1,
        }
    }

    pub fn other(self) -> Node {
        match self {
            Node::A => Node::B,
            Node::B => Node::A,
        }
    }

    fn host(self) -> u8 {
        2 + self.index() as u8
    }

    fn priority(self) -> u8 {
        match self {
            Node::A => 200,
            Node::B => 100,
        }
    }

    /// Its address on a segment (`FRONT`, `BACK`, `SYNC_NET`).
    pub fn addr(self, net: &str) -> Ipv4Addr {
        format!("{net}.{}", self.host())
            .parse()
            .expect("a segment prefix and a host number")
    }
}

/// Where a client sits: on the VIP's own segment, behind the router, or behind the GRE site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Place {
    Lan,
    Routed,
    Site,
}

impl Place {
    pub fn name(self) -> &'static str {
        match self {
            Place::Lan => "lan",
            Place::Routed => "routed",
            Place::Site => "site",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

/// One class of traffic: what, from where, to where, how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class {
    /// `nat-tcp`, `nat-udp`, `fullnat-tcp`, `snat-tcp`.
    pub kind: &'static str,
    pub place: Place,
    pub proto: Proto,
    pub to: SocketAddrV4,
    pub count: usize,
}

impl Class {
    /// `kind/place`, as the report names it.
    pub fn name(&self) -> String {
        format!("{}/{}", self.kind, self.place.name())
    }
}

/// How much traffic: the issue's proof is 1,000 NAT TCP connections, 200 UDP flows, 1,000
/// SNAT connections from the site and some FullNAT ones; the NAT clients half on the VIP's
/// segment, half behind the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Volume {
    pub nat_tcp: usize,
    pub nat_udp: usize,
    pub fullnat_tcp: usize,
    pub snat_tcp: usize,
}

impl Default for Volume {
    fn default() -> Self {
        Volume::scaled(1000)
    }
}

impl Volume {
    /// `n` NAT and SNAT TCP connections, a fifth as many UDP flows and FullNAT connections
    /// (`n` = 1,000 is the default).
    pub fn scaled(n: usize) -> Volume {
        Volume {
            nat_tcp: n,
            nat_udp: n / 5,
            fullnat_tcp: n / 5,
            snat_tcp: n,
        }
    }

    /// The classes, NAT and FullNAT split between the two client places (the LAN gets the odd
    /// one).
    pub fn classes(&self) -> Vec<Class> {
        let vip = |port| SocketAddrV4::new(VIP, port);
        let mut out = Vec::new();
        for (kind, proto, to, n) in [
            ("nat-tcp", Proto::Tcp, vip(NAT_PORT), self.nat_tcp),
            ("nat-udp", Proto::Udp, vip(NAT_PORT), self.nat_udp),
            (
                "fullnat-tcp",
                Proto::Tcp,
                vip(FULLNAT_PORT),
                self.fullnat_tcp,
            ),
        ] {
            let lan = n - n / 2;
            for (place, count) in [(Place::Lan, lan), (Place::Routed, n / 2)] {
                out.push(Class {
                    kind,
                    place,
                    proto,
                    to,
                    count,
                });
            }
        }
        out.push(Class {
            kind: "snat-tcp",
            place: Place::Site,
            proto: Proto::Tcp,
            to: SocketAddrV4::new(SERVER, SERVER_PORT),
            count: self.snat_tcp,
        });
        out.retain(|c| c.count > 0);
        out
    }
}

/// The `[sync]` section between the pair (issue 13), as both nodes' files carry it.
pub fn sync_section(node: Node) -> String {
    format!(
        r#"
[sync]
interface = "eth2"
local = "{local}"
peers = ["{peer}"]
port = {SYNC_PORT}
key = "{SYNC_KEY}"
preempt_hold = "{PREEMPT_HOLD_S}s"
"#,
        local = node.addr(SYNC_NET),
        peer = node.other().addr(SYNC_NET),
    )
}

/// Node `node`'s file; `sync` adds the `[sync]` section.
pub fn node_config(node: Node, sync: bool) -> String {
    let header = DataplaneHeader {
        node: node.name(),
        shutdown_grace: Some("3s"),
        interfaces: &[
            ("eth0", "clients (front)"),
            ("eth1", "backends and outside"),
        ],
        workers: 1,
        queues: 1,
    };
    let backends = |port: u16| {
        BACKENDS
            .iter()
            .map(|b| format!("{{ address = \"{b}\", port = {port} }}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let priority = node.priority();
    let sync = if sync {
        sync_section(node)
    } else {
        String::new()
    };
    format!(
        r#"{header}conntrack_per_worker = 16384
cluster_seed = {CLUSTER_SEED}

[interfaces.eth2]
description = "sync link to the peer"

[[vrrp.instance]]
name = "front"
interface = "eth0"
vrid = 10
priority = {priority}
advert_interval = "{ADVERT_MS}ms"
virtual_addresses = ["{VIP}/24"]

[[vrrp.instance]]
name = "back"
interface = "eth1"
vrid = 20
priority = {priority}
advert_interval = "{ADVERT_MS}ms"
virtual_addresses = ["{BACK_VIP}/24", "{FULLNAT_POOL}/24"]

[[vrrp.sync_group]]
name = "ha"
instances = ["front", "back"]

# Least connections picks per node: only synced state keeps a moved flow on its backend.
[[service]]
name = "nat-tcp"
vip = "{VIP}"
port = {NAT_PORT}
protocol = "tcp"
scheduler = "least_conn"
backends = [{nat}]

[[service]]
name = "nat-udp"
vip = "{VIP}"
port = {NAT_PORT}
protocol = "udp"
scheduler = "least_conn"
backends = [{nat}]

[[snat.pool]]
name = "fullnat"
addresses = ["{FULLNAT_POOL}"]

[[service]]
name = "fullnat-tcp"
vip = "{VIP}"
port = {FULLNAT_PORT}
protocol = "tcp"
mode = "fullnat"
pool = "fullnat"
scheduler = "least_conn"
backends = [{fullnat}]

# The central end is the client-side VIP: the tunnel follows the master.
[[gre.tunnel]]
name = "site"
local = "{VIP}"
remote = "{SITE_UNDERLAY}"
key = {GRE_KEY}
mtu = 1400

[[snat.pool]]
name = "internet"
addresses = ["{SNAT_POOL}"]
tunnels = ["site"]
{sync}"#,
        nat = backends(NAT_PORT),
        fullnat = backends(FULLNAT_PORT),
    )
}

/// The site gateway: a third appliance with the site end of the tunnel.
pub fn site() -> SiteTunnel {
    SiteTunnel {
        node: "site".into(),
        tunnel: "to-central".into(),
        local: SITE_UNDERLAY,
        remote: VIP,
        key: Some(GRE_KEY),
        mtu: Some(1400),
        inside: SITE_NET.parse().expect("a prefix"),
        workers: 1,
    }
}

/// The site gateway's file.
pub fn site_config() -> String {
    site().config()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_test_addresses_and_distinct() {
        let mut all = vec![
            VIP,
            BACK_VIP,
            ROUTER_FRONT,
            ROUTER_CLIENT_SIDE,
            LAN_CLIENT,
            ROUTED_CLIENT,
            SITE_UNDERLAY,
            SITE_INSIDE,
            SITE_USER,
            SERVER,
            SNAT_POOL,
            FULLNAT_POOL,
        ];
        all.extend(BACKENDS);
        for n in Node::BOTH {
            all.extend([n.addr(FRONT), n.addr(BACK), n.addr(SYNC_NET)]);
        }
        for a in &all {
            lab::assert_test_addr(&a.to_string());
        }
        for net in [ROUTED_NET, SITE_NET] {
            lab::assert_test_addr(net);
        }
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    #[test]
    fn classes_split_the_nat_clients_between_the_lan_and_the_router() {
        let c = Volume::default().classes();
        let total =
            |kind: &str| -> usize { c.iter().filter(|x| x.kind == kind).map(|x| x.count).sum() };
        assert_eq!(total("nat-tcp"), 1000);
        assert_eq!(total("nat-udp"), 200);
        assert_eq!(total("fullnat-tcp"), 200);
        assert_eq!(total("snat-tcp"), 1000);
        assert_eq!(Volume::scaled(100).classes().len(), 7);
        let nat: Vec<_> = c.iter().filter(|x| x.kind == "nat-tcp").collect();
        assert_eq!(
            nat.iter().map(|x| (x.place, x.count)).collect::<Vec<_>>(),
            [(Place::Lan, 500), (Place::Routed, 500)]
        );
        let odd = Volume {
            nat_tcp: 3,
            nat_udp: 0,
            fullnat_tcp: 1,
            snat_tcp: 0,
        }
        .classes();
        let names: Vec<_> = odd.iter().map(|x| (x.name(), x.count)).collect();
        assert_eq!(
            names,
            [
                ("nat-tcp/lan".to_string(), 2),
                ("nat-tcp/routed".to_string(), 1),
                ("fullnat-tcp/lan".to_string(), 1)
            ]
        );
    }

    /// The files this build must take: the nodes' without `[sync]` and the site's. (With
    /// `[sync]` they are checked by the drill itself, which says when a build lacks it.)
    #[test]
    fn files_are_valid() {
        valid("a", &node_config(Node::A, false));
        valid("b", &node_config(Node::B, false));
        valid("site", &site_config());
    }

    #[test]
    fn the_pair_differs_in_priority_and_sync_addresses_only() {
        let (a, b) = (node_config(Node::A, true), node_config(Node::B, true));
        assert!(a.contains("priority = 200") && b.contains("priority = 100"));
        assert!(a.contains("local = \"198.18.86.2\"") && a.contains("peers = [\"198.18.86.3\"]"));
        assert!(b.contains("local = \"198.18.86.3\"") && b.contains("peers = [\"198.18.86.2\"]"));
        assert!(!node_config(Node::A, false).contains("[sync]"));
        let strip = |t: &str| {
            t.lines()
                .filter(|l| {
                    !l.starts_with("priority")
                        && !l.starts_with("node_name")
                        && !l.starts_with("local")
                        && !l.starts_with("peers")
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(strip(&a), strip(&b));
    }

    fn valid(name: &str, text: &str) {
        let dir =
            std::env::temp_dir().join(format!("stateful-config-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("node.toml");
        std::fs::write(&path, text.replace("/run/appliance", dir.to_str().unwrap())).unwrap();
        let r = crate::daemon::load(&path, &Default::default());
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = r {
            panic!("{name}: {e}");
        }
    }
}
